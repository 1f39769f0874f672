// FLOPs accounting per model, with the conventions of the paper's Table 1 (spec §5.1): 2 FLOPs per
// multiply-add of every weight matrix, 4·layers·context·H for attention scores and mixing at a
// fixed context, embeddings as free lookups, training = forward + backward = 3× forward for
// trained parts (frozen parts forward only).

import type { AutoencoderConfig } from '@calm/autoencoder';
import type { GenerativeHead } from '@calm/energy-head';
import type { ArConfig, CalmConfig, LlamaConfig } from './config.js';
import { headDim } from './config.js';
import { HEAD_KINDS, isBuiltinHead } from './heads.js';
import { fail } from './internal/errors.js';

/**
 * A FLOPs count per token with its parts.
 * @see {@link calmInferenceFlops}
 * @category FLOPs
 */
export interface FlopsBreakdown {
  /** Total FLOPs per token. */
  perToken: number;
  /** The parts (per token) that sum to `perToken`, by name. */
  parts: Record<string, number>;
}

/**
 * Options of the FLOPs functions.
 * @see {@link calmInferenceFlops}
 * @category FLOPs
 */
export interface FlopsOptions {
  /**
   * Attention context in backbone positions (chunks for CALM, tokens for AR) used for the
   * `4·layers·context·H` term. @defaultValue 2048 (Table 1's convention)
   */
  context?: number;
  /**
   * CALM with a custom head (`config.head` not built in): the head instance, whose
   * `flopsPerSample` gives the head's part. Without it a custom head counts 0.
   */
  head?: GenerativeHead;
}

function ctxOf(options: FlopsOptions): number {
  const c = options.context ?? 2048;
  if (!(c >= 0) || !Number.isFinite(c))
    fail('INVALID_ARGUMENT', `FLOPs: context must be a finite number >= 0, got ${c}.`);
  return c;
}

/**
 * Weight parameters of the backbone's decoder layers and final norm (embedding excluded).
 * @param config - Backbone sizes.
 * @returns The count.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function backboneParams(config: LlamaConfig): number {
  const h = config.hiddenSize;
  const d = headDim(config);
  const perLayer =
    h * config.numAttentionHeads * d * 2 +
    h * config.numKeyValueHeads * d * 2 +
    3 * h * config.intermediateSize +
    2 * h;
  return perLayer * config.numHiddenLayers + h;
}

/** Forward FLOPs per backbone position: weights plus attention at the given context. */
function backboneForward(config: LlamaConfig, context: number): number {
  return 2 * backboneParams(config) + 4 * config.numHiddenLayers * context * config.hiddenSize;
}

/**
 * Parameters of CALM's input compression `embed_proj` (two Linears and a LayerNorm).
 * @param config - The CALM configuration.
 * @returns The count.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function embedProjParams(config: CalmConfig): number {
  const h = config.hiddenSize;
  return config.patchSize * h * 2 * h + 2 * h + 2 * h * h + h + 2 * h;
}

/**
 * Parameters of the configured head, split into the part computed once per hidden state and the
 * part computed per sample (for the flow and diffusion heads: per network call).
 *
 * @remarks
 * Energy head: the hidden embedding and the conditioning half of each block's first Linear are
 * per hidden state. Flow and diffusion heads (`SimpleMLPAdaLN`): `cond_embed` is per hidden state,
 * the rest runs at every network call. A custom head kind counts 0 (its parameters are not in the
 * config).
 * @param config - The CALM configuration.
 * @returns `{ total, perHidden, perSample }`.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function headParams(config: CalmConfig): { total: number; perHidden: number; perSample: number } {
  const h = config.hiddenSize;
  if (config.head === 'energy') {
    const nb = config.numMlpLayers;
    const noise = config.noiseSize * h + h;
    const hidden = h * h + h;
    const norms = 4 * h;
    const block = 2 * h + (2 * h * h + h) + (h * h + h) + (2 * h * h + 2 * h) + (h * h + h);
    const final = 2 * h + (h * h + h) + (config.latentSize * h + config.latentSize);
    const total = noise + hidden + norms + nb * block + final;
    const perHidden = hidden + 2 * h + nb * h * h;
    return { total, perHidden, perSample: total - perHidden };
  }
  if (!isBuiltinHead(config.head)) return { total: 0, perHidden: 0, perSample: 0 };
  let total = 0;
  for (const spec of Object.values(HEAD_KINDS[config.head].specs(config)))
    total += spec.shape.reduce((a, d) => a * d, 1);
  const perHidden = h * h + h; // cond_embed
  return { total, perHidden, perSample: total - perHidden };
}

/** Network calls per sample of the configured head: 1 (energy), the ODE's (flow), the sampler's steps (diffusion). */
function headCalls(config: CalmConfig): number {
  if (config.head === 'flow') return (config.flowSolver === 'midpoint' ? 2 : 1) * config.flowSteps;
  if (config.head === 'diffusion') return config.diffusionSamplingSteps;
  return 1;
}

/**
 * Forward FLOPs of the autoencoder per chunk: the encoder (per-token stage 0, squeeze, per-chunk
 * stage 1, latent head) and the decoder (per-chunk stage 0 and expand, per-token stage 1 and the
 * tied output projection V·H per token).
 * @param config - The autoencoder configuration.
 * @returns `{ encoder, decoder }` FLOPs per chunk.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function autoencoderFlopsPerChunk(config: AutoencoderConfig): { encoder: number; decoder: number } {
  const h = config.hiddenSize;
  const k = config.patchSize;
  const layer = h + 3 * h * config.intermediateSize; // RMSNorm weight + SwiGLU MLP
  const encHalf = config.numEncoderLayers / 2;
  const decHalf = config.numDecoderLayers / 2;
  const encoder =
    2 *
    (k * encHalf * layer + (k * h * h + h) + encHalf * layer + h + (h * 2 * config.latentSize + 2 * config.latentSize));
  const decoder =
    2 *
    (config.latentSize * h +
      h +
      decHalf * layer +
      (h * k * h + k * h) +
      k * (decHalf * layer + h + config.vocabSize * h));
  return { encoder, decoder };
}

/**
 * Inference FLOPs per generated token of CALM (Table 1's convention): per chunk the backbone at
 * the given context, the input compression, one head sample (every network call of the flow and
 * diffusion samplers) and the autoencoder decoder, divided by K.
 * @param config - The CALM configuration.
 * @param aeConfig - Its autoencoder's configuration.
 * @param options - `context`, the attention context in chunks (default 2048); `head`, a custom head instance.
 * @returns FLOPs per token and parts. CALM-M: ≈2.9e8, CALM-L: ≈4.6e8 (Table 1).
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad context.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function calmInferenceFlops(
  config: CalmConfig,
  aeConfig: AutoencoderConfig,
  options: FlopsOptions = {},
): FlopsBreakdown {
  const ctx = ctxOf(options);
  const perChunk = {
    backbone: backboneForward(config, ctx),
    embedProj: 2 * embedProjParams(config),
    head: headInferenceFlops(config, options),
    aeDecoder: autoencoderFlopsPerChunk(aeConfig).decoder,
  };
  return breakdown(perChunk, config.patchSize);
}

/**
 * Training FLOPs per token of CALM: forward + backward (3×) of the backbone, the input
 * compression and the head's N samples or replicas (the per-hidden part once; one network call
 * each, for every head), plus the frozen autoencoder encoder's forward pass on the targets, divided
 * by K. The energy score itself is negligible and not counted.
 * @param config - The CALM configuration.
 * @param aeConfig - Its autoencoder's configuration.
 * @param options - `context`, the attention context in chunks (default 2048); `head`, a custom head instance.
 * @returns FLOPs per token and parts.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad context.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function calmTrainingFlops(
  config: CalmConfig,
  aeConfig: AutoencoderConfig,
  options: FlopsOptions = {},
): FlopsBreakdown {
  const ctx = ctxOf(options);
  const head = headParams(config);
  const perChunk = {
    backbone: 3 * backboneForward(config, ctx),
    embedProj: 3 * 2 * embedProjParams(config),
    head:
      options.head !== undefined && !isBuiltinHead(config.head)
        ? 3 * config.numSamples * options.head.flopsPerSample(config.numSamples)
        : 3 * 2 * (head.perHidden + config.numSamples * head.perSample),
    aeEncoder: autoencoderFlopsPerChunk(aeConfig).encoder,
  };
  return breakdown(perChunk, config.patchSize);
}

/**
 * Inference FLOPs per token of the AR baseline (Table 1's convention):
 * `2·(N_non-embedding + N_output_head) + 4·layers·context·H`.
 * @param config - The AR configuration.
 * @param options - Attention context (tokens). @defaultValue 2048
 * @returns FLOPs per token and parts. Transformer-S: ≈4.4e8, -L: ≈1.5e9.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad context.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function arInferenceFlops(config: ArConfig, options: FlopsOptions = {}): FlopsBreakdown {
  const ctx = ctxOf(options);
  return breakdown({ backbone: backboneForward(config, ctx), lmHead: 2 * config.vocabSize * config.hiddenSize });
}

/**
 * Training FLOPs per token of the AR baseline: 3 × the inference FLOPs (forward + backward).
 * @param config - The AR configuration.
 * @param options - Attention context (tokens). @defaultValue 2048
 * @returns FLOPs per token and parts.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad context.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function arTrainingFlops(config: ArConfig, options: FlopsOptions = {}): FlopsBreakdown {
  const inf = arInferenceFlops(config, options);
  const parts = Object.fromEntries(Object.entries(inf.parts).map(([k, v]) => [k, 3 * v]));
  return { perToken: 3 * inf.perToken, parts };
}

/**
 * Training FLOPs per token of the autoencoder: 3 × (encoder + decoder) per chunk, divided by K.
 * @param config - The autoencoder configuration.
 * @returns FLOPs per token and parts.
 * @example
 * {@includeCode ../test/examples.test.ts#flops}
 * @category FLOPs
 */
export function autoencoderTrainingFlops(config: AutoencoderConfig): FlopsBreakdown {
  const { encoder, decoder } = autoencoderFlopsPerChunk(config);
  return breakdown({ encoder: 3 * encoder, decoder: 3 * decoder }, config.patchSize);
}

/** Forward FLOPs of one head sample (per chunk). */
function headInferenceFlops(config: CalmConfig, options: FlopsOptions): number {
  if (options.head !== undefined && !isBuiltinHead(config.head)) return options.head.flopsPerSample(1);
  const head = headParams(config);
  return 2 * (head.perHidden + headCalls(config) * head.perSample);
}

/** The breakdown of parts given per `tokens` tokens (a chunk's FLOPs with `tokens` = K): each divided, then summed. */
function breakdown(parts: Record<string, number>, tokens = 1): FlopsBreakdown {
  const perToken = Object.fromEntries(Object.entries(parts).map(([name, v]) => [name, v / tokens]));
  let total = 0;
  for (const v of Object.values(perToken)) total += v;
  return { perToken: total, parts: perToken };
}
