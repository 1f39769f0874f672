// The tfjs version our wasm internals (kernels, threads shim) were written against, and its check.
// Browser-safe: no Node built-ins.

import * as tf from '@tensorflow/tfjs';
import { fail } from './internal/errors.js';

/**
 * The only tfjs version whose wasm internals the shims and kernels were written against.
 * @see {@link registerWasmKernels}, which refuses other versions.
 */
export const PINNED_TFJS_VERSION = '4.22.0';

/**
 * Checks that the loaded tfjs core (and wasm backend, when given) are the pinned version.
 * @internal
 */
export function assertPinnedVersion(feature: string, wasmVersion?: string): void {
  const core = tf.version_core;
  if (core !== PINNED_TFJS_VERSION || (wasmVersion !== undefined && wasmVersion !== PINNED_TFJS_VERSION)) {
    fail(
      'NOT_SUPPORTED',
      `${feature} depends on internals of @tensorflow/tfjs ${PINNED_TFJS_VERSION}, but tfjs-core ${core}` +
        (wasmVersion !== undefined ? ` / tfjs-backend-wasm ${wasmVersion}` : '') +
        ` is loaded; install @tensorflow/tfjs@${PINNED_TFJS_VERSION} and @tensorflow/tfjs-backend-wasm@${PINNED_TFJS_VERSION}, or run with one thread.`,
    );
  }
}
