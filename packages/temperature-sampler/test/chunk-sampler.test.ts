import { describe, expect, it } from 'vitest';
import { createRng, isCalmError, type ChunkSampler, type TokenIds } from '@calm/core';
import { chiSquareTest, chunkSamplerConformance, fakeChunkSampler, rejection } from '@calm/testing';
import {
  expectedExactSamplerCalls,
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
// The law after a context depends on its first token, so contexts differ.
const LAWS: Record<number, number[]> = {
  0: [0.5, 0.25, 0.15, 0.06, 0.03, 0.01],
  1: [0.05, 0.05, 0.1, 0.2, 0.3, 0.3],
};
const lawOf = (context: TokenIds) => LAWS[(context[0] ?? 0) % 2]!;
const CONTEXTS = [Int32Array.from([0, 7]), Int32Array.from([1, 7, 7])];

const makeBase = (seed: number, teacherForced = false) =>
  fakeChunkSampler({ chunkSize: K, chunks: CHUNKS, probsFor: lawOf, seed, vocabSize: 10, teacherForced });

const indexOf = (ids: Int32Array, at: number) => CHUNKS.findIndex((c) => c[0] === ids[at] && c[1] === ids[at + 1]);

/** Counts of each chunk per context in a [B, S, K] result. */
function countsPerContext(ids: Int32Array, b: number, s: number): number[][] {
  const out = Array.from({ length: b }, () => CHUNKS.map(() => 0));
  for (let i = 0; i < b; i++) for (let j = 0; j < s; j++) out[i]![indexOf(ids, (i * s + j) * K)]!++;
  return out;
}

describe('ChunkSampler conformance', () => {
  for (const t of [1, 0.7, 1 / 3]) {
    it(`withExactTemperature at T = ${t.toPrecision(3)} returns [B, numSamples, K] int32 ids, deterministic under fixed seeds`, async () => {
      expect(
        await chunkSamplerConformance(
          () => withExactTemperature(makeBase(3), { temperature: t, rng: createRng(4) }),
          CONTEXTS,
        ),
      ).toEqual([]);
    });
  }
  for (const t of [1, 1 / 2, 1 / 4]) {
    it(`withBatchTemperature at T = ${t.toPrecision(3)} returns [B, numSamples, K] int32 ids, deterministic under fixed seeds`, async () => {
      const make = () => withBatchTemperature(makeBase(3), { temperature: t, rng: createRng(4), poolSize: 50 });
      expect(await chunkSamplerConformance(make, CONTEXTS)).toEqual([]);
    });
  }

  it('the conformance check catches a broken sampler', async () => {
    const zeros: ChunkSampler = { chunkSize: 2, sample: async (c, n) => new Int32Array(c.length * n * 2) };
    let calls = 0;
    const nondeterministic: ChunkSampler = {
      chunkSize: 1,
      sample: async (c, n) => new Int32Array(c.length * n).fill(calls++),
    };
    expect(await chunkSamplerConformance(() => zeros, CONTEXTS)).toEqual([]);
    expect(await chunkSamplerConformance(() => ({ ...zeros, chunkSize: 3 }), CONTEXTS)).toContain(
      'sample(_, 1) returned 4 ids, expected [2, 1, 3]',
    );
    expect(await chunkSamplerConformance(() => nondeterministic, CONTEXTS)).toContain(
      'sample(_, 1) is not deterministic under fixed seeds',
    );
  });

  it('keeps chunkSize and vocabSize of the base sampler', () => {
    const s = withExactTemperature(makeBase(0), { temperature: 0.5, rng: createRng(0) });
    expect([s.chunkSize, s.vocabSize, s.temperature]).toEqual([K, 10, 0.5]);
    expect(withBatchTemperature(makeBase(0), { temperature: 0.5, rng: createRng(0) }).vocabSize).toBe(10);
  });
});

describe('withExactTemperature', () => {
  for (const t of [0.7, 0.5, 1 / 3]) {
    it(`T = ${t.toPrecision(3)}: per-context outputs follow P^(1/T)/Z, drawn in a few batched calls`, async () => {
      const base = makeBase(11);
      const sampler = withExactTemperature(base, { temperature: t, rng: createRng(12) });
      const s = 3000;
      const ids = await sampler.sample(CONTEXTS, s);
      const counts = countsPerContext(ids, CONTEXTS.length, s);
      CONTEXTS.forEach((c, i) =>
        expect(chiSquareTest(counts[i]!, temperedDistribution(lawOf(c), t)).pValue).toBeGreaterThan(0.01),
      );

      const st = sampler.stats();
      expect(st.accepted).toBe(CONTEXTS.length * s);
      // consumed draws per sample follow Theorem 2 (mean over the two contexts)
      const expected = CONTEXTS.reduce((a, c) => a + expectedExactSamplerCalls(lawOf(c), t), 0) / CONTEXTS.length;
      expect(Math.abs(st.consumed / st.accepted / expected - 1)).toBeLessThan(0.05);
      // every chunk the base sampler produced is accounted for, in few base calls
      expect(st.drawn).toBe(base.draws);
      expect(st.baseCalls).toBe(base.calls);
      expect(st.drawn).toBeGreaterThanOrEqual(st.consumed);
      expect(st.baseCalls).toBeLessThanOrEqual(8); // rounds double the draws per pending sample
      expect(st.exhausted).toBe(0);
    });
  }

  it('earlyReject lowers the draws and keeps the law', async () => {
    const t = 1 / 3;
    const run = async (earlyReject: boolean) => {
      const sampler = withExactTemperature(makeBase(5), { temperature: t, rng: createRng(6), earlyReject });
      const ids = await sampler.sample(CONTEXTS.slice(0, 1), 3000);
      return { counts: countsPerContext(ids, 1, 3000)[0]!, stats: sampler.stats() };
    };
    const early = await run(true);
    const full = await run(false);
    expect(chiSquareTest(early.counts, temperedDistribution(LAWS[0]!, t)).pValue).toBeGreaterThan(0.01);
    const expected = expectedExactSamplerCalls(LAWS[0]!, t, { earlyReject: true });
    expect(Math.abs(early.stats.consumed / early.stats.accepted / expected - 1)).toBeLessThan(0.05);
    expect(early.stats.drawn).toBeLessThan(full.stats.drawn);
  });

  it('never asks the base sampler for more than maxDrawsPerCall chunks at once', async () => {
    for (const cap of [10, 3]) {
      const base = makeBase(61);
      const sizes: number[] = [];
      const spy: ChunkSampler = {
        chunkSize: K,
        sample: (contexts, n) => {
          sizes.push(contexts.length * n);
          return base.sample(contexts, n);
        },
      };
      const contexts = [...CONTEXTS, ...CONTEXTS];
      const sampler = withExactTemperature(spy, { temperature: 0.5, rng: createRng(62), maxDrawsPerCall: cap });
      const ids = await sampler.sample(contexts, 3);
      expect(ids.length).toBe(contexts.length * 3 * K);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(cap);
      expect(sampler.stats()).toMatchObject({
        accepted: 12,
        drawn: sizes.reduce((a, b) => a + b, 0),
        baseCalls: sizes.length,
      });
    }
  });

  it('T = 1 is one plain draw per sample, in one call', async () => {
    const sampler = withExactTemperature(makeBase(8), { temperature: 1, rng: createRng(0) });
    const plain = await makeBase(8).sample(CONTEXTS, 5);
    expect(await sampler.sample(CONTEXTS, 5)).toEqual(plain);
    expect(sampler.stats()).toEqual({
      accepted: 10,
      drawn: 10,
      consumed: 10,
      baseCalls: 1,
      exhausted: 0,
      fallbacks: 0,
    });
    sampler.resetStats();
    expect(sampler.stats().accepted).toBe(0);
  });

  it('throws BUDGET_EXHAUSTED, or falls back when asked', async () => {
    const wide = fakeChunkSampler({
      chunkSize: 1,
      chunks: Array.from({ length: 1000 }, (_, i) => Int32Array.of(i)),
      probsFor: () => Array.from({ length: 1000 }, () => 1),
      seed: 1,
    });
    const strict = withExactTemperature(wide, { temperature: 0.25, rng: createRng(0), maxCallsPerSample: 200 });
    const err = await rejection(strict.sample([Int32Array.of(0)], 2));
    expect(isCalmError(err, 'BUDGET_EXHAUSTED')).toBe(true);
    expect((err as Error).message).toMatch(/context 0, sample 0/);

    const lenient = withExactTemperature(wide, {
      temperature: 0.25,
      rng: createRng(0),
      maxCallsPerSample: 200,
      onBudgetExhausted: 'approximate',
    });
    const ids = await lenient.sample([Int32Array.of(0), Int32Array.of(1)], 3);
    expect(ids.length).toBe(6);
    expect(lenient.stats()).toMatchObject({ accepted: 6, exhausted: 6, consumed: 1200 });
  });

  it('tempers teacher-forced draws position by position', async () => {
    const t = 0.5;
    const base = makeBase(21, true);
    const sampler = withExactTemperature(base, { temperature: t, rng: createRng(22) });
    // Position t conditions on the first t chunks; the law depends on the first token (0 or 1).
    const sequences = [Int32Array.from([0, 5, 1, 1, 2, 2]), Int32Array.from([1, 5, 1, 2])];
    const s = 1500;
    const out = await sampler.sampleTeacherForced!(sequences, s);
    expect(out.map((o) => o.length)).toEqual([2 * s * K, 1 * s * K]);
    const firsts = [0, 0, 1];
    const blocks = [out[0]!.subarray(0, s * K), out[0]!.subarray(s * K), out[1]!];
    blocks.forEach((ids, i) => {
      const counts = countsPerContext(ids, 1, s)[0]!;
      expect(chiSquareTest(counts, temperedDistribution(LAWS[firsts[i]!]!, t)).pValue).toBeGreaterThan(0.01);
    });
    const st = sampler.stats();
    expect(st.accepted).toBe(3 * s);
    expect(st.drawn).toBe(base.draws);
  });

  it('rejects bad input and a base sampler that breaks the contract', async () => {
    const rng = createRng(0);
    expect(() => withExactTemperature({} as ChunkSampler, { temperature: 0.5, rng })).toThrowError(
      /expected a ChunkSampler/,
    );
    expect(() => withExactTemperature(makeBase(0), { temperature: 2, rng })).toThrowError(/\(0, 1\]/);
    expect(() => withExactTemperature(makeBase(0), { temperature: 0.5, rng, initialDrawsPerSample: 0 })).toThrowError(
      /initialDrawsPerSample/,
    );
    const sampler = withExactTemperature(makeBase(0), { temperature: 0.5, rng });
    expect(isCalmError(await rejection(sampler.sample(CONTEXTS, 0)), 'INVALID_ARGUMENT')).toBe(true);
    expect(await sampler.sample([], 3)).toEqual(new Int32Array(0));
    const short: ChunkSampler = { chunkSize: 2, sample: async (c, n) => new Int32Array(c.length * n * 2 - 1) };
    const err = await rejection(withExactTemperature(short, { temperature: 0.5, rng }).sample(CONTEXTS, 1));
    expect(isCalmError(err, 'SHAPE_MISMATCH')).toBe(true);
    const controller = new AbortController();
    controller.abort();
    const aborted = await rejection(sampler.sample(CONTEXTS, 1, { signal: controller.signal }));
    expect(isCalmError(aborted, 'ABORTED')).toBe(true);
  });
});

describe('withBatchTemperature', () => {
  it('draws one pool of N per requested sample in one batched call, and tempers per context', async () => {
    const base = makeBase(31);
    const sampler = withBatchTemperature(base, { temperature: 1 / 2, rng: createRng(32), poolSize: 1000 });
    const s = 1500;
    const ids = await sampler.sample(CONTEXTS, s);
    const counts = countsPerContext(ids, CONTEXTS.length, s);
    CONTEXTS.forEach((c, i) =>
      expect(chiSquareTest(counts[i]!, temperedDistribution(lawOf(c), 0.5)).pValue).toBeGreaterThan(0.01),
    );
    expect(sampler.stats()).toEqual({
      accepted: 2 * s,
      drawn: 2 * s * 1000,
      consumed: 2 * s * 1000,
      baseCalls: 1,
      exhausted: 0,
      fallbacks: 0,
    });
    expect(base.calls).toBe(1);
  });

  it('splits the draws with samplesPerCall and reports cascade fallbacks', async () => {
    const base = makeBase(41);
    const sampler = withBatchTemperature(base, {
      temperature: 1 / 4,
      rng: createRng(42),
      poolSize: 3,
      samplesPerCall: 4,
    });
    await sampler.sample(CONTEXTS, 10);
    const st = sampler.stats();
    expect(st.baseCalls).toBe(3);
    expect(base.calls).toBe(3);
    expect(st.drawn).toBe(2 * 10 * 3);
    expect(st.fallbacks).toBe(20); // a pool of 3 never holds a chunk 4 times
  });

  it('T = 1 forwards one plain draw', async () => {
    const sampler = withBatchTemperature(makeBase(8), { temperature: 1, rng: createRng(0) });
    expect(await sampler.sample(CONTEXTS, 5)).toEqual(await makeBase(8).sample(CONTEXTS, 5));
    expect(sampler.stats().drawn).toBe(10);
  });

  it('tempers teacher-forced draws with one pool per position', async () => {
    const base = makeBase(51, true);
    const sampler = withBatchTemperature(base, { temperature: 1 / 2, rng: createRng(52), poolSize: 500 });
    const sequences = [Int32Array.from([1, 5, 1, 1, 2, 2]), Int32Array.from([0, 5])];
    const s = 1000;
    const out = await sampler.sampleTeacherForced!(sequences, s);
    expect(out.map((o) => o.length)).toEqual([2 * s * K, 0]);
    for (const ids of [out[0]!.subarray(0, s * K), out[0]!.subarray(s * K)]) {
      expect(
        chiSquareTest(countsPerContext(ids, 1, s)[0]!, temperedDistribution(LAWS[1]!, 0.5)).pValue,
      ).toBeGreaterThan(0.01);
    }
    expect(sampler.stats()).toMatchObject({ accepted: 2 * s, drawn: 2 * s * 500, baseCalls: 1 });
  });

  it('rejects T that is not 1/n and bad options', () => {
    const rng = createRng(0);
    let err: unknown;
    try {
      withBatchTemperature(makeBase(0), { temperature: 0.4, rng });
    } catch (e) {
      err = e;
    }
    expect(isCalmError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toMatch(/T = 1\/n/);
    expect(() => withBatchTemperature(makeBase(0), { temperature: 0.5, rng, poolSize: 0 })).toThrowError(/poolSize/);
    expect(() => withBatchTemperature(makeBase(0), { temperature: 0.5, rng, samplesPerCall: 1.5 })).toThrowError(
      /samplesPerCall/,
    );
  });
});
