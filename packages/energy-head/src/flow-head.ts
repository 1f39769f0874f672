// The flow-matching head of the official code (`FlowLoss` in modeling_flow.py, the paper's §5.4
// comparison): a MAR-style SimpleMLPAdaLN velocity network conditioned on the hidden state and
// time, trained on the linear path x_t = (1 − t)·x0 + t·x1 and sampled with a midpoint or Euler
// ODE solver. A second implementation of `GenerativeHead`, to compare heads.

import * as tf from '@tensorflow/tfjs';
import { configIntAtLeast, configOneOf, type ConfigField, type Rng } from '@calm/core';
import type { ParamRecord, ParamSpec } from '@calm/nn';
import { normalNoise, uniformNoise } from './noise.js';
import { fail } from './internal/errors.js';
import { AdaLNHead } from './internal/param-head.js';
import { adaLNMlpParamSpecs, timestepEmbedding } from './internal/adaln-mlp.js';
import { checkCount, checkHidden, checkNoise, checkPrefix, needRng, resolveHeadConfig } from './internal/shared.js';
import type { GenerativeHead, HeadLogger, HeadLossOptions, HeadSampleOptions, TargetPosterior } from './types.js';

/**
 * ODE solver of the flow head's sampler.
 * @see {@link FlowMatchingHead}
 * @category Heads
 */
export type FlowSolver = 'midpoint' | 'euler';

/**
 * Configuration of {@link FlowMatchingHead}.
 * @category Heads
 */
export interface FlowHeadConfig {
  /** H: the hidden size, also the network width (`model_channels = z_channels = hidden_size`). */
  hiddenSize: number;
  /** l, the latent size. @defaultValue 128 */
  latentSize?: number;
  /** Residual AdaLN blocks (`num_mlp_layers`). @defaultValue 4 */
  numMlpLayers?: number;
  /** Replicas of each hidden state in the loss, each with its own posterior sample, x0 and t (`num_samples`). @defaultValue 8 */
  numSamples?: number;
  /** ODE solver. @defaultValue `'midpoint'` (the official choice) */
  solver?: FlowSolver;
  /**
   * Solver steps from t = 0 to 1; a midpoint step costs two network calls.
   * @defaultValue 10 for midpoint, 20 for Euler (the official 20 nominal steps, halved for midpoint)
   */
  numSteps?: number;
  /** Size of the sinusoidal time embedding. @defaultValue 256 */
  frequencyEmbeddingSize?: number;
  /** t is multiplied by this before the time embedding. @defaultValue 1000 (official `t * 1000`) */
  timeScale?: number;
  /** Truncate the scaled time to an integer, as the official `(t * 1000).long()` does. @defaultValue true */
  discreteTime?: boolean;
}

/**
 * Options of the {@link FlowMatchingHead} constructor.
 * @category Heads
 */
export interface FlowHeadOptions {
  /** Initialises fresh parameters (official `initialize_weights`: Xavier-uniform Linears, N(0, 0.02) time MLP, zero AdaLN and output layers). */
  rng?: Rng;
  /** Existing variables keyed by full state-dict name; used as they are (no copies). */
  params?: ParamRecord;
  /** State-dict prefix, without trailing dot. @defaultValue `'generative_head.net'` */
  prefix?: string;
  /** Receives configuration warnings (none are raised today). */
  logger?: HeadLogger;
}

/**
 * Randomness of {@link FlowMatchingHead.loss} and {@link FlowMatchingHead.targetLoss}.
 * @category Heads
 */
export interface FlowLossOptions extends HeadLossOptions {
  /** x0 ~ N(0, I), shape [B, N, l], float32 (`noise` of {@link HeadLossOptions}). */
  noise?: tf.Tensor3D;
  /** ε ~ N(0, I) of the posterior targets x1 = μ + σ·ε, shape [B, N, l], float32 (one target per replica). */
  targetNoise?: tf.Tensor3D;
  /** t ~ U[0, 1), shape [B, N], float32. */
  time?: tf.Tensor2D;
}

type ResolvedFlowConfig = Required<FlowHeadConfig>;

const FIELDS: ReadonlyArray<ConfigField<keyof FlowHeadConfig & string>> = [
  ['hiddenSize', 'hidden_size', 'posInt'],
  ['latentSize', 'latent_size', 'posInt'],
  ['numMlpLayers', 'num_mlp_layers', 'nonNegInt'],
  ['numSamples', 'num_samples', 'posInt'],
  ['solver', 'flow_solver', configOneOf('midpoint', 'euler')],
  ['numSteps', 'flow_steps', 'posInt'],
  ['frequencyEmbeddingSize', 'frequency_embedding_size', configIntAtLeast(2)],
  ['timeScale', 'time_scale', 'pos'],
  ['discreteTime', 'discrete_time', 'bool'],
];

function resolveConfig(config: FlowHeadConfig): ResolvedFlowConfig {
  return resolveHeadConfig(
    'FlowMatchingHead',
    config,
    (c) => {
      const solver = c.solver ?? 'midpoint';
      return {
        hiddenSize: c.hiddenSize,
        latentSize: c.latentSize ?? 128,
        numMlpLayers: c.numMlpLayers ?? 4,
        numSamples: c.numSamples ?? 8,
        solver,
        numSteps: c.numSteps ?? (solver === 'midpoint' ? 10 : 20),
        frequencyEmbeddingSize: c.frequencyEmbeddingSize ?? 256,
        timeScale: c.timeScale ?? 1000,
        discreteTime: c.discreteTime ?? true,
      };
    },
    FIELDS,
  );
}

/**
 * The parameter specs of a {@link FlowMatchingHead} (official `SimpleMLPAdaLN` names and PyTorch
 * shapes), in registration order.
 *
 * @param config - Head configuration.
 * @param prefix - Key prefix without trailing dot. @defaultValue `'generative_head.net'`
 * @returns Specs by full state-dict key, with the official initialisation.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_CONFIG` for a bad configuration.
 * @example
 * {@includeCode ../test/examples.test.ts#flow-head}
 * @category Heads
 */
export function flowHeadParamSpecs(config: FlowHeadConfig, prefix = 'generative_head.net'): Record<string, ParamSpec> {
  return adaLNMlpParamSpecs(netSizes(resolveConfig(config)), checkPrefix(prefix, 'generative_head.net'));
}

/** The network sizes of the flow head: in = out = l, width H. */
function netSizes(c: ResolvedFlowConfig) {
  return {
    hiddenSize: c.hiddenSize,
    inChannels: c.latentSize,
    outChannels: c.latentSize,
    numResBlocks: c.numMlpLayers,
    frequencyEmbeddingSize: c.frequencyEmbeddingSize,
  };
}

/**
 * The flow-matching head (official `FlowLoss` with its `SimpleMLPAdaLN` network), a
 * {@link GenerativeHead}.
 *
 * @remarks
 * Training: x1 = μ + σ·ε from the posterior, x0 ~ N(0, I), t ~ U[0, 1), x_t = (1 − t)·x0 + t·x1,
 * loss = mean ‖v(x_t, t, h) − (x1 − x0)‖² / l. Sampling integrates dx/dt = v from x0 ~ N(0, I) at
 * t = 0 to t = 1. The network: y = time_embed(t) + cond_embed(h); x = input_proj(x); each block
 * x ← x + gate ⊙ mlp(LN(x)·(1 + scale) + shift) with (shift, scale, gate) = adaLN(silu(y)); then
 * linear(LN(x)·(1 + scale) + shift). While sampling, everything that depends only on (h, t) is
 * computed once per hidden state and shared by its samples.
 *
 * @example
 * {@includeCode ../test/examples.test.ts#flow-head}
 * @category Heads
 */
export class FlowMatchingHead extends AdaLNHead<ResolvedFlowConfig, FlowLossOptions> implements GenerativeHead {
  /** Always `'flow'`. */
  readonly kind = 'flow';
  /** Configuration warnings (none today). */
  readonly warnings: readonly string[] = Object.freeze([]);

  /**
   * Creates the head with fresh (official-init) parameters or the given ones.
   * @param config - Sizes, solver, steps and time embedding; see {@link FlowHeadConfig}.
   * @param options - `rng` to initialise, or `params` to adopt; `prefix`.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_CONFIG` for a bad config; `INVALID_ARGUMENT` without `rng`
   *   or `params`; `MISSING_PARAMETER` / `SHAPE_MISMATCH` for params that do not fit.
   */
  constructor(config: FlowHeadConfig, options: FlowHeadOptions = {}) {
    super('FlowMatchingHead', resolveConfig(config), flowHeadParamSpecs, netSizes, options);
  }

  /**
   * Sinusoidal time embedding of MAR/DiT: [cos(τ·f_i), sin(τ·f_i)] with f_i = exp(−ln(10⁴)·i/half),
   * τ = t·timeScale (truncated when `discreteTime`).
   * @param t - Times, shape [R], float32.
   * @returns Embeddings, shape [R, frequencyEmbeddingSize], float32. Caller owns the returned
   *   tensor and must dispose it. Inputs are not disposed.
   */
  timeEmbedding(t: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => timestepEmbedding(this.scaledTime(t), this.config.frequencyEmbeddingSize));
  }

  /** τ = t·timeScale, truncated when `discreteTime` (official `(t * 1000).long()`). */
  private scaledTime(t: tf.Tensor1D): tf.Tensor1D {
    const tau = tf.mul(t, this.config.timeScale) as tf.Tensor1D;
    return this.config.discreteTime ? tf.floor(tau) : tau;
  }

  /** time_embed(τ(t)) → [R, H]. */
  private timeMlp(t: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => this.mlp.timeEmbed(this.scaledTime(t)));
  }

  /**
   * The velocity network `SimpleMLPAdaLN.forward(x, t, c)` row by row.
   * @param x - Points on the path, shape [R, l], float32.
   * @param t - Times in [0, 1], shape [R], float32.
   * @param cond - Hidden states, shape [R, H], float32.
   * @returns Velocities, shape [R, l], float32. Caller owns the returned tensor and must dispose
   *   it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `SHAPE_MISMATCH` for inconsistent shapes.
   */
  velocity(x: tf.Tensor2D, t: tf.Tensor1D, cond: tf.Tensor2D): tf.Tensor2D {
    const r = checkHidden(cond, this.hiddenSize, 'FlowMatchingHead.velocity');
    checkNoise(x, [r, this.latentSize], 'x', 'FlowMatchingHead.velocity', '[R, latentSize]');
    checkNoise(t, [r], 't', 'FlowMatchingHead.velocity', 'one time per row');
    return tf.tidy(() => {
      const y = tf.add(this.timeMlp(t), this.mlp.condEmbed(cond)).reshape([r, 1, this.hiddenSize]);
      return this.mlp
        .forward(x.reshape([r, 1, this.latentSize]), y as tf.Tensor3D)
        .reshape([r, this.latentSize]) as tf.Tensor2D;
    });
  }

  /**
   * Integrates the flow from given starting points x0 at t = 0 to t = 1.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param x0 - Starting noise, shape [B, N, l], float32 (N(0, I) in the official sampler).
   * @returns Samples, shape [B, N, l], float32. Caller owns the returned tensor and must dispose
   *   it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `SHAPE_MISMATCH` for inconsistent shapes.
   */
  integrate(hidden: tf.Tensor2D, x0: tf.Tensor3D): tf.Tensor3D {
    const b = checkHidden(hidden, this.hiddenSize, 'FlowMatchingHead.integrate');
    if (x0?.rank !== 3) fail('SHAPE_MISMATCH', `FlowMatchingHead.integrate: x0 must be [B, N, ${this.latentSize}].`);
    checkNoise(
      x0,
      [b, x0.shape[1], this.latentSize],
      'x0',
      'FlowMatchingHead.integrate',
      'N(0, I), [B, N, latentSize]',
    );
    const { numSteps, solver } = this.config;
    const dt = 1 / numSteps;
    const h = this.hiddenSize;
    return tf.tidy(() => {
      const cEmb = this.mlp.condEmbed(hidden).reshape([b, 1, h]);
      const v = (x: tf.Tensor3D, t: number) =>
        tf.tidy(() => {
          const tt = tf.tensor1d([t], 'float32');
          const y = tf.add(this.timeMlp(tt).reshape([1, 1, h]), cEmb) as tf.Tensor3D; // [B, 1, H]
          return this.mlp.forward(x, y);
        });
      let x: tf.Tensor3D = x0.clone();
      for (let step = 0; step < numSteps; step++) {
        const t = Math.fround(step / numSteps);
        const next = tf.tidy(() => {
          if (solver === 'euler') return tf.add(x, tf.mul(v(x, t), dt)) as tf.Tensor3D;
          const xMid = tf.add(x, tf.mul(v(x, t), 0.5 * dt)) as tf.Tensor3D;
          return tf.add(x, tf.mul(v(xMid, Math.fround(t + Math.fround(0.5 * dt))), dt)) as tf.Tensor3D;
        });
        x.dispose();
        x = next;
      }
      return x;
    });
  }

  /**
   * Draws `numSamples` latent vectors per hidden state by solving the flow ODE.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param numSamples - Samples per hidden state (≥ 1).
   * @param options - `rng`, or `noise` = x0 of shape [B, numSamples, l] (N(0, I)).
   * @returns Samples, shape [B, numSamples, l], float32. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` without `rng` or `noise`; `SHAPE_MISMATCH` for bad shapes.
   */
  sample(hidden: tf.Tensor2D, numSamples: number, options: HeadSampleOptions): tf.Tensor3D {
    const b = checkHidden(hidden, this.hiddenSize, 'FlowMatchingHead.sample');
    const n = checkCount(numSamples, 'numSamples', 1);
    const shape = [b, n, this.latentSize];
    if (options?.noise !== undefined) {
      checkNoise(options.noise, shape, 'options.noise', 'FlowMatchingHead.sample', 'x0 ~ N(0, I) per sample');
      return this.integrate(hidden, options.noise);
    }
    const rng = needRng(options?.rng, 'FlowMatchingHead.sample', 'noise');
    return tf.tidy(() => this.integrate(hidden, normalNoise(rng, shape) as tf.Tensor3D));
  }

  /**
   * The flow-matching loss against explicit targets x1 (official `FlowLoss.forward`).
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param targets - x1, shape [B, N, l], float32 (N replicas per hidden state).
   * @param options - `rng`, and/or `noise` (x0, [B, N, l]) and `time` (t, [B, N]).
   * @returns The mean squared velocity error, a float32 scalar. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when a needed draw has neither noise nor `rng`;
   *   `SHAPE_MISMATCH` for bad shapes.
   */
  targetLoss(hidden: tf.Tensor2D, targets: tf.Tensor3D, options: FlowLossOptions): tf.Scalar {
    const b = checkHidden(hidden, this.hiddenSize, 'FlowMatchingHead.targetLoss');
    if (targets?.rank !== 3)
      fail('SHAPE_MISMATCH', `FlowMatchingHead.targetLoss: targets must be [B, N, ${this.latentSize}].`);
    const n = targets.shape[1];
    const l = this.latentSize;
    checkNoise(targets, [b, n, l], 'targets', 'FlowMatchingHead.targetLoss', '[B, N, latentSize]');
    if (options?.noise !== undefined)
      checkNoise(options.noise, [b, n, l], 'options.noise', 'FlowMatchingHead.targetLoss', 'x0 ~ N(0, I)');
    else needRng(options?.rng, 'FlowMatchingHead.targetLoss', 'noise');
    if (options?.time !== undefined)
      checkNoise(options.time, [b, n], 'options.time', 'FlowMatchingHead.targetLoss', 't ~ U[0, 1) per replica');
    else needRng(options?.rng, 'FlowMatchingHead.targetLoss', 'time');
    const h = this.hiddenSize;
    return tf.tidy(() => {
      const t = options.time ?? (uniformNoise(options.rng!, [b, n], 0, 1) as tf.Tensor2D);
      const x0 = options.noise ?? (normalNoise(options.rng!, [b, n, l]) as tf.Tensor3D);
      const t3 = tf.expandDims(t, 2); // [B, N, 1]
      const xt = tf.add(tf.mul(tf.sub(1, t3), x0), tf.mul(t3, targets)) as tf.Tensor3D;
      const y = tf.add(
        this.timeMlp(t.reshape([b * n]) as tf.Tensor1D).reshape([b, n, h]),
        this.mlp.condEmbed(hidden).reshape([b, 1, h]),
      );
      const v = this.mlp.forward(xt, y as tf.Tensor3D);
      return tf.mean(tf.square(tf.sub(v, tf.sub(targets, x0)))) as tf.Scalar;
    });
  }

  /**
   * The flow-matching loss against the target posterior: N replicas per hidden state, each with
   * its own posterior sample x1 = μ + σ·ε, x0 and t (official `FlowTransformer.forward`).
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param posterior - Target posterior μ, log σ, each [B, l], float32.
   * @param options - `rng`, and/or `noise` (x0 [B, N, l]), `targetNoise` (ε [B, N, l]), `time` (t [B, N]).
   * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when a needed draw has neither noise nor `rng`;
   *   `SHAPE_MISMATCH` for bad shapes.
   */
  loss(hidden: tf.Tensor2D, posterior: TargetPosterior, options: FlowLossOptions): tf.Scalar {
    return this.replicaLoss(hidden, posterior, options, 'FlowMatchingHead.loss');
  }

  /**
   * Forward matrix-multiply FLOPs (2 per multiply-add) per sample over the whole ODE solve; work
   * that depends only on (hidden state, t) is amortised over `samplesPerHidden`.
   * @param samplesPerHidden - Samples drawn per hidden state (default 1).
   * @returns FLOPs per sample.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a non-positive count.
   */
  flopsPerSample(samplesPerHidden = 1): number {
    const { numSteps, solver } = this.config;
    return this.networkFlops(solver === 'midpoint' ? 2 * numSteps : numSteps, samplesPerHidden);
  }
}
