// The batch approximation (paper Algorithm 2, what the official code runs): from a pool of N i.i.d.
// draws, pick outcome x with probability ∝ C(count_x, m), with the fallback cascade m = n, n−1, …, 1.
// Generic over outcomes (with a key function) and batched over many pools of token chunks.
import type { Rng } from '@calm/core';
import { assertInteger, fail } from './internal/errors.js';
import { bigWeightsToProbabilities, exactSelectionWeights, selectionProbabilities } from './internal/binomial.js';
import { GroupScratch, groupChunks } from './internal/groups.js';
import { defaultOutcomeKey, type OutcomeKey, type OutcomeKeyFn } from './keys.js';
import { batchOrder } from './temperature.js';

/**
 * The exact selection distribution of Algorithm 2 for one given pool.
 * @typeParam X - The outcome type.
 * @see {@link batchSelectionDistribution}
 * @category Batch sampler
 */
export interface BatchSelection<X> {
  /** The candidate outcomes (count ≥ `level`), each its first occurrence in the pool, in pool order. */
  outcomes: X[];
  /** Their keys. */
  keys: OutcomeKey[];
  /** Their counts in the pool. */
  counts: number[];
  /** m, the cascade level used: min(n, largest count). `level < n` means the cascade fell back. */
  level: number;
  /** Exact weights C(count, m) of the candidates, as BigInts (never overflow). */
  weights: bigint[];
  /** Selection probabilities weights / Σ weights, float64, summing to 1. */
  probabilities: Float64Array;
}

/**
 * Options of the generic batch functions.
 * @typeParam X - The outcome type.
 * @see {@link batchSelectionDistribution}
 * @category Batch sampler
 */
export interface BatchKeyOptions<X> {
  /** Maps an outcome to its identity; default {@link defaultOutcomeKey} (chunks: all ids equal). */
  key?: OutcomeKeyFn<X>;
}

/**
 * Options of {@link batchTemperatureSample}.
 * @typeParam X - The outcome type.
 * @category Batch sampler
 */
export interface BatchSampleOptions<X> extends BatchKeyOptions<X> {
  /** Source of the selection randomness. */
  rng: Rng;
}

function countPool<X>(pool: readonly X[], key: OutcomeKeyFn<X>, what: string) {
  if (!Array.isArray(pool) || pool.length === 0) {
    fail('INVALID_ARGUMENT', `${what}: the pool is empty; pass at least one draw (the official code uses N = 200).`);
  }
  const index = new Map<OutcomeKey, number>();
  const outcomes: X[] = [];
  const keys: OutcomeKey[] = [];
  const counts: number[] = [];
  for (const x of pool) {
    const k = key(x);
    const g = index.get(k);
    if (g === undefined) {
      index.set(k, outcomes.length);
      outcomes.push(x);
      keys.push(k);
      counts.push(1);
    } else counts[g]!++;
  }
  let max = 0;
  for (const c of counts) max = Math.max(max, c);
  return { outcomes, keys, counts, max };
}

/**
 * The exact probability with which Algorithm 2 returns each outcome, given the pool.
 *
 * @remarks
 * With n = 1/T, the level is m = min(n, largest count) (the cascade m = n, n−1, …, 1 stops at the
 * first level some outcome reaches), and outcome x is chosen with probability
 * C(c_x, m) / Σ_y C(c_y, m) among outcomes with c_x ≥ m. Weights are exact BigInts, so any pool
 * size works. Paper example: pool A,C,A,D,B,E,A,F,B,G at T = 1/2 gives A: 3/4, B: 1/4.
 *
 * @param pool - N i.i.d. draws from the base sampler (N ≥ 1).
 * @param temperature - T = 1/n for an integer n ≥ 1 (within 1e-9 relative).
 * @param options - The key function.
 * @returns The candidates with their counts, exact weights and probabilities.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for an empty pool or a T that is not 1/n.
 * @example
 * {@includeCode ../test/examples.test.ts#batch-generic}
 * @category Batch sampler
 */
export function batchSelectionDistribution<X>(
  pool: readonly X[],
  temperature: number,
  options: BatchKeyOptions<X> = {},
): BatchSelection<X> {
  const n = batchOrder(temperature);
  const { outcomes, keys, counts, max } = countPool(
    pool,
    options.key ?? defaultOutcomeKey,
    'batchSelectionDistribution',
  );
  const level = Math.min(n, max);
  const out: BatchSelection<X> = {
    outcomes: [],
    keys: [],
    counts: [],
    level,
    weights: [],
    probabilities: new Float64Array(0),
  };
  for (let i = 0; i < outcomes.length; i++) {
    if (counts[i]! < level) continue;
    out.outcomes.push(outcomes[i]!);
    out.keys.push(keys[i]!);
    out.counts.push(counts[i]!);
  }
  out.weights = exactSelectionWeights(out.counts, level);
  out.probabilities = bigWeightsToProbabilities(out.weights);
  return out;
}

/**
 * Draws one outcome with Algorithm 2 from a pool of i.i.d. draws (approximately P^(1/T)/Z).
 *
 * @remarks
 * Biased for finite pools (it is an expectation of a ratio) and consistent as N → ∞ (Theorem 3).
 * Costs no extra sampler calls beyond the pool.
 *
 * @param pool - N i.i.d. draws from the base sampler (N ≥ 1; the official code uses 200).
 * @param temperature - T = 1/n for an integer n ≥ 1 (within 1e-9 relative).
 * @param options - The RNG for the selection and the key function.
 * @returns The chosen outcome (the first occurrence in the pool of the chosen value).
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for an empty pool or a T that is not 1/n.
 * @example
 * {@includeCode ../test/examples.test.ts#batch-generic}
 * @category Batch sampler
 */
export function batchTemperatureSample<X>(pool: readonly X[], temperature: number, options: BatchSampleOptions<X>): X {
  return selectWithOrder(
    pool,
    batchOrder(temperature),
    options.key ?? defaultOutcomeKey,
    options.rng,
    'batchTemperatureSample',
  );
}

/** Algorithm 2 with the order n given directly (also the exact sampler's budget fallback). @internal */
export function selectWithOrder<X>(pool: readonly X[], n: number, key: OutcomeKeyFn<X>, rng: Rng, what: string): X {
  const { outcomes, counts, max } = countPool(pool, key, what);
  const probs = selectionProbabilities(counts, Math.min(n, max));
  return outcomes[rng.categorical(probs)]!;
}

/**
 * Options of {@link batchTemperatureSampleChunks}.
 * @category Batch sampler
 */
export interface BatchChunkOptions {
  /** Number of pools P (e.g. contexts × samples per context). */
  numPools: number;
  /** K, token ids per chunk. */
  chunkSize: number;
  /** Source of the selection randomness. */
  rng: Rng;
}

/**
 * Result of {@link batchTemperatureSampleChunks}.
 * @category Batch sampler
 */
export interface BatchChunkResult {
  /** The chosen chunks, shape [P, K] flattened row-major, int32. */
  ids: Int32Array;
  /** The cascade level m used for each pool, shape [P], int32 (`< n` where the cascade fell back). */
  levels: Int32Array;
}

/**
 * Algorithm 2 on many pools of token chunks at once: one pool per context, as drawn by one batched
 * model call; chunks are the same outcome when all K ids are equal.
 *
 * @param pools - Draws, shape [P, N, K] flattened row-major, int32 (N = pool size, derived from the length).
 * @param temperature - T = 1/n for an integer n ≥ 1 (within 1e-9 relative).
 * @param options - Number of pools, chunk size and the RNG.
 * @returns One chosen chunk per pool and the cascade level used.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a T that is not 1/n or bad sizes;
 *   `SHAPE_MISMATCH` when the length is not P·N·K for an integer N ≥ 1.
 * @example
 * {@includeCode ../test/examples.test.ts#batch-pools}
 * @category Batch sampler
 */
export function batchTemperatureSampleChunks(
  pools: Int32Array,
  temperature: number,
  options: BatchChunkOptions,
): BatchChunkResult {
  const n = batchOrder(temperature);
  const { numPools, chunkSize: k, rng } = options;
  assertInteger(numPools, 'numPools', 1, 'pass the number of pools (contexts × samples)');
  assertInteger(k, 'chunkSize', 1, 'pass K, the number of token ids per chunk');
  if (!(pools instanceof Int32Array) || pools.length === 0 || pools.length % (numPools * k) !== 0) {
    fail(
      'SHAPE_MISMATCH',
      `batchTemperatureSampleChunks: expected int32 draws of shape [${numPools}, N, ${k}] (length a positive multiple of ` +
        `${numPools * k}), got ${pools instanceof Int32Array ? `length ${pools.length}` : 'a non-Int32Array'}; ` +
        'pass the [P, N, K] output of ChunkSampler.sample(contexts, N).',
    );
  }
  const poolSize = pools.length / (numPools * k);
  const ids = new Int32Array(numPools * k);
  const levels = new Int32Array(numPools);
  const scratch = new GroupScratch(poolSize);
  for (let p = 0; p < numPools; p++) {
    const groups = groupChunks(pools, p * poolSize, poolSize, k, scratch);
    let max = 0;
    for (let g = 0; g < groups.size; g++) max = Math.max(max, groups.counts[g]!);
    const m = Math.min(n, max);
    levels[p] = m;
    // C(c, 1) = c: at level 1 a uniform pool member is exactly the same choice.
    const chosen =
      m === 1
        ? rng.int(poolSize)
        : groups.first[rng.categorical(selectionProbabilities(groups.counts.subarray(0, groups.size), m))]!;
    const at = (p * poolSize + chosen) * k;
    ids.set(pools.subarray(at, at + k), p * k);
  }
  return { ids, levels };
}
