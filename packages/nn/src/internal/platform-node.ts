// `#platform` in Node (and wherever the `browser` condition is off): the threads shim and file I/O.

import { setFlagsFromString } from 'node:v8';
import { initWasmWithThreads } from '../wasm-threads.js';
import { fail } from './errors.js';
import type { Platform } from './platform.js';

/** Node's implementation of {@link Platform}. */
export const platform: Platform = {
  name: 'node',
  initWasmWithThreads,
  async checkpointFiles() {
    try {
      return await import('@calm/core/node');
    } catch (e) {
      return fail(
        'NOT_SUPPORTED',
        'checkpoint files need Node (node:fs); in a browser use paramsToNamedArrays with serializeSafetensors from @calm/core.',
        { cause: e },
      );
    }
  },
  fileSystem: () => import('node:fs/promises'),
  enableWasmRelaxedSimd() {
    // V8 11.3 (Node 20): relaxed SIMD is implemented but off by default; the flag is read when a
    // module is validated, so setting it before our kernel module compiles is enough. Later V8s
    // ship it on (and callers only get here when validation failed), so an unknown flag is moot.
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // Not V8 (or flags frozen): keep the engine's default.
    }
  },
};
