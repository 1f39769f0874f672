// Adapters from the trained models to the black-box contracts of @calm/core: CALM as a
// `ChunkSampler` (with the teacher-forced fast path BrierLM uses) and the AR baseline as a
// `NextTokenModel` with exact probabilities (with the teacher-forced fast path). Contexts are
// batched by length; CALM pads a context to a multiple of K with PAD as the official code does.

import * as tf from '@tensorflow/tfjs';
import {
  padToMultiple,
  type ChunkSampler,
  type NextTokenModel,
  type Rng,
  type SampleCallOptions,
  type TokenIds,
} from '@calm/core';
import type { ArModel } from './ar-model.js';
import type { CalmModel } from './calm-model.js';
import { fail } from './internal/errors.js';

/**
 * Options of {@link calmChunkSampler}.
 * @category Samplers
 */
export interface CalmSamplerOptions {
  /** Source of the head noise (each call advances it). */
  rng: Rng;
  /** Most sequences per backbone forward pass. @defaultValue 16 */
  batchSize?: number;
  /**
   * Most logits materialised by one autoencoder decode (rows · K · V floats); larger requests are
   * decoded in slices. @defaultValue 2^24 (64 MiB)
   */
  maxDecodeLogits?: number;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail('ABORTED', 'sampling was aborted by the caller (options.signal).');
}

function checkIds(seq: TokenIds, vocab: number, what: string): void {
  if (!(seq instanceof Int32Array)) fail('INVALID_ARGUMENT', `${what} must be an Int32Array of token ids.`);
  for (let i = 0; i < seq.length; i++) {
    const v = seq[i]!;
    if (v < 0 || v >= vocab)
      fail(
        'INVALID_ARGUMENT',
        `${what}[${i}] = ${v} is outside the vocabulary [0, ${vocab}); map unknown tokens before sampling.`,
      );
  }
}

/** Groups indices by a key, keeping first-seen order. */
function groupBy<T>(items: readonly T[], key: (x: T) => number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  items.forEach((x, i) => {
    const k = key(x);
    const g = out.get(k);
    if (g) g.push(i);
    else out.set(k, [i]);
  });
  return out;
}

/**
 * Draws chunks from hidden states in slices that bound the decoder's logits.
 * @param model - The CALM model.
 * @param hidden - Hidden states [R, H].
 * @param numSamples - Samples per row.
 * @param rng - Head noise.
 * @param maxLogits - Logit budget per decode.
 * @returns Token ids [R, numSamples, K] flattened.
 */
export async function drawFromHidden(
  model: CalmModel,
  hidden: tf.Tensor2D,
  numSamples: number,
  rng: Rng,
  maxLogits = 2 ** 24,
): Promise<Int32Array> {
  const rows = hidden.shape[0];
  const k = model.chunkSize;
  const perRow = numSamples * k * model.config.vocabSize;
  const sliceRows = Math.max(1, Math.floor(maxLogits / perRow));
  const out = new Int32Array(rows * numSamples * k);
  for (let r = 0; r < rows; r += sliceRows) {
    const n = Math.min(sliceRows, rows - r);
    const ids = tf.tidy(() => {
      const h = n === rows ? hidden : (tf.slice(hidden, [r, 0], [n, hidden.shape[1]]) as tf.Tensor2D);
      if (numSamples * k * model.config.vocabSize <= maxLogits) return model.sampleChunks(h, numSamples, { rng });
      // Even one row's samples exceed the budget: draw them in groups.
      const per = Math.max(1, Math.floor(maxLogits / (k * model.config.vocabSize)));
      const parts: tf.Tensor3D[] = [];
      for (let s = 0; s < numSamples; s += per)
        parts.push(model.sampleChunks(h, Math.min(per, numSamples - s), { rng }));
      return tf.concat(parts, 1);
    });
    out.set(await ids.data(), r * numSamples * k);
    ids.dispose();
  }
  return out;
}

/**
 * CALM as a `ChunkSampler`: each draw is one head sample at the last position, decoded by
 * the frozen autoencoder (argmax per token), as the official `generate` at temperature 1.
 *
 * @remarks
 * A context whose length is not a multiple of K is right-padded with PAD (the official quirk: PAD
 * embeds to zero inside the last chunk). `sampleTeacherForced` runs one backbone pass per
 * sequence and draws at every chunk position, which BrierLM uses. Draws are independent (fresh
 * noise per sample) and reproducible for a given `rng` state and call sequence.
 * @param model - A CALM model.
 * @param options - Head-noise RNG, batch size, decode budget.
 * @returns The sampler (K = the model's patch size).
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad option.
 * @example
 * {@includeCode ../test/examples.test.ts#evaluate}
 * @category Samplers
 */
export function calmChunkSampler(model: CalmModel, options: CalmSamplerOptions): ChunkSampler {
  const { rng } = options;
  if (!rng || typeof rng.uniform !== 'function')
    fail('INVALID_ARGUMENT', 'calmChunkSampler: options.rng must be an Rng from @calm/core (createRng(seed)).');
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    fail('INVALID_ARGUMENT', `calmChunkSampler: batchSize must be an integer >= 1, got ${batchSize}.`);
  const maxLogits = options.maxDecodeLogits ?? 2 ** 24;
  const k = model.chunkSize;
  const vocab = model.config.vocabSize;
  const pad = model.config.padTokenId;
  return {
    chunkSize: k,
    vocabSize: vocab,
    async sample(
      contexts: readonly TokenIds[],
      numSamples: number,
      callOptions: SampleCallOptions = {},
    ): Promise<Int32Array> {
      if (!Array.isArray(contexts))
        fail('INVALID_ARGUMENT', 'sample: contexts must be an array of Int32Array token sequences.');
      if (!Number.isInteger(numSamples) || numSamples < 1)
        fail('INVALID_ARGUMENT', `sample: numSamples must be an integer >= 1, got ${numSamples}.`);
      const padded = contexts.map((c, i) => {
        checkIds(c, vocab, `contexts[${i}]`);
        if (c.length === 0)
          fail(
            'INVALID_ARGUMENT',
            `sample: contexts[${i}] is empty; CALM needs at least one token (e.g. BOS) to condition on.`,
          );
        return padToMultiple(c, k, pad);
      });
      const out = new Int32Array(contexts.length * numSamples * k);
      for (const [len, members] of groupBy(padded, (c) => c.length)) {
        for (let g = 0; g < members.length; g += batchSize) {
          checkAbort(callOptions.signal);
          const idx = members.slice(g, g + batchSize);
          const ids = new Int32Array(idx.length * len);
          idx.forEach((m, j) => ids.set(padded[m]!, j * len));
          const last = tf.tidy(() => {
            const h = model.hidden(tf.tensor2d(ids, [idx.length, len], 'int32'));
            const s = h.shape[1];
            return tf.reshape(tf.slice(h, [0, s - 1, 0], [idx.length, 1, h.shape[2]]), [
              idx.length,
              h.shape[2],
            ]) as tf.Tensor2D;
          });
          const drawn = await drawFromHidden(model, last, numSamples, rng, maxLogits);
          last.dispose();
          idx.forEach((m, j) =>
            out.set(drawn.subarray(j * numSamples * k, (j + 1) * numSamples * k), m * numSamples * k),
          );
        }
      }
      return out;
    },
    async sampleTeacherForced(
      sequences: readonly TokenIds[],
      numSamples: number,
      callOptions: SampleCallOptions = {},
    ): Promise<Int32Array[]> {
      if (!Array.isArray(sequences))
        fail('INVALID_ARGUMENT', 'sampleTeacherForced: sequences must be an array of Int32Array token sequences.');
      if (!Number.isInteger(numSamples) || numSamples < 1)
        fail('INVALID_ARGUMENT', `sampleTeacherForced: numSamples must be an integer >= 1, got ${numSamples}.`);
      sequences.forEach((s, i) => {
        checkIds(s, vocab, `sequences[${i}]`);
        if (s.length % k !== 0 || s.length === 0)
          fail(
            'INVALID_ARGUMENT',
            `sampleTeacherForced: sequences[${i}] has ${s.length} tokens; pass a positive multiple of K = ${k}.`,
          );
      });
      const out: Int32Array[] = sequences.map((s) => new Int32Array((s.length / k - 1) * numSamples * k));
      for (const [len, members] of groupBy(sequences, (s) => s.length)) {
        const positions = len / k - 1;
        if (positions === 0) continue;
        for (let g = 0; g < members.length; g += batchSize) {
          checkAbort(callOptions.signal);
          const idx = members.slice(g, g + batchSize);
          const ids = new Int32Array(idx.length * (len - k));
          idx.forEach((m, j) => ids.set(sequences[m]!.subarray(0, len - k), j * (len - k)));
          const flat = tf.tidy(() => {
            const h = model.hidden(tf.tensor2d(ids, [idx.length, len - k], 'int32')); // [G, L−1, H]
            return tf.reshape(h, [idx.length * positions, h.shape[2]]) as tf.Tensor2D;
          });
          const drawn = await drawFromHidden(model, flat, numSamples, rng, maxLogits);
          flat.dispose();
          const per = positions * numSamples * k;
          idx.forEach((m, j) => out[m]!.set(drawn.subarray(j * per, (j + 1) * per)));
        }
      }
      return out;
    },
  };
}

/**
 * Options of {@link arNextTokenModel}.
 * @category Samplers
 */
export interface ArModelAdapterOptions {
  /** Most contexts per forward pass. @defaultValue 16 */
  batchSize?: number;
  /** Softmax temperature applied to the logits. @defaultValue 1 */
  temperature?: number;
}

/**
 * The AR baseline as a `NextTokenModel` (exact softmax probabilities), with the
 * `teacherForcedProbs` fast path (one forward pass per sequence), for BrierLM's explicit estimator.
 * @param model - An AR model.
 * @param options - Batch size and softmax temperature.
 * @returns The model adapter.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad option.
 * @example
 * {@includeCode ../test/examples.test.ts#evaluate}
 * @category Samplers
 */
export function arNextTokenModel(model: ArModel, options: ArModelAdapterOptions = {}): NextTokenModel {
  const batchSize = options.batchSize ?? 16;
  const temperature = options.temperature ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    fail('INVALID_ARGUMENT', `arNextTokenModel: batchSize must be an integer >= 1, got ${batchSize}.`);
  if (!(temperature > 0) || !Number.isFinite(temperature))
    fail('INVALID_ARGUMENT', `arNextTokenModel: temperature must be a finite number > 0, got ${temperature}.`);
  const vocab = model.config.vocabSize;
  return {
    vocabSize: vocab,
    async nextTokenProbs(contexts: readonly TokenIds[], callOptions: SampleCallOptions = {}): Promise<Float32Array> {
      if (!Array.isArray(contexts))
        fail('INVALID_ARGUMENT', 'nextTokenProbs: contexts must be an array of Int32Array token sequences.');
      contexts.forEach((c, i) => {
        checkIds(c, vocab, `contexts[${i}]`);
        if (c.length === 0)
          fail('INVALID_ARGUMENT', `nextTokenProbs: contexts[${i}] is empty; start every context with BOS.`);
      });
      const out = new Float32Array(contexts.length * vocab);
      for (const [len, members] of groupBy(contexts, (c) => c.length)) {
        for (let g = 0; g < members.length; g += batchSize) {
          checkAbort(callOptions.signal);
          const idx = members.slice(g, g + batchSize);
          const ids = new Int32Array(idx.length * len);
          idx.forEach((m, j) => ids.set(contexts[m]!, j * len));
          const probs = tf.tidy(() => {
            const logits = model.logits(tf.tensor2d(ids, [idx.length, len], 'int32'));
            const last = tf.reshape(tf.slice(logits, [0, len - 1, 0], [idx.length, 1, vocab]), [idx.length, vocab]);
            return tf.softmax(temperature === 1 ? last : tf.div(last, temperature));
          });
          const data = (await probs.data()) as Float32Array;
          probs.dispose();
          idx.forEach((m, j) => out.set(data.subarray(j * vocab, (j + 1) * vocab), m * vocab));
        }
      }
      return out;
    },
    async teacherForcedProbs(sequence: TokenIds, callOptions: SampleCallOptions = {}): Promise<Float32Array> {
      checkIds(sequence, vocab, 'sequence');
      if (sequence.length === 0) fail('INVALID_ARGUMENT', 'teacherForcedProbs: the sequence is empty.');
      checkAbort(callOptions.signal);
      const probs = tf.tidy(() => {
        const logits = model.logits(tf.tensor2d(sequence, [1, sequence.length], 'int32'));
        const flat = tf.reshape(logits, [sequence.length, vocab]);
        return tf.softmax(temperature === 1 ? flat : tf.div(flat, temperature));
      });
      const data = (await probs.data()) as Float32Array;
      probs.dispose();
      return data;
    },
  };
}
