// Small shared helpers of @calm/brierlm: the package's error factory, argument checks, abort
// handling and batching of positions into sampler calls. Not exported from the package.

import { errorFactory, type CalmErrorCode, type CalmErrorOptions, type TokenIds } from '@calm/core';

/** Throws a `CalmError` prefixed with `[@calm/brierlm]`. */
export const fail: (code: CalmErrorCode, message: string, options?: Omit<CalmErrorOptions, 'source'>) => never =
  errorFactory('@calm/brierlm');

/** The largest n-gram order BrierLM scores (Brier-1..Brier-4). */
export const MAX_N = 4;

/** Checks that `value` is an integer in [min, max]. */
export function checkInt(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    fail('INVALID_ARGUMENT', `${name} must be an integer ${range}, got ${String(value)}.`);
  }
  return value;
}

/** Checks that `value` is a finite number in [min, max]. */
export function checkNumber(value: unknown, name: string, min: number, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    fail('INVALID_ARGUMENT', `${name} must be a finite number in [${min}, ${max}], got ${String(value)}.`);
  }
  return value;
}

/** Throws `ABORTED` when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail('ABORTED', 'the evaluation was aborted by its AbortSignal.', { cause: signal.reason });
}

/** Converts any integer array to an Int32Array (copying only when needed), validating values. */
export function asTokenIds(values: ArrayLike<number>, name: string): TokenIds {
  if (values instanceof Int32Array) return values;
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      fail('INVALID_ARGUMENT', `${name}[${i}] = ${v} is not an int32 token id; pass integer token ids.`);
    }
    out[i] = v;
  }
  return out;
}

/** Concatenates a prefix of `base` with extra chunks into a new Int32Array. */
export function concatTokens(base: TokenIds, baseLength: number, extra: readonly ArrayLike<number>[]): TokenIds {
  let n = baseLength;
  for (const e of extra) n += e.length;
  const out = new Int32Array(n);
  out.set(base.subarray(0, baseLength));
  let o = baseLength;
  for (const e of extra) {
    out.set(e, o);
    o += e.length;
  }
  return out;
}

/**
 * Runs `fn` on consecutive slices of `items` of at most `batchSize`, one slice at a time, checking
 * the abort signal between slices.
 */
export async function forEachBatch<T>(
  items: readonly T[],
  batchSize: number,
  signal: AbortSignal | undefined,
  fn: (batch: readonly T[], offset: number) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < items.length; start += batchSize) {
    throwIfAborted(signal);
    await fn(items.slice(start, start + batchSize), start);
  }
}

/** Checks that a sampler returned an Int32Array of the expected length; names the method and shape when not. */
export function checkIdsOutput(out: unknown, expected: number, what: string, shape: string): asserts out is Int32Array {
  checkOutput(out, out instanceof Int32Array, 'an Int32Array', expected, what, shape);
}

/** Checks that a model returned a Float32Array/Float64Array of the expected length. */
export function checkProbsOutput(
  out: unknown,
  expected: number,
  what: string,
  shape: string,
): asserts out is Float32Array | Float64Array {
  checkOutput(out, out instanceof Float32Array || out instanceof Float64Array, 'a Float32Array', expected, what, shape);
}

/** Throws SHAPE_MISMATCH unless `out` is of the right kind (`isKind`) and holds `expected` values. */
function checkOutput(out: unknown, isKind: boolean, kind: string, expected: number, what: string, shape: string): void {
  if (!isKind)
    fail(
      'SHAPE_MISMATCH',
      `${what} returned ${describe(out)}; it must return ${kind} of shape ${shape} (flattened row-major).`,
    );
  const length = (out as ArrayLike<unknown>).length;
  if (length !== expected)
    fail('SHAPE_MISMATCH', `${what} returned ${length} values; expected ${expected} = ${shape} (flattened row-major).`);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (Array.isArray(x)) return `a plain array of length ${x.length}`;
  if (typeof x === 'object') return `an object (${(x as object).constructor?.name ?? 'Object'})`;
  return `a ${typeof x}`;
}

/** Maps `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
