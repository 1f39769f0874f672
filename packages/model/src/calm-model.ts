// The CALM language model (official `EnergyTransformer`, `FlowTransformer`, `DiffusionTransformer`):
// its own token embedding (PAD row zero), input compression of K token embeddings into one vector
// (`embed_proj`), the Llama backbone over chunk steps, a generative head of @calm/energy-head (the
// one the config names, or any `GenerativeHead` the caller passes), and the frozen autoencoder of
// @calm/autoencoder that encodes targets and decodes predicted latents back to tokens.
// Shapes: B batch, T tokens, K chunk size, S = T/K chunk steps, L latent size, H hidden size,
// N head samples per position, M target samples (ARCHITECTURE.md's glossary).

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { decode, encode, type AutoencoderConfig } from '@calm/autoencoder';
import type { GenerativeHead, HeadLossOptions } from '@calm/energy-head';
import {
  adoptParams,
  countParams,
  createParams,
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
import { HEAD_KINDS, headPrefix, isBuiltinHead } from './heads.js';
import { fail } from './internal/errors.js';
import { type KvCache, llamaForward, llamaParamSpecs } from './llama.js';

/** Module prefixes of the official model. */
const BACKBONE = 'transformer';
const EMBED_PROJ = 'embed_proj';
const EMBED = `${BACKBONE}.embed_tokens.weight`;
/** Prefixes a custom head's parameters must stay out of. */
const RESERVED = [`${BACKBONE}.`, `${EMBED_PROJ}.`, 'ae_model.'];

/**
 * Options of {@link calmParamSpecs}.
 * @category CALM
 */
export interface CalmParamSpecsOptions {
  /**
   * A head instance whose parameters replace the built-in head's (required when `config.head` is
   * a custom kind); its specs are its parameters' shapes, initialised to their current values.
   */
  head?: GenerativeHead;
}

/**
 * The parameter specs of the CALM LM (without the frozen autoencoder), official names and shapes
 * in registration order: `transformer.*` (embedding with a zero PAD row, layers, final norm), the
 * head (`mlp_generator.*` for the energy head, `generative_head.net.*` for the flow and diffusion
 * heads, a custom head's own names) and `embed_proj.{0,2,3}` (input compression).
 *
 * @param config - The CALM configuration; `config.head` picks the head.
 * @param options - `head`: a head instance (custom heads).
 * @returns Specs by state-dict key, with the official initialisation.
 * @throws `CalmError` `INVALID_CONFIG` for an invalid configuration or a custom head kind without
 *   its instance.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-model}
 * @example
 * {@includeCode ../test/examples.test.ts#head-kinds}
 * @category CALM
 */
export function calmParamSpecs(config: CalmConfig, options: CalmParamSpecsOptions = {}): Record<string, ParamSpec> {
  const { backbone, embedProj } = calmModuleSpecs(config);
  return { ...backbone, ...headSpecs(config, options.head), ...embedProj };
}

/**
 * The specs of the LM's own modules: the backbone (`transformer.*`) and the input compression
 * (`embed_proj.*`). Internal (the checkpoint reader uses it for custom heads).
 */
export function calmModuleSpecs(config: CalmConfig): {
  backbone: Record<string, ParamSpec>;
  embedProj: Record<string, ParamSpec>;
} {
  validateCalmConfig(config);
  const h = config.hiddenSize;
  const k = config.patchSize;
  const backbone = llamaParamSpecs(config, BACKBONE, { vocabSize: config.vocabSize, padTokenId: config.padTokenId });
  // embed_proj: Linear(K·H → 2H), SiLU, Linear(2H → H), LayerNorm(H).
  const w = normalInit(config.initializerRange);
  const embedProj: Record<string, ParamSpec> = {
    [`${EMBED_PROJ}.0.weight`]: { shape: [2 * h, k * h], init: w },
    [`${EMBED_PROJ}.0.bias`]: { shape: [2 * h], init: zerosInit() },
    [`${EMBED_PROJ}.2.weight`]: { shape: [h, 2 * h], init: w },
    [`${EMBED_PROJ}.2.bias`]: { shape: [h], init: zerosInit() },
    [`${EMBED_PROJ}.3.weight`]: { shape: [h], init: onesInit() },
    [`${EMBED_PROJ}.3.bias`]: { shape: [h], init: zerosInit() },
  };
  return { backbone, embedProj };
}

/** The head's specs: the built-in kind's, or a given instance's current parameters. */
function headSpecs(config: CalmConfig, head: GenerativeHead | undefined): Record<string, ParamSpec> {
  if (head !== undefined) {
    const specs: Record<string, ParamSpec> = {};
    for (const [name, v] of Object.entries(head.params))
      specs[name] = { shape: [...v.shape], init: () => v.dataSync() as Float32Array };
    return specs;
  }
  if (!isBuiltinHead(config.head))
    fail(
      'INVALID_CONFIG',
      `config.head is ${JSON.stringify(config.head)}, not a built-in head ('energy', 'flow', 'diffusion'); pass the head instance (options.head) whose kind it is.`,
    );
  return HEAD_KINDS[config.head].specs(config);
}

/** Checks that a caller's head fits the config and keeps its parameters apart from the model's own. */
function checkGivenHead(head: GenerativeHead, config: CalmConfig): void {
  if (head === null || typeof head !== 'object' || typeof head.sample !== 'function' || typeof head.loss !== 'function')
    fail('INVALID_ARGUMENT', 'CalmModel: options.head must be a GenerativeHead (sample, loss, params, …).');
  const problems: string[] = [];
  if (head.hiddenSize !== config.hiddenSize)
    problems.push(`head.hiddenSize ${head.hiddenSize} ≠ config.hiddenSize ${config.hiddenSize}`);
  if (head.latentSize !== config.latentSize)
    problems.push(`head.latentSize ${head.latentSize} ≠ config.latentSize ${config.latentSize}`);
  if (typeof head.kind !== 'string' || !/^[A-Za-z][\w.-]*$/.test(head.kind))
    problems.push(
      `head.kind must be a name such as 'my-head' (it is saved as model_type), got ${JSON.stringify(head.kind)}`,
    );
  if (problems.length)
    fail('INVALID_CONFIG', `CalmModel: the head does not fit the config (${problems.join('; ')}).`, {
      details: { problems },
    });
  const prefix = typeof head.prefix === 'string' ? headPrefix(head) : '';
  const bad = Object.entries(head.params ?? {}).filter(
    ([name, v]) =>
      !(v instanceof tf.Variable) ||
      (prefix !== '' && !name.startsWith(`${prefix}.`)) ||
      RESERVED.some((r) => name.startsWith(r)),
  );
  if (bad.length)
    fail(
      'INVALID_ARGUMENT',
      `CalmModel: head parameters must be tf.Variables named under the head's prefix "${prefix}." and outside ${RESERVED.join(', ')}; offending: ${bad.map(([n]) => n).join(', ')}.`,
    );
}

/**
 * Runs a computation off the gradient tape (inside a custom-gradient op without inputs, whose
 * forward tfjs does not record): for frozen parts of a loss, whose result is a constant for the
 * gradients. Its tensors are not kept for a backward pass.
 */
function offTape(f: () => tf.Tensor): tf.Tensor {
  return tf.customGrad((() => ({ value: f(), gradFunc: () => [] })) as never)() as tf.Tensor;
}

/**
 * Options of the {@link CalmModel} constructor.
 * @see The custom-head example of {@link CalmModel}.
 * @category CALM
 */
export interface CalmModelOptions {
  /** Initialises fresh LM parameters (official init) when `params` is absent. */
  rng?: Rng;
  /**
   * Existing LM variables keyed by official name (`transformer.*`, the head's, `embed_proj.*`),
   * used as they are (no copies); the model owns them from then on. With `head`, the head brings
   * its own parameters and only the backbone's and `embed_proj.*` are taken from here.
   */
  params?: ParamRecord;
  /**
   * The frozen autoencoder's variables keyed by its own names (`encoder.*`, `decoder.*`, without
   * the `ae_model.` prefix). They are marked non-trainable; the model owns them from then on.
   */
  aeParams: ParamRecord;
  /**
   * A head to use instead of building the one `config.head` names: any `GenerativeHead` (`@calm/energy-head`)
   * (a custom head, or a built-in one configured beyond what `CalmConfig` holds). Its `hiddenSize`
   * and `latentSize` must match the config, its parameters must be named under its `prefix` (and
   * not `transformer.*`, `embed_proj.*`, `ae_model.*`); they join `model.params`, so they are
   * trained, saved and loaded with the model. The model records `head.kind` as `config.head` and
   * takes ownership: {@link CalmModel.dispose} calls `head.dispose()`.
   */
  head?: GenerativeHead;
}

/**
 * Injected randomness of {@link CalmModel.loss} (for parity tests); anything absent is drawn
 * from `rng`. The tensors map onto the head's `HeadLossOptions` (`@calm/energy-head`)
 * after merging the batch and chunk-step dimensions (B·(S−1) positions).
 * @category CALM
 */
export interface CalmLossNoise {
  /**
   * The head's own noise (`HeadLossOptions.noise`), shape [B, S−1, N, ·], float32; the last
   * dimension and distribution are the head's: energy [B, S−1, N, noiseSize] U(−0.5, 0.5); flow
   * x0 and diffusion ε, [B, S−1, N, L] N(0, 1).
   */
  head?: tf.Tensor4D;
  /**
   * ε of the posterior samples y = μ + σ·ε (`HeadLossOptions.targetNoise`), N(0, 1), float32:
   * energy [B, S−1, M, L]; flow and diffusion [B, S−1, N, L] (one target per replica).
   */
  target?: tf.Tensor4D;
}

/**
 * The CALM language model: backbone, input compression, a generative head and the frozen
 * autoencoder, with the official sequence alignment and parameter names.
 *
 * @remarks
 * The head is the one `config.head` names (`'energy'`, `'flow'`, `'diffusion'`), or a
 * `GenerativeHead` (`@calm/energy-head`) passed as `options.head`; the model
 * uses only that interface (`head.loss`, `head.sample`), so every head trains, samples, scores and
 * saves the same way. Ownership: the model owns its parameters (`params`, `aeParams`) and its
 * head; {@link CalmModel.dispose} frees them. Every method is synchronous tensor code; returned
 * tensors belong to the caller.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-model}
 * @example With the flow head:
 * {@includeCode ../test/examples.test.ts#head-kinds}
 * @example With a head written outside the repository:
 * {@includeCode ../test/examples.test.ts#custom-head}
 * @category CALM
 */
export class CalmModel {
  /** The LM configuration (`head` is the head's kind). */
  readonly config: CalmConfig;
  /** The frozen autoencoder's configuration. */
  readonly aeConfig: AutoencoderConfig;
  /** LM parameters by official name (`transformer.*`, the head's, `embed_proj.*`). */
  readonly params: ParamRecord;
  /** Autoencoder parameters by the autoencoder's own names (frozen, non-trainable). */
  readonly aeParams: ParamRecord;
  /** The generative head (its parameters are entries of `params`). */
  readonly head: GenerativeHead;

  /**
   * Creates the model from fresh (official-init) or given LM parameters and the autoencoder's.
   * @param config - The CALM configuration; `config.head` picks the head unless `options.head` is given.
   * @param aeConfig - The autoencoder's configuration; its K, latent size and vocabulary must match.
   * @param options - `rng` or `params`, `aeParams`, and optionally a `head` instance.
   * @throws `CalmError` `INVALID_CONFIG` for an invalid or mismatched configuration (or a custom
   *   head kind without its instance), `INVALID_ARGUMENT` without `rng` or `params` or for a head
   *   whose parameters are misnamed, `MISSING_PARAMETER` / `SHAPE_MISMATCH` for parameters that do not fit.
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
    const given = options.head;
    if (given !== undefined) checkGivenHead(given, config);
    this.config = given !== undefined && given.kind !== config.head ? { ...config, head: given.kind } : config;
    this.aeConfig = aeConfig;
    const specs = calmParamSpecs(this.config, given !== undefined ? { head: given } : {});
    // Split by module, in the official registration order: transformer, the head, embed_proj.
    const backboneSpecs: Record<string, ParamSpec> = {};
    const headSpecsOf: Record<string, ParamSpec> = {};
    const projSpecs: Record<string, ParamSpec> = {};
    for (const [k, s] of Object.entries(specs)) {
      if (k.startsWith(`${BACKBONE}.`)) backboneSpecs[k] = s;
      else if (k.startsWith(`${EMBED_PROJ}.`)) projSpecs[k] = s;
      else headSpecsOf[k] = s;
    }
    let backbone: ParamRecord;
    let headParams: ParamRecord;
    let proj: ParamRecord;
    if (options.params) {
      const hint = 'Check the config (sizes, head kind and its settings) against the checkpoint.';
      const adopted = adoptParams(given ? { ...backboneSpecs, ...projSpecs } : specs, options.params, 'CalmModel', {
        hint,
      });
      backbone = pick(adopted, backboneSpecs);
      headParams = given ? given.params : pick(adopted, headSpecsOf);
      proj = pick(adopted, projSpecs);
    } else {
      if (!options.rng)
        fail(
          'INVALID_ARGUMENT',
          'CalmModel: pass options.rng to initialise the LM parameters, or options.params to use existing ones.',
        );
      const rng = options.rng;
      backbone = createParams(backboneSpecs, rng);
      headParams = given ? given.params : createParams(headSpecsOf, rng);
      proj = createParams(projSpecs, rng);
    }
    this.head = given ?? HEAD_KINDS[this.config.head as keyof typeof HEAD_KINDS].create(this.config, headParams);
    this.params = { ...backbone, ...headParams, ...proj };
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
      const notPad = tf.cast(tf.notEqual(ids, this.config.padTokenId), 'float32'); // [B, T]
      const e = tf.mul(embedding(p, EMBED, ids), tf.expandDims(notPad, -1)); // [B, T, H]
      const v = tf.reshape(e, [b, s, k * h]); // [B, S, K·H], token 0's H values first
      const u = silu(linear(p, `${EMBED_PROJ}.0`, v)); // [B, S, 2H]
      return layerNorm(p, `${EMBED_PROJ}.3`, linear(p, `${EMBED_PROJ}.2`, u), 1e-6) as tf.Tensor3D; // [B, S, H]
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
   * @returns μ and log σ, each [B, S, L], float32. Caller owns the returned tensors and must dispose them. Inputs are not disposed.
   * @throws `CalmError` as `encode` of `@calm/autoencoder`.
   */
  encodeTargets(ids: tf.Tensor2D): { mean: tf.Tensor3D; logStd: tf.Tensor3D } {
    return encode(this.aeParams, this.aeConfig, ids);
  }

  /**
   * The head's training loss on a block of tokens, aligned as the official code: inputs are
   * chunks 0..S−2, targets chunks 1..S−1 (their posteriors from the frozen autoencoder), one
   * `head.loss` over the B·(S−1) positions. For the energy head: N head samples and M posterior
   * samples per position, loss = mean over positions of 2·fidelity − diversity.
   * @param ids - Token ids, shape [B, S·K] with S ≥ 2 chunk steps, int32.
   * @param options - `rng` for draws not injected; `noise` to inject them (see {@link CalmLossNoise}).
   * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws `CalmError` `SHAPE_MISMATCH` for fewer than 2 chunks or badly shaped noise,
   *   `INVALID_ARGUMENT` when a draw has neither noise nor `rng`.
   */
  loss(ids: tf.Tensor2D, options: { rng?: Rng; noise?: CalmLossNoise }): tf.Scalar {
    return tf.tidy(() => this.lossWithHidden(ids, options).loss); // frees the hidden states and posterior
  }

  /**
   * {@link CalmModel.loss} that also returns the hidden states (for evaluation and tests).
   * @param ids - Token ids, shape [B, S·K] with S ≥ 2, int32.
   * @param options - `rng` and/or injected `noise`.
   * @returns `loss` (float32 scalar), `hidden` [B, S−1, H] float32, and the target posterior `mean`, `logStd`
   *   [B, S−1, L] float32. Caller owns the returned tensors and must dispose them. Inputs are not disposed.
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
        `CalmModel.loss: ids must be [B, S·K] with S >= 2 chunks of K = ${k}, got [${ids?.shape?.join(', ')}].`,
      );
    }
    const [b, t] = ids.shape;
    const steps = t / k - 1; // S − 1 predicted chunks per row
    const positions = b * steps; // B·(S−1)
    const hiddenSize = this.config.hiddenSize;
    const latentSize = this.config.latentSize;
    const noise = options.noise ?? {};
    for (const [name, v] of [
      ['head', noise.head],
      ['target', noise.target],
    ] as const) {
      if (v !== undefined && (!(v instanceof tf.Tensor) || v.rank !== 4 || v.shape[0] !== b || v.shape[1] !== steps))
        fail(
          'SHAPE_MISMATCH',
          `CalmModel.loss: noise.${name} must be [B = ${b}, S−1 = ${steps}, ·, ·] (one row per predicted chunk), got [${v?.shape?.join(', ')}].`,
        );
    }
    if (noise.target !== undefined && noise.target.shape[3] !== latentSize)
      fail(
        'SHAPE_MISMATCH',
        `CalmModel.loss: noise.target must end in L = ${latentSize}, got [${noise.target.shape.join(', ')}].`,
      );
    // The energy head draws nothing else when both are injected (parity tests); the flow and
    // diffusion heads also draw times / timesteps, so they need the RNG. A custom head checks itself.
    const injectedAll = this.head.kind === 'energy' && noise.head !== undefined && noise.target !== undefined;
    if (!options.rng && !injectedAll && isBuiltinHead(this.head.kind))
      fail(
        'INVALID_ARGUMENT',
        `CalmModel.loss: pass options.rng${this.head.kind === 'energy' ? ', or inject both noise.head and noise.target' : ` (the ${this.head.kind} head also draws times that CalmLossNoise cannot inject)`}.`,
      );
    return tf.tidy(() => {
      const targetIds = tf.slice(ids, [0, k], [b, t - k]);
      const inputIds = tf.slice(ids, [0, 0], [b, t - k]);
      // The frozen autoencoder runs off the gradient tape: nothing is recorded or kept for it.
      const both = offTape(() => {
        const { mean: m, logStd: sd } = this.encodeTargets(targetIds);
        return tf.stack([m, sd]);
      });
      const [mean, logStd] = tf.unstack(both) as [tf.Tensor3D, tf.Tensor3D]; // [B, S−1, L]
      const hidden = this.hidden(inputIds); // [B, S−1, H]
      const flat = tf.reshape(hidden, [positions, hiddenSize]) as tf.Tensor2D; // [B·(S−1), H]
      const posterior = {
        mean: tf.reshape(mean, [positions, latentSize]) as tf.Tensor2D, // [B·(S−1), L]
        logStd: tf.reshape(logStd, [positions, latentSize]) as tf.Tensor2D,
      };
      const headOptions: HeadLossOptions = {
        ...(options.rng ? { rng: options.rng } : {}),
        ...(noise.head // [B·(S−1), N, ·]
          ? { noise: tf.reshape(noise.head, [positions, noise.head.shape[2], noise.head.shape[3]]) as tf.Tensor3D }
          : {}),
        ...(noise.target // [B·(S−1), M or N, L]
          ? {
              targetNoise: tf.reshape(noise.target, [positions, noise.target.shape[2], latentSize]) as tf.Tensor3D,
            }
          : {}),
      };
      const loss = this.head.loss(flat, posterior, headOptions);
      return { loss, hidden, mean, logStd };
    });
  }

  /**
   * Decodes latent vectors to token chunks with the frozen autoencoder (argmax per token).
   * @param z - Latents, shape [B, S, L], float32.
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
   * @param options - `rng` for the head's noise, or the head's `noise` [B, numSamples, ·] float32
   *   (energy: [B, numSamples, noiseSize] U(−0.5, 0.5); flow and diffusion: the starting point
   *   [B, numSamples, L] N(0, 1); the diffusion sampler also needs `rng` for its step noise).
   * @returns Token ids, shape [B, numSamples, K], int32. Caller owns the returned tensor and must
   *   dispose it. Inputs are not disposed.
   * @throws `CalmError` `INVALID_ARGUMENT` without `rng` or `noise`; `SHAPE_MISMATCH` for bad shapes.
   */
  sampleChunks(hidden: tf.Tensor2D, numSamples: number, options: { rng?: Rng; noise?: tf.Tensor3D }): tf.Tensor3D {
    return tf.tidy(() => {
      const z = this.head.sample(hidden, numSamples, options); // [B, N, L]
      return this.decodeChunks(z); // [B, N, K]
    });
  }

  /**
   * Disposes the head (`head.dispose()`), then every LM and autoencoder variable not yet disposed.
   */
  dispose(): void {
    this.head.dispose();
    for (const v of [...Object.values(this.params), ...Object.values(this.aeParams)]) if (!v.isDisposed) v.dispose();
  }
}

/** The entries of `record` named in `keys`, in `keys`' order. */
function pick(record: ParamRecord, keys: Record<string, unknown>): ParamRecord {
  const out: ParamRecord = {};
  for (const k of Object.keys(keys)) out[k] = record[k]!;
  return out;
}
