// The package's error helper and small argument checks: every CalmError raised here carries the
// `@calm/energy-head` prefix and says how to fix the problem.
import { errorFactory, type CalmErrorCode, type CalmErrorOptions } from '@calm/core';

/** Throws a `CalmError` prefixed with `[@calm/energy-head]`. */
export const fail: (code: CalmErrorCode, message: string, options?: Omit<CalmErrorOptions, 'source'>) => never =
  errorFactory('@calm/energy-head');

/** Throws `INVALID_ARGUMENT` unless `value` is an integer ≥ `min`. */
export function assertInteger(value: unknown, name: string, min: number, fix: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail('INVALID_ARGUMENT', `${name} must be an integer >= ${min}, got ${String(value)}; ${fix}.`);
  }
}

/** Throws `SHAPE_MISMATCH` unless `shape` equals `expected` (entries that are `null` match anything). */
export function assertShape(
  shape: readonly number[],
  expected: readonly (number | null)[],
  name: string,
  fix: string,
): void {
  const ok = shape.length === expected.length && expected.every((d, i) => d === null || d === shape[i]);
  if (!ok) {
    const want = `[${expected.map((d) => (d === null ? '*' : String(d))).join(', ')}]`;
    fail('SHAPE_MISMATCH', `${name} has shape [${shape.join(', ')}], expected ${want}; ${fix}.`);
  }
}
