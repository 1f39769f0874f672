// The package's error helper and small checks: every CalmError raised here carries the
// `@calm/cli` prefix and says how to fix the problem. Internal; not exported.
import { errorFactory, type CalmErrorCode, type CalmErrorOptions } from '@calm/core';

/** Throws a `CalmError` prefixed with `[@calm/cli]` (typed so control flow sees `never`). */
export const fail: (code: CalmErrorCode, message: string, options?: Omit<CalmErrorOptions, 'source'>) => never =
  errorFactory('@calm/cli');

/** Product of a shape's dimensions (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws `INVALID_ARGUMENT` unless `value` is an integer ≥ `min`. */
export function assertInt(value: unknown, name: string, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail('INVALID_ARGUMENT', `${name} must be an integer >= ${min}, got ${String(value)}.`);
  }
}
