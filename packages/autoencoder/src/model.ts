// The autoencoder's forward passes (spec §1.1): the encoder (per-token embedding, stage-0 AE
// layers, squeeze of the K token vectors into one, stage-1 layers, RMSNorm, linear to mean and
// log σ) and the decoder (latent to hidden, stage-0, expand to K vectors, stage-1, RMSNorm,
// logits through the tied embedding), as pure functions over a parameter record.

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { embedding, linear, rmsNorm, swiGluMlp, type ParamRecord } from '@calm/nn';
import type { AutoencoderConfig } from './config.js';
import { fail } from './internal/errors.js';
import { EMBEDDING_KEY } from './shapes.js';

/**
 * The Gaussian posterior of each chunk's latent vector.
 * @see {@link encode}
 * @category Model
 */
export interface LatentPosterior {
  /** μ, shape `[B, S, L]`, float32. */
  mean: tf.Tensor3D;
  /** log σ (of the standard deviation, not the variance), shape `[B, S, L]`, float32. */
  logStd: tf.Tensor3D;
}

/** One AE layer, `x + mlp(rmsNorm(x))`, applied to each row of `x` `[N, H]`. */
function aeLayer(params: ParamRecord, config: AutoencoderConfig, prefix: string, x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const h = rmsNorm(params, `${prefix}.layernorm`, x, config.rmsNormEps);
    return tf.add(x, swiGluMlp(params, `${prefix}.mlp`, h)) as tf.Tensor2D;
  });
}

/** Runs stage `stage` (0 or 1) of the encoder or decoder layers, as the official loop does. */
function runStage(
  params: ParamRecord,
  config: AutoencoderConfig,
  which: 'encoder' | 'decoder',
  stage: 0 | 1,
  x: tf.Tensor2D,
): tf.Tensor2D {
  const per = (which === 'encoder' ? config.numEncoderLayers : config.numDecoderLayers) / 2;
  let h = x;
  for (let j = 0; j < per; j++) {
    h = aeLayer(params, config, `${which}.${which}_layers.${stage * per + j}`, h);
  }
  return h;
}

function checkIds(config: AutoencoderConfig, ids: tf.Tensor, fn: string): [number, number] {
  if (!(ids instanceof tf.Tensor))
    fail(
      'INVALID_ARGUMENT',
      `${fn}: ids must be a tf.Tensor of token ids [B, T]; wrap typed arrays with tf.tensor2d(ids, [B, T], 'int32').`,
    );
  if (ids.rank !== 2)
    fail(
      'SHAPE_MISMATCH',
      `${fn}: ids must have shape [B, T], got [${ids.shape.join(', ')}]; reshape a flat stream to [1, T].`,
    );
  if (ids.dtype !== 'int32')
    fail(
      'INVALID_ARGUMENT',
      `${fn}: ids must be int32, got ${ids.dtype}; create them with tf.tensor2d(values, [B, T], 'int32').`,
    );
  const [B, T] = ids.shape as [number, number];
  if (T % config.patchSize !== 0) {
    fail(
      'SHAPE_MISMATCH',
      `${fn}: T = ${T} tokens is not a multiple of patchSize K = ${config.patchSize}; pad each row (e.g. padToMultiple from @calm/core with the PAD id).`,
    );
  }
  return [B, T];
}

/**
 * Encodes token chunks into their latent posteriors (official `Encoder.forward` + the split into
 * mean and log σ in `Autoencoder.forward`).
 *
 * @remarks
 * Every chunk of K consecutive tokens of a row is encoded independently. Out-of-range ids are not
 * checked here (that would need a device read); {@link evaluateReconstruction} checks them.
 * @param params - Autoencoder parameters (official names).
 * @param config - The configuration the parameters were built for.
 * @param ids - Token ids, shape `[B, T]` with T a multiple of K, int32, values in `[0, V)`.
 * @returns `mean` and `logStd`, each `[B, S, L]` with S = T / K. Caller owns the returned tensors
 *   and must dispose them. Inputs are not disposed.
 * @throws `CalmError` `SHAPE_MISMATCH` (ids not `[B, T]`, T not a multiple of K, parameter
 *   shapes), `INVALID_ARGUMENT` (ids not int32), `MISSING_PARAMETER`.
 * @example
 * {@includeCode ../test/examples.test.ts#encode-decode}
 * @category Model
 */
export function encode(params: ParamRecord, config: AutoencoderConfig, ids: tf.Tensor2D): LatentPosterior {
  const [B, T] = checkIds(config, ids, 'encode');
  const { patchSize: K, hiddenSize: H, latentSize: L } = config;
  const S = T / K;
  return tf.tidy(() => {
    let x = embedding(params, EMBEDDING_KEY, tf.reshape(ids, [B * T])) as tf.Tensor2D; // [B·S·K, H]
    x = runStage(params, config, 'encoder', 0, x); // per token
    x = tf.reshape(x, [B * S, K * H]); // token 0's H values first, then token 1, …
    x = linear(params, 'encoder.squeeze_layer', x, { bias: true }) as tf.Tensor2D; // [B·S, H]
    x = runStage(params, config, 'encoder', 1, x); // per chunk
    x = rmsNorm(params, 'encoder.norm', x, config.rmsNormEps) as tf.Tensor2D;
    const latent = linear(params, 'encoder.hidden_to_latent', x, { bias: true }); // [B·S, 2L]
    const mean = tf.reshape(tf.slice(latent, [0, 0], [B * S, L]), [B, S, L]) as tf.Tensor3D;
    const logStd = tf.reshape(tf.slice(latent, [0, L], [B * S, L]), [B, S, L]) as tf.Tensor3D;
    return { mean, logStd };
  });
}

/**
 * Draws latents from the posterior by reparameterisation, `z = μ + ε ⊙ exp(log σ)`.
 *
 * @param posterior - `mean` and `logStd`, each `[B, S, L]`.
 * @param noise - ε: a standard normal tensor `[B, S, L]` (float32), or an `Rng` of `@calm/core`
 *   to draw it from (row-major, advanced in place).
 * @returns z, shape `[B, S, L]`, float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `SHAPE_MISMATCH` when the shapes differ, `INVALID_ARGUMENT` when `noise` is
 *   neither a tensor nor an `Rng`.
 * @example
 * {@includeCode ../test/examples.test.ts#encode-decode}
 * @category Model
 */
export function sampleLatent(posterior: LatentPosterior, noise: tf.Tensor3D | Rng): tf.Tensor3D {
  const { mean, logStd } = posterior;
  if (!tf.util.arraysEqual(mean.shape, logStd.shape)) {
    fail(
      'SHAPE_MISMATCH',
      `sampleLatent: mean [${mean.shape.join(', ')}] and logStd [${logStd.shape.join(', ')}] must have the same shape.`,
    );
  }
  if (noise instanceof tf.Tensor) {
    if (!tf.util.arraysEqual(mean.shape, noise.shape))
      fail(
        'SHAPE_MISMATCH',
        `sampleLatent: eps [${noise.shape.join(', ')}] must have the shape of mean [${mean.shape.join(', ')}].`,
      );
  } else if (noise === null || typeof noise !== 'object' || typeof (noise as Rng).fillNormal !== 'function') {
    fail(
      'INVALID_ARGUMENT',
      'sampleLatent: noise must be a [B, S, L] float32 tensor or an Rng (createRng(seed) from @calm/core).',
    );
  }
  const eps = noise instanceof tf.Tensor ? undefined : (noise as Rng).fillNormal(new Float32Array(mean.size));
  return tf.tidy(() => {
    const e = eps === undefined ? (noise as tf.Tensor3D) : tf.tensor3d(eps, mean.shape as [number, number, number]);
    return tf.add(mean, tf.mul(e, tf.exp(logStd))) as tf.Tensor3D;
  });
}

/**
 * Decodes latent vectors into per-token logits (official `Decoder.forward`).
 *
 * @param params - Autoencoder parameters (official names).
 * @param config - The configuration the parameters were built for.
 * @param z - Latents, shape `[B, S, L]`, float32.
 * @returns Logits, shape `[B, S·K, V]`, float32 (token k of chunk s is row `s·K + k`). Caller owns
 *   the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `SHAPE_MISMATCH` when z is not `[B, S, L]`, `MISSING_PARAMETER`.
 * @example
 * {@includeCode ../test/examples.test.ts#encode-decode}
 * @category Model
 */
export function decode(params: ParamRecord, config: AutoencoderConfig, z: tf.Tensor3D): tf.Tensor3D {
  if (!(z instanceof tf.Tensor) || z.rank !== 3 || z.shape[2] !== config.latentSize) {
    fail(
      'SHAPE_MISMATCH',
      `decode: z must have shape [B, S, ${config.latentSize}], got ${z instanceof tf.Tensor ? `[${z.shape.join(', ')}]` : typeof z}.`,
    );
  }
  if (z.dtype !== 'float32') fail('INVALID_ARGUMENT', `decode: z must be float32, got ${z.dtype}.`);
  const [B, S] = z.shape as [number, number, number];
  const { patchSize: K, hiddenSize: H, vocabSize: V } = config;
  return tf.tidy(() => {
    let x = linear(params, 'decoder.latent_to_hidden', tf.reshape(z, [B * S, config.latentSize]), {
      bias: true,
    }) as tf.Tensor2D; // [B·S, H]
    x = runStage(params, config, 'decoder', 0, x); // per chunk
    x = linear(params, 'decoder.expand_layer', x, { bias: true }) as tf.Tensor2D; // [B·S, K·H]
    x = tf.reshape(x, [B * S * K, H]); // slice k of the K·H vector is token k
    x = runStage(params, config, 'decoder', 1, x); // per token
    x = rmsNorm(params, 'decoder.norm', x, config.rmsNormEps) as tf.Tensor2D;
    // The output projection is the tied embedding [V, H] used as a bias-free Linear weight.
    const logits = linear(params, 'encoder.embed_tokens', x, { bias: false }); // [B·S·K, V]
    return tf.reshape(logits, [B, S * K, V]) as tf.Tensor3D;
  });
}

/**
 * Decodes latent vectors into tokens (argmax of {@link decode}'s logits per position).
 *
 * @param params - Autoencoder parameters (official names).
 * @param config - The configuration the parameters were built for.
 * @param z - Latents, shape `[B, S, L]`, float32.
 * @returns Token ids, shape `[B, S·K]`, int32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` as {@link decode}.
 * @example
 * {@includeCode ../test/examples.test.ts#encode-decode}
 * @category Model
 */
export function decodeTokens(params: ParamRecord, config: AutoencoderConfig, z: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => tf.argMax(decode(params, config, z), -1) as tf.Tensor2D);
}
