/**
 * `@calm/temperature-sampler`: temperature sampling P^(1/T)/Z from any black-box sampler that can
 * only draw, never score (CALM's energy head; paper §5, Algorithms 1 and 2).
 *
 * @remarks
 * - Exact (Algorithm 1, any T ∈ (0, 1]): {@link exactTemperatureSample} for any outcome type, and
 *   {@link withExactTemperature} to temper a `ChunkSampler` with batched draws across contexts.
 *   Cost per sample follows Theorem 2 ({@link expectedExactSamplerCalls}); a budget bounds it.
 * - Batch approximation (Algorithm 2, T = 1/n, what the official code runs):
 *   {@link batchTemperatureSample}, {@link batchSelectionDistribution} (the exact selection law
 *   for a pool), {@link batchTemperatureSampleChunks} (many pools at once) and
 *   {@link withBatchTemperature}.
 *
 * All randomness comes from an injected `Rng` from `@calm/core`; no `Math.random`.
 *
 * Quick start:
 * ```ts
 * import { createRng } from '@calm/core';
 * import { withBatchTemperature, withExactTemperature } from '@calm/temperature-sampler';
 *
 * const rng = createRng(0);
 * const exact = withExactTemperature(model, { temperature: 0.7, rng }); // any ChunkSampler
 * const chunks = await exact.sample([prompt], 4); // [1, 4, K] int32
 * console.log(exact.stats()); // draws per accepted sample, base calls, ...
 *
 * const fast = withBatchTemperature(model, { temperature: 1 / 3, rng, poolSize: 200 });
 * const next = await fast.sample(prompts, 1); // [B, 1, K]
 * ```
 *
 * @packageDocumentation
 */

export {
  INTEGER_ORDER_TOLERANCE,
  temperatureParts,
  batchOrder,
  temperedDistribution,
  expectedExactSamplerCalls,
  type TemperatureParts,
  type ExpectedCallsOptions,
} from './temperature.js';
export { defaultOutcomeKey, type OutcomeKey, type OutcomeKeyFn } from './keys.js';
export {
  DEFAULT_MAX_CALLS_PER_SAMPLE,
  exactTemperatureSample,
  type BudgetExhaustedPolicy,
  type ExactSampleOptions,
  type ExactSampleResult,
} from './exact.js';
export {
  batchSelectionDistribution,
  batchTemperatureSample,
  batchTemperatureSampleChunks,
  type BatchSelection,
  type BatchKeyOptions,
  type BatchSampleOptions,
  type BatchChunkOptions,
  type BatchChunkResult,
} from './batch.js';
export {
  withExactTemperature,
  withBatchTemperature,
  type TemperedChunkSampler,
  type TemperatureSamplerStats,
  type ExactChunkSamplerOptions,
  type BatchChunkSamplerOptions,
} from './chunk-sampler.js';
