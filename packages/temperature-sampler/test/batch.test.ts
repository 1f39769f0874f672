import { describe, expect, it } from 'vitest';
import { chunkKey, createRng, isCalmError } from '@calm/core';
import { chiSquareTest, logGamma, totalVariation } from '@calm/testing';
import { categoricalDrawer } from '../../testing/src/temperature-helpers.js';
import {
  batchSelectionDistribution,
  batchTemperatureSample,
  batchTemperatureSampleChunks,
  temperedDistribution,
} from '../src/index.js';
import { binomialBig, binomialNumber, selectionProbabilities } from '../src/internal/binomial.js';
import { GroupScratch, groupChunks } from '../src/internal/groups.js';

const PAPER_POOL = [...'ACADBEAFBG'];

describe('batchSelectionDistribution (Algorithm 2, exact law for a pool)', () => {
  it("reproduces the paper's worked example: A,C,A,D,B,E,A,F,B,G at T = 1/2 gives A 3/4, B 1/4", () => {
    const d = batchSelectionDistribution(PAPER_POOL, 1 / 2);
    expect(d.outcomes).toEqual(['A', 'B']);
    expect(d.counts).toEqual([3, 2]);
    expect(d.level).toBe(2);
    expect(d.weights).toEqual([3n, 1n]);
    expect(Array.from(d.probabilities)).toEqual([0.75, 0.25]);
  });

  it('walks the cascade down when no outcome reaches n', () => {
    // T = 1/4: largest count is 3, so m = 3 and only A qualifies.
    expect(batchSelectionDistribution(PAPER_POOL, 1 / 4)).toMatchObject({ outcomes: ['A'], level: 3, weights: [1n] });
    // all distinct: m = 1, uniform over the pool
    const d = batchSelectionDistribution(['x', 'y', 'z'], 1 / 3);
    expect(d.level).toBe(1);
    expect(d.weights).toEqual([1n, 1n, 1n]);
    // T = 1: proportional to counts
    expect(Array.from(batchSelectionDistribution(PAPER_POOL, 1).probabilities)).toEqual([
      0.3, 0.1, 0.1, 0.2, 0.1, 0.1, 0.1,
    ]);
  });

  it('compares chunks by all ids and accepts a key function', () => {
    const pool = [
      Int32Array.from([1, 2]),
      Int32Array.from([1, 3]),
      Int32Array.from([1, 2]),
      Int32Array.from([1, 3]),
      Int32Array.from([1, 3]),
    ];
    const d = batchSelectionDistribution(pool, 1 / 2);
    expect(d.keys).toEqual(['1,2', '1,3']);
    expect(d.weights).toEqual([1n, 3n]);
    const words = [{ w: 'a' }, { w: 'b' }, { w: 'a' }];
    expect(batchSelectionDistribution(words, 1 / 2, { key: (x) => x.w }).outcomes).toEqual([{ w: 'a' }]);
  });

  it('keeps exact weights for large pools (no overflow)', () => {
    // 10 000 draws of 2 outcomes at T = 1/200: C(6000, 200) and C(4000, 200) are far beyond 1e308.
    const pool = [...Array.from({ length: 6000 }, () => 'a'), ...Array.from({ length: 4000 }, () => 'b')];
    const d = batchSelectionDistribution(pool, 1 / 200);
    expect(d.weights[0]).toBe(binomialBig(6000, 200));
    expect(d.weights[0]!.toString().length).toBeGreaterThan(350); // ≈ 1e379
    // log-space check of the ratio C(4000,200)/C(6000,200) = Π_{i<200} (4000−i)/(6000−i)
    let logRatio = 0;
    for (let i = 0; i < 200; i++) logRatio += Math.log((4000 - i) / (6000 - i));
    const pb = Math.exp(logRatio) / (1 + Math.exp(logRatio));
    expect(d.probabilities[1]! / pb - 1).toBeLessThan(1e-12);
    expect(d.probabilities[0]! + d.probabilities[1]!).toBeCloseTo(1, 15);
  });

  it('rejects an empty pool and T that is not 1/n', () => {
    expect(() => batchSelectionDistribution([], 0.5)).toThrowError(/pool is empty/);
    expect(() => batchSelectionDistribution(PAPER_POOL, 0.4)).toThrowError(/T = 1\/n/);
  });
});

describe('binomial weights', () => {
  it('are exact doubles below 2^53 and BigInts beyond', () => {
    expect(binomialNumber(10, 3)).toBe(120);
    expect(binomialNumber(3, 5)).toBe(0);
    expect(binomialNumber(200, 6)).toBe(82_408_626_300);
    expect(binomialNumber(10_000, 200)).toBeUndefined();
    expect(binomialBig(60, 30)).toBe(118264581564861424n);
    expect(binomialNumber(60, 30)).toBeUndefined(); // 1.18e17 > 2^53
    // mixed counts: the BigInt path and the double path agree where both apply
    const p = selectionProbabilities([60, 50, 1], 30);
    const exact = [binomialBig(60, 30), binomialBig(50, 30), 0n];
    const total = exact.reduce((a, b) => a + b, 0n);
    expect(p[0]).toBeCloseTo(Number((exact[0]! * 10n ** 18n) / total) / 1e18, 15);
    expect(p[2]).toBe(0);
    expect(Array.from(selectionProbabilities([3, 2, 1], 2))).toEqual([0.75, 0.25, 0]);
  });
});

describe('batchTemperatureSample', () => {
  it("draws the paper's example with frequencies 3/4 and 1/4", () => {
    const rng = createRng('paper');
    const counts = { A: 0, B: 0 } as Record<string, number>;
    for (let i = 0; i < 20_000; i++) counts[batchTemperatureSample(PAPER_POOL, 1 / 2, { rng })]!++;
    expect(Object.keys(counts)).toEqual(['A', 'B']);
    expect(chiSquareTest([counts.A!, counts.B!], [0.75, 0.25]).pValue).toBeGreaterThan(0.01);
    expect(chiSquareTest([counts.A!, counts.B!], [0.6, 0.4]).pValue).toBeLessThan(1e-6);
  });

  // The algorithm's output law for pools of size N from P = [0.5, 0.3, 0.2] at T = 1/3, computed
  // exactly: a sum over the multinomial count vectors of the pool (a ±8 sd window for large N) of the
  // selection law for those counts.
  const P3 = [0.5, 0.3, 0.2];
  function outputLaw(n: number): Float64Array {
    const law = new Float64Array(3);
    const window = (i: number) => {
      const sd = Math.sqrt(n * P3[i]! * (1 - P3[i]!));
      return [Math.max(0, Math.floor(n * P3[i]! - 8 * sd)), Math.min(n, Math.ceil(n * P3[i]! + 8 * sd))] as const;
    };
    const [lo1, hi1] = window(0);
    const [lo2, hi2] = window(1);
    for (let c1 = lo1; c1 <= hi1; c1++) {
      for (let c2 = lo2; c2 <= Math.min(hi2, n - c1); c2++) {
        const c3 = n - c1 - c2;
        const logPmf =
          logGamma(n + 1) -
          logGamma(c1 + 1) -
          logGamma(c2 + 1) -
          logGamma(c3 + 1) +
          c1 * Math.log(P3[0]!) +
          c2 * Math.log(P3[1]!) +
          c3 * Math.log(P3[2]!);
        const sel = selectionProbabilities([c1, c2, c3], Math.min(3, Math.max(c1, c2, c3)));
        const w = Math.exp(logPmf);
        for (let i = 0; i < 3; i++) law[i]! += w * sel[i]!;
      }
    }
    return law;
  }

  it('approaches P^(1/T)/Z as the pool grows (total variation decreases over N = 10 … 10 000)', () => {
    const target = temperedDistribution(P3, 1 / 3);
    const tvs: number[] = [];
    for (const n of [10, 100, 1000, 10_000]) {
      const law = outputLaw(n);
      expect(law.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10); // the window holds all the mass
      tvs.push(totalVariation(law, target));
    }
    for (let i = 1; i < tvs.length; i++) expect(tvs[i]).toBeLessThan(tvs[i - 1]! / 5); // ≈ 1/N
    expect(tvs[0]).toBeGreaterThan(0.05); // N = 10 is visibly biased ...
    expect(tvs[3]).toBeLessThan(5e-4); // ... N = 10 000 is close (Theorem 3; TV ≈ 1.6 / N here)
  });

  it('samples with the frequencies of that output law, bias included', () => {
    const rng = createRng('frequencies');
    const draw = categoricalDrawer(P3, rng);
    for (const [n, samples] of [
      [10, 20_000],
      [100, 5000],
      [1000, 1000],
    ] as const) {
      const counts = [0, 0, 0];
      for (let r = 0; r < samples; r++)
        counts[batchTemperatureSample(Array.from({ length: n }, draw), 1 / 3, { rng })]!++;
      expect(chiSquareTest(counts, outputLaw(n)).pValue).toBeGreaterThan(0.01);
      if (n === 10) expect(chiSquareTest(counts, temperedDistribution(P3, 1 / 3)).pValue).toBeLessThan(1e-6);
    }
  });
});

describe('batchTemperatureSampleChunks (one pool per context)', () => {
  it.each([
    [3, 3],
    [2, 1000],
    [1, 5],
  ])('groups chunks (K = %i, ids < %i) by exact equality of all ids, as a string key would', (k, vocab) => {
    const rng = createRng(`groups/${k}/${vocab}`);
    const ids = new Int32Array(500 * k);
    for (let i = 0; i < ids.length; i++) ids[i] = rng.int(vocab);
    const scratch = new GroupScratch(400);
    for (const start of [100, 0]) {
      const g = groupChunks(ids, start, 400, k, scratch);
      const ref = new Map<string, number>();
      for (let s = start; s < start + 400; s++) {
        const key = chunkKey(ids.subarray(s * k, s * k + k));
        ref.set(key, (ref.get(key) ?? 0) + 1);
      }
      expect(g.size).toBe(ref.size);
      const got = new Map<string, number>();
      for (let i = 0; i < g.size; i++)
        got.set(chunkKey(ids.subarray((start + g.first[i]!) * k, (start + g.first[i]!) * k + k)), g.counts[i]!);
      expect([...got.entries()]).toEqual([...ref.entries()]); // same groups, same first-occurrence order
    }
  });

  it('tempers each context with its own pool, following the exact selection law of each pool', () => {
    const k = 2;
    const chunks = [Int32Array.from([1, 1]), Int32Array.from([1, 2]), Int32Array.from([2, 1])];
    const laws = [
      [0.6, 0.3, 0.1],
      [0.1, 0.2, 0.7],
    ];
    const rng = createRng('contexts');
    const drawers = laws.map((l) => categoricalDrawer(l, rng));
    const poolSize = 100;
    const rounds = 2000;
    const observed = laws.map(() => [0, 0, 0]);
    // Expected counts: the sum over rounds of each pool's exact selection law (no finite-N bias involved).
    const expected = laws.map(() => [0, 0, 0]);
    for (let r = 0; r < rounds; r++) {
      const pools = new Int32Array(laws.length * poolSize * k);
      for (let c = 0; c < laws.length; c++) {
        const indices = Array.from({ length: poolSize }, () => drawers[c]!());
        indices.forEach((i, s) => pools.set(chunks[i]!, (c * poolSize + s) * k));
        const law = batchSelectionDistribution(indices, 1 / 2);
        law.outcomes.forEach((i, j) => (expected[c]![i]! += law.probabilities[j]!));
      }
      const { ids, levels } = batchTemperatureSampleChunks(pools, 1 / 2, { numPools: laws.length, chunkSize: k, rng });
      expect(Array.from(levels)).toEqual([2, 2]);
      for (let c = 0; c < laws.length; c++)
        observed[c]![chunks.findIndex((x) => x[0] === ids[c * k] && x[1] === ids[c * k + 1])]!++;
    }
    for (let c = 0; c < laws.length; c++) {
      expect(chiSquareTest(observed[c]!, expected[c]!).pValue).toBeGreaterThan(0.01);
      // and the per-context laws are the tempered ones, not each other's
      expect(totalVariation(expected[c]!, temperedDistribution(laws[c]!, 0.5))).toBeLessThan(0.01);
      expect(totalVariation(expected[c]!, temperedDistribution(laws[1 - c]!, 0.5))).toBeGreaterThan(0.5);
    }
  });

  it('reports cascade fallbacks and checks shapes', () => {
    const rng = createRng(0);
    const distinct = Int32Array.from([1, 2, 3, 4, 5, 6]); // 1 pool of 3 distinct chunks (K = 2)
    expect(
      Array.from(batchTemperatureSampleChunks(distinct, 1 / 2, { numPools: 1, chunkSize: 2, rng }).levels),
    ).toEqual([1]);
    let err: unknown;
    try {
      batchTemperatureSampleChunks(Int32Array.from([1, 2, 3]), 1 / 2, { numPools: 2, chunkSize: 2, rng });
    } catch (e) {
      err = e;
    }
    expect(isCalmError(err, 'SHAPE_MISMATCH')).toBe(true);
    expect(() => batchTemperatureSampleChunks(distinct, 1 / 2, { numPools: 0, chunkSize: 2, rng })).toThrowError(
      /numPools/,
    );
  });
});
