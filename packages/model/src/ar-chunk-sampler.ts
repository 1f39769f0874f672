// The AR baseline as a `ChunkSampler`: K tokens drawn one at a time from its softmax, continuing
// a KV cache, so an AR model can be scored with exactly the estimator, the positions and the
// number of samples used for CALM (a like-for-like comparison). The teacher-forced path runs one
// forward pass per sequence and rolls out from the cached gold prefix at every chunk boundary.

import * as tf from '@tensorflow/tfjs';
import type { ChunkSampler, Rng, SampleCallOptions, TokenIds } from '@calm/core';
import type { ArModel } from './ar-model.js';
import { fail } from './internal/errors.js';
import { KvCache } from './llama.js';

/**
 * Options of {@link arChunkSampler}.
 * @category Samplers
 */
export interface ArChunkSamplerOptions {
  /** K, tokens per chunk (4 to compare with a K = 4 CALM). */
  chunkSize: number;
  /** Source of every token draw (each call advances it). */
  rng: Rng;
  /** Softmax temperature applied to the logits. @defaultValue 1 */
  temperature?: number;
}

/** Draws one token per row from softmax(logits / T) rows [R, V]. */
async function drawRows(logits: tf.Tensor2D, temperature: number, rng: Rng): Promise<Int32Array> {
  const probs = tf.tidy(() => tf.softmax(temperature === 1 ? logits : tf.div(logits, temperature)));
  const p = (await probs.data()) as Float32Array;
  probs.dispose();
  const [rows, v] = logits.shape;
  return Int32Array.from({ length: rows }, (_, r) => rng.categorical(p.subarray(r * v, (r + 1) * v)));
}

/**
 * Continues `n` rows of one cached prefix (the cache holds exactly the prefix, 1 row) by K tokens,
 * the first drawn from `first` (logits [1, V] after the prefix).
 * @returns [n, K] token ids, row-major.
 */
async function rollOut(
  model: ArModel,
  cache: KvCache,
  first: tf.Tensor2D,
  n: number,
  k: number,
  o: ArChunkSamplerOptions,
): Promise<Int32Array> {
  const t = o.temperature ?? 1;
  const out = new Int32Array(n * k);
  const firstRows = tf.tidy(() => tf.tile(first, [n, 1]) as tf.Tensor2D); // [n, V]
  let tokens = await drawRows(firstRows, t, o.rng);
  firstRows.dispose();
  tokens.forEach((x, r) => (out[r * k] = x));
  if (k === 1) return out;
  const rows = cache.slice(cache.length, new Array<number>(n).fill(0)); // the prefix, once per sample
  try {
    for (let j = 1; j < k; j++) {
      const logits = tf.tidy(() => {
        const input = tf.tensor2d(tokens, [n, 1], 'int32');
        return tf.reshape(model.logits(input, rows), [n, model.config.vocabSize]) as tf.Tensor2D; // [n, V]
      });
      tokens = await drawRows(logits, t, o.rng);
      logits.dispose();
      tokens.forEach((x, r) => (out[r * k + j] = x));
    }
  } finally {
    rows.dispose();
  }
  return out;
}

function checkSequence(seq: TokenIds, vocab: number, what: string): void {
  if (!(seq instanceof Int32Array) || seq.length === 0)
    fail('INVALID_ARGUMENT', `${what} must be a non-empty Int32Array.`);
  for (let i = 0; i < seq.length; i++)
    if (seq[i]! < 0 || seq[i]! >= vocab)
      fail('INVALID_ARGUMENT', `${what}[${i}] = ${seq[i]} is outside the vocabulary [0, ${vocab}).`);
}

/**
 * The AR baseline as a `ChunkSampler`: each draw is K tokens sampled autoregressively from its
 * softmax with a KV cache, so it can be scored by `@calm/brierlm`'s chunk estimator — with the
 * same positions and number of samples as CALM — rather than by the explicit estimator.
 *
 * @remarks
 * `sampleTeacherForced` runs one forward pass over each sequence and, at every chunk boundary,
 * continues a copy of the cached gold prefix for all samples at once. Draws are independent and
 * reproducible for a given `rng` state and call sequence.
 * @param model - An AR model.
 * @param options - K, the RNG, the softmax temperature.
 * @returns The sampler.
 * @throws `CalmError` `INVALID_ARGUMENT` for bad options; the sampler's calls throw it for bad
 *   contexts and `ABORTED` when aborted.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-chunk-sampler}
 * @category Samplers
 */
export function arChunkSampler(model: ArModel, options: ArChunkSamplerOptions): ChunkSampler {
  const k = options.chunkSize;
  const vocab = model.config.vocabSize;
  if (!Number.isInteger(k) || k < 1)
    fail('INVALID_ARGUMENT', `arChunkSampler: chunkSize must be an integer >= 1, got ${k}.`);
  if (!options.rng || typeof options.rng.categorical !== 'function')
    fail('INVALID_ARGUMENT', 'arChunkSampler: options.rng must be an Rng from @calm/core (createRng(seed)).');
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0) || !Number.isFinite(temperature))
    fail('INVALID_ARGUMENT', `arChunkSampler: temperature must be a finite number > 0, got ${temperature}.`);
  const checkN = (n: number) => {
    if (!Number.isInteger(n) || n < 1) fail('INVALID_ARGUMENT', `numSamples must be an integer >= 1, got ${n}.`);
  };
  const abort = (o: SampleCallOptions) => {
    if (o.signal?.aborted) fail('ABORTED', 'sampling was aborted by the caller (options.signal).');
  };
  return {
    chunkSize: k,
    vocabSize: vocab,
    async sample(contexts, numSamples, callOptions = {}) {
      checkN(numSamples);
      const out = new Int32Array(contexts.length * numSamples * k);
      for (const [i, context] of contexts.entries()) {
        checkSequence(context, vocab, `contexts[${i}]`);
        abort(callOptions);
        const cache = new KvCache();
        try {
          const first = tf.tidy(() => {
            const logits = model.logits(tf.tensor2d(context, [1, context.length], 'int32'), cache); // [1, T, V]
            return tf.reshape(tf.slice(logits, [0, context.length - 1, 0], [1, 1, vocab]), [1, vocab]) as tf.Tensor2D;
          });
          out.set(await rollOut(model, cache, first, numSamples, k, options), i * numSamples * k);
          first.dispose();
        } finally {
          cache.dispose();
        }
      }
      return out;
    },
    async sampleTeacherForced(sequences, numSamples, callOptions = {}) {
      checkN(numSamples);
      const results: Int32Array[] = [];
      for (const [i, seq] of sequences.entries()) {
        checkSequence(seq, vocab, `sequences[${i}]`);
        if (seq.length % k !== 0)
          fail('INVALID_ARGUMENT', `sequences[${i}] has ${seq.length} tokens; pass a multiple of K = ${k}.`);
        const positions = seq.length / k - 1;
        const out = new Int32Array(positions * numSamples * k);
        const cache = new KvCache();
        try {
          const ids = tf.tensor2d(seq, [1, seq.length], 'int32');
          const logits = model.logits(ids, cache); // [1, T, V]
          ids.dispose();
          try {
            for (let p = 0; p < positions; p++) {
              abort(callOptions);
              const t = (p + 1) * k; // the gold prefix [0, t) predicts the chunk at t
              const prefix = cache.slice(t);
              const first = tf.tidy(
                () => tf.reshape(tf.slice(logits, [0, t - 1, 0], [1, 1, vocab]), [1, vocab]) as tf.Tensor2D,
              );
              try {
                out.set(await rollOut(model, prefix, first, numSamples, k, options), p * numSamples * k);
              } finally {
                first.dispose();
                prefix.dispose();
              }
            }
          } finally {
            logits.dispose();
          }
        } finally {
          cache.dispose();
        }
        results.push(out);
      }
      return results;
    },
  };
}
