// The package's error helper: every CalmError raised here carries the `@calm/temperature-sampler`
// prefix so users see which package rejected their input.
import { errorFactory } from '@calm/core';

/** Throws a `CalmError` prefixed with this package's name. */
export const fail = errorFactory('@calm/temperature-sampler');

/** Throws `INVALID_ARGUMENT` unless `value` is an integer ≥ `min`. */
export function assertInteger(value: number, name: string, min: number, fix: string): void {
  if (!Number.isInteger(value) || value < min) {
    fail('INVALID_ARGUMENT', `${name} must be an integer >= ${min}, got ${String(value)}; ${fix}.`);
  }
}
