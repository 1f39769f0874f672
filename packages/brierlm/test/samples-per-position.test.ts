// n samples per position: the estimate equals the brute-force U-statistic, reduces to the paper's
// two-sample estimator, is unbiased for n ∈ {2, 4, 8, 16} against a Markov model whose Brier-k is
// known in closed form (chunk K = 1..4, token and explicit estimators), and its variance falls
// with n as U-statistic theory predicts; a biased (V-statistic) and a wasteful (disjoint pairs)
// variant fail the same checks. Standard errors are checked against their expectation.
import { describe, expect, it } from 'vitest';
import { NO_TOKEN, createRng, type ChunkSampler, type Rng, type TokenSampler } from '@calm/core';
import { meanAndStderr, sampleVariance } from '@calm/testing';
import {
  chunkSamplerFromNextTokenModel,
  evaluateBrierLM,
  tokenSamplerFromCallback,
  type BrierGenerator,
  type PositionRecord,
} from '../src/index.js';
import {
  chunkPositions,
  disjointPairsBrierVariance,
  exactMeanBrier,
  markovKgramMoments,
  markovModel,
  tokenPositions,
  uStatisticBrierVariance,
  type KgramMoments,
} from '../../testing/src/brierlm-helpers.js';

const NS = [2, 4, 8, 16] as const;
// The model: a Markov chain over V = 3 tokens with dyadic probabilities (exact in float32).
const MODEL_ROWS = [
  [0.5, 0.375, 0.125],
  [0.25, 0.25, 0.5],
  [0.75, 0.125, 0.125],
];
// The text comes from another chain, so the model is not the data distribution.
const DATA_ROWS = [
  [0.3, 0.3, 0.4],
  [0.5, 0.2, 0.3],
  [0.2, 0.6, 0.2],
];
const model = markovModel(MODEL_ROWS);
const T = 96; // a multiple of K = 1, 2, 3, 4

function markovText(rng: Rng, length: number): Int32Array {
  const out = new Int32Array(length);
  let x = 0;
  for (let i = 0; i < length; i++) {
    x = rng.categorical(DATA_ROWS[x]!);
    out[i] = x;
  }
  return out;
}
const block = markovText(createRng('spp-data'), T);

/** Closed-form Brier-k moments at the positions whose first target token is at `starts`. */
function momentsAt(starts: readonly number[]): KgramMoments[][] {
  return starts.map((s) => markovKgramMoments(MODEL_ROWS, block[s - 1]!, block.subarray(s, s + 4)));
}
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const truthOf = (m: KgramMoments[][]): number[] => [0, 1, 2, 3].map((k) => mean(m.map((p) => p[k]!.brier)));

/** A token sampler drawing from the model's rows. */
function tokenSampler(seed: string): TokenSampler {
  const rng = createRng(seed);
  return {
    vocabSize: 3,
    async sample(contexts, maxTokens, numSamples) {
      const out = new Int32Array(contexts.length * numSamples * maxTokens);
      let o = 0;
      for (const c of contexts)
        for (let m = 0; m < numSamples; m++) {
          let last = c[c.length - 1]!;
          for (let j = 0; j < maxTokens; j++) {
            const u = rng.uniform();
            const row = MODEL_ROWS[last]!;
            last = u < row[0]! ? 0 : u < row[0]! + row[1]! ? 1 : 2; // V = 3, dyadic: exact
            out[o++] = last;
          }
        }
      return out;
    },
  };
}

/** R replicate evaluations of the block; per k the block means, and the reported standard errors. */
async function replicate(
  R: number,
  n: number,
  make: (r: number) => BrierGenerator,
  extra: { teacherForced?: 'auto' | 'never'; keepPositions?: boolean } = {},
): Promise<{ est: number[][]; se: number[][]; positions: PositionRecord[][] }> {
  const est: number[][] = [[], [], [], []];
  const se: number[][] = [[], [], [], []];
  const positions: PositionRecord[][] = [];
  for (let r = 0; r < R; r++) {
    const res = await evaluateBrierLM(make(r), [block], {
      seed: r,
      batchSize: 16,
      samplesPerPosition: n,
      stderr: { unit: 'position' },
      ...extra,
    });
    for (let k = 0; k < 4; k++) {
      est[k]!.push(res.brier[k]!);
      se[k]!.push(res.brierStderr[k]!);
    }
    if (res.positions) positions.push(res.positions);
  }
  return { est, se, positions };
}

/** |mean − truth| ≤ 3 SE for every k; returns the worst |z|. */
function expectUnbiased(est: number[][], truth: readonly number[], label: string): number {
  let worst = 0;
  for (let k = 0; k < 4; k++) {
    const { mean: m, stderr } = meanAndStderr(est[k]!);
    const z = Math.abs(m - truth[k]!) / Math.max(stderr, 1e-12);
    worst = Math.max(worst, z);
    expect(
      Math.abs(m - truth[k]!),
      `${label} Brier-${k + 1}: mean ${m} vs truth ${truth[k]} (3·SE = ${3 * stderr})`,
    ).toBeLessThanOrEqual(Math.max(3 * stderr, 1e-9));
  }
  return worst;
}

/** Brute force from one record, for Brier-(k+1): U-statistic, V-statistic (pairs i = j included) and disjoint pairs. */
function bruteForce(rec: PositionRecord, n: number, k: number): { u: number; v: number; disjoint: number } {
  const xs = rec.samples ?? [rec.sample1!, rec.sample2!];
  expect(xs).toHaveLength(n);
  const eq = (a: number[], b: number[]): number => {
    for (let j = 0; j <= k; j++) if (a[j] !== b[j]) return 0;
    return 1;
  };
  let hits = 0;
  for (const x of xs) hits += eq(x, rec.target);
  let pairs = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) pairs += eq(xs[i]!, xs[j]!);
  let d = 0;
  for (let i = 0; i + 1 < n; i += 2) d += eq(xs[i]!, rec.target) + eq(xs[i + 1]!, rec.target) - eq(xs[i]!, xs[i + 1]!);
  return {
    u: (2 * hits) / n - pairs / (n * (n - 1)),
    v: (2 * hits) / n - (pairs + n) / (n * n),
    disjoint: d / Math.floor(n / 2),
  };
}

describe('the n-sample estimate', () => {
  it('equals the brute-force U-statistic at every position (chunk and token, NO_TOKEN included)', async () => {
    // A token sampler that sometimes stops early: NO_TOKEN in two samples counts as agreement.
    const rng = createRng('stops');
    const stopping = tokenSamplerFromCallback((context, maxTokens) => {
      const out: number[] = [];
      let last = context[context.length - 1]!;
      for (let j = 0; j < maxTokens && rng.uniform() > 0.15; j++) {
        last = rng.categorical(MODEL_ROWS[last]!);
        out.push(last);
      }
      return out;
    });
    for (const n of [3, 8, 33]) {
      const gens: BrierGenerator[] = [
        { kind: 'chunk', sampler: chunkSamplerFromNextTokenModel(model, { chunkSize: 4, seed: n }) },
        { kind: 'chunk', sampler: chunkSamplerFromNextTokenModel(model, { chunkSize: 8, seed: n }) },
        { kind: 'token', sampler: stopping },
      ];
      for (const g of gens) {
        const res = await evaluateBrierLM(g, [block], { samplesPerPosition: n, keepPositions: true });
        expect(res.samplesPerPosition).toBe(n);
        let sawStop = false;
        for (const rec of res.positions!) {
          expect(rec.samples).toHaveLength(n);
          sawStop ||= rec.samples!.some((x) => x.includes(NO_TOKEN));
          rec.brier.forEach((b, k) => expect(b).toBeCloseTo(bruteForce(rec, n, k).u, 12));
        }
        if (g.kind === 'token') expect(sawStop).toBe(true);
      }
    }
  });

  it('with n = 2 is the paper estimator 1{x₁ = y} + 1{x₂ = y} − 1{x₁ = x₂}, and the default', async () => {
    const make = (): BrierGenerator => ({
      kind: 'chunk',
      sampler: chunkSamplerFromNextTokenModel(model, { chunkSize: 4, seed: 5 }),
    });
    const byDefault = await evaluateBrierLM(make(), [block], { seed: 1, keepPositions: true });
    const two = await evaluateBrierLM(make(), [block], { seed: 1, keepPositions: true, samplesPerPosition: 2 });
    expect(two.brier).toEqual(byDefault.brier);
    expect(byDefault.samplesPerPosition).toBe(2);
    for (const rec of byDefault.positions!) {
      expect(rec.samples).toBeUndefined();
      for (let k = 0; k < 4; k++) {
        const a = rec.sample1!.slice(0, k + 1);
        const b = rec.sample2!.slice(0, k + 1);
        const y = rec.target.slice(0, k + 1);
        const same = (p: number[], q: number[]): number => (p.every((t, j) => t === q[j]) ? 1 : 0);
        expect(rec.brier[k]).toBe(same(a, y) + same(b, y) - same(a, b));
      }
    }
  });

  it('K < 4: every group of c ≥ 2 samples that agree on a chunk is rolled out with sample(context + chunk, c)', async () => {
    const K = 2;
    const n = 6;
    const inner = chunkSamplerFromNextTokenModel(model, { chunkSize: K, seed: 'tree' });
    const calls: { contexts: Int32Array[]; numSamples: number }[] = [];
    const sampler: ChunkSampler = {
      chunkSize: K,
      sampleTeacherForced: inner.sampleTeacherForced!, // step 0 here, so every sample() call is a roll-out
      async sample(contexts, numSamples, o) {
        calls.push({ contexts: contexts.map((c) => c.slice()), numSamples });
        return inner.sample(contexts, numSamples, o);
      },
    };
    const res = await evaluateBrierLM({ kind: 'chunk', sampler }, [block], {
      samplesPerPosition: n,
      keepPositions: true,
    });
    const records = res.positions!;
    const rolled = new Map<string, number>(); // "t:chunk" → samples in the roll-out call
    for (const call of calls)
      for (const ctx of call.contexts) {
        const t = ctx.length / K - 2; // gold prefix of t + 1 chunks, then the shared chunk (s = 2)
        expect(Array.from(ctx.subarray(0, (t + 1) * K))).toEqual(Array.from(block.subarray(0, (t + 1) * K)));
        rolled.set(`${t}:${ctx.subarray((t + 1) * K).join(',')}`, call.numSamples);
      }
    let groups = 0;
    records.forEach((rec, t) => {
      const counts = new Map<string, number>();
      for (const x of rec.samples!) counts.set(x.slice(0, K).join(','), (counts.get(x.slice(0, K).join(',')) ?? 0) + 1);
      for (const [chunk, c] of counts) {
        if (c >= 2) groups++;
        expect(rolled.get(`${t}:${chunk}`), `position ${t}, chunk ${chunk} (${c} samples)`).toBe(
          c >= 2 ? c : undefined,
        );
      }
    });
    expect(rolled.size).toBe(groups);
    expect(groups).toBeGreaterThan(10);
  });

  it('rejects samplesPerPosition < 2 or non-integers', async () => {
    for (const bad of [1, 0, 2.5, Number.NaN]) {
      await expect(
        evaluateBrierLM({ kind: 'explicit', model }, [block], { samplesPerPosition: bad }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/samplesPerPosition/) });
    }
  });
});

describe('unbiased for n ∈ {2, 4, 8, 16} against a Markov model with closed-form Brier-k', () => {
  it('the closed form agrees with exact enumeration', () => {
    const starts = tokenPositions(T);
    const exact = exactMeanBrier(model.probs, block, starts);
    truthOf(momentsAt(starts)).forEach((v, k) => expect(exact[k]).toBeCloseTo(v, 12));
  });

  const cases: { label: string; K?: number; kind: 'chunk' | 'token' | 'explicit'; tf?: 'auto' | 'never' }[] = [
    { label: 'chunk K = 4, sampleTeacherForced', kind: 'chunk', K: 4 },
    { label: 'chunk K = 4, sample() per prefix', kind: 'chunk', K: 4, tf: 'never' },
    { label: 'chunk K = 3, roll-out', kind: 'chunk', K: 3 },
    { label: 'chunk K = 2, roll-out', kind: 'chunk', K: 2, tf: 'never' },
    { label: 'chunk K = 1, roll-out', kind: 'chunk', K: 1 },
    { label: 'token', kind: 'token' },
    { label: 'explicit', kind: 'explicit' },
  ];
  for (const c of cases) {
    it(c.label, async () => {
      const starts = c.kind === 'chunk' ? chunkPositions(T, c.K!) : tokenPositions(T);
      const truth = truthOf(momentsAt(starts));
      for (const n of NS) {
        const make = (r: number): BrierGenerator =>
          c.kind === 'chunk'
            ? { kind: 'chunk', sampler: chunkSamplerFromNextTokenModel(model, { chunkSize: c.K!, seed: `${n}-${r}` }) }
            : c.kind === 'token'
              ? { kind: 'token', sampler: tokenSampler(`${n}-${r}`) }
              : { kind: 'explicit', model };
        const { est } = await replicate(120, n, make, c.tf ? { teacherForced: c.tf } : {});
        expectUnbiased(est, truth, `${c.label}, n = ${n}`);
      }
    });
  }
});

describe('variance falls with n as U-statistic theory predicts', () => {
  const R = 300;
  // Chunk K = 4 (teacher-forced fast path) and token estimators: independent positions, n i.i.d.
  // samples each, so Var(block mean) = Σ_p Var_n(p) / P² with Var_n from uStatisticBrierVariance.
  for (const kind of ['chunk', 'token'] as const) {
    it(`${kind} estimator: Var_n matches 2/(n(n−1))·(2(n−2)ζ₁ + ζ₂), and the reported SE its expectation`, async () => {
      const starts = kind === 'chunk' ? chunkPositions(T, 4) : tokenPositions(T);
      const moments = momentsAt(starts);
      const P = starts.length;
      const observed: number[][] = [];
      for (const n of NS) {
        const make = (r: number): BrierGenerator =>
          kind === 'chunk'
            ? { kind: 'chunk', sampler: chunkSamplerFromNextTokenModel(model, { chunkSize: 4, seed: `v${n}-${r}` }) }
            : { kind: 'token', sampler: tokenSampler(`v${n}-${r}`) };
        const { est, se, positions } = await replicate(R, n, make, { keepPositions: n === 16 });
        const row: number[] = [];
        for (let k = 0; k < 4; k++) {
          const perPos = moments.map((m) => uStatisticBrierVariance(m[k]!, n));
          const predicted = perPos.reduce((a, b) => a + b, 0) / (P * P);
          const { variance, stderr } = sampleVariance(est[k]!);
          row.push(variance);
          expect(
            Math.abs(variance - predicted),
            `${kind} n = ${n} Brier-${k + 1}: Var ${variance} vs predicted ${predicted} (SE ${stderr})`,
          ).toBeLessThanOrEqual(4 * stderr);

          // The reported (position-level) SE²: E = ((1 − 1/P)·Σ Var_n(p) + Σ (θ_p − θ̄)²) / (P(P − 1)).
          const theta = moments.map((m) => m[k]!.brier);
          const tbar = mean(theta);
          const spread = theta.reduce((a, t) => a + (t - tbar) ** 2, 0);
          const expectedSe2 = ((1 - 1 / P) * perPos.reduce((a, b) => a + b, 0) + spread) / (P * (P - 1));
          const se2 = meanAndStderr(se[k]!.map((s) => s * s));
          expect(
            Math.abs(se2.mean - expectedSe2),
            `${kind} n = ${n} Brier-${k + 1}: mean reported SE² ${se2.mean} vs expected ${expectedSe2}`,
          ).toBeLessThanOrEqual(4 * se2.stderr);

          if (n === 16 && k === 3) {
            // The checks can fail: a V-statistic (pairs i = j counted) is biased, and the mean of
            // n/2 disjoint two-sample estimates has a different variance (2ζ₂/n), most visibly for
            // Brier-4, where collisions are more frequent than hits.
            const bf = positions.map((recs) => recs.map((rec) => bruteForce(rec, n, k)));
            const vStat = bf.map((ps) => mean(ps.map((p) => p.v)));
            const truth = mean(theta);
            const vs = meanAndStderr(vStat);
            expect(Math.abs(vs.mean - truth), 'the V-statistic is caught as biased').toBeGreaterThan(10 * vs.stderr);
            const disjoint = sampleVariance(bf.map((ps) => mean(ps.map((p) => p.disjoint))));
            const predictedDisjoint = moments.reduce((a, m) => a + disjointPairsBrierVariance(m[k]!, n), 0) / (P * P);
            expect(Math.abs(disjoint.variance - predictedDisjoint)).toBeLessThanOrEqual(4 * disjoint.stderr);
            expect(
              Math.abs(disjoint.variance - predicted),
              'disjoint pairs fail the U-statistic variance check',
            ).toBeGreaterThan(4 * disjoint.stderr);
          }
        }
        observed.push(row);
      }
      // Monotone: more samples, less variance, for every k.
      for (let i = 1; i < NS.length; i++)
        for (let k = 0; k < 4; k++) expect(observed[i]![k]!).toBeLessThan(observed[i - 1]![k]!);
    });
  }

  it('explicit estimator: more draws per roll-out step lower the variance of Brier-2..4', async () => {
    const sd: number[][] = [];
    for (const n of [2, 16]) {
      const { est } = await replicate(R, n, () => ({ kind: 'explicit', model }));
      sd.push(est.map((xs) => meanAndStderr(xs).std));
    }
    expect(sd[0]![0]).toBeLessThan(1e-12); // Brier-1 is exact for every n
    expect(sd[1]![0]).toBeLessThan(1e-12);
    for (let k = 1; k < 4; k++) expect(sd[1]![k]!).toBeLessThan(sd[0]![k]!);
  });
});
