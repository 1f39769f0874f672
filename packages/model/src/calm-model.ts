// The CALM language model (official `EnergyTransformer`): its own token embedding (PAD row zero),
// input compression of K token embeddings into one vector (`embed_proj`), the Llama backbone over
// chunk positions, the energy head of @calm/energy-head, and the frozen autoencoder of
// @calm/autoencoder that encodes targets and decodes predicted latents back to tokens.

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { decode, encode, type AutoencoderConfig } from '@calm/autoencoder';
import { EnergyHead, energyHeadParamSpecs } from '@calm/energy-head';
import {
  countParams,
  createParams,
  disposeParams,
  embedding,
  layerNorm,
  linear,
  normalInit,
  onesInit,
  silu,
  trainableVariables,
  zerosInit,
  type ParamRecord,
  type ParamSpec,
} from '@calm/nn';
import { validateCalmConfig, type CalmConfig } from './config.js';
import { fail } from './internal/errors.js';
import { type KvCache, llamaForward, llamaParamSpecs } from './llama.js';

/** Module prefixes of the official `EnergyTransformer`. */
const BACKBONE = 'transformer';
const HEAD = 'mlp_generator';
const EMBED = `${BACKBONE}.embed_tokens.weight`;

/**
 * The parameter specs of the CALM LM (without the frozen autoencoder), official names and shapes
 * in registration order: `transformer.*` (embedding with a zero PAD row, layers, final norm),
 * `mlp_generator.*` (the energy head) and `embed_proj.{0,2,3}` (input compression).
 *
 * @param config - The CALM configuration.
 * @returns Specs by state-dict key, with the official initialisation.
 * @throws `CalmError` `INVALID_CONFIG` for an invalid configuration.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-model}
 * @category CALM
 */
export function calmParamSpecs(config: CalmConfig): Record<string, ParamSpec> {
  validateCalmConfig(config);
  const h = config.hiddenSize;
  const k = config.patchSize;
  const specs: Record<string, ParamSpec> = {
    ...llamaParamSpecs(config, BACKBONE, { vocabSize: config.vocabSize, padTokenId: config.padTokenId }),
    ...energyHeadParamSpecs(headConfigOf(config), HEAD),
  };
  // embed_proj: Linear(K·H → 2H), SiLU, Linear(2H → H), LayerNorm(H).
  const w = normalInit(config.initializerRange);
  specs['embed_proj.0.weight'] = { shape: [2 * h, k * h], init: w };
  specs['embed_proj.0.bias'] = { shape: [2 * h], init: zerosInit() };
  specs['embed_proj.2.weight'] = { shape: [h, 2 * h], init: w };
  specs['embed_proj.2.bias'] = { shape: [h], init: zerosInit() };
  specs['embed_proj.3.weight'] = { shape: [h], init: onesInit() };
  specs['embed_proj.3.bias'] = { shape: [h], init: zerosInit() };
  return specs;
}

/**
 * Runs a computation off the gradient tape (inside a custom-gradient op without inputs, whose
 * forward tfjs does not record): for frozen parts of a loss, whose result is a constant for the
 * gradients. Its tensors are not kept for a backward pass.
 */
function offTape(f: () => tf.Tensor): tf.Tensor {
  return tf.customGrad((() => ({ value: f(), gradFunc: () => [] })) as never)() as tf.Tensor;
}

function headConfigOf(config: CalmConfig) {
  return {
    hiddenSize: config.hiddenSize,
    latentSize: config.latentSize,
    noiseSize: config.noiseSize,
    numMlpLayers: config.numMlpLayers,
    numSamples: config.numSamples,
    numTargetSamples: config.numTargetSamples,
    beta: config.beta,
    initializerRange: config.initializerRange,
  };
}

/**
 * Options of the {@link CalmModel} constructor.
 * @category CALM
 */
export interface CalmModelOptions {
  /** Initialises fresh LM parameters (official init) when `params` is absent. */
  rng?: Rng;
  /**
   * Existing LM variables keyed by official name (`transformer.*`, `mlp_generator.*`,
   * `embed_proj.*`), used as they are (no copies); the model owns them from then on.
   */
  params?: ParamRecord;
  /**
   * The frozen autoencoder's variables keyed by its own names (`encoder.*`, `decoder.*`, without
   * the `ae_model.` prefix). They are marked non-trainable; the model owns them from then on.
   */
  aeParams: ParamRecord;
}

/**
 * Injected randomness of {@link CalmModel.loss} (for parity tests); anything absent is drawn
 * from `rng`.
 * @category CALM
 */
export interface CalmLossNoise {
  /** The head's noise, shape [B, L−1, N, noiseSize], U(−0.5, 0.5), float32. */
  head?: tf.Tensor4D;
  /** ε of the M posterior samples of each target chunk, shape [B, L−1, M, l], N(0, 1), float32. */
  target?: tf.Tensor4D;
}

/**
 * The CALM language model: backbone, input compression, energy head and frozen autoencoder, with
 * the official sequence alignment and parameter names.
 *
 * @remarks
 * Ownership: the model owns its parameters (`params`, `aeParams`); {@link CalmModel.dispose}
 * frees them. Every method is synchronous tensor code; returned tensors belong to the caller.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-model}
 * @category CALM
 */
export class CalmModel {
  /** The LM configuration. */
  readonly config: CalmConfig;
  /** The frozen autoencoder's configuration. */
  readonly aeConfig: AutoencoderConfig;
  /** LM parameters by official name (`transformer.*`, `mlp_generator.*`, `embed_proj.*`). */
  readonly params: ParamRecord;
  /** Autoencoder parameters by the autoencoder's own names (frozen, non-trainable). */
  readonly aeParams: ParamRecord;
  /** The energy head (its parameters are the `mlp_generator.*` entries of `params`). */
  readonly head: EnergyHead;

  /**
   * Creates the model from fresh (official-init) or given LM parameters and the autoencoder's.
   * @param config - The CALM configuration.
   * @param aeConfig - The autoencoder's configuration; its K, latent size and vocabulary must match.
   * @param options - `rng` or `params`, and `aeParams`.
   * @throws `CalmError` `INVALID_CONFIG` for an invalid or mismatched configuration,
   *   `INVALID_ARGUMENT` without `rng` or `params`, `MISSING_PARAMETER` / `SHAPE_MISMATCH` for
   *   parameters that do not fit.
   */
  constructor(config: CalmConfig, aeConfig: AutoencoderConfig, options: CalmModelOptions) {
    validateCalmConfig(config);
    const problems: string[] = [];
    if (aeConfig.patchSize !== config.patchSize)
      problems.push(`patch size: LM ${config.patchSize}, autoencoder ${aeConfig.patchSize}`);
    if (aeConfig.latentSize !== config.latentSize)
      problems.push(`latent size: LM ${config.latentSize}, autoencoder ${aeConfig.latentSize}`);
    if (aeConfig.vocabSize !== config.vocabSize)
      problems.push(`vocabulary: LM ${config.vocabSize}, autoencoder ${aeConfig.vocabSize}`);
    if (problems.length)
      fail(
        'INVALID_CONFIG',
        `CalmModel: the autoencoder does not fit the LM (${problems.join('; ')}); load the autoencoder the LM was trained with.`,
        { details: { problems } },
      );
    this.config = config;
    this.aeConfig = aeConfig;
    const specs = calmParamSpecs(config);
    const headConfig = headConfigOf(config);
    if (options.params) {
      const given = options.params;
      const missing: string[] = [];
      const shapes: string[] = [];
      for (const [name, spec] of Object.entries(specs)) {
        const v = given[name];
        if (!v) missing.push(name);
        else if (!tf.util.arraysEqual(v.shape, spec.shape))
          shapes.push(`${name}: [${v.shape.join(', ')}] vs [${spec.shape.join(', ')}]`);
      }
      if (missing.length)
        fail(
          'MISSING_PARAMETER',
          `CalmModel: ${missing.length} LM parameter(s) missing, e.g. ${missing.slice(0, 4).join(', ')}.`,
          { details: { missing } },
        );
      if (shapes.length)
        fail(
          'SHAPE_MISMATCH',
          `CalmModel: parameters do not fit the config: ${shapes.slice(0, 4).join('; ')}; check the config against the checkpoint.`,
          { details: { shapes } },
        );
      this.head = new EnergyHead(headConfig, { params: given, prefix: HEAD });
      this.params = given;
    } else {
      if (!options.rng)
        fail(
          'INVALID_ARGUMENT',
          'CalmModel: pass options.rng to initialise the LM parameters, or options.params to use existing ones.',
        );
      const rng = options.rng;
      const backboneSpecs: Record<string, ParamSpec> = {};
      const projSpecs: Record<string, ParamSpec> = {};
      for (const [k, s] of Object.entries(specs)) {
        if (k.startsWith('embed_proj.')) projSpecs[k] = s;
        else if (k.startsWith(`${BACKBONE}.`)) backboneSpecs[k] = s;
      }
      // Registration order of the official module: transformer, mlp_generator, embed_proj.
      const backbone = createParams(backboneSpecs, rng);
      this.head = new EnergyHead(headConfig, { rng, prefix: HEAD });
      const proj = createParams(projSpecs, rng);
      this.params = { ...backbone, ...this.head.params, ...proj };
    }
    for (const v of Object.values(options.aeParams)) v.trainable = false;
    this.aeParams = options.aeParams;
  }

  /** K, tokens per chunk. */
  get chunkSize(): number {
    return this.config.patchSize;
  }

  /**
   * The variables an optimiser updates: every LM parameter (the autoencoder is frozen).
   * @returns The trainable variables, in registration order: float32 variables in their PyTorch shapes (the embedding is [V, H], a Linear weight [out, in]).
   */
  trainableVariables(): tf.Variable[] {
    return trainableVariables(this.params);
  }

  /**
   * Number of LM parameters (autoencoder excluded), as Table 1 counts them.
   * @returns The count.
   */
  numParams(): number {
    return countParams(this.params);
  }

  /**
   * Embeds token chunks and compresses each chunk of K embeddings into one input vector:
   * `LayerNorm(Linear(SiLU(Linear(concat(E[t_0], …, E[t_{K−1}])))))` (official `embed_proj`).
   * PAD embeds to zero and never receives gradient (PyTorch `padding_idx`).
   * @param ids - Token ids, shape [B, S·K], int32.
   * @returns Input vectors, shape [B, S, H], float32. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   * @throws `CalmError` `SHAPE_MISMATCH` when ids are not [B, S·K]; `INVALID_ARGUMENT` when not int32.
   */
  compress(ids: tf.Tensor2D): tf.Tensor3D {
    const k = this.config.patchSize;
    const h = this.config.hiddenSize;
    if (!(ids instanceof tf.Tensor) || ids.rank !== 2 || ids.shape[1] % k !== 0) {
      fail(
        'SHAPE_MISMATCH',
        `CalmModel.compress: ids must be [B, S·K] with K = ${k}, got [${ids?.shape?.join(', ')}]; right-pad with PAD (${this.config.padTokenId}) to a multiple of K.`,
      );
    }
    if (ids.dtype !== 'int32') fail('INVALID_ARGUMENT', `CalmModel.compress: ids must be int32, got ${ids.dtype}.`);
    const [b, t] = ids.shape;
    const s = t / k;
    const p = this.params;
    return tf.tidy(() => {
      // PAD rows: the table's PAD row is zero; the mask also keeps its gradient exactly zero.
      const notPad = tf.cast(tf.notEqual(ids, this.config.padTokenId), 'float32');
      const e = tf.mul(embedding(p, EMBED, ids), tf.expandDims(notPad, -1)); // [B, T, H]
      const v = tf.reshape(e, [b, s, k * h]); // token 0's H values first
      const u = silu(linear(p, 'embed_proj.0', v));
      return layerNorm(p, 'embed_proj.3', linear(p, 'embed_proj.2', u), 1e-6) as tf.Tensor3D;
    });
  }

  /**
   * Backbone hidden states for token chunks: `backbone(compress(ids))`, one per chunk.
   * @param ids - Token ids, shape [B, S·K], int32.
   * @param cache - Optional KV cache; `ids` then continue the cached chunks and the cache grows.
   * @returns Hidden states, shape [B, S, H], float32; position t conditions chunk t+1. Caller owns
   *   the returned tensor and must dispose it. Inputs are not disposed.
   * @throws `CalmError` as {@link CalmModel.compress} and `llamaForward`.
   */
  hidden(ids: tf.Tensor2D, cache?: KvCache): tf.Tensor3D {
    return tf.tidy(() => {
      const u = this.compress(ids);
      return llamaForward(this.params, this.config, u, cache ? { prefix: BACKBONE, cache } : { prefix: BACKBONE })
        .hidden;
    });
  }

  /**
   * The frozen autoencoder's posterior of token chunks (no gradient flows into it).
   * @param ids - Token ids, shape [B, S·K], int32.
   * @returns μ and log σ, each [B, S, l], float32. Caller owns the returned tensors and must dispose them.
   * @throws `CalmError` as `encode` of `@calm/autoencoder`.
   */
  encodeTargets(ids: tf.Tensor2D): { mean: tf.Tensor3D; logStd: tf.Tensor3D } {
    return encode(this.aeParams, this.aeConfig, ids);
  }

  /**
   * The energy loss of a block of tokens, aligned as the official code: inputs are chunks
   * 0..L−2, targets chunks 1..L−1 (encoded by the frozen autoencoder, M posterior samples each),
   * N head samples per position, loss = mean over positions of 2·fidelity − diversity.
   * @param ids - Token ids, shape [B, L·K] with L ≥ 2, int32.
   * @param options - `rng` for draws not injected; `noise` to inject them.
   * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws `CalmError` `SHAPE_MISMATCH` for fewer than 2 chunks or badly shaped noise,
   *   `INVALID_ARGUMENT` when a draw has neither noise nor `rng`.
   */
  loss(ids: tf.Tensor2D, options: { rng?: Rng; noise?: CalmLossNoise }): tf.Scalar {
    return this.lossWithHidden(ids, options).loss;
  }

  /**
   * {@link CalmModel.loss} that also returns the hidden states (for evaluation and tests).
   * @param ids - Token ids, shape [B, L·K] with L ≥ 2, int32.
   * @param options - `rng` and/or injected `noise`.
   * @returns `loss` (float32 scalar), `hidden` [B, L−1, H] float32, and the target posterior `mean`, `logStd`
   *   [B, L−1, l] float32. Caller owns the returned tensors and must dispose them. Inputs are not disposed.
   * @throws `CalmError` as {@link CalmModel.loss}.
   */
  lossWithHidden(
    ids: tf.Tensor2D,
    options: { rng?: Rng; noise?: CalmLossNoise },
  ): { loss: tf.Scalar; hidden: tf.Tensor3D; mean: tf.Tensor3D; logStd: tf.Tensor3D } {
    const k = this.config.patchSize;
    if (!(ids instanceof tf.Tensor) || ids.rank !== 2 || ids.shape[1] % k !== 0 || ids.shape[1] < 2 * k) {
      fail(
        'SHAPE_MISMATCH',
        `CalmModel.loss: ids must be [B, L·K] with L >= 2 chunks of K = ${k}, got [${ids?.shape?.join(', ')}].`,
      );
    }
    const [b, t] = ids.shape;
    const l = t / k - 1;
    const p = b * l;
    const noise = options.noise ?? {};
    const n = this.config.numSamples;
    const lat = this.config.latentSize;
    if (noise.head && !tf.util.arraysEqual(noise.head.shape, [b, l, n, this.config.noiseSize])) {
      fail(
        'SHAPE_MISMATCH',
        `CalmModel.loss: noise.head must be [${b}, ${l}, ${n}, ${this.config.noiseSize}], got [${noise.head.shape.join(', ')}].`,
      );
    }
    if (
      noise.target &&
      (noise.target.rank !== 4 ||
        noise.target.shape[0] !== b ||
        noise.target.shape[1] !== l ||
        noise.target.shape[3] !== lat)
    ) {
      fail(
        'SHAPE_MISMATCH',
        `CalmModel.loss: noise.target must be [${b}, ${l}, M, ${lat}], got [${noise.target.shape.join(', ')}].`,
      );
    }
    if ((!noise.head || !noise.target) && !options.rng)
      fail('INVALID_ARGUMENT', 'CalmModel.loss: pass options.rng, or inject both noise.head and noise.target.');
    return tf.tidy(() => {
      const targetIds = tf.slice(ids, [0, k], [b, t - k]);
      const inputIds = tf.slice(ids, [0, 0], [b, t - k]);
      // The frozen autoencoder runs off the gradient tape: nothing is recorded or kept for it.
      const both = offTape(() => {
        const { mean: m, logStd: s } = this.encodeTargets(targetIds);
        return tf.stack([m, s]);
      });
      const [mean, logStd] = tf.unstack(both) as [tf.Tensor3D, tf.Tensor3D]; // [B, L−1, l]
      const hidden = this.hidden(inputIds); // [B, L−1, H]
      const flat = tf.reshape(hidden, [p, this.config.hiddenSize]) as tf.Tensor2D;
      const posterior = {
        mean: tf.reshape(mean, [p, lat]) as tf.Tensor2D,
        logStd: tf.reshape(logStd, [p, lat]) as tf.Tensor2D,
      };
      const headOpts = {
        ...(options.rng ? { rng: options.rng } : {}),
        ...(noise.head ? { noise: tf.reshape(noise.head, [p, n, this.config.noiseSize]) as tf.Tensor3D } : {}),
        ...(noise.target
          ? { targetNoise: tf.reshape(noise.target, [p, noise.target.shape[2], lat]) as tf.Tensor3D }
          : {}),
      };
      const loss = this.head.loss(flat, posterior, headOpts);
      return { loss, hidden, mean, logStd };
    });
  }

  /**
   * Decodes latent vectors to token chunks with the frozen autoencoder (argmax per token).
   * @param z - Latents, shape [B, S, l], float32.
   * @returns Token ids, shape [B, S, K], int32. Caller owns the returned tensor and must dispose it.
   *   Inputs are not disposed.
   * @throws `CalmError` as `decode` of `@calm/autoencoder`.
   */
  decodeChunks(z: tf.Tensor3D): tf.Tensor3D {
    const [b, s] = z.shape;
    return tf.tidy(
      () =>
        tf.reshape(tf.argMax(decode(this.aeParams, this.aeConfig, z), -1), [
          b,
          s,
          this.config.patchSize,
        ]) as tf.Tensor3D,
    );
  }

  /**
   * Draws next chunks from hidden states: head samples → autoencoder decoder → argmax.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param numSamples - Independent samples per hidden state (≥ 1).
   * @param options - `rng` for the head noise, or `noise` [B, numSamples, noiseSize] float32 (U(−0.5, 0.5)).
   * @returns Token ids, shape [B, numSamples, K], int32. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   * @throws `CalmError` `INVALID_ARGUMENT` without `rng` or `noise`; `SHAPE_MISMATCH` for bad shapes.
   */
  sampleChunks(hidden: tf.Tensor2D, numSamples: number, options: { rng?: Rng; noise?: tf.Tensor3D }): tf.Tensor3D {
    return tf.tidy(() => {
      const z = this.head.sample(hidden, numSamples, options); // [B, n, l]
      return this.decodeChunks(z); // [B, n, K]
    });
  }

  /** Disposes the LM's and the autoencoder's variables. */
  dispose(): void {
    disposeParams(this.params);
    disposeParams(this.aeParams);
  }
}
