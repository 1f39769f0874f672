// `#platform` under the `browser` export condition: no Node built-in is imported; the Node-only
// operations fail with a CalmError that names the browser alternative.

import { fail } from './errors.js';
import type { Platform } from './platform.js';

const noFiles = (): never =>
  fail(
    'NOT_SUPPORTED',
    'checkpoint files need Node (node:fs); in a browser read the bytes yourself (fetch, File) and use parseSafetensors of @calm/core with namedArraysToTensors, or paramsToNamedArrays with serializeSafetensors to save.',
  );

/** The browser's implementation of {@link Platform}. */
export const platform: Platform = {
  name: 'browser',
  async initWasmWithThreads() {
    fail(
      'NOT_SUPPORTED',
      'threads: 2 is a Node-only shim; in a browser, serve the page cross-origin isolated (COOP/COEP headers) and tfjs uses threads by itself.',
    );
  },
  checkpointFiles: async () => noFiles(),
  fileSystem: async () => noFiles(),
  // A browser's engine has relaxed SIMD or not; nothing to switch on from a page.
  enableWasmRelaxedSimd() {},
};
