import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCalmError, type Rng } from '@calm/core';
import { chunkSamplerConformance, rejection } from '@calm/testing';
import { expectNoLeak } from '@calm/testing/tfjs';
import { createHeadChunkSampler, EnergyHead, type GenerativeHead, type HeadSampleOptions } from '../src/index.js';
import { createRng, useWasm } from './backend.js';

beforeAll(useWasm);

/**
 * A user-defined head through the GenerativeHead interface: latent = [hidden[0], u] with u a
 * fresh U(0, 1) draw per sample, so the decoded first token names the context.
 */
function fakeHead(): GenerativeHead & { calls: number[] } {
  const calls: number[] = [];
  return {
    kind: 'fake',
    hiddenSize: 3,
    latentSize: 2,
    prefix: '',
    params: {},
    warnings: [],
    calls,
    trainableVariables: () => [],
    sample(hidden: tf.Tensor2D, n: number, options: HeadSampleOptions) {
      calls.push(hidden.shape[0] * n);
      const rng = options.rng as Rng;
      return tf.tidy(() => {
        const id = tf.tile(tf.slice(hidden, [0, 0], [-1, 1]).expandDims(1), [1, n, 1]);
        const u = tf.tensor(rng.fillUniform(new Float32Array(hidden.shape[0] * n)), [hidden.shape[0], n, 1]);
        return tf.concat([id, u], 2) as tf.Tensor3D;
      });
    },
    loss: () => tf.scalar(0),
    flopsPerSample: () => 0,
    dispose: () => undefined,
  };
}

const K = 2;
/** Context i has hidden state [first token, 0, 0]. */
const hiddenStates = (contexts: readonly Int32Array[]) =>
  tf.tensor2d(
    contexts.map((c) => [c[0]!, 0, 0]),
    [contexts.length, 3],
  );
/** token 0 = the context's first id, token 1 = floor(10·u). */
const decode = (z: tf.Tensor2D) => {
  const v = z.dataSync();
  const out = new Int32Array(z.shape[0] * K);
  for (let i = 0; i < z.shape[0]; i++) {
    out[2 * i] = Math.round(v[2 * i]!);
    out[2 * i + 1] = Math.floor(10 * v[2 * i + 1]!);
  }
  return out;
};

describe('createHeadChunkSampler', () => {
  const contexts = [5, 7, 9, 11].map((t) => Int32Array.from([t, 1, 2]));

  for (const maxLatentsPerCall of [4096, 3, 1]) {
    it(`returns [B, n, K] independent draws in context order (maxLatentsPerCall ${maxLatentsPerCall})`, async () => {
      const head = fakeHead();
      const sampler = createHeadChunkSampler({
        head,
        chunkSize: K,
        vocabSize: 20,
        hiddenStates,
        decode,
        rng: createRng(1),
        maxLatentsPerCall,
      });
      expect(sampler.chunkSize).toBe(K);
      expect(sampler.vocabSize).toBe(20);
      const n = 5;
      const ids = await expectNoLeak(() => sampler.sample(contexts, n));
      expect(ids).toHaveLength(4 * n * K);
      for (let b = 0; b < 4; b++) for (let s = 0; s < n; s++) expect(ids[(b * n + s) * K]).toBe(contexts[b]![0]);
      const second = new Set(Array.from({ length: 4 * n }, (_, i) => ids[i * K + 1]));
      expect(second.size).toBeGreaterThan(3); // fresh noise for every draw
      expect(Math.max(...head.calls)).toBeLessThanOrEqual(maxLatentsPerCall);
      expect(head.calls.reduce((a, c) => a + c, 0)).toBe(4 * n);
    });
  }

  it('batchSize bounds the contexts per hiddenStates call; the draws do not depend on the split', async () => {
    const seen: number[] = [];
    const counting = (c: readonly Int32Array[]) => {
      seen.push(c.length);
      return hiddenStates(c);
    };
    const tfHidden = (seqs: readonly Int32Array[]) => {
      seen.push(seqs.length);
      return seqs.map((s) =>
        tf.tensor2d(
          Array.from({ length: s.length / K - 1 }, (_, t) => [10 * s.length + t, 0, 0]),
          [s.length / K - 1, 3],
        ),
      );
    };
    const make = (batchSize?: number, maxLatentsPerCall?: number) =>
      createHeadChunkSampler({
        head: fakeHead(),
        chunkSize: K,
        hiddenStates: counting,
        teacherForcedHiddenStates: tfHidden,
        decode,
        rng: createRng(4),
        ...(batchSize !== undefined ? { batchSize } : {}),
        ...(maxLatentsPerCall !== undefined ? { maxLatentsPerCall } : {}),
      });
    const whole = await make().sample(contexts, 3);
    expect(seen).toEqual([4]);
    seen.length = 0;
    const split = await expectNoLeak(() => make(3, 2).sample(contexts, 3));
    expect(seen).toEqual([3, 1]);
    expect(Array.from(split)).toEqual(Array.from(whole));
    const seqs = [new Int32Array(3 * K), new Int32Array(K), new Int32Array(2 * K)];
    seen.length = 0;
    const tfWhole = await make().sampleTeacherForced!(seqs, 2);
    const tfSplit = await expectNoLeak(() => make(1).sampleTeacherForced!(seqs, 2));
    expect(seen).toEqual([3, 1, 1, 1]);
    expect(tfSplit.map((a) => Array.from(a))).toEqual(tfWhole.map((a) => Array.from(a)));
    expect(() => make(0)).toThrow(/batchSize/);
  });

  it('meets the shared ChunkSampler contract (int32 [B, n, K] in range, empty batch, same seeds give same ids)', async () => {
    const make = () =>
      createHeadChunkSampler({
        head: fakeHead(),
        chunkSize: K,
        vocabSize: 20,
        hiddenStates,
        decode,
        rng: createRng(8),
      });
    expect(await expectNoLeak(() => chunkSamplerConformance(make, contexts))).toEqual([]);
  });

  it('implements the teacher-forced fast path when hidden states for every position are given', async () => {
    const sampler = createHeadChunkSampler({
      head: fakeHead(),
      chunkSize: K,
      hiddenStates,
      // position t of sequence i: hidden [100·i + t, 0, 0]
      teacherForcedHiddenStates: (seqs) =>
        seqs.map((s, i) =>
          tf.tensor2d(
            Array.from({ length: s.length / K - 1 }, (_, t) => [100 * i + t, 0, 0]),
            [s.length / K - 1, 3],
          ),
        ),
      decode,
      rng: createRng(2),
      maxLatentsPerCall: 4,
    });
    const seqs = [new Int32Array(3 * K), new Int32Array(2 * K), new Int32Array(K)];
    const out = await expectNoLeak(() => sampler.sampleTeacherForced!(seqs, 3));
    expect(out.map((o) => o.length)).toEqual([2 * 3 * K, 1 * 3 * K, 0]);
    for (let t = 0; t < 2; t++) for (let s = 0; s < 3; s++) expect(out[0]![(t * 3 + s) * K]).toBe(t);
    for (let s = 0; s < 3; s++) expect(out[1]![s * K]).toBe(100);
    expect(isCalmError(await rejection(sampler.sampleTeacherForced!([new Int32Array(3)], 1)), 'INVALID_ARGUMENT')).toBe(
      true,
    );
    const plain = createHeadChunkSampler({ head: fakeHead(), chunkSize: K, hiddenStates, decode, rng: createRng(2) });
    expect(plain.sampleTeacherForced).toBeUndefined();
  });

  it('rejects bad calls, bad decoder output and aborted signals with CalmErrors, without leaking', async () => {
    const base = { head: fakeHead(), chunkSize: K, hiddenStates, decode, rng: createRng(3) };
    await expectNoLeak(async () => {
      const sampler = createHeadChunkSampler(base);
      expect(isCalmError(await rejection(sampler.sample(contexts, 0)), 'INVALID_ARGUMENT')).toBe(true);
      const ctl = new AbortController();
      ctl.abort();
      expect(isCalmError(await rejection(sampler.sample(contexts, 2, { signal: ctl.signal })), 'ABORTED')).toBe(true);
      const short = createHeadChunkSampler({ ...base, decode: (z: tf.Tensor2D) => new Int32Array(z.shape[0]) });
      expect(isCalmError(await rejection(short.sample(contexts, 2)), 'SHAPE_MISMATCH')).toBe(true);
      const outOfVocab = createHeadChunkSampler({ ...base, vocabSize: 8 });
      expect(isCalmError(await rejection(outOfVocab.sample(contexts, 2)), 'INVALID_ARGUMENT')).toBe(true);
      const wrongHidden = createHeadChunkSampler({
        ...base,
        hiddenStates: (c: readonly Int32Array[]) => tf.zeros([c.length, 4]) as tf.Tensor2D,
      });
      expect(isCalmError(await rejection(wrongHidden.sample(contexts, 2)), 'SHAPE_MISMATCH')).toBe(true);
      const wrongCount = createHeadChunkSampler({ ...base, hiddenStates: () => tf.zeros([1, 3]) as tf.Tensor2D });
      expect(isCalmError(await rejection(wrongCount.sample(contexts, 2)), 'SHAPE_MISMATCH')).toBe(true);
      expect(await sampler.sample([], 3)).toHaveLength(0);
    });
    let thrown: unknown;
    try {
      createHeadChunkSampler({ ...base, chunkSize: 0 });
    } catch (e) {
      thrown = e;
    }
    expect(isCalmError(thrown, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('drives the energy head end to end (hidden states from token embeddings, nearest-codeword decoder)', async () => {
    const head = new EnergyHead({ hiddenSize: 8, latentSize: 2, noiseSize: 4, numMlpLayers: 1 }, { rng: createRng(4) });
    head.params['mlp_generator.final_layer.linears.2.weight']!.assign(tf.randomNormal([2, 8], 0, 1, 'float32', 5));
    const codebook = [
      [0, 0],
      [1, 0],
      [0, 1],
      [1, 1],
    ];
    const sampler = createHeadChunkSampler({
      head,
      chunkSize: 1,
      vocabSize: 4,
      hiddenStates: (cs) =>
        tf.tidy(
          () =>
            tf
              .oneHot(
                tf.tensor1d(
                  cs.map((c) => c[c.length - 1]!),
                  'int32',
                ),
                8,
              )
              .toFloat() as tf.Tensor2D,
        ),
      decode: (z) => {
        const v = z.dataSync();
        return Int32Array.from({ length: z.shape[0] }, (_, i) => {
          let best = 0;
          let bestD = Infinity;
          codebook.forEach(([a, b], j) => {
            const d = (v[2 * i]! - a!) ** 2 + (v[2 * i + 1]! - b!) ** 2;
            if (d < bestD) [best, bestD] = [j, d];
          });
          return best;
        });
      },
      rng: createRng(6),
    });
    const ids = await expectNoLeak(() => sampler.sample([Int32Array.from([1, 2]), Int32Array.from([3])], 50));
    expect(ids).toHaveLength(100);
    expect(ids.every((v) => v >= 0 && v < 4)).toBe(true);
    head.dispose();
  });
});
