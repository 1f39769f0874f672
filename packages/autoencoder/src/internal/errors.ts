// The package's error helper: every problem a caller can fix surfaces as a CalmError prefixed
// with "[@calm/autoencoder]". Internal; not exported from the package entry.
import { errorFactory, type CalmErrorCode, type CalmErrorOptions } from '@calm/core';

/** The package name used as the error source. */
export const SOURCE = '@calm/autoencoder';

/** Throws a `CalmError` prefixed with `[@calm/autoencoder]` (annotated so that TS narrows after it). */
export const fail: (code: CalmErrorCode, message: string, options?: Omit<CalmErrorOptions, 'source'>) => never =
  errorFactory(SOURCE);
