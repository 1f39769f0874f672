// The black-box sampler contracts. Everything that evaluates or tempers a generator
// (@calm/brierlm, @calm/temperature-sampler) consumes these and nothing else, so any model —
// CALM, an ordinary LM, a remote API — plugs in by implementing one small interface.
// All calls are batched (many contexts at once) and async (a model may run on a GPU or a server).

import type { TokenIds } from './tokens.js';

/**
 * Options every sampler call accepts.
 * @see {@link ChunkSampler}
 * @category Samplers
 */
export interface SampleCallOptions {
  /** Aborts the call; implementations reject with a `CalmError` of code `ABORTED`. */
  signal?: AbortSignal;
}

/**
 * An implicit chunk generator (CALM-like): given a context, it can draw the next chunk of K
 * token ids, and nothing else — no probabilities.
 *
 * @remarks
 * `sample` is the only required method. `sampleTeacherForced` is an optional fast path for models
 * that compute every position of a sequence in one forward pass (a Transformer does): BrierLM
 * uses it when present and falls back to `sample` on every prefix otherwise. Both must return
 * *independent* draws: two samples for the same context never share noise.
 *
 * Contexts may have any length; a CALM implementation pads a context whose length is not a
 * multiple of K as the official code does (right-padding with PAD).
 *
 * @example
 * {@includeCode ../test/examples.test.ts#chunk-sampler}
 * @category Samplers
 */
export interface ChunkSampler {
  /** K, the number of tokens in each sampled chunk. */
  readonly chunkSize: number;
  /** Size of the token vocabulary, when known (ids are in `[0, vocabSize)`). */
  readonly vocabSize?: number;
  /**
   * Draws `numSamples` independent next chunks for every context.
   * @param contexts - B token sequences, each int32.
   * @param numSamples - Samples per context (≥ 1).
   * @param options - Abort signal.
   * @returns Token ids, shape [B, numSamples, K] flattened row-major, int32.
   */
  sample(contexts: readonly TokenIds[], numSamples: number, options?: SampleCallOptions): Promise<Int32Array>;
  /**
   * Optional teacher-forced fast path: for each sequence of L·K tokens, draws `numSamples`
   * independent chunks at every chunk position t = 1..L−1, each conditioned on the gold prefix
   * of t chunks (tokens `[0, t·K)`). Chunk 0 is never predicted, as in the official code.
   * @param sequences - B token sequences whose lengths are multiples of K, int32.
   * @param numSamples - Samples per position (≥ 1).
   * @param options - Abort signal.
   * @returns For each sequence, token ids of shape [L−1, numSamples, K] flattened row-major, int32.
   */
  sampleTeacherForced?(
    sequences: readonly TokenIds[],
    numSamples: number,
    options?: SampleCallOptions,
  ): Promise<Int32Array[]>;
}

/**
 * Fill value for token positions after a token-level sampler stopped early (end of text, stop
 * sequence): such positions never equal a real token.
 * @see {@link TokenSampler}, whose example pads with it.
 * @category Samplers
 */
export const NO_TOKEN = -1;

/**
 * An implicit token-level generator: any language model that can only sample continuations,
 * e.g. a remote completion API.
 *
 * @example
 * {@includeCode ../test/examples.test.ts#token-sampler}
 * @category Samplers
 */
export interface TokenSampler {
  /** Size of the token vocabulary, when known. */
  readonly vocabSize?: number;
  /**
   * Draws `numSamples` independent continuations of up to `maxTokens` tokens for every context.
   * @param contexts - B token sequences, int32.
   * @param maxTokens - Tokens per continuation (≥ 1).
   * @param numSamples - Continuations per context (≥ 1).
   * @param options - Abort signal.
   * @returns Token ids, shape [B, numSamples, maxTokens] flattened row-major, int32; positions
   *   after an early stop hold {@link NO_TOKEN}.
   */
  sample(
    contexts: readonly TokenIds[],
    maxTokens: number,
    numSamples: number,
    options?: SampleCallOptions,
  ): Promise<Int32Array>;
}

/**
 * An explicit-probability generator: a language model that exposes its next-token distribution.
 *
 * @remarks
 * BrierLM's lower-variance estimator (the official `train_ar.py` one) needs exact probabilities.
 * `teacherForcedProbs` is an optional fast path computing every position of a sequence at once.
 * @example
 * {@includeCode ../test/examples.test.ts#next-token-model}
 * @category Samplers
 */
export interface NextTokenModel {
  /** V, the length of every probability vector. */
  readonly vocabSize: number;
  /**
   * Next-token distributions after each context.
   * @param contexts - B token sequences (each non-empty), int32.
   * @param options - Abort signal.
   * @returns Probabilities, shape [B, V] flattened row-major, float32; each row sums to 1.
   */
  nextTokenProbs(contexts: readonly TokenIds[], options?: SampleCallOptions): Promise<Float32Array>;
  /**
   * Optional fast path: the distribution after every prefix of one sequence.
   * @param sequence - T token ids, int32.
   * @param options - Abort signal.
   * @returns Probabilities, shape [T, V] flattened row-major, float32; row t is the
   *   distribution of token t+1 given tokens `[0, t]`.
   */
  teacherForcedProbs?(sequence: TokenIds, options?: SampleCallOptions): Promise<Float32Array>;
}
