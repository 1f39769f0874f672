// Temperature bookkeeping shared by both samplers: splitting 1/T into its integer and fractional
// parts, the 1/n check of the batch algorithm, the target distribution P^(1/T)/Z, and Theorem 2's
// expected cost of the exact algorithm.
import { fail } from './internal/errors.js';

/**
 * Relative tolerance within which 1/T counts as an integer (the official code's `1e-9`).
 * @see {@link temperatureParts}
 * @category Temperature
 */
export const INTEGER_ORDER_TOLERANCE = 1e-9;

/**
 * A temperature T ∈ (0, 1] split as 1/T = n + α, the form Algorithm 1 works with.
 * @see {@link temperatureParts}
 * @category Temperature
 */
export interface TemperatureParts {
  /** The temperature T as given. */
  temperature: number;
  /** n = ⌊1/T⌋ ≥ 1, the number of identical draws of Stage 1. */
  n: number;
  /** α = 1/T − n ∈ [0, 1), the exponent of Stage 2's Bernoulli factory (0 skips Stage 2). */
  alpha: number;
}

function checkRange(temperature: number, what: string): number {
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0 || temperature > 1) {
    fail(
      'INVALID_ARGUMENT',
      `${what}: temperature must be a finite number in (0, 1], got ${String(temperature)}; ` +
        'temperatures above 1 (flattening) cannot be reached from samples alone, and T = 1 is a plain draw.',
    );
  }
  return 1 / temperature;
}

/**
 * Splits a temperature into the integer and fractional parts of 1/T used by the exact sampler.
 *
 * @remarks
 * When 1/T is within {@link INTEGER_ORDER_TOLERANCE} (relative) of an integer, α is set to 0:
 * a rounding residue such as 1/(1/7) = 7.000000000000001 would otherwise switch on Stage 2 with a
 * negligible exponent and multiply the expected cost (Theorem 2) for no change in distribution.
 *
 * @param temperature - T ∈ (0, 1].
 * @returns n = ⌊1/T⌋ and α = 1/T − n.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when T is not a finite number in (0, 1].
 * @example
 * {@includeCode ../test/examples.test.ts#temperature-math}
 * @category Temperature
 */
export function temperatureParts(temperature: number): TemperatureParts {
  const inverse = checkRange(temperature, 'temperatureParts');
  const nearest = Math.round(inverse);
  if (Math.abs(inverse - nearest) <= INTEGER_ORDER_TOLERANCE * inverse) {
    return { temperature, n: nearest, alpha: 0 };
  }
  const n = Math.floor(inverse);
  return { temperature, n, alpha: inverse - n };
}

/**
 * The order n of the batch sampler: T must be 1/n for an integer n ≥ 1, as in the official code.
 *
 * @param temperature - T ∈ (0, 1] with 1/T within 1e-9 (relative) of an integer.
 * @returns n = round(1/T).
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when T is outside (0, 1] or 1/T is not an integer.
 * @example
 * {@includeCode ../test/examples.test.ts#temperature-math}
 * @category Temperature
 */
export function batchOrder(temperature: number): number {
  const inverse = checkRange(temperature, 'batchOrder');
  const n = Math.round(inverse);
  if (Math.abs(inverse - n) > INTEGER_ORDER_TOLERANCE * inverse) {
    fail(
      'INVALID_ARGUMENT',
      `the batch sampler (Algorithm 2) needs T = 1/n for an integer n, got T = ${temperature} (1/T = ${inverse}); ` +
        `pass T = 1/${Math.max(1, Math.floor(inverse))} or 1/${Math.ceil(inverse)}, or use the exact sampler ` +
        '(exactTemperatureSample / withExactTemperature), which accepts any T in (0, 1].',
    );
  }
  return n;
}

function checkProbs(probs: ArrayLike<number>, what: string): number {
  let total = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (!(p >= 0) || !Number.isFinite(p)) {
      fail('INVALID_ARGUMENT', `${what}: probs[${i}] = ${p}; pass finite, non-negative probabilities.`);
    }
    total += p;
  }
  if (!(total > 0)) fail('INVALID_ARGUMENT', `${what}: probabilities sum to 0; pass at least one positive entry.`);
  return total;
}

/**
 * The target of temperature sampling, P_T(x) = P(x)^(1/T) / Z_T, for an explicit distribution.
 *
 * @remarks
 * Computed relative to the largest entry, so tiny probabilities at small T underflow to 0
 * gracefully instead of producing NaN.
 *
 * @param probs - P, shape [M], non-negative (normalised here, so weights also work).
 * @param temperature - T ∈ (0, 1].
 * @returns P_T, shape [M], float64, summing to 1.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a bad temperature or bad probabilities.
 * @example
 * {@includeCode ../test/examples.test.ts#temperature-math}
 * @category Temperature
 */
export function temperedDistribution(probs: ArrayLike<number>, temperature: number): Float64Array {
  const inverse = checkRange(temperature, 'temperedDistribution');
  checkProbs(probs, 'temperedDistribution');
  let max = 0;
  for (let i = 0; i < probs.length; i++) max = Math.max(max, probs[i]!);
  const out = new Float64Array(probs.length);
  let z = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    const w = p > 0 ? Math.pow(p / max, inverse) : 0;
    out[i] = w;
    z += w;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= z;
  return out;
}

/**
 * Options of {@link expectedExactSamplerCalls}.
 * @category Temperature
 */
export interface ExpectedCallsOptions {
  /**
   * Whether Stage 1 stops at the first draw that differs from the first one (see
   * `ExactSampleOptions.earlyReject`). Default `false`, the paper's algorithm.
   */
  earlyReject?: boolean;
}

/**
 * The expected number of sampler draws per accepted sample of the exact algorithm (Theorem 2).
 *
 * @remarks
 * With 1/T = n + α and Z_T = Σ_x P(x)^(1/T):
 * `E[N] = (n + 1[α>0] · Σ_x P(x)^(1/T − 1)) / Z_T`.
 * With `earlyReject`, Stage 1 costs `1 + Σ_{j=1}^{n−1} Σ_x P(x)^j` draws per trial instead of n.
 * Use it to choose a budget or to decide between the exact and the batch sampler.
 *
 * @param probs - P, shape [M], non-negative (normalised here).
 * @param temperature - T ∈ (0, 1].
 * @param options - Whether Stage 1 rejects early.
 * @returns The expected number of draws (≥ 1).
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a bad temperature or bad probabilities.
 * @example
 * {@includeCode ../test/examples.test.ts#temperature-math}
 * @category Temperature
 */
export function expectedExactSamplerCalls(
  probs: ArrayLike<number>,
  temperature: number,
  options: ExpectedCallsOptions = {},
): number {
  const { n, alpha } = temperatureParts(temperature);
  const inverse = n + alpha;
  const total = checkProbs(probs, 'expectedExactSamplerCalls');
  let z = 0;
  let stage2 = 0;
  const powerSums = new Float64Array(n); // powerSums[j] = Σ P^j for j = 1..n-1
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]! / total;
    if (p === 0) continue;
    z += Math.pow(p, inverse);
    if (alpha > 0) stage2 += Math.pow(p, inverse - 1);
    for (let j = 1; j < n; j++) powerSums[j]! += Math.pow(p, j);
  }
  let stage1 = n;
  if (options.earlyReject) {
    stage1 = 1;
    for (let j = 1; j < n; j++) stage1 += powerSums[j]!;
  }
  return (stage1 + (alpha > 0 ? stage2 : 0)) / z;
}
