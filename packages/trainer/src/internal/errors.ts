// The package's error helper: every CalmError raised here carries the
// `@calm/trainer` prefix and says how to fix the problem. Internal; not exported.
import { errorFactory, type CalmErrorCode, type CalmErrorOptions } from '@calm/core';

/** Throws a `CalmError` prefixed with `[@calm/trainer]` (typed so control flow sees `never`). */
export const fail: (code: CalmErrorCode, message: string, options?: Omit<CalmErrorOptions, 'source'>) => never =
  errorFactory('@calm/trainer');
