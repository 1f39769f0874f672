// The diffusion head of the official code (`DiffLoss` in modeling_diffusion.py with the
// models/diffusion/ package, the paper's §5.4 comparison): the MAR-style SimpleMLPAdaLN network
// predicts the noise ε and a variance interpolation for a Gaussian diffusion with a cosine
// schedule over 1000 steps; trained with the ε MSE plus the variational-bound term on the
// variance, sampled by the ancestral p_sample loop respaced to 100 steps. A third implementation
// of `GenerativeHead`.

import * as tf from '@tensorflow/tfjs';
import { configIntAtLeast, configOneOf, type ConfigField, type Rng } from '@calm/core';
import type { ParamRecord, ParamSpec } from '@calm/nn';
import { normalNoise } from './noise.js';
import { fail } from './internal/errors.js';
import { AdaLNHead } from './internal/param-head.js';
import { adaLNMlpParamSpecs, type AdaLNMlpSizes } from './internal/adaln-mlp.js';
import {
  diffusionTables,
  namedBetaSchedule,
  pMeanVariance,
  spaceTimesteps,
  stepCoefs,
  trainingTerms,
  type DiffusionTables,
} from './internal/gaussian-diffusion.js';
import { checkCount, checkHidden, checkNoise, checkPrefix, needRng, resolveHeadConfig } from './internal/shared.js';
import type { GenerativeHead, HeadLogger, HeadLossOptions, HeadSampleOptions, TargetPosterior } from './types.js';

/**
 * Noise schedule of the {@link DiffusionHead}'s diffusion process (`noise_schedule` of the
 * official `create_diffusion`).
 * @see {@link DiffusionHeadConfig.noiseSchedule}
 * @category Heads
 */
export type DiffusionNoiseSchedule = 'cosine' | 'linear';

/**
 * Configuration of {@link DiffusionHead}; the defaults are the official `DiffLoss`.
 * @category Heads
 */
export interface DiffusionHeadConfig {
  /** H: the hidden size, also the network width (`model_channels = z_channels = hidden_size`). */
  hiddenSize: number;
  /** l, the latent size. @defaultValue 128 */
  latentSize?: number;
  /** Residual AdaLN blocks (`num_mlp_layers`). @defaultValue 4 */
  numMlpLayers?: number;
  /** Replicas of each hidden state in the loss, each with its own posterior sample, timestep and noise (`num_samples`). @defaultValue 8 */
  numSamples?: number;
  /** T, the diffusion steps of training (`diffusion_steps`). @defaultValue 1000 */
  numTimesteps?: number;
  /** S, the sampler's steps: the T steps respaced with the official `space_timesteps(T, [S])` (`num_sampling_steps = '100'`). @defaultValue 100 */
  samplingSteps?: number;
  /** β schedule. @defaultValue `'cosine'` (official `DiffLoss`) */
  noiseSchedule?: DiffusionNoiseSchedule;
  /**
   * Learned variance (`learn_sigma`, official): the network outputs 2l values, ε and v ∈ [−1, 1]
   * interpolating log σ² between the posterior variance and β_t, and the loss adds the
   * variational-bound term. `false`: l outputs, the fixed "large" variance β_t and the ε MSE alone.
   * @defaultValue true
   */
  learnSigma?: boolean;
  /** Size of the sinusoidal time embedding. @defaultValue 256 */
  frequencyEmbeddingSize?: number;
}

/**
 * Options of the {@link DiffusionHead} constructor.
 * @category Heads
 */
export interface DiffusionHeadOptions {
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
 * Randomness of {@link DiffusionHead.loss} and {@link DiffusionHead.targetLoss}: an RNG for every
 * draw that is not given.
 * @category Heads
 */
export interface DiffusionLossOptions extends HeadLossOptions {
  /** ε ~ N(0, I) of the forward process x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε, shape [B, N, l], float32. */
  noise?: tf.Tensor3D;
  /** ε ~ N(0, I) of the posterior targets x0 = μ + σ·ε, shape [B, N, l], float32 (one target per replica). */
  targetNoise?: tf.Tensor3D;
  /** Timesteps t ~ U{0, …, T − 1}, shape [B, N], int32. */
  timesteps?: tf.Tensor2D;
}

/**
 * Randomness and temperature of {@link DiffusionHead.sample}.
 * @category Heads
 */
export interface DiffusionSampleOptions extends HeadSampleOptions {
  /** x_T ~ N(0, I), the starting point of the reverse process, shape [B, numSamples, l], float32. */
  noise?: tf.Tensor3D;
  /**
   * z ~ N(0, I) of every step that adds noise, shape [S − 1, B, numSamples, l], float32:
   * `stepNoise[j]` is used by the j-th step (j = 0 at the largest timestep; the last step, at
   * t = 0, adds none).
   */
  stepNoise?: tf.Tensor4D;
  /** Scales the noise each step adds, as the official `p_sample(temperature)` (never the starting noise). @defaultValue 1 */
  temperature?: number;
}

type ResolvedDiffusionConfig = Required<DiffusionHeadConfig>;

const FIELDS: ReadonlyArray<ConfigField<keyof DiffusionHeadConfig & string>> = [
  ['hiddenSize', 'hidden_size', 'posInt'],
  ['latentSize', 'latent_size', 'posInt'],
  ['numMlpLayers', 'num_mlp_layers', 'nonNegInt'],
  ['numSamples', 'num_samples', 'posInt'],
  ['numTimesteps', 'diffusion_steps', 'posInt'],
  ['samplingSteps', 'num_sampling_steps', 'posInt'],
  ['noiseSchedule', 'noise_schedule', configOneOf('cosine', 'linear')],
  ['learnSigma', 'learn_sigma', 'bool'],
  ['frequencyEmbeddingSize', 'frequency_embedding_size', configIntAtLeast(2)],
];

function resolveConfig(config: DiffusionHeadConfig): ResolvedDiffusionConfig {
  return resolveHeadConfig(
    'DiffusionHead',
    config,
    (c) => ({
      hiddenSize: c.hiddenSize,
      latentSize: c.latentSize ?? 128,
      numMlpLayers: c.numMlpLayers ?? 4,
      numSamples: c.numSamples ?? 8,
      numTimesteps: c.numTimesteps ?? 1000,
      samplingSteps: c.samplingSteps ?? 100,
      noiseSchedule: c.noiseSchedule ?? 'cosine',
      learnSigma: c.learnSigma ?? true,
      frequencyEmbeddingSize: c.frequencyEmbeddingSize ?? 256,
    }),
    FIELDS,
    (c) => diffusionScheduleProblems(c),
  );
}

/**
 * The problems between the schedule settings of a diffusion configuration: at least two training
 * timesteps T, sampling steps S in [2, T] (the sampler respaces the training timesteps), and
 * T ≥ 20 for the linear schedule (its last β, 20/T, must be ≤ 1).
 *
 * @remarks
 * {@link DiffusionHead} checks these after its per-field checks; `@calm/model` checks them on a
 * CALM config under its own field names. Values that are not integers are left to the per-field
 * checks and not reported here.
 * @param config - `numTimesteps`, `samplingSteps` and `noiseSchedule` (absent ones take
 *   {@link DiffusionHead}'s defaults: 1000, 100, `'cosine'`).
 * @param name - Names a setting in the messages (e.g. its key in a larger configuration).
 *   @defaultValue the setting's own key
 * @returns One sentence per problem; empty when the settings are consistent.
 * @example
 * {@includeCode ../test/examples.test.ts#diffusion-schedule-problems}
 * @category Heads
 */
export function diffusionScheduleProblems(
  config: Pick<DiffusionHeadConfig, 'numTimesteps' | 'samplingSteps' | 'noiseSchedule'>,
  name: (key: 'numTimesteps' | 'samplingSteps' | 'noiseSchedule') => string = (key) => key,
): string[] {
  const problems: string[] = [];
  const t = config.numTimesteps ?? 1000;
  const s = config.samplingSteps ?? 100;
  if (Number.isSafeInteger(t) && t < 2)
    problems.push(`${name('numTimesteps')} must be >= 2 (a diffusion needs at least two timesteps), got ${t}`);
  if (Number.isSafeInteger(t) && Number.isSafeInteger(s) && (s < 2 || s > t))
    problems.push(
      `${name('samplingSteps')} must be in [2, ${name('numTimesteps')} = ${t}] (the sampler respaces the training timesteps), got ${s}`,
    );
  if (config.noiseSchedule === 'linear' && Number.isSafeInteger(t) && t < 20)
    problems.push(
      `${name('noiseSchedule')} 'linear' needs ${name('numTimesteps')} >= 20 (its last beta, 20/steps, must be <= 1), got ${t}`,
    );
  return problems;
}

/** The network sizes of the diffusion head: in = l, out = 2l (learned variance) or l, width H. */
function netSizes(c: ResolvedDiffusionConfig): AdaLNMlpSizes {
  return {
    hiddenSize: c.hiddenSize,
    inChannels: c.latentSize,
    outChannels: c.learnSigma ? 2 * c.latentSize : c.latentSize,
    numResBlocks: c.numMlpLayers,
    frequencyEmbeddingSize: c.frequencyEmbeddingSize,
  };
}

/**
 * The parameter specs of a {@link DiffusionHead} (official `SimpleMLPAdaLN` names and PyTorch
 * shapes), in registration order.
 *
 * @param config - Head configuration.
 * @param prefix - Key prefix without trailing dot. @defaultValue `'generative_head.net'`
 * @returns Specs by full state-dict key, with the official initialisation.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_CONFIG` for a bad configuration (every problem at once).
 * @example
 * {@includeCode ../test/examples.test.ts#diffusion-head}
 * @category Heads
 */
export function diffusionHeadParamSpecs(
  config: DiffusionHeadConfig,
  prefix = 'generative_head.net',
): Record<string, ParamSpec> {
  return adaLNMlpParamSpecs(netSizes(resolveConfig(config)), checkPrefix(prefix, 'generative_head.net'));
}

/** Checks an int32 timestep tensor of the given shape (and, when `max` is given, its values). */
function checkTimesteps(t: tf.Tensor, shape: readonly number[], name: string, fn: string, max?: number): void {
  if (!(t instanceof tf.Tensor))
    fail('INVALID_ARGUMENT', `${fn}: ${name} must be an int32 tf.Tensor of shape [${shape.join(', ')}].`);
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    fail('SHAPE_MISMATCH', `${fn}: ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}].`);
  if (t.dtype !== 'int32') fail('DTYPE_UNSUPPORTED', `${fn}: ${name} must be int32 timesteps, got ${t.dtype}.`);
  if (max !== undefined) {
    const bad = Array.from(t.dataSync()).find((v) => v < 0 || v >= max);
    if (bad !== undefined)
      fail('INVALID_ARGUMENT', `${fn}: ${name} must lie in [0, ${max}) (numTimesteps), found ${bad}.`);
  }
}

/**
 * The diffusion head (official `DiffLoss` with its `SimpleMLPAdaLN` network and Gaussian
 * diffusion), a {@link GenerativeHead}.
 *
 * @remarks
 * Training (`GaussianDiffusion.training_losses`, loss type MSE): x0 = μ + σ·ε' from the posterior,
 * t uniform in {0, …, T − 1}, ε ~ N(0, I), x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε; the network's first l
 * outputs predict ε (loss: mean (ε − ε̂)²), the last l give v with log σ²_t = frac·log β_t +
 * (1 − frac)·log σ̃²_t, frac = (v + 1)/2, trained by the variational-bound term (with ε̂ detached):
 * KL(q(x_{t−1} | x_t, x0) ‖ p(x_{t−1} | x_t)) in bits per dimension, or at t = 0 the NLL of x0 under
 * a Gaussian discretised into 1/255-wide bins (an image-model term the official code applies to
 * latents unchanged). Sampling (`p_sample_loop`): x_T ~ N(0, I), then for the S respaced steps
 * k = S − 1, …, 0 (the network sees the original timestep) x ← mean + σ_k·z·temperature, without
 * noise at the last step. The network is the flow head's, fed the integer timestep unscaled.
 * While sampling, everything that depends only on (h, t) is computed once per hidden state.
 *
 * @example
 * {@includeCode ../test/examples.test.ts#diffusion-head}
 * @category Heads
 */
export class DiffusionHead extends AdaLNHead<ResolvedDiffusionConfig, DiffusionLossOptions> implements GenerativeHead {
  /** Always `'diffusion'`. */
  readonly kind = 'diffusion';
  /** Configuration warnings (none today). */
  readonly warnings: readonly string[] = Object.freeze([]);
  /** The original timesteps the sampler visits, ascending (the official respaced `timestep_map`; it runs them from last to first). */
  readonly samplingTimesteps: readonly number[];
  private readonly train: DiffusionTables;
  private readonly gen: DiffusionTables;

  /**
   * Creates the head with fresh (official-init) parameters or the given ones.
   * @param config - Sizes, schedule, steps and variance; see {@link DiffusionHeadConfig}.
   * @param options - `rng` to initialise, or `params` to adopt; `prefix`.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_CONFIG` for a bad config; `INVALID_ARGUMENT` without `rng`
   *   or `params`; `MISSING_PARAMETER` / `SHAPE_MISMATCH` for params that do not fit.
   */
  constructor(config: DiffusionHeadConfig, options: DiffusionHeadOptions = {}) {
    super('DiffusionHead', resolveConfig(config), diffusionHeadParamSpecs, netSizes, options);
    const { numTimesteps: T, samplingSteps: S, noiseSchedule } = this.config;
    const betas = namedBetaSchedule(noiseSchedule, T);
    this.train = diffusionTables(
      betas,
      Array.from({ length: T }, (_, i) => i),
    );
    this.gen = diffusionTables(betas, spaceTimesteps(T, [S]));
    this.samplingTimesteps = Object.freeze([...this.gen.timestepMap]);
  }

  /** time_embed(t) for int32 timesteps t [R] → [R, H]. */
  private timeMlp(t: tf.Tensor1D): tf.Tensor2D {
    return this.mlp.timeEmbed(tf.cast(t, 'float32') as tf.Tensor1D);
  }

  /**
   * The network `SimpleMLPAdaLN.forward(x, t, c)` row by row.
   * @param x - Noisy latents x_t, shape [R, l], float32.
   * @param timesteps - Original diffusion timesteps (0 … T − 1, fed to the time embedding unscaled), shape [R], int32.
   * @param cond - Hidden states, shape [R, H], float32.
   * @returns The raw output, shape [R, 2l] with learned variance (first l: ε̂, last l: v) or [R, l],
   *   float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `SHAPE_MISMATCH` / `DTYPE_UNSUPPORTED` for inconsistent inputs.
   */
  modelOutput(x: tf.Tensor2D, timesteps: tf.Tensor1D, cond: tf.Tensor2D): tf.Tensor2D {
    const r = checkHidden(cond, this.hiddenSize, 'DiffusionHead.modelOutput');
    checkNoise(x, [r, this.latentSize], 'x', 'DiffusionHead.modelOutput', '[R, latentSize]');
    checkTimesteps(timesteps, [r], 'timesteps', 'DiffusionHead.modelOutput');
    const h = this.hiddenSize;
    return tf.tidy(() => {
      const y = tf.add(this.timeMlp(timesteps), this.mlp.condEmbed(cond)).reshape([r, 1, h]) as tf.Tensor3D;
      const out = this.mlp.forward(x.reshape([r, 1, this.latentSize]), y);
      return out.reshape([r, out.shape[2]]) as tf.Tensor2D;
    });
  }

  /**
   * Draws `numSamples` latent vectors per hidden state with the respaced ancestral sampler.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param numSamples - Samples per hidden state (≥ 1).
   * @param options - `rng` for every draw not given; `noise` = x_T [B, numSamples, l] and
   *   `stepNoise` [S − 1, B, numSamples, l] (N(0, I), float32); `temperature`.
   * @returns Samples, shape [B, numSamples, l], float32. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when a draw has neither noise nor `rng`, or
   *   for a negative temperature; `SHAPE_MISMATCH` for bad shapes.
   */
  sample(hidden: tf.Tensor2D, numSamples: number, options: DiffusionSampleOptions): tf.Tensor3D {
    const fn = 'DiffusionHead.sample';
    const b = checkHidden(hidden, this.hiddenSize, fn);
    const n = checkCount(numSamples, 'numSamples', 1);
    const l = this.latentSize;
    const S = this.gen.numTimesteps;
    const temperature = options?.temperature ?? 1;
    if (typeof temperature !== 'number' || !(temperature >= 0) || !Number.isFinite(temperature))
      fail('INVALID_ARGUMENT', `${fn}: temperature must be a finite number >= 0, got ${String(temperature)}.`);
    if (options?.noise !== undefined) checkNoise(options.noise, [b, n, l], 'options.noise', fn, 'x_T ~ N(0, I)');
    else needRng(options?.rng, fn, 'noise');
    const stepNoise = options?.stepNoise;
    if (stepNoise !== undefined)
      checkNoise(stepNoise, [S - 1, b, n, l], 'options.stepNoise', fn, 'z ~ N(0, I) of the first S − 1 steps');
    else needRng(options?.rng, fn, 'stepNoise');
    const h = this.hiddenSize;
    return tf.tidy(() => {
      const cEmb = this.mlp.condEmbed(hidden).reshape([b, 1, h]);
      const tEmb = this.timeMlp(tf.tensor1d(this.gen.timestepMap as number[], 'int32')); // [S, H], row k = step k
      let x: tf.Tensor3D = options.noise
        ? options.noise.clone()
        : (normalNoise(options.rng!, [b, n, l]) as tf.Tensor3D);
      for (let j = 0; j < S; j++) {
        const k = S - 1 - j;
        const next = tf.tidy(() => {
          const y = tf.add(tf.slice(tEmb, [k, 0], [1, h]).reshape([1, 1, h]), cEmb) as tf.Tensor3D; // [B, 1, H]
          const out = this.mlp.forward(x, y);
          const [eps, v] = this.config.learnSigma ? tf.split(out, 2, -1) : [out, null];
          const { mean, logVariance } = pMeanVariance(eps!, v ?? null, x, stepCoefs(this.gen, k));
          if (k === 0) return mean as tf.Tensor3D;
          const z = stepNoise
            ? tf.slice(stepNoise, [j, 0, 0, 0], [1, b, n, l]).reshape([b, n, l])
            : normalNoise(options.rng!, [b, n, l]);
          return tf.add(mean, tf.mul(tf.mul(tf.exp(tf.mul(logVariance, 0.5)), z), temperature)) as tf.Tensor3D;
        });
        x.dispose();
        x = next;
      }
      return x;
    });
  }

  /**
   * The diffusion loss against explicit targets x0 (official `DiffLoss.forward` and the mean over rows).
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param targets - x0, shape [B, N, l], float32 (N replicas per hidden state).
   * @param options - `rng`, and/or `noise` (ε, [B, N, l] float32) and `timesteps` (t, [B, N] int32).
   * @returns The mean over the B·N rows of the ε MSE plus (learned variance) the variational-bound
   *   term, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when a needed draw has neither noise nor `rng`,
   *   or for timesteps outside [0, T); `SHAPE_MISMATCH` / `DTYPE_UNSUPPORTED` for bad inputs.
   */
  targetLoss(hidden: tf.Tensor2D, targets: tf.Tensor3D, options: DiffusionLossOptions): tf.Scalar {
    const fn = 'DiffusionHead.targetLoss';
    const b = checkHidden(hidden, this.hiddenSize, fn);
    if (targets?.rank !== 3) fail('SHAPE_MISMATCH', `${fn}: targets must be [B, N, ${this.latentSize}].`);
    const n = targets.shape[1];
    const l = this.latentSize;
    checkNoise(targets, [b, n, l], 'targets', fn, '[B, N, latentSize]');
    if (options?.timesteps !== undefined)
      checkTimesteps(options.timesteps, [b, n], 'options.timesteps', fn, this.train.numTimesteps);
    else needRng(options?.rng, fn, 'timesteps');
    if (options?.noise !== undefined) checkNoise(options.noise, [b, n, l], 'options.noise', fn, 'ε ~ N(0, I)');
    else needRng(options?.rng, fn, 'noise');
    const h = this.hiddenSize;
    return tf.tidy(() => {
      const T = this.train.numTimesteps;
      const t =
        options.timesteps ??
        tf.tensor2d(
          Int32Array.from({ length: b * n }, () => options.rng!.int(T)),
          [b, n],
          'int32',
        );
      const noise = options.noise ?? (normalNoise(options.rng!, [b, n, l]) as tf.Tensor3D);
      const cEmb = this.mlp.condEmbed(hidden).reshape([b, 1, h]);
      const y = tf.add(this.timeMlp(t.reshape([b * n]) as tf.Tensor1D).reshape([b, n, h]), cEmb) as tf.Tensor3D;
      const model = (xt: tf.Tensor) => this.mlp.forward(xt as tf.Tensor3D, y);
      const { mse, vb } = trainingTerms(this.train, model, targets, t, noise, this.config.learnSigma);
      return tf.mean(vb === null ? mse : tf.add(mse, vb)) as tf.Scalar;
    });
  }

  /**
   * The diffusion loss against the target posterior: N replicas per hidden state, each with its
   * own posterior sample x0 = μ + σ·ε', timestep and noise (official `DiffusionTransformer.forward`).
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param posterior - Target posterior μ, log σ, each [B, l], float32.
   * @param options - `rng`, and/or `targetNoise` (ε' [B, N, l] float32), `noise` (ε [B, N, l] float32),
   *   `timesteps` (t [B, N] int32).
   * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when a needed draw has neither noise nor `rng`;
   *   `SHAPE_MISMATCH` / `DTYPE_UNSUPPORTED` for bad inputs.
   */
  loss(hidden: tf.Tensor2D, posterior: TargetPosterior, options: DiffusionLossOptions): tf.Scalar {
    return this.replicaLoss(hidden, posterior, options, 'DiffusionHead.loss');
  }

  /**
   * Forward matrix-multiply FLOPs (2 per multiply-add) per sample over the S sampling steps (one
   * network call each); work that depends only on (hidden state, t) is amortised over `samplesPerHidden`.
   * @param samplesPerHidden - Samples drawn per hidden state (default 1).
   * @returns FLOPs per sample.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a count below 1.
   */
  flopsPerSample(samplesPerHidden = 1): number {
    return this.networkFlops(this.config.samplingSteps, samplesPerHidden);
  }
}
