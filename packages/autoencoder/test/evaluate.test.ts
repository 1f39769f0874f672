// Reconstruction accuracy: counts against a direct decode, PAD exclusion, the effect of latent
// noise, and input checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createRng, isCalmError } from '@calm/core';
import { disposeParams } from '@calm/nn';
import { decodeTokens, encode, evaluateReconstruction, evaluateRobustness } from '../src/index.js';
import { loadFixture, useWasm, type Fixture } from './helpers.js';

let fx: Fixture;
let stream: Int32Array;

beforeAll(async () => {
  await useWasm();
  fx = await loadFixture('ae-tiny.safetensors');
  stream = fx.get('input.ids').data as Int32Array; // 32 tokens = 8 chunks
});
afterAll(() => disposeParams(fx.params));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isCalmError(e), String(e)).toBe(true);
    return (e as { code: string }).code;
  }
  throw new Error('expected a CalmError');
}

describe('evaluateReconstruction', () => {
  it('counts tokens and whole chunks exactly as a direct decode of μ does', async () => {
    const decoded = tf.tidy(() => {
      const { mean } = encode(fx.params, fx.config, tf.tensor2d(stream, [1, 32], 'int32'));
      return Array.from(decodeTokens(fx.params, fx.config, mean).dataSync());
    });
    let tok = 0;
    let chunks = 0;
    for (let c = 0; c < 8; c++) {
      let ok = true;
      for (let k = 0; k < 4; k++) {
        if (decoded[c * 4 + k] === stream[c * 4 + k]) tok++;
        else ok = false;
      }
      if (ok) chunks++;
    }
    // Batches of 3 chunks exercise the ragged last batch.
    const progress: number[] = [];
    const r = await evaluateReconstruction(fx.params, fx.config, stream, {
      batchSize: 3,
      onProgress: (d) => progress.push(d),
    });
    expect(r).toMatchObject({
      tokens: 32,
      correctTokens: tok,
      chunks: 8,
      correctChunks: chunks,
      latent: 'mean',
      noiseStd: 0,
    });
    expect(r.tokenAccuracy).toBe(tok / 32);
    expect(r.chunkAccuracy).toBe(chunks / 8);
    expect(progress).toEqual([3, 6, 8]);
    // Leave out every position whose target is the stream's first token.
    const ignore = stream[0]!;
    const n = Array.from(stream).filter((t) => t === ignore).length;
    const r2 = await evaluateReconstruction(fx.params, fx.config, stream, { ignoreTokenId: ignore });
    expect(r2.tokens).toBe(32 - n);
  });

  it('loses accuracy under large latent noise, and is reproducible from the seed', async () => {
    // An untrained fixture model is not robust: σ = 50 scrambles the decoded tokens.
    const clean = await evaluateReconstruction(fx.params, fx.config, stream);
    const noisy = await evaluateReconstruction(fx.params, fx.config, stream, { noiseStd: 50, rng: createRng(4) });
    const again = await evaluateReconstruction(fx.params, fx.config, stream, { noiseStd: 50, rng: createRng(4) });
    expect(noisy.correctTokens).toBeLessThan(clean.correctTokens);
    expect(again).toEqual(noisy);
    const sampled = await evaluateReconstruction(fx.params, fx.config, stream, { latent: 'sample', rng: createRng(4) });
    expect(sampled.latent).toBe('sample');
  });

  it('measures robustness at multiples of the posterior scale: s = 0 is μ, s = 1 a posterior sample', async () => {
    const points = await evaluateRobustness(fx.params, fx.config, stream, { scales: [0, 1, 60], rng: createRng(4) });
    const mean = await evaluateReconstruction(fx.params, fx.config, stream);
    const sample = await evaluateReconstruction(fx.params, fx.config, stream, { latent: 'sample', rng: createRng(4) });
    expect(points.map((p) => p.scale)).toEqual([0, 1, 60]);
    expect(points[0]!.tokenAccuracy).toBe(mean.tokenAccuracy);
    expect(points[1]!.tokenAccuracy).toBe(sample.tokenAccuracy);
    expect(points[1]!.chunkAccuracy).toBe(sample.chunkAccuracy);
    expect(points[2]!.tokenAccuracy).toBeLessThan(points[0]!.tokenAccuracy);
    expect(
      await codeOf(
        evaluateReconstruction(fx.params, fx.config, stream, { latent: 'sample', sampleScale: -1, rng: createRng(1) }),
      ),
    ).toBe('INVALID_ARGUMENT');
  });

  it('rejects bad streams and options', async () => {
    expect(await codeOf(evaluateReconstruction(fx.params, fx.config, stream.subarray(0, 30)))).toBe('SHAPE_MISMATCH');
    expect(await codeOf(evaluateReconstruction(fx.params, fx.config, Int32Array.from([1, 2, 3, 96])))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(await codeOf(evaluateReconstruction(fx.params, fx.config, stream, { noiseStd: 0.3 }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(await codeOf(evaluateReconstruction(fx.params, fx.config, stream, { batchSize: 0 }))).toBe(
      'INVALID_ARGUMENT',
    );
    await expect(
      evaluateReconstruction(fx.params, fx.config, stream, { latent: 'mode' as 'mean', batchSize: 0, noiseStd: 0.3 }),
    ).rejects.toMatchObject({
      details: {
        problems: [
          'latent must be one of "mean", "sample", got "mode"',
          'batchSize must be a positive integer, got 0',
          'a sampled latent or noiseStd > 0 needs options.rng (createRng(seed) from @calm/core)',
        ],
      },
    });
    const empty = await evaluateReconstruction(fx.params, fx.config, new Int32Array(0));
    expect(Number.isNaN(empty.tokenAccuracy)).toBe(true);
  });
});
