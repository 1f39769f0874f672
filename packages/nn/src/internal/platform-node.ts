// `#platform` in Node (and wherever the `browser` condition is off): the threads shim and file I/O.

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
};
