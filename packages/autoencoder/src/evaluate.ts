// Reconstruction accuracy of the autoencoder on a token stream: encode every chunk, optionally
// perturb the latent (posterior sample and/or extra Gaussian noise of a given σ — the robustness
// property of paper §2.2), decode by argmax, and count matching tokens and whole chunks.

import * as tf from '@tensorflow/tfjs';
import { collectConfigProblems, configOneOf, throwConfigProblems, type ConfigField, type Rng } from '@calm/core';
import type { ParamRecord } from '@calm/nn';
import type { AutoencoderConfig } from './config.js';
import { fail, SOURCE } from './internal/errors.js';
import { decodeTokens, encode } from './model.js';

/**
 * Options of {@link evaluateReconstruction}.
 * @category Evaluation
 */
export interface ReconstructionOptions {
  /** Which latent to decode: the posterior mean μ, or a sample μ + ε·σ. @defaultValue 'mean' */
  latent?: 'mean' | 'sample';
  /** Standard deviation of extra isotropic Gaussian noise added to the latent (≥ 0). @defaultValue 0 */
  noiseStd?: number;
  /**
   * With `latent: 'sample'`, the decoded latent is `μ + s·σ⊙ε`: s multiplies the posterior's own
   * scale (1 is a posterior sample; see {@link evaluateRobustness}). @defaultValue 1
   */
  sampleScale?: number;
  /** Generator for ε and the extra noise; required when `latent` is `'sample'` or `noiseStd > 0`. */
  rng?: Rng;
  /** Chunks per forward pass. @defaultValue 512 */
  batchSize?: number;
  /**
   * Positions whose *target* is this id (e.g. PAD) are left out of the token count, and of the
   * comparison when judging whole chunks. @defaultValue none (every position counts, as the
   * official loss does)
   */
  ignoreTokenId?: number;
  /**
   * Called after each batch.
   * @param done - Chunks evaluated so far.
   * @param total - Chunks in the stream.
   */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Result of {@link evaluateReconstruction}.
 * @category Evaluation
 */
export interface ReconstructionResult {
  /** Fraction of counted positions reconstructed exactly, in [0, 1] (NaN when nothing was counted). */
  tokenAccuracy: number;
  /** Fraction of chunks whose counted positions are all reconstructed, in [0, 1] (NaN when there are none). */
  chunkAccuracy: number;
  /** Counted positions. */
  tokens: number;
  /** Counted positions reconstructed exactly. */
  correctTokens: number;
  /** Chunks with at least one counted position. */
  chunks: number;
  /** Of those, chunks reconstructed exactly. */
  correctChunks: number;
  /** The latent that was decoded. */
  latent: 'mean' | 'sample';
  /** The extra noise σ. */
  noiseStd: number;
}

// The rules of evaluateReconstruction's options (after the defaults).
const OPTION_FIELDS: ReadonlyArray<ConfigField> = [
  ['latent', 'latent', configOneOf('mean', 'sample')],
  ['noiseStd', 'noiseStd', 'nonNeg'],
  ['sampleScale', 'sampleScale', 'nonNeg'],
  ['batchSize', 'batchSize', 'posInt'],
];

/**
 * Measures token and whole-chunk reconstruction accuracy of the autoencoder on a token stream.
 *
 * @remarks
 * The stream is cut into consecutive chunks of K tokens, each encoded and decoded independently;
 * the decoded latent is `μ` or `μ + ε·σ` (`latent`), plus `noiseStd · ε'` when `noiseStd > 0`
 * (ε, ε' standard normal from `rng`, drawn per batch in that order). The paper reports > 99.9 %
 * token accuracy with a sampled latent, and robustness to added noise.
 * @param params - Autoencoder parameters (official names).
 * @param config - The configuration the parameters were built for.
 * @param tokens - Token ids, `[N]` int32 with N a multiple of K, values in `[0, V)`.
 * @param options - Latent choice, noise, RNG, batch size, ignored id, progress callback.
 * @returns Accuracies and counts.
 * @throws `CalmError` `SHAPE_MISMATCH` when the length is not a multiple of K,
 *   `INVALID_ARGUMENT` for out-of-range ids, a bad option, or a missing `rng`.
 * @example
 * {@includeCode ../test/examples.test.ts#evaluate}
 * @category Evaluation
 */
export async function evaluateReconstruction(
  params: ParamRecord,
  config: AutoencoderConfig,
  tokens: Int32Array,
  options: ReconstructionOptions = {},
): Promise<ReconstructionResult> {
  const K = config.patchSize;
  const L = config.latentSize;
  const latent = options.latent ?? 'mean';
  const noiseStd = options.noiseStd ?? 0;
  const sampleScale = options.sampleScale ?? 1;
  const batchSize = options.batchSize ?? 512;
  const problems: string[] = [];
  if (!(tokens instanceof Int32Array)) problems.push('tokens must be an Int32Array (use toTokenIds from @calm/core)');
  problems.push(...collectConfigProblems({ latent, noiseStd, sampleScale, batchSize }, OPTION_FIELDS));
  if ((latent === 'sample' || noiseStd > 0) && options.rng === undefined)
    problems.push('a sampled latent or noiseStd > 0 needs options.rng (createRng(seed) from @calm/core)');
  throwConfigProblems(problems, 'evaluateReconstruction arguments', SOURCE, 'INVALID_ARGUMENT');
  if (tokens.length % K !== 0) {
    fail(
      'SHAPE_MISMATCH',
      `evaluateReconstruction: ${tokens.length} tokens is not a multiple of patchSize K = ${K}; pad the stream (padToMultiple from @calm/core) or trim it.`,
    );
  }
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t < 0 || t >= config.vocabSize)
      fail(
        'INVALID_ARGUMENT',
        `evaluateReconstruction: token ${t} at position ${i} is outside [0, ${config.vocabSize}).`,
      );
  }
  const ignore = options.ignoreTokenId;
  const total = tokens.length / K;
  let counted = 0;
  let correct = 0;
  let chunks = 0;
  let correctChunks = 0;
  for (let start = 0; start < total; start += batchSize) {
    const n = Math.min(batchSize, total - start);
    const slice = tokens.subarray(start * K, (start + n) * K);
    let eps: Float32Array | undefined;
    let extra: Float32Array | undefined;
    if (latent === 'sample') eps = options.rng!.fillNormal(new Float32Array(n * L), 0, sampleScale);
    if (noiseStd > 0) extra = options.rng!.fillNormal(new Float32Array(n * L), 0, noiseStd);
    const out = tf.tidy(() => {
      const ids = tf.tensor2d(slice, [n, K], 'int32');
      const post = encode(params, config, ids);
      let z: tf.Tensor3D = post.mean;
      if (eps) z = tf.add(z, tf.mul(tf.tensor3d(eps, [n, 1, L]), tf.exp(post.logStd)));
      if (extra) z = tf.add(z, tf.tensor3d(extra, [n, 1, L]));
      return decodeTokens(params, config, z);
    });
    const decoded = (await out.data()) as Int32Array;
    out.dispose();
    for (let c = 0; c < n; c++) {
      let any = false;
      let allOk = true;
      for (let k = 0; k < K; k++) {
        const i = c * K + k;
        const target = slice[i]!;
        if (target === ignore) continue;
        any = true;
        counted++;
        if (decoded[i] === target) correct++;
        else allOk = false;
      }
      if (any) {
        chunks++;
        if (allOk) correctChunks++;
      }
    }
    options.onProgress?.(start + n, total);
  }
  return {
    tokenAccuracy: counted === 0 ? Number.NaN : correct / counted,
    chunkAccuracy: chunks === 0 ? Number.NaN : correctChunks / chunks,
    tokens: counted,
    correctTokens: correct,
    chunks,
    correctChunks,
    latent,
    noiseStd,
  };
}

/**
 * Reconstruction accuracy of one latent-noise level of {@link evaluateRobustness}.
 * @category Evaluation
 */
export interface RobustnessPoint {
  /** s: the decoded latent is μ + s·σ⊙ε (s = 0 is the posterior mean, s = 1 a posterior sample). */
  scale: number;
  /** Fraction of counted tokens reconstructed exactly, in [0, 1]. */
  tokenAccuracy: number;
  /** Fraction of chunks reconstructed exactly, in [0, 1]. */
  chunkAccuracy: number;
}

/**
 * How robust the decoder is to noise in the latent: token and chunk accuracy when the decoded
 * latent is `μ + s·σ⊙ε` for several multiples s of the posterior's own scale σ.
 *
 * @remarks
 * The paper's argument for a *robust* latent space (§2.2): the LM's predictions land near, not on,
 * the target posterior, so the decoder must still read them. Accuracy that holds up to s ≈ 1
 * (and degrades gracefully beyond) is what stage 2 needs.
 * @param params - Autoencoder parameters (official names).
 * @param config - Their configuration.
 * @param tokens - Token ids, `[N]` int32 with N a multiple of K.
 * @param options - The scales (default 0, 0.1, 0.25, 0.5, 1), the RNG of ε, and the options of
 *   {@link evaluateReconstruction} (batch size, ignored id).
 * @returns One point per scale, in order.
 * @throws `CalmError` as {@link evaluateReconstruction}.
 * @example
 * {@includeCode ../test/examples.test.ts#robustness}
 * @category Evaluation
 */
export async function evaluateRobustness(
  params: ParamRecord,
  config: AutoencoderConfig,
  tokens: Int32Array,
  options: { scales?: readonly number[]; rng: Rng } & Pick<ReconstructionOptions, 'batchSize' | 'ignoreTokenId'>,
): Promise<RobustnessPoint[]> {
  const { scales = [0, 0.1, 0.25, 0.5, 1], rng, ...rest } = options;
  const out: RobustnessPoint[] = [];
  for (const scale of scales) {
    const r = await evaluateReconstruction(params, config, tokens, {
      ...rest,
      ...(scale === 0 ? { latent: 'mean' } : { latent: 'sample', sampleScale: scale, rng }),
    });
    out.push({ scale, tokenAccuracy: r.tokenAccuracy, chunkAccuracy: r.chunkAccuracy });
  }
  return out;
}
