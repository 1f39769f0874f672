/**
 * `@calm/energy-head`: CALM's generative head and its energy-score loss, behind a
 * {@link GenerativeHead} interface that custom heads can implement.
 *
 * @remarks
 * - {@link EnergyHead}: the official `MLPGenerator` (parameter names `mlp_generator.*`, or the
 *   `generative_head.*` alias), one forward pass per sample from U(−0.5, 0.5) noise.
 * - {@link energyScore} / {@link posteriorEnergyLoss}: the strictly proper energy score
 *   (α ∈ (0, 2]) of N model samples against M samples of the autoencoder's Gaussian posterior,
 *   with distances through matrix products and finite gradients when samples coincide.
 * - {@link FlowMatchingHead}: the official flow-matching head (`SimpleMLPAdaLN`, midpoint/Euler),
 *   a second {@link GenerativeHead} to compare against.
 * - {@link DiffusionHead}: the official diffusion head (the same network predicting ε and a learned
 *   variance; cosine schedule over 1000 steps, ε MSE + variational-bound loss, ancestral sampler
 *   respaced to 100 steps), a third {@link GenerativeHead}.
 * - {@link createHeadChunkSampler}: turns a head, a hidden-state function and a decoder into the
 *   framework-free `ChunkSampler` used by `@calm/brierlm` and `@calm/temperature-sampler`.
 *
 * Every stochastic call takes an `Rng` from `@calm/core` or the noise itself; every returned
 * tensor belongs to the caller; inputs are never disposed. Peer: `@tensorflow/tfjs`.
 *
 * Quick start:
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import { createRng } from '@calm/core';
 * import { initBackend, AdamW, paramGrads } from '@calm/nn';
 * import { EnergyHead } from '@calm/energy-head';
 *
 * await initBackend({ backend: 'wasm' });
 * const rng = createRng(0);
 * const head = new EnergyHead({ hiddenSize: 64, latentSize: 16, numMlpLayers: 2 }, { rng });
 * const hidden = tf.randomNormal([32, 64]) as tf.Tensor2D;                 // Transformer outputs
 * const posterior = { mean: tf.zeros([32, 16]) as tf.Tensor2D, logStd: tf.fill([32, 16], -1) as tf.Tensor2D };
 * const opt = new AdamW(head.params, { lr: 1e-3 });
 * const { value, grads } = paramGrads(() => head.loss(hidden, posterior, { rng }), head.params);
 * opt.step(grads);
 * const samples = head.sample(hidden, 8, { rng });                           // [32, 8, 16]
 * ```
 *
 * @packageDocumentation
 */

export type { GenerativeHead, HeadLogger, HeadLossOptions, HeadSampleOptions, TargetPosterior } from './types.js';
export {
  checkEnergyAlpha,
  energyScore,
  energyLoss,
  posteriorEnergyScore,
  posteriorEnergyLoss,
  energyScoreFlops,
  type DistanceMethod,
  type EnergyScoreOptions,
  type EnergyScoreParts,
  type PosteriorEnergyOptions,
} from './energy-score.js';
export { normalNoise, uniformNoise } from './noise.js';
export {
  EnergyHead,
  energyHeadParamSpecs,
  type EnergyHeadConfig,
  type EnergyHeadOptions,
  type EnergyTargetLossOptions,
} from './energy-head.js';
export {
  FlowMatchingHead,
  flowHeadParamSpecs,
  type FlowHeadConfig,
  type FlowHeadOptions,
  type FlowLossOptions,
  type FlowSolver,
} from './flow-head.js';
export {
  DiffusionHead,
  diffusionHeadParamSpecs,
  diffusionScheduleProblems,
  type DiffusionHeadConfig,
  type DiffusionHeadOptions,
  type DiffusionLossOptions,
  type DiffusionNoiseSchedule,
  type DiffusionSampleOptions,
} from './diffusion-head.js';
export { createHeadChunkSampler, type HeadChunkSamplerOptions } from './chunk-sampler.js';
