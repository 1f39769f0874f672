// The reference n-gram generator: smoothing by hand, exact probabilities, samplers that draw
// from exactly those probabilities (chi-square), and its three sampler views.
import { describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import { chiSquareTest } from '@calm/testing';
import { NGramModel, toBrierGenerator } from '../src/index.js';

describe('NGramModel', () => {
  const lm = NGramModel.fit([[0, 1, 0, 1, 2]], { order: 2, vocabSize: 3, addK: 1 });

  it('add-k unigram and Witten-Bell backoff match a hand computation', () => {
    expect(Array.from(lm.probs([]))).toEqual([3 / 8, 3 / 8, 2 / 8].map((v) => expect.closeTo(v, 14)));
    // After token 1: followers 0 and 2 once each; α = 2 distinct followers.
    expect(Array.from(lm.probs([2, 1]))).toEqual([0.4375, 0.1875, 0.375].map((v) => expect.closeTo(v, 14)));
    // After token 2: never seen as a context, so the unigram.
    expect(Array.from(lm.probs([2]))).toEqual(Array.from(lm.probs([])));
    expect(lm.prob([2, 1], 2)).toBeCloseTo(0.375, 14);
    expect(lm.trainingTokens).toBe(5);
  });

  it('a fixed backoff weight and contexts that never cross sequence boundaries', () => {
    const m = NGramModel.fit(
      [
        [0, 1],
        [2, 0],
      ],
      { order: 2, vocabSize: 3, addK: 0, backoff: 1 },
    );
    // Unigram: 0:2, 1:1, 2:1. After 1 nothing was seen (the second sequence starts fresh).
    expect(Array.from(m.probs([1]))).toEqual([0.5, 0.25, 0.25]);
    // After 0: one follower (1); α = 1: (1{x=1} + 1·P1(x)) / 2.
    expect(Array.from(m.probs([0]))).toEqual([0.25, 0.625, 0.125]);
  });

  it('probabilities sum to 1 at every order and context', () => {
    const rng = createRng(1);
    const data = Int32Array.from({ length: 2000 }, () => rng.int(7));
    for (const order of [1, 2, 3, 5]) {
      const m = NGramModel.fit([data], { order, vocabSize: 7 });
      for (let i = 0; i < 20; i++) {
        const ctx = data.subarray(i * 13, i * 13 + (i % 6));
        const p = m.probs(ctx);
        expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        for (let x = 0; x < 7; x++) expect(m.prob(ctx, x)).toBeCloseTo(p[x]!, 14);
      }
    }
  });

  it('samples follow the exact probabilities (one token and a two-token chunk)', async () => {
    const rng = createRng(2);
    const data = Int32Array.from({ length: 600 }, () => (rng.uniform() < 0.6 ? 0 : rng.int(4)));
    const m = NGramModel.fit([data], { order: 3, vocabSize: 4, addK: 0.3 });
    const ctx = Int32Array.from([0, 0]);
    const counts = new Array<number>(4).fill(0);
    const draw = createRng(3);
    for (let i = 0; i < 20000; i++) counts[m.sampleContinuation(ctx, 1, draw)[0]!]!++;
    expect(chiSquareTest(counts, m.probs(ctx)).pValue).toBeGreaterThan(1e-3);

    const sampler = m.asChunkSampler(2, { seed: 4 });
    const out = await sampler.sample([ctx], 20000);
    const pairs = new Array<number>(16).fill(0);
    for (let i = 0; i < 20000; i++) pairs[out[2 * i]! * 4 + out[2 * i + 1]!]!++;
    const joint = Array.from({ length: 16 }, (_, k) => m.prob(ctx, k >> 2) * m.prob([0, 0, k >> 2], k & 3));
    expect(chiSquareTest(pairs, joint).pValue).toBeGreaterThan(1e-3);
  });

  it('is a NextTokenModel, a ChunkSampler for any K and a TokenSampler', async () => {
    expect(toBrierGenerator(lm).kind).toBe('explicit');
    const seq = Int32Array.from([0, 1, 0, 1, 2, 0]);
    const tf = await lm.teacherForcedProbs(seq);
    expect(tf.length).toBe(6 * 3);
    expect(Array.from(tf.subarray(3, 6))).toEqual(
      Array.from(lm.probs(seq.subarray(0, 2))).map((v) => expect.closeTo(v, 6)),
    );
    const batch = await lm.nextTokenProbs([seq.subarray(0, 1), seq.subarray(0, 4)]);
    expect(batch.length).toBe(6);

    for (const K of [1, 2, 3, 4, 8]) {
      const cs = lm.asChunkSampler(K, { seed: K });
      expect(toBrierGenerator(cs).kind).toBe('chunk');
      expect((await cs.sample([seq, seq.subarray(0, 1)], 3)).length).toBe(2 * 3 * K);
      const long = new Int32Array(3 * K);
      const tfs = await cs.sampleTeacherForced!([long, long], 2);
      expect(tfs.map((a) => a.length)).toEqual([2 * 2 * K, 2 * 2 * K]);
    }
    expect(lm.asChunkSampler(4, { teacherForced: false }).sampleTeacherForced).toBeUndefined();
    const ts = lm.asTokenSampler({ rng: createRng(5) });
    expect(toBrierGenerator(ts).kind).toBe('token');
    const out = await ts.sample([seq], 4, 2);
    expect(out.length).toBe(8);
    expect(Array.from(out).every((v) => v >= 0 && v < 3)).toBe(true);
  });

  it('equal seeds give equal samples', async () => {
    const a = await lm.asTokenSampler({ seed: 7 }).sample([Int32Array.from([1])], 8, 3);
    const b = await lm.asTokenSampler({ seed: 7 }).sample([Int32Array.from([1])], 8, 3);
    expect(a).toEqual(b);
  });

  it('rejects bad options and tokens with the fix in the message', () => {
    expect(() => NGramModel.fit([[0, 3]], { order: 2, vocabSize: 3 })).toThrow(/outside \[0, 3\)/);
    expect(() => NGramModel.fit([[0]], { order: 0, vocabSize: 3 })).toThrow(/order/);
    expect(() => NGramModel.fit([], { order: 1, vocabSize: 3, addK: 0 })).toThrow(/addK > 0/);
    expect(() => NGramModel.fit([[0]], { order: 1, vocabSize: 3, backoff: 0 })).toThrow(/backoff/);
    expect(() => lm.asChunkSampler(0)).toThrow(/chunkSize/);
    expect(() => lm.asTokenSampler({ seed: 1, rng: createRng(1) })).toThrow(/either/);
  });
});
