// The opt-in two-thread shim for tfjs's wasm backend in Node (tfjs disables threads there because
// its workers come from blob: URLs); it depends on tfjs 4.22.0 internals, so the version is checked.
// Node only: reached through `#platform` (internal/platform-node.ts), never from a browser bundle.

import * as tf from '@tensorflow/tfjs';
import { fail } from './internal/errors.js';
import type { WasmThreadsModule } from './internal/platform.js';
import { assertPinnedVersion } from './version.js';

/**
 * Initialises the wasm backend with `threads` XNNPACK threads through the worker shim (Node only).
 * The wasm backend package must already be imported; it must not be initialised yet.
 *
 * tfjs hard-wires WASM_HAS_MULTITHREAD_SUPPORT to false in Node because its pthread workers are
 * created from `blob:` URLs, which worker_threads cannot load, and the C++ side sizes its pool
 * from half the logical cores. We write the worker script to a temp file and hand out its path
 * instead of a blob URL while the backend initialises (inside the worker, the main script's blob
 * URL becomes the real file), and report 2·threads cores through `os.cpus()` for that moment.
 * @internal
 */
export async function initWasmWithThreads(wasm: WasmThreadsModule, threads: number): Promise<void> {
  assertPinnedVersion('The wasm threads shim', wasm.version_wasm);
  if (typeof process === 'undefined' || typeof process.versions?.node !== 'string') {
    fail(
      'NOT_SUPPORTED',
      'threads: 2 is a Node-only shim; in a browser, serve the page cross-origin isolated and tfjs uses threads by itself.',
    );
  }
  const [{ createRequire }, os, fs, path] = await Promise.all([
    import('node:module'),
    import('node:os'),
    import('node:fs'),
    import('node:path'),
  ]);
  const require = createRequire(import.meta.url);
  let wasmOut: string;
  try {
    wasmOut = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '..', 'wasm-out');
  } catch (e) {
    fail(
      'MISSING_BACKEND',
      'cannot resolve @tensorflow/tfjs-backend-wasm for the threads shim; install it next to @calm/nn.',
      { cause: e },
    );
  }
  const mainScript = path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require(path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-nn-wasm-'));
  const workerPath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js');
  // Inside the worker, the main script arrives as a Blob: point its object URL at the real file.
  // tfjs escapes newlines the same way before putting the text into its Blob.
  const prelude = `URL.createObjectURL=function(){return ${JSON.stringify(mainScript)}};URL.revokeObjectURL=function(){};\n`;
  fs.writeFileSync(workerPath, prelude + wasmWorkerContents.replace(/\n/g, '\\n'));

  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = () => workerPath;
  // XNNPACK's pool gets min(max(cores / 2, 1), 4) threads: report 2·threads cores while the
  // module initialises (emscripten reads them through the CommonJS `os` object).
  // biome-ignore lint/style/useNodejsImportProtocol: the CommonJS object emscripten reads is the one `require('os')` returns
  const cjsOs = require('os') as typeof os;
  const cjsCpus = cjsOs.cpus;
  cjsOs.cpus = () => {
    const list = cjsCpus.call(cjsOs);
    while (list.length < 2 * threads && list.length > 0) list.push(list[0]!);
    return list;
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  try {
    const ok = await tf.setBackend('wasm');
    if (!ok) fail('MISSING_BACKEND', 'the wasm backend failed to initialise with threads; retry with threads: 1.');
  } finally {
    URL.createObjectURL = createObjectURL;
    cjsOs.cpus = cjsCpus;
    // Emscripten preloads its whole worker pool (8) during initialisation; the file is read.
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
