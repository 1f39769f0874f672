import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { initBackend, wasmKernelsRegistered } from '../src/index.js';
import { assertPinnedVersion, PINNED_TFJS_VERSION } from '../src/version.js';

const errorOf = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('initBackend', () => {
  it('defaults to wasm with the training kernels and reports its choice in one line', async () => {
    const info = await initBackend({ env: {} });
    expect(info).toMatchObject({ name: 'wasm', kernelsPatched: true, threads: 1, source: 'default' });
    expect(info.detail).toBe(`wasm (tfjs ${PINNED_TFJS_VERSION}, SIMD, 1 thread, training kernels; default)`);
    expect(info.detail).not.toContain('\n');
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmKernelsRegistered()).toBe(true);
  });

  it('reads CALM_BACKEND and lets the option win over it', async () => {
    const fromEnv = await initBackend({ env: { CALM_BACKEND: ' CPU ' } });
    expect(fromEnv).toMatchObject({ name: 'cpu', source: 'env', kernelsPatched: true });
    expect(tf.getBackend()).toBe('cpu');
    const fromOption = await initBackend({ backend: 'wasm', env: { CALM_BACKEND: 'cpu' } });
    expect(fromOption).toMatchObject({ name: 'wasm', source: 'option' });
    expect(tf.getBackend()).toBe('wasm');
  });

  it('rejects bad options and environment values, all listed at once', async () => {
    const e1 = await errorOf(initBackend({ env: { CALM_BACKEND: 'tpu', CALM_WASM_THREADS: '8' } }));
    expect(isCalmError(e1, 'INVALID_CONFIG')).toBe(true);
    expect((e1 as { details: { problems: string[] } }).details.problems).toEqual([
      'CALM_BACKEND must be one of "tensorflow", "webgpu", "wasm", "cpu", "auto", got "tpu"',
      'CALM_WASM_THREADS must be one of "1", "2", got "8"',
    ]);
    const e2 = await errorOf(initBackend({ backend: 'cpu', threads: 2 }));
    expect(isCalmError(e2, 'INVALID_CONFIG')).toBe(true);
    expect((e2 as Error).message).toMatch(/applies to the wasm backend only/);
    // The running wasm backend has one thread; it cannot be restarted with two.
    const e3 = await errorOf(initBackend({ backend: 'wasm', threads: 2 }));
    expect((e3 as Error).message).toMatch(/already running with 1 thread/);
    // CALM_WASM_THREADS is ignored (and said so) for other backends.
    const info = await initBackend({ backend: 'cpu', env: { CALM_WASM_THREADS: '2' } });
    expect(info.detail).toMatch(/CALM_WASM_THREADS=2 ignored/);
    await initBackend({ backend: 'wasm' });
  });

  it('names the package to install when tensorflow is missing (or uses it when present); auto falls back to wasm', async () => {
    const e = await errorOf(initBackend({ backend: 'tensorflow' }));
    if (e === undefined) {
      expect(tf.getBackend()).toBe('tensorflow'); // a machine with a working tfjs-node
    } else {
      expect(isCalmError(e, 'MISSING_BACKEND')).toBe(true);
      expect((e as Error).message).toMatch(/npm i @tensorflow\/tfjs-node@4\.22\.0/);
      expect((e as Error).message).toMatch(/@tensorflow\/tfjs-node-gpu/);
      const auto = await initBackend({ backend: 'auto' });
      expect(auto.name).toBe('wasm');
      expect(auto.detail).toMatch(/auto: tensorflow unavailable/);
    }
    await initBackend({ backend: 'wasm' });
  });

  it('the threads shim refuses tfjs versions other than the pinned one', () => {
    expect(() => assertPinnedVersion('The wasm threads shim', PINNED_TFJS_VERSION)).not.toThrow();
    let err: unknown;
    try {
      assertPinnedVersion('The wasm threads shim', '4.21.0');
    } catch (e) {
      err = e;
    }
    expect(isCalmError(err, 'NOT_SUPPORTED')).toBe(true);
    expect((err as Error).message).toMatch(/tfjs-backend-wasm 4\.21\.0 is loaded; install @tensorflow\/tfjs@4\.22\.0/);
  });

  it('the browser build of #platform refuses the Node-only threads shim and checkpoint files', async () => {
    const { platform } = await import('../src/internal/platform-browser.js');
    const { platform: node } = await import('#platform');
    expect(node.name).toBe('node');
    expect(platform.name).toBe('browser');
    const wasm = { setThreadsCount: () => undefined, getThreadsCount: () => 1, version_wasm: PINNED_TFJS_VERSION };
    for (const p of [platform.initWasmWithThreads(wasm, 2), platform.checkpointFiles(), platform.fileSystem()]) {
      const e = await errorOf(p);
      expect(isCalmError(e, 'NOT_SUPPORTED')).toBe(true);
      expect((e as Error).message).toMatch(/browser|Node-only/);
    }
  });

  it('threads: 2 runs wasm on two XNNPACK threads (child process) and matches cpu', async () => {
    const child = fileURLToPath(new URL('./fixtures/threads-child.ts', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--conditions=@calm/source', '--import', 'tsx', child],
        { timeout: 90_000, cwd: fileURLToPath(new URL('..', import.meta.url)) },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      );
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      name: string;
      threads: number;
      detail: string;
      worst: number;
    };
    expect(result.name).toBe('wasm');
    expect(result.threads).toBe(2);
    expect(result.detail).toMatch(/2 threads/);
    expect(result.worst).toBeLessThan(1e-5);
  });
});
