// @calm/testing: private helpers for tests of the framework-free packages (no tfjs).
// Tensor helpers live in ./tfjs.ts so importing this entry never loads tfjs.
export * from './stats.js';

/** Named tolerances used across the test suites. */
export const TOL = {
  /** Parity with the PyTorch reference fixtures. */
  parity: 1e-4,
  /** Two float32 computations of the same thing on different backends. */
  float32: 1e-5,
} as const;

/** Absolute path of the shared test data folder (`../shared/data` beside the repository). */
export const SHARED_DATA_DIR: string = new URL('../../../../shared/data/', import.meta.url).pathname;
export * from './temperature-helpers.js';

/**
 * Awaits a promise that must reject and returns what it rejected with; throws when it resolves.
 * For tests that inspect the error (`isCalmError(await rejection(p), 'SHAPE_MISMATCH')`).
 */
export async function rejection(
  p: Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error & { code?: string }) => e,
  );
}
