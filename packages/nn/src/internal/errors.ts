// The package's error helper: every problem a caller can fix surfaces as a CalmError prefixed
// with "[@calm/nn]". Internal; not exported from the package entry.
import { errorFactory, type CalmErrorCode, type CalmErrorOptions } from '@calm/core';

/** Throws a `CalmError` prefixed with `[@calm/nn]` (explicitly typed so control flow sees `never`). */
export const fail: (code: CalmErrorCode, message: string, options?: Omit<CalmErrorOptions, 'source'>) => never =
  errorFactory('@calm/nn');

/** Product of a shape's dimensions (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
