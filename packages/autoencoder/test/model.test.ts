// Forward passes: shapes, input checks, context-freeness, and the official stage layout with more
// than two layers (layers 0..n/2−1 before the squeeze/expand, n/2..n−1 after).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createRng, isCalmError } from '@calm/core';
import { disposeParams, embedding, linear, rmsNorm, swiGluMlp, type ParamRecord } from '@calm/nn';
import { expectClose } from '@calm/testing/tfjs';
import {
  autoencoderConfig,
  createAutoencoderParams,
  decode,
  decodeTokens,
  encode,
  sampleLatent,
} from '../src/index.js';
import { useWasm } from './helpers.js';

const config = autoencoderConfig({
  vocabSize: 40,
  hiddenSize: 16,
  intermediateSize: 24,
  latentSize: 6,
  patchSize: 3,
  numEncoderLayers: 4,
  numDecoderLayers: 4,
});
let params: ParamRecord;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isCalmError(e), String(e)).toBe(true);
    return (e as { code: string }).code;
  }
  throw new Error('expected a CalmError');
}

beforeAll(async () => {
  await useWasm();
  params = createAutoencoderParams(config, createRng(11));
});
afterAll(() => disposeParams(params));

describe('encode / decode', () => {
  it('maps [B, T] ids to [B, T/K, L] posteriors and back to [B, T, V] logits', () => {
    tf.tidy(() => {
      const ids = tf.tensor2d(
        Int32Array.from({ length: 2 * 9 }, (_, i) => (i * 7) % 40),
        [2, 9],
        'int32',
      );
      const { mean, logStd } = encode(params, config, ids);
      expect(mean.shape).toEqual([2, 3, 6]);
      expect(logStd.shape).toEqual([2, 3, 6]);
      expect(decode(params, config, mean).shape).toEqual([2, 9, 40]);
      const toks = decodeTokens(params, config, mean);
      expect(toks.shape).toEqual([2, 9]);
      expect(toks.dtype).toBe('int32');
    });
  });

  it('is context-free: each chunk encodes and decodes on its own', () => {
    tf.tidy(() => {
      const flat = Int32Array.from({ length: 12 }, (_, i) => (i * 5 + 3) % 40);
      const asRow = encode(params, config, tf.tensor2d(flat, [1, 12], 'int32'));
      const asChunks = encode(params, config, tf.tensor2d(flat, [4, 3], 'int32'));
      expectClose(asRow.mean, asChunks.mean.reshape([1, 4, 6]), { atol: 1e-6 });
      expectClose(decode(params, config, asRow.mean), decode(params, config, asChunks.mean.reshape([1, 4, 6])), {
        atol: 1e-5,
      });
    });
  });

  it('runs the layers in the official stage order (4 layers: 0, 1 per token; 2, 3 per chunk)', () => {
    tf.tidy(() => {
      const ids = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
      const layer = (p: string, x: tf.Tensor) =>
        tf.add(x, swiGluMlp(params, `${p}.mlp`, rmsNorm(params, `${p}.layernorm`, x, config.rmsNormEps)));
      let x = embedding(params, 'encoder.embed_tokens.weight', ids); // [2, 3, 16]
      x = layer('encoder.encoder_layers.1', layer('encoder.encoder_layers.0', x));
      x = linear(params, 'encoder.squeeze_layer', x.reshape([2, 48]));
      x = layer('encoder.encoder_layers.3', layer('encoder.encoder_layers.2', x));
      const lat = linear(params, 'encoder.hidden_to_latent', rmsNorm(params, 'encoder.norm', x, config.rmsNormEps));
      const { mean, logStd } = encode(params, config, ids);
      expectClose(mean.reshape([2, 6]), lat.slice([0, 0], [2, 6]), { atol: 1e-5 });
      expectClose(logStd.reshape([2, 6]), lat.slice([0, 6], [2, 6]), { atol: 1e-5 });

      const z = tf.tensor3d(
        Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)),
        [2, 1, 6],
      );
      let h = linear(params, 'decoder.latent_to_hidden', z.reshape([2, 6]));
      h = layer('decoder.decoder_layers.1', layer('decoder.decoder_layers.0', h));
      h = linear(params, 'decoder.expand_layer', h).reshape([6, 16]);
      h = layer('decoder.decoder_layers.3', layer('decoder.decoder_layers.2', h));
      const logits = tf.matMul(
        rmsNorm(params, 'decoder.norm', h, config.rmsNormEps),
        params['encoder.embed_tokens.weight']!,
        false,
        true,
      );
      expectClose(decode(params, config, z), logits.reshape([2, 3, 40]), { atol: 1e-4 });
    });
  });

  it('samples z = μ + ε·σ', () => {
    tf.tidy(() => {
      const mean = tf.tensor3d([[[1, 2]]]);
      const logStd = tf.tensor3d([[[0, Math.log(2)]]]);
      const eps = tf.tensor3d([[[0.5, -1]]]);
      expectClose(sampleLatent({ mean, logStd }, eps), [1.5, 0], { atol: 1e-6 });
      expect(codeOf(() => sampleLatent({ mean, logStd }, tf.zeros([1, 1, 3]) as tf.Tensor3D))).toBe('SHAPE_MISMATCH');
      expect(codeOf(() => sampleLatent({ mean, logStd }, 3 as unknown as tf.Tensor3D))).toBe('INVALID_ARGUMENT');
      // From an Rng: the same draws as filling ε on the host.
      const eps2 = createRng(7).fillNormal(new Float32Array(2));
      expectClose(sampleLatent({ mean, logStd }, createRng(7)), [1 + eps2[0]!, 2 + 2 * eps2[1]!], { atol: 1e-5 });
    });
  });

  it('rejects ids that are not [B, T] int32 with T a multiple of K, and latents of the wrong size', () => {
    tf.tidy(() => {
      expect(codeOf(() => encode(params, config, tf.tensor1d([1, 2, 3], 'int32') as unknown as tf.Tensor2D))).toBe(
        'SHAPE_MISMATCH',
      );
      expect(codeOf(() => encode(params, config, tf.tensor2d([[1, 2, 3]], [1, 3], 'float32')))).toBe(
        'INVALID_ARGUMENT',
      );
      expect(codeOf(() => encode(params, config, tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32')))).toBe('SHAPE_MISMATCH');
      expect(codeOf(() => decode(params, config, tf.zeros([1, 2, 5]) as tf.Tensor3D))).toBe('SHAPE_MISMATCH');
      const missing = { ...params };
      delete missing['decoder.norm.weight'];
      expect(codeOf(() => decode(missing, config, tf.zeros([1, 1, 6]) as tf.Tensor3D))).toBe('MISSING_PARAMETER');
    });
  });
});
