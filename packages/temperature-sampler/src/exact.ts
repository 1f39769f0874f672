// The exact temperature sampler (paper Algorithm 1) for any T ∈ (0, 1], generic over the outcome
// type: it only needs a function that draws one outcome from P and a key that tells outcomes apart.
import type { Rng } from '@calm/core';
import { assertInteger, fail } from './internal/errors.js';
import { ExactState, keyMatcher } from './internal/exact-state.js';
import { selectWithOrder } from './batch.js';
import { defaultOutcomeKey, type OutcomeKeyFn } from './keys.js';
import { temperatureParts } from './temperature.js';

/**
 * Default cap on sampler draws per accepted sample of the exact sampler.
 * @see {@link exactTemperatureSample}
 * @category Exact sampler
 */
export const DEFAULT_MAX_CALLS_PER_SAMPLE = 100_000;

/**
 * What the exact sampler does when one sample uses up its budget of draws.
 *
 * - `'throw'` (default): throw a `CalmError` with code `BUDGET_EXHAUSTED`.
 * - `'approximate'`: return Algorithm 2's choice on the draws this sample already consumed (all
 *   i.i.d. from P), with order n = max(1, round(1/T)). Biased (it is the batch approximation with a
 *   pool of `maxCallsPerSample` draws, and rounds a fractional 1/T); counted in the `exhausted` stats.
 *
 * @see {@link exactTemperatureSample}
 * @category Exact sampler
 */
export type BudgetExhaustedPolicy = 'throw' | 'approximate';

/**
 * Options of {@link exactTemperatureSample}.
 * @typeParam X - The outcome type.
 * @category Exact sampler
 */
export interface ExactSampleOptions<X> {
  /** Source of the Stage-2 coin flips (the draws themselves come from `draw`). */
  rng: Rng;
  /** Maps an outcome to its identity; default {@link defaultOutcomeKey} (chunks: all ids equal). */
  key?: OutcomeKeyFn<X>;
  /** Most draws one sample may use before `onBudgetExhausted` applies; default {@link DEFAULT_MAX_CALLS_PER_SAMPLE}. */
  maxCallsPerSample?: number;
  /** What to do when the budget runs out; default `'throw'`. */
  onBudgetExhausted?: BudgetExhaustedPolicy;
  /**
   * Stop Stage 1 at the first draw that differs from the trial's first draw instead of drawing all
   * n (the paper draws all n). Same output distribution, fewer draws; default `false` so that the
   * cost matches Theorem 2 (see `expectedExactSamplerCalls` for both formulas).
   */
  earlyReject?: boolean;
}

/**
 * Result of {@link exactTemperatureSample}.
 * @typeParam X - The outcome type.
 * @category Exact sampler
 */
export interface ExactSampleResult<X> {
  /** The sample, distributed exactly as P^(1/T)/Z unless `exhausted`. */
  value: X;
  /** Number of `draw()` calls this sample used (Theorem 2's N). */
  calls: number;
  /** `true` when the budget ran out and the `'approximate'` fallback produced `value`. */
  exhausted: boolean;
}

/** Validated settings shared by the generic and the ChunkSampler exact samplers. @internal */
export interface ExactSettings {
  n: number;
  alpha: number;
  maxCalls: number;
  policy: BudgetExhaustedPolicy;
  earlyReject: boolean;
}

/** Validates the exact sampler's options. @internal */
export function exactSettings(
  temperature: number,
  options: { maxCallsPerSample?: number; onBudgetExhausted?: BudgetExhaustedPolicy; earlyReject?: boolean },
): ExactSettings {
  const { n, alpha } = temperatureParts(temperature);
  const maxCalls = options.maxCallsPerSample ?? DEFAULT_MAX_CALLS_PER_SAMPLE;
  if (maxCalls !== Infinity) {
    assertInteger(maxCalls, 'maxCallsPerSample', 1, 'pass a positive integer budget of draws per sample (or Infinity)');
  } else if (options.onBudgetExhausted === 'approximate') {
    fail(
      'INVALID_ARGUMENT',
      "onBudgetExhausted: 'approximate' needs a finite maxCallsPerSample; pass a positive integer.",
    );
  }
  const policy = options.onBudgetExhausted ?? 'throw';
  if (policy !== 'throw' && policy !== 'approximate') {
    fail('INVALID_ARGUMENT', `onBudgetExhausted must be 'throw' or 'approximate', got ${String(policy)}.`);
  }
  return { n, alpha, maxCalls, policy, earlyReject: options.earlyReject ?? false };
}

/** The `BUDGET_EXHAUSTED` error. @internal */
export function budgetExhausted(temperature: number, maxCalls: number, where: string): never {
  return fail(
    'BUDGET_EXHAUSTED',
    `exact temperature sampling at T = ${temperature} used ${maxCalls} draws${where} without accepting a sample ` +
      '(the expected cost grows without bound as T → 1 on a spread-out distribution and as T → 0; Theorem 2). ' +
      "Raise maxCallsPerSample, pass onBudgetExhausted: 'approximate', or use the batch sampler with T = 1/n.",
    { details: { temperature, maxCallsPerSample: maxCalls } },
  );
}

/** The approximate fallback's order n = max(1, round(1/T)). @internal */
export function fallbackOrder(temperature: number): number {
  return Math.max(1, Math.round(1 / temperature));
}

/**
 * Draws one sample from P^(1/T)/Z exactly, given only a way to draw from P (paper Algorithm 1).
 *
 * @remarks
 * With 1/T = n + α: Stage 1 draws n outcomes and continues only if all are equal (probability
 * P(x)^n); if α > 0, Stage 2 is a Bernoulli factory that keeps x with probability P(x)^α, drawing
 * until a draw equals x (accept) or a coin with probability α/i rejects (new trial). Outcomes are
 * compared by their keys. Expected draws: `expectedExactSamplerCalls` (Theorem 2); the cost explodes
 * as T → 1 on spread-out distributions and as T → 0, hence the budget.
 *
 * @param draw - Returns one independent draw from P per call.
 * @param temperature - T ∈ (0, 1]; 1/T within 1e-9 of an integer counts as an integer.
 * @param options - RNG, key, budget, fallback and early rejection.
 * @returns The sample, the number of draws it used, and whether the fallback was used.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a bad temperature or option;
 *   `BUDGET_EXHAUSTED` when the budget runs out under the `'throw'` policy.
 * @example
 * {@includeCode ../test/examples.test.ts#exact-generic}
 * @category Exact sampler
 */
export function exactTemperatureSample<X>(
  draw: () => X,
  temperature: number,
  options: ExactSampleOptions<X>,
): ExactSampleResult<X> {
  if (typeof draw !== 'function')
    fail('INVALID_ARGUMENT', 'exactTemperatureSample: draw must be a function returning one sample from P.');
  const s = exactSettings(temperature, options);
  const key = options.key ?? defaultOutcomeKey;
  const state = new ExactState<X>(
    s.n,
    s.alpha,
    keyMatcher(key),
    options.rng,
    s.earlyReject,
    s.policy === 'approximate',
  );
  while (state.consumed < s.maxCalls) {
    if (state.feed(draw())) return { value: state.value as X, calls: state.consumed, exhausted: false };
  }
  if (s.policy === 'throw') return budgetExhausted(temperature, s.maxCalls, '');
  const value = selectWithOrder(state.draws!, fallbackOrder(temperature), key, options.rng, 'exactTemperatureSample');
  return { value, calls: state.consumed, exhausted: true };
}
