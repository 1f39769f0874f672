// The autoencoder's training objective, as `Autoencoder.forward` of the official code (spec §1.2):
// token masking to id 0, reparameterised sampling, latent dropout, per-dimension KL clamped from
// below, loss = K · mean CE + kl_weight · KL (eval mode: plain mean CE on a sampled z). Every
// random draw is an input (AutoencoderNoise) or comes from an injected seedable RNG.

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { crossEntropy, type ParamRecord } from '@calm/nn';
import type { AutoencoderConfig } from './config.js';
import { fail } from './internal/errors.js';
import { decode, encode } from './model.js';

/**
 * The random draws of one forward pass of the loss.
 * @see {@link sampleAutoencoderNoise}
 * @category Loss
 */
export interface AutoencoderNoise {
  /**
   * DropToken mask, shape `[B, T]`, int32 (other dtypes are cast): a nonzero entry replaces that
   * *input* id by 0 (labels keep the original ids). Official: each entry is 1 with probability
   * `aeDropout`.
   */
  tokenMask: tf.Tensor | ArrayLike<number>;
  /** ε ~ N(0, 1) of the reparameterisation `z = μ + ε·σ`, shape `[B, S, L]`, float32. */
  eps: tf.Tensor | ArrayLike<number>;
  /**
   * DropLatent keep mask, shape `[B, S, L]`, float32, entries 0 or 1: `z ← z · keep / (1 − aeDropout)`.
   * Official: each entry is 1 with probability `1 − aeDropout`.
   */
  latentKeep: tf.Tensor | ArrayLike<number>;
}

/**
 * Options of {@link autoencoderLoss} and {@link autoencoderLossParts}.
 * @category Loss
 */
export interface AutoencoderLossOptions {
  /**
   * `true`: the training objective (masking, dropout, `K · CE + kl_weight · KL`). `false`: the
   * official eval mode (no masking or dropout, z still sampled, loss = plain mean CE).
   * @defaultValue true
   */
  training?: boolean;
  /** Injected draws; any part left out is drawn from `rng`. Parts the mode does not use are ignored. */
  noise?: Partial<AutoencoderNoise>;
  /** Generator for the draws not given in `noise` (see {@link sampleAutoencoderNoise}). */
  rng?: Rng;
}

/**
 * The loss and its intermediate values.
 * @see {@link autoencoderLossParts}
 * @category Loss
 */
export interface AutoencoderLossParts {
  /** The objective: `K · ce + klWeight · kl` in training mode, `ce` in eval mode. float32 scalar. */
  loss: tf.Scalar;
  /** Mean cross-entropy over all `B·T` positions, in nats. float32 scalar. */
  ce: tf.Scalar;
  /** Mean over chunks of Σᵢ max(klᵢ, klClamp), in nats. float32 scalar. */
  kl: tf.Scalar;
  /** The encoder's input after masking, `[B, T]`, int32. */
  maskedIds: tf.Tensor2D;
  /** μ of the masked input, `[B, S, L]`, float32. */
  mean: tf.Tensor3D;
  /** log σ of the masked input, `[B, S, L]`, float32. */
  logStd: tf.Tensor3D;
  /** The decoded latent (after dropout in training mode), `[B, S, L]`, float32. */
  z: tf.Tensor3D;
  /** Decoder logits, `[B, T, V]`, float32. */
  logits: tf.Tensor3D;
}

/**
 * Host-side draws for one loss evaluation, from a seedable RNG.
 * @see {@link sampleAutoencoderNoise}
 * @category Loss
 */
export interface SampledAutoencoderNoise {
  /** `[B, T]` row-major, int32, 1 = mask the input id (probability `aeDropout`). */
  tokenMask: Int32Array;
  /** `[B, S, L]` row-major, float32, standard normal. */
  eps: Float32Array;
  /** `[B, S, L]` row-major, float32, 1 = keep (probability `1 − aeDropout`). */
  latentKeep: Float32Array;
}

/**
 * Draws the noise of one training step (token mask, ε, latent keep mask) from a seeded RNG, in
 * that order.
 *
 * @param config - Supplies K, L and `aeDropout`.
 * @param batchSize - B, rows of the ids.
 * @param seqLen - T, tokens per row (a multiple of K).
 * @param rng - The generator (advanced in place).
 * @returns Typed arrays ready to pass as {@link AutoencoderNoise}.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad size, `SHAPE_MISMATCH` when T is not a multiple of K.
 * @example
 * {@includeCode ../test/examples.test.ts#loss}
 * @category Loss
 */
export function sampleAutoencoderNoise(
  config: AutoencoderConfig,
  batchSize: number,
  seqLen: number,
  rng: Rng,
): SampledAutoencoderNoise {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || !Number.isSafeInteger(seqLen) || seqLen < 1) {
    fail(
      'INVALID_ARGUMENT',
      `sampleAutoencoderNoise: batchSize and seqLen must be positive integers, got ${batchSize} and ${seqLen}.`,
    );
  }
  if (seqLen % config.patchSize !== 0)
    fail(
      'SHAPE_MISMATCH',
      `sampleAutoencoderNoise: seqLen ${seqLen} is not a multiple of patchSize ${config.patchSize}.`,
    );
  const p = config.aeDropout;
  const tokenMask = new Int32Array(batchSize * seqLen);
  for (let i = 0; i < tokenMask.length; i++) tokenMask[i] = rng.uniform() < p ? 1 : 0;
  const n = batchSize * (seqLen / config.patchSize) * config.latentSize;
  const eps = rng.fillNormal(new Float32Array(n));
  const latentKeep = new Float32Array(n);
  for (let i = 0; i < n; i++) latentKeep[i] = rng.uniform() < p ? 0 : 1;
  return { tokenMask, eps, latentKeep };
}

/** Turns one noise input into a tensor of the expected shape (the caller's tidy owns it). */
function noiseTensor(
  value: tf.Tensor | ArrayLike<number>,
  shape: number[],
  dtype: 'float32' | 'int32',
  name: string,
): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (value instanceof tf.Tensor) {
    if (!tf.util.arraysEqual(value.shape, shape))
      fail('SHAPE_MISMATCH', `noise.${name} has shape [${value.shape.join(', ')}], expected [${shape.join(', ')}].`);
    return value.dtype === dtype ? value : tf.cast(value, dtype);
  }
  if (value === null || typeof value !== 'object' || typeof value.length !== 'number') {
    return fail('INVALID_ARGUMENT', `noise.${name} must be a tf.Tensor or an array of numbers.`);
  }
  if (value.length !== size)
    fail('SHAPE_MISMATCH', `noise.${name} has ${value.length} values, expected ${size} (shape [${shape.join(', ')}]).`);
  return tf.tensor(dtype === 'int32' ? Int32Array.from(value) : Float32Array.from(value), shape, dtype);
}

/** Resolves the noise parts a mode needs: injected ones first, the rest drawn in the fixed order. */
function resolveNoise(
  config: AutoencoderConfig,
  B: number,
  T: number,
  options: AutoencoderLossOptions,
  training: boolean,
): {
  tokenMask?: tf.Tensor | ArrayLike<number>;
  eps: tf.Tensor | ArrayLike<number>;
  latentKeep?: tf.Tensor | ArrayLike<number>;
} {
  const given = options.noise ?? {};
  const needMask = training && given.tokenMask === undefined;
  const needEps = given.eps === undefined;
  const needKeep = training && given.latentKeep === undefined;
  if ((needMask || needEps || needKeep) && options.rng === undefined) {
    const missing = [needMask && 'tokenMask', needEps && 'eps', needKeep && 'latentKeep'].filter(Boolean).join(', ');
    fail(
      'INVALID_ARGUMENT',
      `autoencoderLoss: no rng and no injected noise for ${missing}; pass options.rng (createRng(seed) from @calm/core) or options.noise.`,
    );
  }
  let drawn: SampledAutoencoderNoise | undefined;
  if (needMask || needEps || needKeep) drawn = sampleAutoencoderNoise(config, B, T, options.rng!);
  const out: {
    tokenMask?: tf.Tensor | ArrayLike<number>;
    eps: tf.Tensor | ArrayLike<number>;
    latentKeep?: tf.Tensor | ArrayLike<number>;
  } = {
    eps: given.eps ?? drawn!.eps,
  };
  if (training) {
    out.tokenMask = given.tokenMask ?? drawn!.tokenMask;
    out.latentKeep = given.latentKeep ?? drawn!.latentKeep;
  }
  return out;
}

/**
 * The autoencoder loss with all intermediate values (official `Autoencoder.forward`).
 *
 * @remarks
 * Training mode, with `p = aeDropout`: input ids under `tokenMask` become 0; `(μ, log σ) =
 * encode(masked)`; `z = (μ + ε·σ) · keep / (1 − p)`; `klᵢ = ½(μᵢ² + σᵢ² − 1 − 2 log σᵢ)`,
 * `KL = mean over chunks of Σᵢ max(klᵢ, klClamp)`; `CE` = mean cross-entropy of `decode(z)`
 * against the *original* ids; `loss = K · CE + klWeight · KL`. Eval mode: no masking or dropout,
 * `z = μ + ε·σ`, `loss = CE`.
 * @param params - Autoencoder parameters (official names).
 * @param config - The configuration the parameters were built for.
 * @param ids - Token ids, shape `[B, T]` (T a multiple of K), int32; also the labels.
 * @param options - Mode, injected noise, RNG.
 * @returns The loss and its parts. Caller owns the returned tensors and must dispose them. Inputs are not disposed.
 * @throws `CalmError` `INVALID_ARGUMENT` when noise is neither given nor drawable (no rng),
 *   `SHAPE_MISMATCH` for wrongly shaped ids or noise, and the errors of {@link encode}.
 * @example
 * {@includeCode ../test/examples.test.ts#loss}
 * @category Loss
 */
export function autoencoderLossParts(
  params: ParamRecord,
  config: AutoencoderConfig,
  ids: tf.Tensor2D,
  options: AutoencoderLossOptions = {},
): AutoencoderLossParts {
  if (!(ids instanceof tf.Tensor) || ids.rank !== 2)
    fail('SHAPE_MISMATCH', `autoencoderLoss: ids must be a [B, T] int32 tensor.`);
  const [B, T] = ids.shape as [number, number];
  const { patchSize: K, latentSize: L, aeDropout: p } = config;
  if (T % K !== 0)
    fail(
      'SHAPE_MISMATCH',
      `autoencoderLoss: T = ${T} is not a multiple of patchSize K = ${K}; pad each row with the PAD id.`,
    );
  const S = T / K;
  const training = options.training ?? true;
  const noise = resolveNoise(config, B, T, options, training);
  return tf.tidy(() => {
    let maskedIds = ids;
    if (training) {
      const mask = noiseTensor(noise.tokenMask!, [B, T], 'int32', 'tokenMask');
      maskedIds = tf.where(tf.notEqual(mask, 0), tf.zerosLike(ids), ids) as tf.Tensor2D;
    }
    const { mean, logStd } = encode(params, config, maskedIds);
    const eps = noiseTensor(noise.eps, [B, S, L], 'float32', 'eps');
    const std = tf.exp(logStd);
    let z = tf.add(mean, tf.mul(eps, std)) as tf.Tensor3D;
    if (training) {
      const keep = noiseTensor(noise.latentKeep!, [B, S, L], 'float32', 'latentKeep');
      z = tf.mul(z, tf.div(keep, 1 - p)) as tf.Tensor3D;
    }
    const klTerms = tf.mul(0.5, tf.sub(tf.sub(tf.add(tf.square(mean), tf.square(std)), 1), tf.mul(2, logStd)));
    const kl = tf.mean(tf.sum(tf.maximum(klTerms, config.klClamp), -1)) as tf.Scalar;
    const logits = decode(params, config, z); // [B, T, V]
    const ce = crossEntropy(tf.reshape(logits, [B * T, config.vocabSize]), tf.reshape(ids, [B * T]));
    const loss = (training ? tf.add(tf.mul(ce, K), tf.mul(kl, config.klWeight)) : tf.clone(ce)) as tf.Scalar;
    return { loss, ce, kl, maskedIds: maskedIds === ids ? tf.clone(ids) : maskedIds, mean, logStd, z, logits };
  });
}

/**
 * The autoencoder loss as one scalar, for gradients (`paramGrads` of `@calm/nn`) and trainers.
 *
 * @param params - Autoencoder parameters (official names).
 * @param config - The configuration the parameters were built for.
 * @param ids - Token ids, shape `[B, T]` (T a multiple of K), int32; also the labels.
 * @param options - Mode, injected noise, RNG (see {@link autoencoderLossParts} for the formula).
 * @returns The loss, float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` as {@link autoencoderLossParts}.
 * @example
 * {@includeCode ../test/examples.test.ts#loss}
 * @category Loss
 */
export function autoencoderLoss(
  params: ParamRecord,
  config: AutoencoderConfig,
  ids: tf.Tensor2D,
  options: AutoencoderLossOptions = {},
): tf.Scalar {
  return tf.tidy(() => autoencoderLossParts(params, config, ids, options).loss);
}
