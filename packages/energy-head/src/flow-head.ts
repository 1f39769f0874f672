// The flow-matching head of the official code (`FlowLoss` in modeling_flow.py, the paper's §5.4
// comparison): a MAR-style SimpleMLPAdaLN velocity network conditioned on the hidden state and
// time, trained on the linear path x_t = (1 − t)·x0 + t·x1 and sampled with a midpoint or Euler
// ODE solver. A second implementation of `GenerativeHead`, to compare heads.

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import {
  disposeParams,
  layerNorm,
  linear,
  normalInit,
  onesInit,
  silu,
  trainableVariables,
  zerosInit,
  type Initializer,
  type ParamRecord,
  type ParamSpec,
} from '@calm/nn';
import { normalNoise, uniformNoise } from './noise.js';
import { fail } from './internal/errors.js';
import {
  checkCount,
  checkHidden,
  checkNoise,
  checkPrefix,
  createOrAdopt,
  joinKey,
  needRng,
} from './internal/shared.js';
import type { GenerativeHead, HeadLogger, HeadLossOptions, HeadSampleOptions, TargetPosterior } from './types.js';

const LN_EPS = 1e-6;
const MAX_PERIOD = 10000;

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

function resolveConfig(config: FlowHeadConfig): ResolvedFlowConfig {
  if (config === null || typeof config !== 'object')
    fail('INVALID_CONFIG', 'FlowMatchingHead: config must be an object with at least hiddenSize.');
  const solver = config.solver ?? 'midpoint';
  const c: ResolvedFlowConfig = {
    hiddenSize: config.hiddenSize,
    latentSize: config.latentSize ?? 128,
    numMlpLayers: config.numMlpLayers ?? 4,
    numSamples: config.numSamples ?? 8,
    solver,
    numSteps: config.numSteps ?? (solver === 'midpoint' ? 10 : 20),
    frequencyEmbeddingSize: config.frequencyEmbeddingSize ?? 256,
    timeScale: config.timeScale ?? 1000,
    discreteTime: config.discreteTime ?? true,
  };
  const problems: string[] = [];
  const int = (v: unknown, name: string, min: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
      problems.push(`${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  int(c.hiddenSize, 'hiddenSize', 1);
  int(c.latentSize, 'latentSize', 1);
  int(c.numMlpLayers, 'numMlpLayers', 0);
  int(c.numSamples, 'numSamples', 1);
  int(c.numSteps, 'numSteps', 1);
  int(c.frequencyEmbeddingSize, 'frequencyEmbeddingSize', 2);
  if (c.solver !== 'midpoint' && c.solver !== 'euler')
    problems.push(`solver must be 'midpoint' or 'euler', got ${String(c.solver)}`);
  if (!(c.timeScale > 0) || !Number.isFinite(c.timeScale))
    problems.push(`timeScale must be a finite number > 0, got ${c.timeScale}`);
  if (typeof c.discreteTime !== 'boolean')
    problems.push(`discreteTime must be a boolean, got ${String(c.discreteTime)}`);
  if (problems.length > 0)
    fail('INVALID_CONFIG', `FlowMatchingHead config: ${problems.join('; ')}.`, { details: { problems } });
  return c;
}

/** Xavier/Glorot uniform, U(−a, a) with a = √(6 / (fan_in + fan_out)), for a [out, in] weight. */
function xavierUniform(): Initializer {
  return (shape, rng) => {
    const [out = 1, inp = 1] = shape;
    const a = Math.sqrt(6 / (inp + out));
    return rng.fillUniform(new Float32Array(out * inp), -a, a);
  };
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
  const c = resolveConfig(config);
  const p = checkPrefix(prefix, 'generative_head.net');
  const h = c.hiddenSize;
  const specs: Record<string, ParamSpec> = {};
  const lin = (name: string, out: number, inp: number, init: Initializer) => {
    specs[joinKey(p, `${name}.weight`)] = { shape: [out, inp], init };
    specs[joinKey(p, `${name}.bias`)] = { shape: [out], init: zerosInit() };
  };
  lin('time_embed.mlp.0', h, c.frequencyEmbeddingSize, normalInit(0.02));
  lin('time_embed.mlp.2', h, h, normalInit(0.02));
  lin('cond_embed', h, h, xavierUniform());
  lin('input_proj', h, c.latentSize, xavierUniform());
  for (let b = 0; b < c.numMlpLayers; b++) {
    specs[joinKey(p, `res_blocks.${b}.in_ln.weight`)] = { shape: [h], init: onesInit() };
    specs[joinKey(p, `res_blocks.${b}.in_ln.bias`)] = { shape: [h], init: zerosInit() };
    lin(`res_blocks.${b}.mlp.0`, h, h, xavierUniform());
    lin(`res_blocks.${b}.mlp.2`, h, h, xavierUniform());
    lin(`res_blocks.${b}.adaLN_modulation.1`, 3 * h, h, zerosInit());
  }
  lin('final_layer.linear', c.latentSize, h, zerosInit());
  lin('final_layer.adaLN_modulation.1', 2 * h, h, zerosInit());
  return specs;
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
export class FlowMatchingHead implements GenerativeHead {
  /** Always `'flow'`. */
  readonly kind = 'flow';
  /** The resolved configuration. */
  readonly config: Readonly<Required<FlowHeadConfig>>;
  /** H. */
  readonly hiddenSize: number;
  /** l. */
  readonly latentSize: number;
  /** Key prefix, e.g. `'generative_head.net'`. */
  readonly prefix: string;
  /** Parameters by full state-dict key. */
  readonly params: ParamRecord;
  private readonly ownsParams: boolean;
  /** Configuration warnings (none today). */
  readonly warnings: readonly string[] = Object.freeze([]);
  private readonly finalNorm: Record<string, tf.Tensor>;

  /**
   * Creates the head with fresh (official-init) parameters or the given ones.
   * @param config - Sizes, solver, steps and time embedding; see {@link FlowHeadConfig}.
   * @param options - `rng` to initialise, or `params` to adopt; `prefix`.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_CONFIG` for a bad config; `INVALID_ARGUMENT` without `rng`
   *   or `params`; `MISSING_PARAMETER` / `SHAPE_MISMATCH` for params that do not fit.
   */
  constructor(config: FlowHeadConfig, options: FlowHeadOptions = {}) {
    this.config = Object.freeze(resolveConfig(config));
    this.hiddenSize = this.config.hiddenSize;
    this.latentSize = this.config.latentSize;
    this.prefix = checkPrefix(options.prefix, 'generative_head.net');
    this.params = createOrAdopt(
      flowHeadParamSpecs(this.config, this.prefix),
      options.params,
      options.rng,
      'FlowMatchingHead',
    );
    this.ownsParams = options.params === undefined;
    // The final LayerNorm has no affine parameters: feed @calm/nn's layerNorm constant ones/zeros.
    const h = this.hiddenSize;
    this.finalNorm = { 'norm_final.weight': tf.ones([h]), 'norm_final.bias': tf.zeros([h]) };
  }

  private key(local: string): string {
    return joinKey(this.prefix, local);
  }

  /**
   * The variables an optimiser should update, in registration order.
   * @returns The trainable variables: every head parameter, float32, in its PyTorch shape (a Linear weight is [out, in]).
   */
  trainableVariables(): tf.Variable[] {
    return trainableVariables(this.params);
  }

  /**
   * Sinusoidal time embedding of MAR/DiT: [cos(τ·f_i), sin(τ·f_i)] with f_i = exp(−ln(10⁴)·i/half),
   * τ = t·timeScale (truncated when `discreteTime`).
   * @param t - Times, shape [R], float32.
   * @returns Embeddings, shape [R, frequencyEmbeddingSize], float32. Caller owns the returned
   *   tensor and must dispose it. Inputs are not disposed.
   */
  timeEmbedding(t: tf.Tensor1D): tf.Tensor2D {
    const dim = this.config.frequencyEmbeddingSize;
    const half = Math.floor(dim / 2);
    return tf.tidy(() => {
      let tau = tf.mul(t, this.config.timeScale);
      if (this.config.discreteTime) tau = tf.floor(tau);
      const freqs = tf.exp(tf.div(tf.mul(tf.range(0, half, 1, 'float32'), -Math.log(MAX_PERIOD)), half));
      const args = tf.mul(tf.expandDims(tau, 1), tf.expandDims(freqs, 0)); // [R, half]
      const parts = [tf.cos(args), tf.sin(args)];
      if (dim % 2 === 1) parts.push(tf.zeros([t.shape[0], 1]));
      return tf.concat(parts, 1) as tf.Tensor2D;
    });
  }

  /** y = time_embed(t) + cond_embed(c), broadcast: tEmb [.., H] + cEmb [.., H]. */
  private timeMlp(t: tf.Tensor1D): tf.Tensor2D {
    const p = this.params;
    return linear(
      p,
      this.key('time_embed.mlp.2'),
      silu(linear(p, this.key('time_embed.mlp.0'), this.timeEmbedding(t))),
    ) as tf.Tensor2D;
  }

  /** The network on x [B, N, l] with conditioning y [B, 1 or N, H]. */
  private net(x: tf.Tensor3D, y: tf.Tensor3D): tf.Tensor3D {
    const p = this.params;
    const sy = silu(y);
    let h = linear(p, this.key('input_proj'), x);
    for (let j = 0; j < this.config.numMlpLayers; j++) {
      const blk = `res_blocks.${j}`;
      const [shift, scale, gate] = tf.split(linear(p, this.key(`${blk}.adaLN_modulation.1`), sy), 3, -1);
      const modulated = tf.add(tf.mul(layerNorm(p, this.key(`${blk}.in_ln`), h, LN_EPS), tf.add(scale!, 1)), shift!);
      const m = linear(p, this.key(`${blk}.mlp.2`), silu(linear(p, this.key(`${blk}.mlp.0`), modulated)));
      h = tf.add(h, tf.mul(gate!, m));
    }
    const [shift, scale] = tf.split(linear(p, this.key('final_layer.adaLN_modulation.1'), sy), 2, -1);
    const normed = layerNorm(this.finalNorm, 'norm_final', h, LN_EPS);
    return linear(p, this.key('final_layer.linear'), tf.add(tf.mul(normed, tf.add(scale!, 1)), shift!)) as tf.Tensor3D;
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
      const y = tf
        .add(this.timeMlp(t), linear(this.params, this.key('cond_embed'), cond))
        .reshape([r, 1, this.hiddenSize]);
      return this.net(x.reshape([r, 1, this.latentSize]), y as tf.Tensor3D).reshape([
        r,
        this.latentSize,
      ]) as tf.Tensor2D;
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
      const cEmb = linear(this.params, this.key('cond_embed'), hidden).reshape([b, 1, h]);
      const v = (x: tf.Tensor3D, t: number) =>
        tf.tidy(() => {
          const tt = tf.tensor1d([t], 'float32');
          const y = tf.add(this.timeMlp(tt).reshape([1, 1, h]), cEmb) as tf.Tensor3D; // [B, 1, H]
          return this.net(x, y);
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
        linear(this.params, this.key('cond_embed'), hidden).reshape([b, 1, h]),
      );
      const v = this.net(xt, y as tf.Tensor3D);
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
    const b = checkHidden(hidden, this.hiddenSize, 'FlowMatchingHead.loss');
    const n = this.config.numSamples;
    const l = this.latentSize;
    if (!posterior || !(posterior.mean instanceof tf.Tensor) || !(posterior.logStd instanceof tf.Tensor)) {
      fail('INVALID_ARGUMENT', 'FlowMatchingHead.loss: posterior must be { mean: [B, L], logStd: [B, L] } tensors.');
    }
    checkNoise(posterior.mean, [b, l], 'posterior.mean', 'FlowMatchingHead.loss', '[B, latentSize]');
    checkNoise(posterior.logStd, [b, l], 'posterior.logStd', 'FlowMatchingHead.loss', '[B, latentSize]');
    if (options?.targetNoise !== undefined)
      checkNoise(
        options.targetNoise,
        [b, n, l],
        'options.targetNoise',
        'FlowMatchingHead.loss',
        'N(0, 1), [B, numSamples, latentSize]',
      );
    else needRng(options?.rng, 'FlowMatchingHead.loss', 'targetNoise');
    return tf.tidy(() => {
      const eps = options.targetNoise ?? (normalNoise(options.rng!, [b, n, l]) as tf.Tensor3D);
      const x1 = tf.add(
        tf.expandDims(posterior.mean, 1),
        tf.mul(tf.exp(tf.expandDims(posterior.logStd, 1)), eps),
      ) as tf.Tensor3D;
      return this.targetLoss(hidden, x1, options);
    });
  }

  /**
   * Forward matrix-multiply FLOPs (2 per multiply-add) per sample over the whole ODE solve; work
   * that depends only on (hidden state, t) is amortised over `samplesPerHidden`.
   * @param samplesPerHidden - Samples drawn per hidden state (default 1).
   * @returns FLOPs per sample.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a non-positive count.
   */
  flopsPerSample(samplesPerHidden = 1): number {
    if (!(samplesPerHidden >= 1))
      fail('INVALID_ARGUMENT', `flopsPerSample: samplesPerHidden must be >= 1, got ${samplesPerHidden}.`);
    const { hiddenSize: h, latentSize: l, numMlpLayers: nb, numSteps, solver, frequencyEmbeddingSize: f } = this.config;
    const calls = solver === 'midpoint' ? 2 * numSteps : numSteps;
    const perSampleCall = 2 * l * h + nb * 4 * h * h + 2 * h * l;
    const perHiddenCall = nb * 6 * h * h + 4 * h * h + 2 * f * h + 2 * h * h;
    const perHidden = 2 * h * h + calls * perHiddenCall;
    return calls * perSampleCall + perHidden / samplesPerHidden;
  }

  /** Disposes the variables the head created; adopted `options.params` stay the caller's. */
  dispose(): void {
    if (this.ownsParams) disposeParams(this.params);
    disposeParams(this.finalNorm);
  }
}
