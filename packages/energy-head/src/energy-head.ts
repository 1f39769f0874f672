// The official CALM generative head (`MLPGenerator` in modeling_energy.py): uniform noise and the
// Transformer hidden state are embedded and normalised, refined by residual gated MLP blocks, and
// projected to a latent vector in one forward pass per sample; trained with the energy score.

import * as tf from '@tensorflow/tfjs';
import { configIntAtLeast, configOneOf, type ConfigField, type Rng } from '@calm/core';
import { layerNorm, linear, normalInit, onesInit, silu, zerosInit, type ParamRecord, type ParamSpec } from '@calm/nn';
import { checkEnergyAlpha, energyLoss, posteriorEnergyLoss, type DistanceMethod } from './energy-score.js';
import { fail } from './internal/errors.js';
import { ParamHead } from './internal/param-head.js';
import {
  checkCount,
  checkHidden,
  checkNoise,
  checkPrefix,
  joinKey,
  needRng,
  resolveHeadConfig,
  checkSamplesPerHidden,
} from './internal/shared.js';
import { uniformNoise } from './noise.js';
import type { GenerativeHead, HeadLogger, HeadLossOptions, HeadSampleOptions, TargetPosterior } from './types.js';

/** LayerNorm epsilon of every norm in the head (hard-coded 1e-6 in the official code). */
const LN_EPS = 1e-6;

/**
 * Configuration of {@link EnergyHead}; names follow the official `CALMConfig` fields.
 * @category Heads
 */
export interface EnergyHeadConfig {
  /** H, the Transformer hidden size (`hidden_size`); also the head's width. */
  hiddenSize: number;
  /** l, the autoencoder latent size (`latent_size`). @defaultValue 128 */
  latentSize?: number;
  /** Dimension of the uniform input noise (`noise_size`). @defaultValue 64 */
  noiseSize?: number;
  /** Residual MLP blocks (`num_mlp_layers`). @defaultValue 4 */
  numMlpLayers?: number;
  /** N, model samples per position in the loss (`num_samples`). @defaultValue 8 */
  numSamples?: number;
  /** M, posterior samples per position in the loss (hard-coded `n_y` = 100 officially). @defaultValue 100 */
  numTargetSamples?: number;
  /** α, the energy-score distance exponent (`beta`), in (0, 2]. @defaultValue 1 */
  beta?: number;
  /** Std of the N(0, σ²) initialisation of Linear weights (`initializer_range`). @defaultValue 0.02 */
  initializerRange?: number;
  /** Pairwise-distance algorithm of the loss. @defaultValue `'matmul'` */
  distanceMethod?: DistanceMethod;
}

/**
 * Options of the {@link EnergyHead} constructor.
 * @category Heads
 */
export interface EnergyHeadOptions {
  /** Initialises fresh parameters (official init: N(0, initializerRange) weights, zero biases, unit LayerNorms, zero last Linear). */
  rng?: Rng;
  /**
   * Existing variables keyed by full state-dict name (e.g. loaded from a checkpoint); the head
   * uses these objects (no copies). Keys outside the head are ignored.
   */
  params?: ParamRecord;
  /** State-dict prefix of the head's keys, without trailing dot. @defaultValue `'mlp_generator'` (checkpoints also alias it as `'generative_head'`) */
  prefix?: string;
  /** Receives configuration warnings (α = 2). */
  logger?: HeadLogger;
}

/** The fully resolved configuration of an {@link EnergyHead}. */
type ResolvedEnergyConfig = Required<EnergyHeadConfig>;

const FIELDS: ReadonlyArray<ConfigField<keyof EnergyHeadConfig & string>> = [
  ['hiddenSize', 'hidden_size', 'posInt'],
  ['latentSize', 'latent_size', 'posInt'],
  ['noiseSize', 'noise_size', 'posInt'],
  ['numMlpLayers', 'num_mlp_layers', 'nonNegInt'],
  ['numSamples', 'num_samples', configIntAtLeast(2)], // the energy score compares pairs of samples
  ['numTargetSamples', 'num_target_samples', 'posInt'],
  ['initializerRange', 'initializer_range', 'nonNeg'],
  ['distanceMethod', 'distance_method', configOneOf('matmul', 'direct')],
];

// β (α) is checked, with its warning at 2, by checkEnergyAlpha.
function resolveConfig(config: EnergyHeadConfig): ResolvedEnergyConfig {
  return resolveHeadConfig(
    'EnergyHead',
    config,
    (c) => ({
      hiddenSize: c.hiddenSize,
      latentSize: c.latentSize ?? 128,
      noiseSize: c.noiseSize ?? 64,
      numMlpLayers: c.numMlpLayers ?? 4,
      numSamples: c.numSamples ?? 8,
      numTargetSamples: c.numTargetSamples ?? 100,
      beta: c.beta ?? 1,
      initializerRange: c.initializerRange ?? 0.02,
      distanceMethod: c.distanceMethod ?? 'matmul',
    }),
    FIELDS,
  );
}

/**
 * The parameter specs of an {@link EnergyHead} (official names and PyTorch shapes), in
 * registration order.
 *
 * @param config - Head configuration.
 * @param prefix - Key prefix without trailing dot. @defaultValue `'mlp_generator'`
 * @returns Specs by full state-dict key, with the official initialisation.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_CONFIG` for a bad configuration.
 * @example
 * {@includeCode ../test/examples.test.ts#energy-head}
 * @category Heads
 */
export function energyHeadParamSpecs(config: EnergyHeadConfig, prefix = 'mlp_generator'): Record<string, ParamSpec> {
  const c = resolveConfig(config);
  const p = checkPrefix(prefix, 'mlp_generator');
  const h = c.hiddenSize;
  const w = normalInit(c.initializerRange);
  const specs: Record<string, ParamSpec> = {};
  const lin = (name: string, out: number, inp: number, zero = false) => {
    specs[joinKey(p, `${name}.weight`)] = { shape: [out, inp], init: zero ? zerosInit() : w };
    specs[joinKey(p, `${name}.bias`)] = { shape: [out], init: zerosInit() };
  };
  const ln = (name: string) => {
    specs[joinKey(p, `${name}.weight`)] = { shape: [h], init: onesInit() };
    specs[joinKey(p, `${name}.bias`)] = { shape: [h], init: zerosInit() };
  };
  lin('noise_embd', h, c.noiseSize);
  lin('hidden_embd', h, h);
  ln('norm_hidden');
  ln('norm_noise');
  for (let b = 0; b < c.numMlpLayers; b++) {
    ln(`mlp_blocks.${b}.in_ln`);
    lin(`mlp_blocks.${b}.linears.0`, h, 2 * h);
    lin(`mlp_blocks.${b}.linears.2`, h, h);
    lin(`mlp_blocks.${b}.linears.4`, 2 * h, h);
    lin(`mlp_blocks.${b}.down_proj`, h, h);
  }
  ln('final_layer.in_ln');
  lin('final_layer.linears.0', h, h);
  lin('final_layer.linears.2', c.latentSize, h, true); // zero-initialised (initialize_weights)
  return specs;
}

/**
 * Options of {@link EnergyHead.targetLoss}.
 * @category Heads
 */
export interface EnergyTargetLossOptions {
  /** Source of the head noise when `noise` is absent. */
  rng?: Rng;
  /** Head noise, shape [B, N, noiseSize], U(−0.5, 0.5), float32. */
  noise?: tf.Tensor3D;
}

/**
 * The official CALM energy head (`MLPGenerator`), a {@link GenerativeHead} trained with the
 * energy score.
 *
 * @remarks
 * Per sample: ε ~ U(−0.5, 0.5)^noiseSize; s = LN(noise_embd(ε)); c = LN(hidden_embd(h)); each
 * block s ← s + down_proj(silu(gate) ⊙ up) with [gate, up] = linears(concat(LN(s), c)); output
 * final_layer(s). The hidden-state path (c, and c's share of each block's first Linear) is
 * computed once per hidden state and shared by its samples — the same result as the official
 * code's per-row computation, with fewer FLOPs.
 *
 * @example
 * {@includeCode ../test/examples.test.ts#energy-head}
 * @category Heads
 */
export class EnergyHead extends ParamHead<ResolvedEnergyConfig> implements GenerativeHead {
  /** Always `'energy'`. */
  readonly kind = 'energy';
  /** Configuration warnings (α = 2). */
  readonly warnings: readonly string[];

  /**
   * Creates the head with fresh (official-init) parameters or the given ones.
   * @param config - Sizes, N, M, α; see {@link EnergyHeadConfig}.
   * @param options - `rng` to initialise, or `params` to adopt; `prefix`; `logger`.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_CONFIG` for a bad config; `INVALID_ARGUMENT` for α outside
   *   (0, 2] or neither `rng` nor `params`; `MISSING_PARAMETER` / `SHAPE_MISMATCH` for params that
   *   do not fit the config.
   */
  constructor(config: EnergyHeadConfig, options: EnergyHeadOptions = {}) {
    const resolved = resolveConfig(config);
    const warnings = checkEnergyAlpha(resolved.beta); // before any parameter exists
    super('EnergyHead', resolved, energyHeadParamSpecs, 'mlp_generator', options);
    this.warnings = Object.freeze(warnings);
    for (const w of warnings) options.logger?.warn(w);
  }

  private key(local: string): string {
    return joinKey(this.prefix, local);
  }

  /**
   * The head's forward pass with given noise (official `MLPGenerator.sample` with the noise
   * injected): N samples for each of B hidden states.
   *
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param noise - Noise, shape [B, N, noiseSize], float32 (U(−0.5, 0.5) in the official sampler).
   * @returns Latent samples, shape [B, N, l], float32. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `SHAPE_MISMATCH` / `DTYPE_UNSUPPORTED` for bad inputs.
   */
  generate(hidden: tf.Tensor2D, noise: tf.Tensor3D): tf.Tensor3D {
    const b = checkHidden(hidden, this.hiddenSize, 'EnergyHead.generate');
    if (noise?.rank !== 3)
      fail(
        'SHAPE_MISMATCH',
        `EnergyHead.generate: noise must be [B, N, ${this.config.noiseSize}], got [${noise?.shape?.join(', ')}].`,
      );
    const n = noise.shape[1];
    checkNoise(noise, [b, n, this.config.noiseSize], 'noise', 'EnergyHead.generate', 'one noise vector per sample');
    const h = this.hiddenSize;
    const p = this.params;
    return tf.tidy(() => {
      // Per hidden state: c = LN(hidden_embd(h)), [B, 1, H].
      const c = layerNorm(p, this.key('norm_hidden'), linear(p, this.key('hidden_embd'), hidden), LN_EPS).reshape([
        b,
        1,
        h,
      ]);
      // Per sample: s = LN(noise_embd(ε)), [B, N, H].
      let s = layerNorm(p, this.key('norm_noise'), linear(p, this.key('noise_embd'), noise), LN_EPS);
      for (let j = 0; j < this.config.numMlpLayers; j++) {
        const blk = `mlp_blocks.${j}`;
        const normed = layerNorm(p, this.key(`${blk}.in_ln`), s, LN_EPS);
        let g: tf.Tensor;
        if (n === 1) {
          // One sample per hidden state (generation): linears.0 on concat(LN(s), c) directly.
          g = silu(linear(p, this.key(`${blk}.linears.0`), tf.concat([normed, c], -1)));
        } else {
          // linears.0 on concat(LN(s), c) = LN(s)·W[:, :H]ᵀ + c·W[:, H:]ᵀ + b; the c part per hidden state.
          const w0 = p[this.key(`${blk}.linears.0.weight`)]!; // [H, 2H]
          const [wS, wC] = tf.split(w0, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
          const fromS = tf.matMul(normed.reshape([b * n, h]), wS, false, true).reshape([b, n, h]);
          const fromC = tf
            .add(tf.matMul(c.reshape([b, h]), wC, false, true), p[this.key(`${blk}.linears.0.bias`)]!)
            .reshape([b, 1, h]);
          g = silu(tf.add(fromS, fromC));
        }
        g = silu(linear(p, this.key(`${blk}.linears.2`), g));
        g = linear(p, this.key(`${blk}.linears.4`), g); // [B, N, 2H]: gate = first H, up = last H
        const [gate, up] = tf.split(g, 2, -1);
        s = tf.add(s, linear(p, this.key(`${blk}.down_proj`), tf.mul(silu(gate!), up!)));
      }
      const f = silu(
        linear(p, this.key('final_layer.linears.0'), layerNorm(p, this.key('final_layer.in_ln'), s, LN_EPS)),
      );
      return linear(p, this.key('final_layer.linears.2'), f) as tf.Tensor3D;
    });
  }

  /**
   * Draws `numSamples` latent vectors per hidden state.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param numSamples - Samples per hidden state (≥ 1).
   * @param options - `rng`, or `noise` of shape [B, numSamples, noiseSize] in U(−0.5, 0.5).
   * @returns Samples, shape [B, numSamples, l], float32. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` without `rng` or `noise`; `SHAPE_MISMATCH` for bad shapes.
   */
  sample(hidden: tf.Tensor2D, numSamples: number, options: HeadSampleOptions): tf.Tensor3D {
    const b = checkHidden(hidden, this.hiddenSize, 'EnergyHead.sample');
    const n = checkCount(numSamples, 'numSamples', 1);
    const shape = [b, n, this.config.noiseSize];
    if (options?.noise !== undefined) {
      checkNoise(options.noise, shape, 'options.noise', 'EnergyHead.sample', 'U(-0.5, 0.5) per sample');
      return this.generate(hidden, options.noise);
    }
    const rng = needRng(options?.rng, 'EnergyHead.sample', 'noise');
    return tf.tidy(() => this.generate(hidden, uniformNoise(rng, shape) as tf.Tensor3D));
  }

  /**
   * The energy loss (official `EnergyTransformer.forward`): N samples per hidden state against M
   * samples of the target posterior, mean over positions of −score.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param posterior - Target posterior μ, log σ, each [B, l], float32.
   * @param options - `rng`, and/or `noise` [B, N, noiseSize] and `targetNoise` [B, M, l] (N(0, 1)).
   * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when a needed draw has neither noise nor `rng`;
   *   `SHAPE_MISMATCH` for bad shapes.
   */
  loss(hidden: tf.Tensor2D, posterior: TargetPosterior, options: HeadLossOptions): tf.Scalar {
    const b = checkHidden(hidden, this.hiddenSize, 'EnergyHead.loss');
    const l = this.latentSize;
    const m = this.config.numTargetSamples;
    if (options?.targetNoise !== undefined) {
      checkNoise(
        options.targetNoise,
        [b, options.targetNoise.shape[1] ?? 0, l],
        'options.targetNoise',
        'EnergyHead.loss',
        'N(0, 1), [B, M, latentSize]',
      );
    } else {
      needRng(options?.rng, 'EnergyHead.loss', 'targetNoise');
    }
    return tf.tidy(() => {
      const samples = this.sample(hidden, this.config.numSamples, withRngOrNoise(options?.rng, options?.noise));
      return posteriorEnergyLoss(samples, posterior, {
        alpha: this.config.beta,
        method: this.config.distanceMethod,
        numTargetSamples: m,
        ...(options.targetNoise !== undefined ? { targetNoise: options.targetNoise } : {}),
        ...(options.rng !== undefined ? { rng: options.rng } : {}),
      });
    });
  }

  /**
   * The energy loss against explicit target samples (for instance a data set of latent vectors
   * rather than a Gaussian posterior).
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param targets - Target samples, shape [B, M, l], float32.
   * @param options - `rng`, or `noise` [B, N, noiseSize].
   * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` without `rng` or `noise`; `SHAPE_MISMATCH` for bad shapes.
   */
  targetLoss(hidden: tf.Tensor2D, targets: tf.Tensor3D, options: EnergyTargetLossOptions): tf.Scalar {
    const b = checkHidden(hidden, this.hiddenSize, 'EnergyHead.targetLoss');
    if (targets?.rank !== 3)
      fail('SHAPE_MISMATCH', `EnergyHead.targetLoss: targets must be [B, M, ${this.latentSize}].`);
    checkNoise(
      targets,
      [b, targets.shape[1], this.latentSize],
      'targets',
      'EnergyHead.targetLoss',
      '[B, M, latentSize]',
    );
    return tf.tidy(() => {
      const samples = this.sample(hidden, this.config.numSamples, withRngOrNoise(options?.rng, options?.noise));
      return energyLoss(samples, targets, { alpha: this.config.beta, method: this.config.distanceMethod });
    });
  }

  /**
   * Forward matrix-multiply FLOPs (2 per multiply-add) per sample; the hidden-state path
   * (hidden_embd and the conditioning half of each block's first Linear) is amortised over
   * `samplesPerHidden`.
   * @param samplesPerHidden - Samples drawn per hidden state (default 1).
   * @returns FLOPs per sample.
   * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a non-positive count.
   */
  flopsPerSample(samplesPerHidden = 1): number {
    checkSamplesPerHidden(samplesPerHidden);
    const { hiddenSize: h, latentSize: l, noiseSize: e, numMlpLayers: nb } = this.config;
    const perHidden = 2 * h * h + nb * 2 * h * h;
    const perSample = 2 * e * h + nb * (2 * h * h + 2 * h * h + 4 * h * h + 2 * h * h) + 2 * h * h + 2 * h * l;
    return perSample + perHidden / samplesPerHidden;
  }
}

function withRngOrNoise(rng: Rng | undefined, noise: tf.Tensor3D | undefined): HeadSampleOptions {
  return { ...(rng !== undefined ? { rng } : {}), ...(noise !== undefined ? { noise } : {}) };
}
