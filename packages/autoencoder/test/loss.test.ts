// The loss beyond the fixtures: the formula recomputed on the host from the returned parts,
// reproducible draws from a seeded RNG, noise statistics, and input checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createRng, isCalmError } from '@calm/core';
import { disposeParams, type ParamRecord } from '@calm/nn';
import {
  autoencoderConfig,
  autoencoderLoss,
  autoencoderLossParts,
  createAutoencoderParams,
  sampleAutoencoderNoise,
} from '../src/index.js';
import { useWasm } from './helpers.js';

// A wide init spreads μ and log σ so that some KL terms sit above the clamp and some below.
const config = autoencoderConfig({
  vocabSize: 30,
  hiddenSize: 16,
  intermediateSize: 32,
  latentSize: 8,
  patchSize: 4,
  klClamp: 1,
  initializerRange: 0.3,
});
let params: ParamRecord;
let ids: tf.Tensor2D;

beforeAll(async () => {
  await useWasm();
  params = createAutoencoderParams(config, createRng(5));
  ids = tf.tensor2d(
    Int32Array.from({ length: 3 * 8 }, (_, i) => (i * 11 + 1) % 30),
    [3, 8],
    'int32',
  );
});
afterAll(() => {
  disposeParams(params);
  ids.dispose();
});

async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    expect(isCalmError(e), String(e)).toBe(true);
    return (e as { code: string }).code;
  }
  throw new Error('expected a CalmError');
}

describe('autoencoder loss', () => {
  it('equals K·CE + β·KL with clamped per-dimension KL, recomputed on the host', () => {
    const noise = sampleAutoencoderNoise(config, 3, 8, createRng(9));
    const parts = autoencoderLossParts(params, config, ids, { noise });
    try {
      const mean = parts.mean.dataSync();
      const logStd = parts.logStd.dataSync();
      let kl = 0;
      let clamped = 0;
      for (let i = 0; i < mean.length; i++) {
        const s = Math.exp(logStd[i]!);
        const term = 0.5 * (mean[i]! ** 2 + s * s - 1 - 2 * logStd[i]!);
        if (term < config.klClamp) clamped++;
        kl += Math.max(term, config.klClamp);
      }
      kl /= mean.length / config.latentSize; // mean over chunks of the sum over dims
      expect(clamped).toBeGreaterThan(0); // the clamp is exercised …
      expect(clamped).toBeLessThan(mean.length); // … and not everywhere
      const logits = parts.logits.dataSync() as Float32Array;
      const labels = ids.dataSync();
      let ce = 0;
      for (let r = 0; r < labels.length; r++) {
        const row = logits.subarray(r * 30, r * 30 + 30);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
        ce += lse - row[labels[r]!]!;
      }
      ce /= labels.length;
      expect(parts.kl.dataSync()[0]).toBeCloseTo(kl, 4);
      expect(parts.ce.dataSync()[0]).toBeCloseTo(ce, 4);
      expect(parts.loss.dataSync()[0]).toBeCloseTo(4 * ce + config.klWeight * kl, 4);
      // Masked inputs are 0 exactly where the mask says; z is dropped exactly where keep is 0.
      const masked = parts.maskedIds.dataSync();
      for (let i = 0; i < masked.length; i++) expect(masked[i]).toBe(noise.tokenMask[i] ? 0 : labels[i]);
      const z = parts.z.dataSync();
      for (let i = 0; i < z.length; i++) if (noise.latentKeep[i] === 0) expect(Math.abs(z[i]!)).toBe(0);
    } finally {
      tf.dispose(Object.values(parts));
    }
  });

  it('in eval mode is the plain mean CE of the sampled latent', () => {
    tf.tidy(() => {
      const eps = new Float32Array(3 * 2 * 8).fill(0);
      const parts = autoencoderLossParts(params, config, ids, { training: false, noise: { eps } });
      expect(parts.loss.dataSync()[0]).toBe(parts.ce.dataSync()[0]);
      expect(Array.from(parts.z.dataSync())).toEqual(Array.from(parts.mean.dataSync())); // ε = 0 → z = μ
      expect(Array.from(parts.maskedIds.dataSync())).toEqual(Array.from(ids.dataSync()));
    });
  });

  it('is reproducible from a seed and changes with it', () => {
    const value = (seed: number) =>
      tf.tidy(() => autoencoderLoss(params, config, ids, { rng: createRng(seed) }).dataSync()[0]!);
    expect(value(1)).toBe(value(1));
    expect(value(1)).not.toBe(value(2));
  });

  it('draws masks and ε with the right statistics (fixed seed)', () => {
    const cfg = autoencoderConfig({ ...config, latentSize: 64 });
    const n = sampleAutoencoderNoise(cfg, 100, 400, createRng(123)); // 40,000 mask draws, 640,000 latent draws
    const rate = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0) / a.length;
    const p = cfg.aeDropout;
    expect(Math.abs(rate(n.tokenMask) - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n.tokenMask.length));
    expect(Math.abs(rate(n.latentKeep) - (1 - p))).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n.latentKeep.length));
    const m = rate(n.eps);
    const v = Array.from(n.eps).reduce((s, x) => s + (x - m) ** 2, 0) / n.eps.length;
    expect(Math.abs(m)).toBeLessThan(4 / Math.sqrt(n.eps.length));
    expect(Math.abs(v - 1)).toBeLessThan(4 * Math.sqrt(2 / n.eps.length));
    expect(n.eps.length).toBe(100 * 100 * 64);
  });

  it('asks for an rng or noise, and checks noise shapes', async () => {
    expect(await codeOf(() => autoencoderLoss(params, config, ids))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => autoencoderLoss(params, config, ids, { training: false }))).toBe('INVALID_ARGUMENT');
    const noise = sampleAutoencoderNoise(config, 3, 8, createRng(1));
    expect(
      await codeOf(() => autoencoderLoss(params, config, ids, { noise: { ...noise, eps: noise.eps.subarray(1) } })),
    ).toBe('SHAPE_MISMATCH');
    expect(
      await codeOf(() => autoencoderLoss(params, config, ids, { noise: { ...noise, tokenMask: tf.zeros([3, 4]) } })),
    ).toBe('SHAPE_MISMATCH');
    expect(await codeOf(() => sampleAutoencoderNoise(config, 3, 7, createRng(1)))).toBe('SHAPE_MISMATCH');
    // Eval mode needs only ε.
    tf.tidy(() => {
      expect(autoencoderLoss(params, config, ids, { training: false, noise: { eps: noise.eps } }).shape).toEqual([]);
    });
  });
});
