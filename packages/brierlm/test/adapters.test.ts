// Callback adapters and estimator detection: a per-context callback becomes each sampler
// contract and evaluates to the same Brier scores as the object it wraps.
import { describe, expect, it } from 'vitest';
import { NO_TOKEN, createRng } from '@calm/core';
import {
  NGramModel,
  chunkSamplerFromCallback,
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
