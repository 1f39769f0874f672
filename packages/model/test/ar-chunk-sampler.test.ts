// The AR baseline as a ChunkSampler: the teacher-forced path draws what the plain path draws from
// the same prefix and RNG, the first token follows the softmax (χ²), the second follows the
// softmax after the first, and nothing leaks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import { chiSquareTest } from '@calm/testing';
import { tinyAr } from '@calm/testing/models';
import { expectNoLeak, useWasm } from '@calm/testing/tfjs';
import { type ArModel, arChunkSampler, arNextTokenModel } from '../src/index.js';

let model: ArModel;
beforeAll(async () => {
  await useWasm();
  model = tinyAr(2);
});
afterAll(() => model.dispose());

const seq = Int32Array.from([256, 104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100], (x) => x); // 12 tokens, 3 chunks

describe('arChunkSampler', () => {
  it('draws on the teacher-forced path exactly what the plain path draws from the same prefix and RNG', async () => {
    const tf1 = await arChunkSampler(model, { chunkSize: 4, rng: createRng(3) }).sampleTeacherForced!(
      [seq.subarray(0, 8)],
      5,
    );
    const plain = await arChunkSampler(model, { chunkSize: 4, rng: createRng(3) }).sample([seq.subarray(0, 4)], 5);
    expect(Array.from(tf1[0]!)).toEqual(Array.from(plain));
    const all = await expectNoLeak(() =>
      arChunkSampler(model, { chunkSize: 4, rng: createRng(4) }).sampleTeacherForced!([seq], 3),
    );
    expect(all[0]!.length).toBe(2 * 3 * 4);
  });

  it('follows the softmax for the first token and, given it, for the second', async () => {
    const n = 4000;
    const draws = await arChunkSampler(model, { chunkSize: 2, rng: createRng(9) }).sample([seq.subarray(0, 6)], n);
    const exact = arNextTokenModel(model);
    const p0 = await exact.nextTokenProbs([seq.subarray(0, 6)]);
    const counts = new Float64Array(model.config.vocabSize);
    for (let i = 0; i < n; i++) counts[draws[2 * i]!]! += 1;
    expect(chiSquareTest(counts, p0).pValue).toBeGreaterThan(1e-3);
    // The second token after the most frequent first token.
    const top = counts.indexOf(Math.max(...counts));
    const p1 = await exact.nextTokenProbs([Int32Array.from([...seq.subarray(0, 6), top])]);
    const second = new Float64Array(model.config.vocabSize);
    for (let i = 0; i < n; i++) if (draws[2 * i] === top) second[draws[2 * i + 1]!]! += 1;
    expect(chiSquareTest(second, p1).pValue).toBeGreaterThan(1e-3);
  });

  it('rejects bad options and contexts', async () => {
    expect(() => arChunkSampler(model, { chunkSize: 0, rng: createRng(1) })).toThrow(/chunkSize/);
    const s = arChunkSampler(model, { chunkSize: 4, rng: createRng(1) });
    await expect(s.sampleTeacherForced!([seq.subarray(0, 6)], 2)).rejects.toThrow(/multiple of K/);
    await expect(s.sample([Int32Array.of(999)], 2)).rejects.toThrow(/outside the vocabulary/);
  });
});
