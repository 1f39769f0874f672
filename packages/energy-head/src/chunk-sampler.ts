// The adapter from the tfjs world to the framework-free sampler contract: a generative head plus
// a function giving hidden states for contexts and the autoencoder's decoder become a
// `ChunkSampler` that @calm/brierlm and @calm/temperature-sampler consume. The one implementation
// of "head samples → decode → token chunks": @calm/model's CALM sampler, BrierLM evaluation and
// generation (with temperature) are built on it. Two batching knobs: contexts per hidden-state
// call (`batchSize`) and latents per head-sample-and-decode call (`maxLatentsPerCall`).

import * as tf from '@tensorflow/tfjs';
import type { ChunkSampler, Rng, SampleCallOptions, TokenIds } from '@calm/core';
import { assertInteger, fail } from './internal/errors.js';
import type { GenerativeHead } from './types.js';

/**
 * Options of {@link createHeadChunkSampler}.
 * @category Samplers
 */
export interface HeadChunkSamplerOptions {
  /** The generative head that turns hidden states into latent vectors. */
  head: GenerativeHead;
  /** K, tokens per chunk (the autoencoder's `patch_size`). */
  chunkSize: number;
  /** V, when known; decoded ids are checked against it. */
  vocabSize?: number;
  /**
   * The hidden state after each context (the Transformer's last position, which predicts the next
   * chunk). Contexts may have any length; padding them (the official code right-pads with PAD) is
   * this function's job.
   * @param contexts - B token sequences, int32.
   * @returns Hidden states, shape [B, H], float32 (sync or async). The sampler takes ownership and
   *   disposes the tensor.
   */
  hiddenStates(contexts: readonly TokenIds[]): tf.Tensor2D | Promise<tf.Tensor2D>;
  /**
   * Optional teacher-forced fast path: for each sequence of S·K tokens, the hidden states at chunk
   * steps 0..S−2 (step t has seen chunks 0..t and predicts chunk t+1). Enables
   * `sampleTeacherForced`.
   * @param sequences - B token sequences, lengths positive multiples of K, int32.
   * @returns One tensor per sequence, shape [S−1, H], float32. The sampler takes ownership and
   *   disposes them.
   */
  teacherForcedHiddenStates?(sequences: readonly TokenIds[]): tf.Tensor2D[] | Promise<tf.Tensor2D[]>;
  /**
   * The autoencoder's decoder with argmax: latent vectors to token ids.
   * @param latents - Latent vectors, shape [R, L], float32. Owned by the sampler; do not dispose.
   * @returns Token ids, shape [R, K] flattened row-major, int32 (sync or async).
   */
  decode(latents: tf.Tensor2D): Int32Array | Promise<Int32Array>;
  /** Source of the head's noise. */
  rng: Rng;
  /**
   * Most contexts (or teacher-forced sequences) per `hiddenStates` (`teacherForcedHiddenStates`)
   * call: bounds the hidden-state function's batch, e.g. the Transformer's forward pass.
   * @defaultValue all of a call's contexts at once
   */
  batchSize?: number;
  /**
   * Most latent vectors sampled by the head and decoded at once: bounds the head's and the
   * decoder's memory (a decoder materialises K·V logits per latent). @defaultValue 4096
   */
  maxLatentsPerCall?: number;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail('ABORTED', 'the sampling call was aborted by its AbortSignal.');
}

/**
 * Wraps a generative head and the autoencoder's decoder as a {@link @calm/core!ChunkSampler | ChunkSampler}.
 *
 * @remarks
 * `sample(contexts, n)` gets one hidden state per context, draws n latent vectors from the head
 * per context (fresh noise from `rng` for every draw, so all draws are independent), decodes
 * them to K tokens each, and returns [B, n, K] ids. Work is split so that at most `batchSize`
 * contexts go to `hiddenStates` at once and at most `maxLatentsPerCall` latents are in flight;
 * the draws are the same whatever the split (rows are drawn in context order). The returned
 * sampler does not depend on `@calm/autoencoder`: any `decode` function works.
 *
 * @param options - The head, the hidden-state and decode functions, K, the RNG, the batching bounds.
 * @returns A sampler for `@calm/brierlm` and `@calm/temperature-sampler`.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for bad options. The sampler's calls reject with
 *   `INVALID_ARGUMENT` (bad counts, decoded ids outside the vocabulary), `SHAPE_MISMATCH` (hidden
 *   states or decoded ids of the wrong size), `ABORTED` (signal).
 * @example
 * {@includeCode ../test/examples.test.ts#chunk-sampler}
 * @category Samplers
 */
export function createHeadChunkSampler(options: HeadChunkSamplerOptions): ChunkSampler {
  if (options === null || typeof options !== 'object')
    fail('INVALID_ARGUMENT', 'createHeadChunkSampler: pass an options object.');
  const { head, chunkSize, vocabSize, rng } = options;
  if (!head || typeof head.sample !== 'function')
    fail('INVALID_ARGUMENT', 'createHeadChunkSampler: options.head must be a GenerativeHead.');
  assertInteger(chunkSize, 'chunkSize', 1, 'pass K, the autoencoder patch_size');
  if (vocabSize !== undefined) assertInteger(vocabSize, 'vocabSize', 1, 'pass the vocabulary size or omit it');
  if (typeof options.hiddenStates !== 'function')
    fail(
      'INVALID_ARGUMENT',
      'createHeadChunkSampler: options.hiddenStates must be a function (contexts) => Tensor2D [B, H].',
    );
  if (typeof options.decode !== 'function')
    fail(
      'INVALID_ARGUMENT',
      'createHeadChunkSampler: options.decode must be a function (latents [S, L]) => Int32Array [S·K].',
    );
  if (!rng || typeof rng.fillUniform !== 'function')
    fail('INVALID_ARGUMENT', 'createHeadChunkSampler: options.rng must be an Rng (createRng from @calm/core).');
  const maxLatents = options.maxLatentsPerCall ?? 4096;
  assertInteger(maxLatents, 'maxLatentsPerCall', 1, 'pass a positive bound such as 4096');
  const batchSize = options.batchSize ?? Number.POSITIVE_INFINITY;
  if (batchSize !== Number.POSITIVE_INFINITY)
    assertInteger(batchSize, 'batchSize', 1, 'pass a positive number of contexts per hidden-state call, or omit it');
  const k = chunkSize;

  /** Splits `items` into consecutive groups of at most `batchSize` (the array itself when it fits). */
  function batches<T>(items: readonly T[]): { start: number; group: readonly T[] }[] {
    if (items.length <= batchSize) return [{ start: 0, group: items }];
    const out: { start: number; group: readonly T[] }[] = [];
    for (let start = 0; start < items.length; start += batchSize)
      out.push({ start, group: items.slice(start, start + batchSize) });
    return out;
  }

  /** Draws n chunks for every row of hidden [R, H]; returns [R, n, K] ids. */
  async function drawFrom(hidden: tf.Tensor2D, n: number, signal: AbortSignal | undefined): Promise<Int32Array> {
    const r = hidden.shape[0];
    if (hidden.rank !== 2 || hidden.shape[1] !== head.hiddenSize) {
      fail(
        'SHAPE_MISMATCH',
        `hidden states have shape [${hidden.shape.join(', ')}], expected [${r}, ${head.hiddenSize}]; hiddenStates must return one row of the head's hidden size per context.`,
      );
    }
    const out = new Int32Array(r * n * k);
    if (r === 0) return out;
    // Blocks of rows × samples with at most maxLatents latents each.
    const samplesPerBlock = Math.min(n, maxLatents);
    const rowsPerBlock = Math.max(1, Math.min(r, Math.floor(maxLatents / samplesPerBlock)));
    for (let r0 = 0; r0 < r; r0 += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, r - r0);
      for (let s0 = 0; s0 < n; s0 += samplesPerBlock) {
        checkAbort(signal);
        const c = Math.min(samplesPerBlock, n - s0);
        const latents = tf.tidy(() => {
          const h = rows === r ? hidden : (tf.slice(hidden, [r0, 0], [rows, -1]) as tf.Tensor2D);
          return tf.reshape(head.sample(h, c, { rng }), [rows * c, head.latentSize]) as tf.Tensor2D;
        });
        let ids: Int32Array;
        try {
          ids = await options.decode(latents);
        } finally {
          latents.dispose();
        }
        if (!(ids instanceof Int32Array) || ids.length !== rows * c * k) {
          fail(
            'SHAPE_MISMATCH',
            `decode returned ${ids instanceof Int32Array ? `${ids.length} ids` : String(ids)} for ${rows * c} latents; it must return an Int32Array of S·K = ${rows * c * k} ids.`,
          );
        }
        if (vocabSize !== undefined) {
          for (let i = 0; i < ids.length; i++) {
            const v = ids[i]!;
            if (v < 0 || v >= vocabSize)
              fail(
                'INVALID_ARGUMENT',
                `decode returned token id ${v}, outside [0, ${vocabSize}); check the decoder's vocabulary.`,
              );
          }
        }
        // ids are [rows, c, K]; place them at [r0 + i, s0 .. s0 + c) of the [R, n, K] output.
        for (let i = 0; i < rows; i++) out.set(ids.subarray(i * c * k, (i + 1) * c * k), ((r0 + i) * n + s0) * k);
      }
    }
    return out;
  }

  const sampler: ChunkSampler = {
    chunkSize: k,
    ...(vocabSize !== undefined ? { vocabSize } : {}),
    async sample(
      contexts: readonly TokenIds[],
      numSamples: number,
      callOptions: SampleCallOptions = {},
    ): Promise<Int32Array> {
      assertInteger(numSamples, 'numSamples', 1, 'draw at least one sample per context');
      if (!Array.isArray(contexts))
        fail('INVALID_ARGUMENT', 'sample: contexts must be an array of Int32Array token sequences.');
      checkAbort(callOptions.signal);
      if (contexts.length === 0) return new Int32Array(0);
      const out = new Int32Array(contexts.length * numSamples * k); // [B, n, K]
      for (const { start, group } of batches(contexts)) {
        checkAbort(callOptions.signal);
        const hidden = await options.hiddenStates(group);
        try {
          if (hidden?.shape?.[0] !== group.length) {
            fail(
              'SHAPE_MISMATCH',
              `hiddenStates returned shape [${hidden?.shape?.join(', ')}] for ${group.length} contexts; return [B, ${head.hiddenSize}].`,
            );
          }
          out.set(await drawFrom(hidden, numSamples, callOptions.signal), start * numSamples * k);
        } finally {
          hidden?.dispose?.();
        }
      }
      return out;
    },
  };

  const teacherForced = options.teacherForcedHiddenStates;
  if (typeof teacherForced === 'function') {
    sampler.sampleTeacherForced = async (
      sequences: readonly TokenIds[],
      numSamples: number,
      callOptions: SampleCallOptions = {},
    ): Promise<Int32Array[]> => {
      assertInteger(numSamples, 'numSamples', 1, 'draw at least one sample per position');
      for (const [i, s] of sequences.entries()) {
        if (s.length % k !== 0 || s.length < k)
          fail(
            'INVALID_ARGUMENT',
            `sampleTeacherForced: sequence ${i} has ${s.length} tokens; it must be a positive multiple of K = ${k} (chunkSize).`,
          );
      }
      checkAbort(callOptions.signal);
      if (sequences.length === 0) return [];
      const counts = sequences.map((s) => s.length / k - 1); // S − 1 predicted chunks per sequence
      const out = counts.map((c) => new Int32Array(c * numSamples * k)); // [S−1, n, K] each
      for (const { start, group } of batches(sequences)) {
        checkAbort(callOptions.signal);
        const hs = await teacherForced.call(options, group);
        try {
          if (!Array.isArray(hs) || hs.length !== group.length) {
            fail(
              'SHAPE_MISMATCH',
              `teacherForcedHiddenStates returned ${Array.isArray(hs) ? hs.length : String(hs)} tensors for ${group.length} sequences; return one [S−1, H] tensor per sequence.`,
            );
          }
          hs.forEach((h, j) => {
            const c = counts[start + j]!;
            if (h.rank !== 2 || h.shape[0] !== c)
              fail(
                'SHAPE_MISMATCH',
                `teacherForcedHiddenStates: sequence ${start + j} has ${c + 1} chunks, so it needs [${c}, H] hidden states, got [${h.shape.join(', ')}].`,
              );
          });
          const nonEmpty = hs.filter((h) => h.shape[0]! > 0);
          if (nonEmpty.length === 0) continue;
          const all = nonEmpty.length === 1 ? nonEmpty[0]! : (tf.concat(nonEmpty, 0) as tf.Tensor2D); // [Σ(S−1), H]
          let ids: Int32Array;
          try {
            ids = await drawFrom(all, numSamples, callOptions.signal);
          } finally {
            if (all !== nonEmpty[0]) all.dispose();
          }
          let offset = 0;
          for (let j = 0; j < group.length; j++) {
            const len = counts[start + j]! * numSamples * k;
            out[start + j]!.set(ids.subarray(offset, offset + len));
            offset += len;
          }
        } finally {
          if (Array.isArray(hs)) for (const h of hs) h?.dispose?.();
        }
      }
      return out;
    };
  }
  return sampler;
}
