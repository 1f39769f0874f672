// The API examples of @calm/temperature-sampler: each `#region` is included into a TSDoc
// `@example` with `{@includeCode}`, so the documented code is the code that runs here. The model
// is a fake ChunkSampler over six chunks of K = 2 ids; sizes are small so the file runs in well
// under a second. Assertions stay outside the regions.
import { describe, expect, it } from 'vitest';
import { createRng, type ChunkSampler } from '@calm/core';
import { fakeChunkSampler } from '@calm/testing';
import {
  batchOrder,
  batchSelectionDistribution,
  batchTemperatureSample,
  batchTemperatureSampleChunks,
  defaultOutcomeKey,
  exactTemperatureSample,
  expectedExactSamplerCalls,
  temperatureParts,
  temperedDistribution,
  withBatchTemperature,
  withExactTemperature,
} from '../src/index.js';

const K = 2;
const CHUNKS = [
  [1, 1],
  [1, 2],
  [2, 1],
  [3, 4],
  [4, 3],
  [5, 5],
].map((c) => Int32Array.from(c));
const LAW = [0.5, 0.25, 0.15, 0.06, 0.03, 0.01];
/** Stands in for a CALM model: any ChunkSampler. */
const makeModel = (seed: number) =>
  fakeChunkSampler({ chunkSize: K, chunks: CHUNKS, probsFor: () => LAW, seed, vocabSize: 8 });
const prompt = Int32Array.from([1, 2, 3, 4]);

describe('@calm/temperature-sampler examples', () => {
  it('README quick start: a black box tempered exactly and by the batch approximation', async () => {
    // #region readme
    // import { createRng, type ChunkSampler } from '@calm/core';
    // import { temperedDistribution, withBatchTemperature, withExactTemperature } from '@calm/temperature-sampler';
    const P = [0.6, 0.3, 0.1]; // a black box over three chunks of K = 1 token id: only its draws are used
    const draw = createRng(0);
    const model: ChunkSampler = {
      chunkSize: 1,
      vocabSize: 3,
      async sample(contexts, numSamples) {
        return Int32Array.from({ length: contexts.length * numSamples }, () => draw.categorical(P)); // [B, n, K]
      },
    };
    const exact = withExactTemperature(model, { temperature: 0.7, rng: createRng(1) }); // Algorithm 1, any T in (0, 1]
    const batch = withBatchTemperature(model, { temperature: 1 / 2, rng: createRng(2) }); // Algorithm 2, T = 1/n
    const cold = await exact.sample([Int32Array.of(0)], 2000); // [1, 2000, 1] int32, exactly P^(1/0.7)/Z
    const target = temperedDistribution(P, 0.7); // that law, for checking
    const fast = await batch.sample([Int32Array.of(0)], 4); // a pool of 200 draws per sample, one model call
    const { drawn, baseCalls } = exact.stats(); // what the model paid
    // #endregion readme
    const freq = [0, 1, 2].map((x) => cold.filter((v) => v === x).length / cold.length);
    const tv = 0.5 * freq.reduce((sum, f, x) => sum + Math.abs(f - target[x]!), 0);
    expect(tv).toBeLessThan(0.04);
    expect(fast).toHaveLength(4);
    expect(drawn).toBeGreaterThanOrEqual(2000);
    expect(baseCalls).toBeGreaterThan(0);
  });

  it('tempers a ChunkSampler exactly (Algorithm 1)', async () => {
    const model = makeModel(1);
    // #region exact-chunks
    // import { createRng, type ChunkSampler } from '@calm/core';
    // import { withExactTemperature } from '@calm/temperature-sampler';
    // model: any ChunkSampler (a CALM model, a remote API, …); prompt: token ids, int32
    const tempered = withExactTemperature(model, { temperature: 0.7, rng: createRng(0), earlyReject: true }); // model: any ChunkSampler
    const ids = await tempered.sample([prompt], 4); // [1, 4, K] int32, each chunk ~ P^(1/0.7)/Z exactly
    const { accepted, drawn, baseCalls } = tempered.stats(); // 4 samples; drawn / accepted = cost per sample
    // #endregion exact-chunks
    expect(ids.length).toBe(4 * K);
    expect(accepted).toBe(4);
    expect(drawn).toBe(model.draws);
    expect(baseCalls).toBe(model.calls);
  });

  it('tempers a ChunkSampler with the batch approximation (Algorithm 2)', async () => {
    const model = makeModel(2);
    const prompts = [prompt, Int32Array.from([5, 6])];
    // #region batch-chunks
    // import { createRng, type ChunkSampler } from '@calm/core';
    // import { withBatchTemperature } from '@calm/temperature-sampler';
    // model: any ChunkSampler; prompts: B token-id sequences, int32
    const tempered = withBatchTemperature(model, { temperature: 1 / 2, rng: createRng(0), poolSize: 200 }); // T must be 1/n
    const ids = await tempered.sample(prompts, 1); // [B = 2, 1, K]: one pool of 200 draws per prompt, one base call
    tempered.stats().drawn; // 400
    // #endregion batch-chunks
    expect(ids.length).toBe(2 * K);
    expect(tempered.stats()).toMatchObject({ accepted: 2, drawn: 400, baseCalls: 1 });
  });

  it('samples any outcome type exactly from a draw function', () => {
    // #region exact-generic
    // import { createRng, type ChunkSampler } from '@calm/core';
    // import { exactTemperatureSample } from '@calm/temperature-sampler';
    const rng = createRng(1);
    const probs = [0.5, 0.3, 0.2];
    const { value, calls } = exactTemperatureSample(() => rng.categorical(probs), 0.7, { rng }); // value ~ probs^(1/0.7)/Z
    // #endregion exact-generic
    expect([0, 1, 2]).toContain(value);
    expect(calls).toBeGreaterThanOrEqual(1);
  });

  it('selects from a pool with Algorithm 2, and gives its exact selection law', () => {
    // #region batch-generic
    // import { createRng, type ChunkSampler } from '@calm/core';
    // import { batchSelectionDistribution, batchTemperatureSample } from '@calm/temperature-sampler';
    const d = batchSelectionDistribution([...'ACADBEAFBG'], 1 / 2); // the paper's example pool
    d.outcomes; // ['A', 'B']: the outcomes that occur at least n = 2 times
    d.probabilities; // [0.75, 0.25] ∝ C(3, 2), C(2, 2)
    const rng = createRng(0);
    const pool = Array.from({ length: 200 }, () => rng.categorical([0.6, 0.3, 0.1])); // N = 200 i.i.d. draws
    const x = batchTemperatureSample(pool, 1 / 3, { rng }); // ≈ P^3/Z, no extra draws
    // #endregion batch-generic
    expect(d.outcomes).toEqual(['A', 'B']);
    expect(Array.from(d.probabilities)).toEqual([0.75, 0.25]);
    expect([0, 1, 2]).toContain(x);
  });

  it('chooses from many pools of chunks drawn in one call', async () => {
    const sampler = makeModel(3);
    const contexts = [prompt, prompt];
    const rng = createRng(4);
    // #region batch-pools
    // import { batchTemperatureSampleChunks } from '@calm/temperature-sampler';
    // sampler: any ChunkSampler with K = 2; contexts: 2 token-id sequences; rng: from createRng
    const pools = await sampler.sample(contexts, 200); // [P = 2, N = 200, K] int32, one pool per context
    const { ids, levels } = batchTemperatureSampleChunks(pools, 1 / 2, { numPools: 2, chunkSize: K, rng }); // ids: [P, K]
    levels; // the cascade level per pool: 2 unless no chunk occurred twice
    // #endregion batch-pools
    expect(ids.length).toBe(2 * K);
    expect(Array.from(levels)).toEqual([2, 2]);
  });

  it('computes the temperature bookkeeping', () => {
    // #region temperature-math
    // import { batchOrder, expectedExactSamplerCalls, temperatureParts, temperedDistribution } from '@calm/temperature-sampler';
    temperatureParts(0.4); // { temperature: 0.4, n: 2, alpha: 0.5 }: 1/T = n + α
    batchOrder(1 / 3); // 3; batchOrder(0.4) throws: the batch sampler needs T = 1/n
    temperedDistribution([0.5, 0.25, 0.25], 0.5); // [2/3, 1/6, 1/6] = P² / Z
    expectedExactSamplerCalls([0.5, 0.5], 0.5); // 4 draws per exact sample (Theorem 2)
    // #endregion temperature-math
    expect(temperatureParts(0.4)).toEqual({ temperature: 0.4, n: 2, alpha: 0.5 });
    expect(batchOrder(1 / 3)).toBe(3);
    expect(() => batchOrder(0.4)).toThrow(/T = 1\/n/);
    const p = temperedDistribution([0.5, 0.25, 0.25], 0.5);
    [2 / 3, 1 / 6, 1 / 6].forEach((v, i) => expect(p[i]).toBeCloseTo(v, 12));
    expect(expectedExactSamplerCalls([0.5, 0.5], 0.5)).toBeCloseTo(4, 12);
  });

  it('keys outcomes for comparison', () => {
    // #region outcome-key
    // import { defaultOutcomeKey } from '@calm/temperature-sampler';
    defaultOutcomeKey(7); // 7: primitives are their own key
    defaultOutcomeKey(Int32Array.from([5, 6])); // '5,6': chunks are equal when all ids are
    // #endregion outcome-key
    expect(defaultOutcomeKey(7)).toBe(7);
    expect(defaultOutcomeKey(Int32Array.from([5, 6]))).toBe('5,6');
  });
});
