// One optimiser step on the autoencoder loss, as the official recipe runs it (spec §1.3): gradients
// of the training loss, global-norm clipping at 1.0, an AdamW update (`trainStep` of @calm/nn). A
// small helper for scripts and tests; @calm/trainer orchestrates data, schedules and checkpoints.

import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { type AdamW, type AdamWOptions, type ParamRecord, trainStep } from '@calm/nn';
import type { AutoencoderConfig } from './config.js';
import { fail } from './internal/errors.js';
import { autoencoderLoss, type AutoencoderNoise } from './loss.js';

/**
 * Options of {@link autoencoderTrainStep}.
 * @category Training
 */
export interface AutoencoderTrainStepOptions {
  /** Generator for the step's random draws (token mask, ε, latent keep mask). */
  rng?: Rng;
  /** Injected draws instead of (or in addition to) `rng`. */
  noise?: Partial<AutoencoderNoise>;
  /** Learning rate of this step. @defaultValue the optimiser's `lr` */
  lr?: number;
  /** Global-norm clipping threshold; `null` disables clipping. @defaultValue 1.0 (the official `max_grad_norm`) */
  maxGradNorm?: number | null;
}

/**
 * What one {@link autoencoderTrainStep} returns (read the scalars only when you log).
 * @category Training
 */
export interface AutoencoderTrainStepResult {
  /** The training loss before the update, float32 scalar. */
  loss: tf.Scalar;
  /** The global gradient norm before clipping, float32 scalar. */
  gradNorm: tf.Scalar;
}

/**
 * The AdamW settings of the official autoencoder recipe (lr 3e-4, β 0.9/0.95, ε 1e-8, weight
 * decay 0.1, not on biases or norm weights).
 * @see {@link autoencoderTrainStep}
 * @category Training
 */
export const OFFICIAL_AE_ADAMW: Readonly<AdamWOptions> = Object.freeze({
  lr: 3e-4,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
});

/**
 * Runs one training step: loss and gradients, global-norm clipping, one AdamW update.
 *
 * @param params - Autoencoder parameters; updated in place.
 * @param config - The configuration the parameters were built for.
 * @param optimizer - An `AdamW` of `@calm/nn` built over `params` (e.g. with {@link OFFICIAL_AE_ADAMW}).
 * @param ids - A batch of token ids, shape `[B, T]` (T a multiple of K), int32.
 * @param options - RNG or injected noise, learning rate, clipping.
 * @returns The loss and gradient norm (before clipping). Caller owns the returned tensors and must
 *   dispose them. Inputs are not disposed.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad `maxGradNorm` or missing noise, and the
 *   errors of {@link autoencoderLoss} and `AdamW.step`.
 * @example
 * {@includeCode ../test/examples.test.ts#train-step}
 * @category Training
 */
export function autoencoderTrainStep(
  params: ParamRecord,
  config: AutoencoderConfig,
  optimizer: AdamW,
  ids: tf.Tensor2D,
  options: AutoencoderTrainStepOptions = {},
): AutoencoderTrainStepResult {
  if (
    options.maxGradNorm !== undefined &&
    options.maxGradNorm !== null &&
    !(options.maxGradNorm > 0 && Number.isFinite(options.maxGradNorm))
  ) {
    fail(
      'INVALID_ARGUMENT',
      `autoencoderTrainStep: maxGradNorm must be a finite number > 0 or null, got ${options.maxGradNorm}.`,
    );
  }
  const lossOptions = {
    training: true,
    ...(options.rng ? { rng: options.rng } : {}),
    ...(options.noise ? { noise: options.noise } : {}),
  };
  return trainStep(optimizer, params, [() => autoencoderLoss(params, config, ids, lossOptions)], {
    ...(options.lr !== undefined ? { lr: options.lr } : {}),
    ...(options.maxGradNorm !== undefined ? { maxGradNorm: options.maxGradNorm } : {}),
  });
}
