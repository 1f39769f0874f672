// Callback adapters and estimator detection: a per-context callback becomes each sampler
// contract and evaluates to the same Brier scores as the object it wraps. An explicit model
// becomes a chunk sampler that draws from its exact probabilities.
import { describe, expect, it } from 'vitest';
import { NO_TOKEN, createRng, isCalmError, type NextTokenModel } from '@calm/core';
import { chiSquareTest, rejection } from '@calm/testing';
import {
  NGramModel,
  chunkSamplerFromCallback,
  chunkSamplerFromNextTokenModel,
  evaluateBrierLM,
  nextTokenModelFromCallback,
  toBrierGenerator,
  tokenSamplerFromCallback,
} from '../src/index.js';

const lm = NGramModel.fit([Int32Array.from({ length: 300 }, (_, i) => (i * 7) % 5)], { order: 2, vocabSize: 5 });
const rngData = createRng('adapters');
const block = Int32Array.from({ length: 32 }, () => rngData.int(5));

describe('callback adapters', () => {
  it('chunkSamplerFromCallback draws once per (context, sample), with a concurrency limit', async () => {
    const rng = createRng(1);
    let inFlight = 0;
    let maxInFlight = 0;
    const sampler = chunkSamplerFromCallback(
      async (context) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        return lm.sampleContinuation(context, 4, rng);
      },
      { chunkSize: 4, concurrency: 3, vocabSize: 5 },
    );
    expect(sampler.vocabSize).toBe(5);
    const res = await evaluateBrierLM({ kind: 'chunk', sampler }, [block], { batchSize: 8 });
    expect(res.numPositions).toBe(7);
    expect(maxInFlight).toBe(3);
    const wrong = chunkSamplerFromCallback(() => [1, 2], { chunkSize: 4 });
    await expect(wrong.sample([block], 1)).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
  });

  it('tokenSamplerFromCallback pads early stops with NO_TOKEN and rejects too many tokens', async () => {
    const sampler = tokenSamplerFromCallback((_, maxTokens) => Array.from({ length: maxTokens - 1 }, () => 1));
    const out = await sampler.sample([block], 4, 2);
    expect(Array.from(out)).toEqual([1, 1, 1, NO_TOKEN, 1, 1, 1, NO_TOKEN]);
    const tooMany = tokenSamplerFromCallback((_, maxTokens) => new Array<number>(maxTokens + 1).fill(0));
    await expect(tooMany.sample([block], 4, 1)).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    const floats = tokenSamplerFromCallback(() => [0.5]);
    await expect(floats.sample([block], 4, 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('nextTokenModelFromCallback gives exactly the explicit scores of the wrapped model', async () => {
    const model = nextTokenModelFromCallback((c) => lm.probs(c), { vocabSize: 5, concurrency: 2 });
    const a = await evaluateBrierLM({ kind: 'explicit', model }, [block], { seed: 3 });
    const b = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block], { seed: 3, teacherForced: 'never' });
    expect(a.brier).toEqual(b.brier);
    const bad = nextTokenModelFromCallback(() => [1], { vocabSize: 5 });
    await expect(bad.nextTokenProbs([block])).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    expect(() => nextTokenModelFromCallback(() => [1], {} as { vocabSize: number })).toThrow(/vocabSize/);
  });
});

describe('toBrierGenerator', () => {
  it('detects the contract, honours a forced kind and rejects impossible ones', () => {
    expect(toBrierGenerator(lm.asChunkSampler(2)).kind).toBe('chunk');
    expect(toBrierGenerator(lm.asTokenSampler()).kind).toBe('token');
    expect(toBrierGenerator(lm).kind).toBe('explicit');
    const g = { kind: 'token', sampler: lm.asTokenSampler() } as const;
    expect(toBrierGenerator(g)).toBe(g);
    expect(() => toBrierGenerator(lm, 'chunk')).toThrow(/ChunkSampler/);
    expect(() => toBrierGenerator({})).toThrow(/none of/);
    expect(() => toBrierGenerator(null)).toThrow(/sampler object/);
  });
});

describe('chunkSamplerFromNextTokenModel', () => {
  // A Markov chain over V = 3 with dyadic probabilities: exact in float32.
  const rows = [
    [0.5, 0.375, 0.125],
    [0.25, 0.25, 0.5],
    [0.75, 0.125, 0.125],
  ];
  const V = 3;
  /** The chain as a NextTokenModel that records the contexts of every nextTokenProbs call. */
  function chain(withTf: boolean) {
    const seen: Int32Array[] = [];
    let tfCalls = 0;
    const model: NextTokenModel = {
      vocabSize: V,
      async nextTokenProbs(contexts) {
        seen.push(...contexts.map((c) => c.slice()));
        const out = new Float32Array(contexts.length * V);
        contexts.forEach((c, b) => out.set(rows[c[c.length - 1]!]!, b * V));
        return out;
      },
      ...(withTf
        ? {
            async teacherForcedProbs(seq: Int32Array) {
              tfCalls++;
              const out = new Float32Array(seq.length * V);
              seq.forEach((x, t) => out.set(rows[x]!, t * V));
              return out;
            },
          }
        : {}),
    };
    return { model, seen, tfCalls: () => tfCalls };
  }
  /** P(chunk x₁x₂ | last token a). */
  const pairProb = (a: number, x: number): number => rows[a]![Math.floor(x / V)]! * rows[Math.floor(x / V)]![x % V]!;

  it('draws K-token chunks from the exact probabilities (χ²), one call per distinct prefix', async () => {
    const { model, seen } = chain(false);
    const sampler = chunkSamplerFromNextTokenModel(model, { chunkSize: 2, seed: 1, batchSize: 3 });
    expect(sampler.chunkSize).toBe(2);
    expect(sampler.vocabSize).toBe(V);
    expect(sampler.sampleTeacherForced).toBeUndefined();
    const contexts = [Int32Array.from([0]), Int32Array.from([1, 2])];
    const out = await sampler.sample(contexts, 4000, {});
    expect(out).toHaveLength(2 * 4000 * 2);
    for (const [b, last] of [
      [0, 0],
      [1, 2],
    ] as const) {
      const counts = new Array<number>(V * V).fill(0);
      for (let m = 0; m < 4000; m++) counts[out[(b * 4000 + m) * 2]! * V + out[(b * 4000 + m) * 2 + 1]!]!++;
      const probs = counts.map((_, x) => pairProb(last, x));
      expect(chiSquareTest(counts, probs).pValue).toBeGreaterThan(1e-3);
    }
    // Step 0: one context each; step 1: one per distinct first token (at most V per context).
    expect(seen).toHaveLength(2 + 2 * V);
    expect(seen.slice(2).map((c) => c.length)).toEqual([...new Array(V).fill(2), ...new Array(V).fill(3)]);
  });

  it('sampleTeacherForced conditions chunk t on the gold prefix of t chunks, with or without teacherForcedProbs', async () => {
    const seq = Int32Array.from([0, 1, 2, 2, 1, 0]); // L = 3 chunks of K = 2
    for (const maxTeacherForcedEntries of [2 ** 26, 0]) {
      const { model, seen, tfCalls } = chain(true);
      const sampler = chunkSamplerFromNextTokenModel(model, { chunkSize: 2, seed: 2, maxTeacherForcedEntries });
      const [out] = await sampler.sampleTeacherForced!([seq], 3000);
      expect(out).toHaveLength(2 * 3000 * 2); // [L − 1, n, K]
      expect(tfCalls()).toBe(maxTeacherForcedEntries > 0 ? 1 : 0);
      if (maxTeacherForcedEntries === 0)
        expect(seen.slice(0, 2).map((c) => Array.from(c))).toEqual([
          [0, 1],
          [0, 1, 2, 2],
        ]);
      for (const [t, last] of [
        [0, 1],
        [1, 2],
      ] as const) {
        const counts = new Array<number>(V * V).fill(0);
        for (let m = 0; m < 3000; m++) counts[out![(t * 3000 + m) * 2]! * V + out![(t * 3000 + m) * 2 + 1]!]!++;
        expect(
          chiSquareTest(
            counts,
            counts.map((_, x) => pairProb(last, x)),
          ).pValue,
        ).toBeGreaterThan(1e-3);
      }
    }
  });

  it('is reproducible for a seed and scores like the NGramModel it wraps', async () => {
    const a = chunkSamplerFromNextTokenModel(lm, { chunkSize: 4, seed: 'x' });
    const b = chunkSamplerFromNextTokenModel(lm, { chunkSize: 4, rng: createRng('x') });
    const ctx = [block.subarray(0, 8)];
    expect(await a.sample(ctx, 5)).toEqual(await b.sample(ctx, 5));
    const r = await evaluateBrierLM({ kind: 'chunk', sampler: a }, [block], { samplesPerPosition: 8 });
    expect(r.estimator).toBe('chunk');
    expect(r.samplesPerPosition).toBe(8);
    expect(r.numPositions).toBe(32 / 4 - 1);
  });

  it('rejects bad models, options and calls with CalmErrors', async () => {
    const bad = [
      () => chunkSamplerFromNextTokenModel({} as NextTokenModel, { chunkSize: 2 }),
      () => chunkSamplerFromNextTokenModel(lm, { chunkSize: 0 }),
      () => chunkSamplerFromNextTokenModel(lm, { chunkSize: 2, seed: 1, rng: createRng(1) }),
      () => chunkSamplerFromNextTokenModel(lm, { chunkSize: 2, batchSize: 0 }),
    ];
    for (const f of bad) expect(() => f()).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const sampler = chunkSamplerFromNextTokenModel(lm, { chunkSize: 2 });
    expect(isCalmError(await rejection(sampler.sample([block], 0)), 'INVALID_ARGUMENT')).toBe(true);
    expect(
      isCalmError(await rejection(sampler.sampleTeacherForced!([block.subarray(0, 5)], 2)), 'INVALID_ARGUMENT'),
    ).toBe(true);
    const unnormalised: NextTokenModel = {
      vocabSize: 2,
      nextTokenProbs: async (c) => new Float32Array(c.length * 2).fill(1),
    };
    const e = await rejection(chunkSamplerFromNextTokenModel(unnormalised, { chunkSize: 2 }).sample([block], 2));
    expect(e.message).toMatch(/sums to/);
    const controller = new AbortController();
    controller.abort();
    expect(isCalmError(await rejection(sampler.sample([block], 2, { signal: controller.signal })), 'ABORTED')).toBe(
      true,
    );
  });
});
