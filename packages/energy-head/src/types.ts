// The public contract between a generative head and its users (the trainer, the chunk sampler):
// any head — the official energy MLP, the flow-matching head, or a user's own — samples latent
// vectors from a hidden state and reports a training loss against the autoencoder's posterior.

import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import type { ParamRecord } from '@calm/nn';

/**
 * Where a head sends its warnings (e.g. α = 2). The library never prints.
 * @see {@link EnergyHead}
 * @category Heads
 */
export interface HeadLogger {
  /**
   * Receives one warning.
   * @param message - What is questionable and what to do about it.
   */
  warn(message: string): void;
}

/**
 * The autoencoder's diagonal Gaussian posterior for the target chunks, one row per position.
 * @see {@link posteriorEnergyLoss}
 * @category Heads
 */
export interface TargetPosterior {
  /** μ, shape [B, L], float32. */
  mean: tf.Tensor2D;
  /** log σ, shape [B, L], float32. */
  logStd: tf.Tensor2D;
}

/**
 * Randomness of {@link GenerativeHead.sample}: an RNG, or the exact noise to use.
 * @category Heads
 */
export interface HeadSampleOptions {
  /** Source of the head's noise when `noise` is absent. */
  rng?: Rng;
  /**
   * The noise itself, shape [B, numSamples, ·] (the head documents the last dimension and the
   * distribution), float32. Makes sampling deterministic; used by parity tests.
   */
  noise?: tf.Tensor3D;
}

/**
 * Randomness of {@link GenerativeHead.loss}: an RNG, or the exact noise to use.
 * @category Heads
 */
export interface HeadLossOptions {
  /** Source of every draw that is not given explicitly. */
  rng?: Rng;
  /** The head's own noise for its N samples, shape [B, N, ·] (head-specific), float32. */
  noise?: tf.Tensor3D;
  /** Standard-normal ε for the posterior samples y = μ + σ·ε, shape [B, M, L], float32. */
  targetNoise?: tf.Tensor3D;
}

/**
 * A generative head: maps a Transformer hidden state to samples of the next latent vector and
 * provides its own training loss. `@calm/model`'s `CalmModel` (its `head` option), the trainer and
 * {@link createHeadChunkSampler} use only this interface, so a custom head plugs in by
 * implementing it.
 *
 * @remarks
 * Ownership: every returned tensor belongs to the caller; inputs are never disposed. Parameters
 * are `tf.Variable`s keyed by their official state-dict names (prefix included), so they can be
 * saved and loaded with `@calm/nn`'s `saveParams`/`loadParams` and optimised by any tfjs
 * optimiser or `@calm/nn`'s `AdamW`.
 *
 * @example
 * {@includeCode ../test/examples.test.ts#generative-head}
 * @category Heads
 */
export interface GenerativeHead {
  /** A short name of the head type, e.g. `'energy'` or `'flow'`. */
  readonly kind: string;
  /** H, the size of the hidden states the head is conditioned on. */
  readonly hiddenSize: number;
  /** L, the size of the latent vectors it produces. */
  readonly latentSize: number;
  /**
   * The state-dict prefix its parameters are named under, without trailing dot (a trailing dot is
   * tolerated), e.g. `'mlp_generator'`; `@calm/model`'s `CalmModel` requires every key of `params`
   * to start with it.
   */
  readonly prefix: string;
  /** Its parameters, keyed by full state-dict name. */
  readonly params: ParamRecord;
  /** Warnings raised while configuring the head (also sent to its logger). */
  readonly warnings: readonly string[];
  /**
   * The variables an optimiser should update.
   * @returns The trainable variables, in a stable order: float32 tensors in their PyTorch shapes (a Linear weight is [out, in]).
   */
  trainableVariables(): tf.Variable[];
  /**
   * Draws `numSamples` independent latent vectors for each hidden state.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param numSamples - Samples per hidden state (≥ 1).
   * @param options - An RNG, or the noise to use.
   * @returns Samples, shape [B, numSamples, L], float32. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   */
  sample(hidden: tf.Tensor2D, numSamples: number, options: HeadSampleOptions): tf.Tensor3D;
  /**
   * The head's training loss for predicting the target chunk whose posterior is given.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param posterior - The target chunks' posterior, μ and log σ each [B, L], float32.
   * @param options - An RNG, or the noise to use.
   * @returns The loss (mean over positions), a float32 scalar. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   */
  loss(hidden: tf.Tensor2D, posterior: TargetPosterior, options: HeadLossOptions): tf.Scalar;
  /**
   * Forward FLOPs (2 per multiply-add) to produce one sample, with the work done once per hidden
   * state amortised over `samplesPerHidden` samples.
   * @param samplesPerHidden - Samples drawn per hidden state (default 1).
   * @returns FLOPs per sample.
   */
  flopsPerSample(samplesPerHidden?: number): number;
  /** Disposes the tensors the head owns (the variables it created, not adopted ones). */
  dispose(): void;
}
