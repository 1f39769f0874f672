// Adapters from the trained models to the black-box contracts of @calm/core: CALM as a
// `ChunkSampler` (with the teacher-forced fast path BrierLM uses) built on @calm/energy-head's
// `createHeadChunkSampler` (the one "head samples → decode → token chunks" implementation, for
// every head), and the AR baseline as a `NextTokenModel` with exact probabilities (with the
// teacher-forced fast path). CALM pads a context to a multiple of K with PAD as the official code
// does; contexts of equal padded length share a backbone pass.

import * as tf from '@tensorflow/tfjs';
import {
  padToMultiple,
  type ChunkSampler,
  type NextTokenModel,
  type Rng,
  type SampleCallOptions,
  type TokenIds,
} from '@calm/core';
import { createHeadChunkSampler } from '@calm/energy-head';
import type { ArModel } from './ar-model.js';
import type { CalmModel } from './calm-model.js';
import { fail } from './internal/errors.js';

/**
 * Options of {@link calmChunkSampler}: the RNG and the batching bounds of `@calm/energy-head`'s
 * `createHeadChunkSampler`, on which it is built.
 * @category Samplers
 */
export interface CalmSamplerOptions {
  /** Source of the head noise (each call advances it). */
  rng: Rng;
  /** Most contexts (or teacher-forced sequences) per backbone forward pass. @defaultValue 16 */
  batchSize?: number;
  /**
   * Most latent vectors sampled by the head and decoded at once; each materialises K·V decoder
   * logits. @defaultValue ⌊2^24 / (K·V)⌋, at least 1 (64 MiB of logits)
   */
  maxLatentsPerCall?: number;
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

/** The default bound on latents per decode: 2^24 logits (64 MiB) of K·V each, at least 1. */
export function defaultMaxLatents(model: CalmModel): number {
  return Math.max(1, Math.floor(2 ** 24 / (model.chunkSize * model.config.vocabSize)));
}

/**
 * The frozen autoencoder's decoder with argmax as the adapter's `decode`: latents [R, L] → ids
 * [R, K] flattened, int32.
 */
export function calmDecoder(model: CalmModel): (latents: tf.Tensor2D) => Promise<Int32Array> {
  return async (latents) => {
    const [r, latentSize] = latents.shape;
    const ids = tf.tidy(() => model.decodeChunks(tf.reshape(latents, [1, r, latentSize]) as tf.Tensor3D)); // [1, R, K]
    try {
      return (await ids.data()) as Int32Array;
    } finally {
      ids.dispose();
    }
  };
}

/** The hidden state after each context (the backbone's last chunk step), [B, H] in context order. */
function lastHiddenStates(model: CalmModel, contexts: readonly TokenIds[]): tf.Tensor2D {
  const { vocabSize, padTokenId, hiddenSize } = model.config;
  const k = model.chunkSize;
  const padded = contexts.map((c, i) => {
    checkIds(c, vocabSize, `contexts[${i}]`);
    if (c.length === 0)
      fail(
        'INVALID_ARGUMENT',
        `sample: contexts[${i}] is empty; CALM needs at least one token (e.g. BOS) to condition on.`,
      );
    return padToMultiple(c, k, padTokenId);
  });
  return tf.tidy(() => {
    const parts: tf.Tensor2D[] = [];
    const order: number[] = [];
    for (const [len, members] of groupBy(padded, (c) => c.length)) {
      const g = members.length;
      const ids = new Int32Array(g * len); // [G, S·K]
      members.forEach((m, j) => ids.set(padded[m]!, j * len));
      const h = model.hidden(tf.tensor2d(ids, [g, len], 'int32')); // [G, S, H]
      parts.push(tf.reshape(tf.slice(h, [0, len / k - 1, 0], [g, 1, hiddenSize]), [g, hiddenSize]) as tf.Tensor2D);
      order.push(...members);
    }
    if (parts.length === 1) return parts[0]!; // one length: rows already in context order
    const rows = new Int32Array(order.length); // context m sits at row rows[m] of the concatenation
    order.forEach((m, row) => {
      rows[m] = row;
    });
    return tf.gather(tf.concat(parts, 0), tf.tensor1d(rows, 'int32')) as tf.Tensor2D; // [B, H]
  });
}

/** Teacher-forced hidden states: per sequence of S·K tokens, [S−1, H] (step t predicts chunk t+1). */
function teacherForcedHiddenStates(model: CalmModel, sequences: readonly TokenIds[]): tf.Tensor2D[] {
  const { vocabSize, hiddenSize } = model.config;
  const k = model.chunkSize;
  sequences.forEach((s, i) => {
    checkIds(s, vocabSize, `sequences[${i}]`);
  });
  const out: tf.Tensor2D[] = new Array(sequences.length);
  for (const [len, members] of groupBy(sequences, (s) => s.length)) {
    const steps = len / k - 1; // S − 1
    if (steps === 0) {
      for (const m of members) out[m] = tf.zeros([0, hiddenSize]) as tf.Tensor2D;
      continue;
    }
    const g = members.length;
    const ids = new Int32Array(g * (len - k)); // [G, (S−1)·K]: the last chunk is only a target
    members.forEach((m, j) => ids.set(sequences[m]!.subarray(0, len - k), j * (len - k)));
    const parts = tf.tidy(() => {
      const h = model.hidden(tf.tensor2d(ids, [g, len - k], 'int32')); // [G, S−1, H]
      return g === 1 ? [tf.reshape(h, [steps, hiddenSize])] : tf.unstack(h, 0); // G × [S−1, H]
    }) as tf.Tensor2D[];
    members.forEach((m, j) => {
      out[m] = parts[j]!;
    });
  }
  return out;
}

/**
 * CALM as a `ChunkSampler`: each draw is one head sample at the last chunk step, decoded by the
 * frozen autoencoder (argmax per token), as the official `generate` at temperature 1, for any head.
 *
 * @remarks
 * Built on `@calm/energy-head`'s `createHeadChunkSampler` with the model's head, backbone and
 * decoder. A context whose length is not a multiple of K is right-padded with PAD (the official
 * quirk: PAD embeds to zero inside the last chunk). `sampleTeacherForced` runs one backbone pass
 * per sequence and draws at every chunk step, which BrierLM uses. Draws are independent (fresh
 * noise per sample) and reproducible for a given `rng` state and call sequence.
 * @param model - A CALM model.
 * @param options - Head-noise RNG and the batching bounds.
 * @returns The sampler (K = the model's patch size, V its vocabulary).
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad option. The sampler's calls reject with
 *   `INVALID_ARGUMENT` (empty contexts, ids outside the vocabulary, sequences that are not
 *   multiples of K) and `ABORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#evaluate}
 * @category Samplers
 */
export function calmChunkSampler(model: CalmModel, options: CalmSamplerOptions): ChunkSampler {
  const { rng } = options;
  if (!rng || typeof rng.uniform !== 'function')
    fail('INVALID_ARGUMENT', 'calmChunkSampler: options.rng must be an Rng from @calm/core (createRng(seed)).');
  return createHeadChunkSampler({
    head: model.head,
    chunkSize: model.chunkSize,
    vocabSize: model.config.vocabSize,
    rng,
    batchSize: options.batchSize ?? 16,
    maxLatentsPerCall: options.maxLatentsPerCall ?? defaultMaxLatents(model),
    decode: calmDecoder(model),
    hiddenStates: (contexts) => lastHiddenStates(model, contexts),
    teacherForcedHiddenStates: (sequences) => teacherForcedHiddenStates(model, sequences),
  });
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
