// The package's error helper: every failure a caller can fix is a CalmError prefixed with
// `[@calm/data-pile]`. Internal; not exported.
import { errorFactory, type CalmErrorCode, type CalmErrorOptions } from '@calm/core';

/** Throws a `CalmError` from `@calm/data-pile` (typed explicitly so TypeScript narrows after it). */
export const fail: (code: CalmErrorCode, message: string, options?: Omit<CalmErrorOptions, 'source'>) => never =
  errorFactory('@calm/data-pile');

/** Throws `INVALID_ARGUMENT` unless `value` is an integer in [min, max]. */
export function checkInt(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    fail('INVALID_ARGUMENT', `${name} must be an integer ${range}, got ${String(value)}.`);
  }
  return value as number;
}
