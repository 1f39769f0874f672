// Adapters that turn generators users already have into the sampler contracts of @calm/core:
// plain per-context callbacks (one sample or one distribution per call, run with a concurrency
// limit), an explicit model as a chunk sampler (K tokens drawn autoregressively from its exact
// probabilities), and detection of which estimator fits an object that implements a contract.

import {
  NO_TOKEN,
  createRng,
  type ChunkSampler,
  type NextTokenModel,
  type Rng,
  type SampleCallOptions,
  type TokenIds,
  type TokenSampler,
} from '@calm/core';
import type { BrierGenerator, EstimatorKind } from './types.js';
import { checkInt, checkProbsOutput, concatTokens, fail, mapLimit, throwIfAborted } from './internal/util.js';
import { MAX_SAMPLES_PER_POSITION, PrefixGrouper, drawTokens, rowStats } from './internal/sampling.js';

/**
 * Options shared by the callback adapters.
 * @see {@link chunkSamplerFromCallback}
 * @category Adapters
 */
export interface CallbackAdapterOptions {
  /** Most callback calls in flight at once; default 1 (sequential). */
  concurrency?: number;
  /** Vocabulary size, when known. */
  vocabSize?: number;
}

function toIds(values: ArrayLike<number>, what: string): ArrayLike<number> {
  if (values == null || typeof values.length !== 'number')
    fail('INVALID_ARGUMENT', `${what} returned ${String(values)}; return an array of token ids.`);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v))
      fail('INVALID_ARGUMENT', `${what} returned ${v} at index ${i}; token ids must be integers.`);
  }
  return values;
}

/**
 * Wraps a callback that draws one chunk for one context into a `ChunkSampler`.
 *
 * @remarks
 * The callback is called once per (context, sample); every call must be an independent draw
 * (fresh noise), otherwise BrierLM's collision term is wrong.
 * @param draw - Returns K token ids continuing `context` (sync or async).
 * @param options - K (`chunkSize`), vocabulary size, concurrency.
 * @returns A ChunkSampler.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad chunk size; at call time, when the
 *   callback returns something other than K integer ids.
 * @example
 * {@includeCode ../test/examples.test.ts#callback-samplers}
 * @category Adapters
 */
export function chunkSamplerFromCallback(
  draw: (context: TokenIds, signal?: AbortSignal) => ArrayLike<number> | Promise<ArrayLike<number>>,
  options: CallbackAdapterOptions & { chunkSize: number },
): ChunkSampler {
  if (typeof draw !== 'function')
    fail('INVALID_ARGUMENT', 'chunkSamplerFromCallback: draw must be a function (context) => chunk.');
  const K = checkInt(options?.chunkSize, 'chunkSamplerFromCallback chunkSize', 1);
  const concurrency = checkInt(options.concurrency ?? 1, 'chunkSamplerFromCallback concurrency', 1);
  const base = { chunkSize: K };
  return {
    ...base,
    ...(options.vocabSize === undefined ? {} : { vocabSize: options.vocabSize }),
    async sample(contexts: readonly TokenIds[], numSamples: number, opts?: SampleCallOptions) {
      checkInt(numSamples, 'numSamples', 1);
      const jobs = contexts.flatMap((c) => Array.from({ length: numSamples }, () => c));
      const chunks = await mapLimit(jobs, concurrency, async (c) => {
        throwIfAborted(opts?.signal);
        const x = toIds(await draw(c, opts?.signal), 'chunkSamplerFromCallback callback');
        if (x.length !== K)
          fail(
            'SHAPE_MISMATCH',
            `chunkSamplerFromCallback: the callback returned ${x.length} tokens; it must return exactly K = ${K}.`,
          );
        return x;
      });
      const out = new Int32Array(jobs.length * K);
      chunks.forEach((x, i) => out.set(x, i * K));
      return out;
    },
  };
}

/**
 * Wraps a callback that samples one continuation for one context into a `TokenSampler`.
 *
 * @remarks
 * The callback may return fewer than `maxTokens` ids when its text ended (the rest is filled
 * with `NO_TOKEN`), never more. Every call must be an independent draw.
 * @param draw - Returns up to `maxTokens` sampled ids continuing `context` (sync or async).
 * @param options - Vocabulary size, concurrency.
 * @returns A TokenSampler.
 * @throws `CalmError` at call time when the callback returns more than `maxTokens` ids or non-integers.
 * @example
 * {@includeCode ../test/examples.test.ts#callback-samplers}
 * @category Adapters
 */
export function tokenSamplerFromCallback(
  draw: (context: TokenIds, maxTokens: number, signal?: AbortSignal) => ArrayLike<number> | Promise<ArrayLike<number>>,
  options: CallbackAdapterOptions = {},
): TokenSampler {
  if (typeof draw !== 'function')
    fail('INVALID_ARGUMENT', 'tokenSamplerFromCallback: draw must be a function (context, maxTokens) => ids.');
  const concurrency = checkInt(options.concurrency ?? 1, 'tokenSamplerFromCallback concurrency', 1);
  return {
    ...(options.vocabSize === undefined ? {} : { vocabSize: options.vocabSize }),
    async sample(contexts, maxTokens, numSamples, opts) {
      checkInt(maxTokens, 'maxTokens', 1);
      checkInt(numSamples, 'numSamples', 1);
      const jobs = contexts.flatMap((c) => Array.from({ length: numSamples }, () => c));
      const rows = await mapLimit(jobs, concurrency, async (c) => {
        throwIfAborted(opts?.signal);
        const x = toIds(await draw(c, maxTokens, opts?.signal), 'tokenSamplerFromCallback callback');
        if (x.length > maxTokens)
          fail(
            'SHAPE_MISMATCH',
            `tokenSamplerFromCallback: the callback returned ${x.length} tokens for maxTokens = ${maxTokens}; return at most maxTokens.`,
          );
        return x;
      });
      const out = new Int32Array(jobs.length * maxTokens).fill(NO_TOKEN);
      rows.forEach((x, i) => out.set(x, i * maxTokens));
      return out;
    },
  };
}

/**
 * Wraps a callback that returns the next-token distribution for one context into a
 * `NextTokenModel`.
 * @param probs - Returns V probabilities summing to 1 (sync or async).
 * @param options - V (`vocabSize`, required), concurrency.
 * @returns A NextTokenModel.
 * @throws `CalmError` `INVALID_ARGUMENT` without a valid `vocabSize`; at call time
 *   `SHAPE_MISMATCH` when a row does not have V entries.
 * @example
 * {@includeCode ../test/examples.test.ts#callback-samplers}
 * @category Adapters
 */
export function nextTokenModelFromCallback(
  probs: (context: TokenIds, signal?: AbortSignal) => ArrayLike<number> | Promise<ArrayLike<number>>,
  options: CallbackAdapterOptions & { vocabSize: number },
): NextTokenModel {
  if (typeof probs !== 'function')
    fail('INVALID_ARGUMENT', 'nextTokenModelFromCallback: probs must be a function (context) => probabilities.');
  const V = checkInt(options?.vocabSize, 'nextTokenModelFromCallback vocabSize', 1);
  const concurrency = checkInt(options.concurrency ?? 1, 'nextTokenModelFromCallback concurrency', 1);
  return {
    vocabSize: V,
    async nextTokenProbs(contexts, opts) {
      const rows = await mapLimit(contexts, concurrency, async (c) => {
        throwIfAborted(opts?.signal);
        const p = await probs(c, opts?.signal);
        if (p == null || p.length !== V)
          fail(
            'SHAPE_MISMATCH',
            `nextTokenModelFromCallback: the callback returned ${p == null ? String(p) : p.length + ' values'}; it must return V = ${V} probabilities.`,
          );
        return p;
      });
      const out = new Float32Array(contexts.length * V);
      rows.forEach((p, i) => out.set(p, i * V));
      return out;
    },
  };
}

/**
 * Options of {@link chunkSamplerFromNextTokenModel}.
 * @see {@link chunkSamplerFromNextTokenModel}
 * @category Adapters
 */
export interface NextTokenChunkSamplerOptions {
  /** K, tokens per sampled chunk (≥ 1). */
  chunkSize: number;
  /** RNG of the draws (each call advances it); default `createRng(seed ?? 0)`. */
  rng?: Rng;
  /** Seed used when no `rng` is given; default 0. */
  seed?: number | string;
  /** Most contexts per `nextTokenProbs` call. @defaultValue 64 */
  batchSize?: number;
  /**
   * `sampleTeacherForced` takes the first token's distributions from one `teacherForcedProbs`
   * call when the sequence's T·V is at most this many floats, else from batched `nextTokenProbs`.
   * @defaultValue 2^26 (256 MB as float32)
   */
  maxTeacherForcedEntries?: number;
}

/**
 * Turns a model with explicit next-token probabilities into a `ChunkSampler`: every sample is K
 * tokens drawn autoregressively from the model's exact probabilities.
 *
 * @remarks
 * This lets an explicit model (an AR baseline, an {@link NGramModel}, any `NextTokenModel`) be
 * scored by the chunk estimator exactly like a CALM model: the same estimator, the same positions
 * (chunk boundaries) and the same `samplesPerPosition`, for like-for-like tables. (The explicit
 * estimator, `{ kind: 'explicit', model }`, scores the same model with lower variance at every
 * token position instead.)
 *
 * Cost: step 0 needs one distribution per context (for `sampleTeacherForced`, one
 * `teacherForcedProbs` call per sequence when the model has it); step j ≥ 1 one per distinct
 * j-token prefix among the samples of a context, so samples that agree share a call. Draws are
 * exact (inverse CDF on each row) and reproducible for a given RNG, batch size and call sequence.
 * The sampler provides `sampleTeacherForced` only when the model has `teacherForcedProbs`.
 * @param model - The explicit model (`nextTokenProbs`, `vocabSize`, optionally `teacherForcedProbs`).
 * @param options - K (`chunkSize`), RNG or seed, batch size, teacher-forced memory limit.
 * @returns A ChunkSampler whose `sample(contexts, numSamples)` returns int32 ids of shape
 *   [B, numSamples, K] drawn from the model.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad model or option; at call time when a row is
 *   not a probability distribution, `SHAPE_MISMATCH` when the model returns the wrong shape,
 *   `ABORTED` when the signal fires.
 * @example
 * {@includeCode ../test/examples.test.ts#explicit-as-chunks}
 * @category Adapters
 */
export function chunkSamplerFromNextTokenModel(
  model: NextTokenModel,
  options: NextTokenChunkSamplerOptions,
): ChunkSampler {
  if (!model || typeof model.nextTokenProbs !== 'function')
    fail(
      'INVALID_ARGUMENT',
      'chunkSamplerFromNextTokenModel: model must be a NextTokenModel with a nextTokenProbs(contexts) method.',
    );
  const V = checkInt(model.vocabSize, 'chunkSamplerFromNextTokenModel model.vocabSize', 1);
  const K = checkInt(options?.chunkSize, 'chunkSamplerFromNextTokenModel chunkSize', 1);
  const batchSize = checkInt(options.batchSize ?? 64, 'chunkSamplerFromNextTokenModel batchSize', 1);
  const maxTf = checkInt(
    options.maxTeacherForcedEntries ?? 2 ** 26,
    'chunkSamplerFromNextTokenModel maxTeacherForcedEntries',
    0,
  );
  if (options.rng && options.seed !== undefined)
    fail('INVALID_ARGUMENT', 'chunkSamplerFromNextTokenModel: pass either rng or seed, not both.');
  const rng = options.rng ?? createRng(options.seed ?? 0);
  const what = 'NextTokenModel.nextTokenProbs';

  /** Distributions after each of at most `batchSize` contexts, [B, V], in one model call. */
  const probsOf = async (contexts: readonly TokenIds[], signal?: AbortSignal): Promise<Float32Array | Float64Array> => {
    throwIfAborted(signal);
    const p = await model.nextTokenProbs(contexts, signal ? { signal } : {});
    checkProbsOutput(p, contexts.length * V, what, `[B = ${contexts.length}, V = ${V}]`);
    return p;
  };

  /**
   * K tokens per sample after each context, [B, numSamples, K]. Token 0 comes from `first`
   * (rows of `probs` at `off(b)`); token j ≥ 1 from one distribution per distinct prefix.
   */
  const drawChunks = async (
    contexts: readonly TokenIds[],
    numSamples: number,
    first: { probs: Float32Array | Float64Array; off: (b: number) => number; what: string },
    signal?: AbortSignal,
  ): Promise<Int32Array> => {
    const B = contexts.length;
    const out = new Int32Array(B * numSamples * K);
    const drawn = new Int32Array(numSamples);
    for (let b = 0; b < B; b++) {
      const off = first.off(b);
      const { sum } = rowStats(first.probs, off, V, first.what);
      drawTokens(first.probs, off, V, sum, rng, numSamples, drawn);
      for (let m = 0; m < numSamples; m++) out[(b * numSamples + m) * K] = drawn[m]!;
    }
    const grouper = new PrefixGrouper(numSamples);
    for (let j = 1; j < K; j++) {
      // One job per distinct j-token prefix of each context: its context and its members.
      const jobs: { context: TokenIds; members: number[] }[] = [];
      for (let b = 0; b < B; b++) {
        grouper.reset(numSamples);
        for (let q = 0; q < j; q++) grouper.refine((m) => out[(b * numSamples + m) * K + q]!);
        const byGroup = new Map<number, number[]>();
        for (let m = 0; m < numSamples; m++) {
          const g = grouper.gid[m]!;
          const list = byGroup.get(g);
          if (list) list.push(b * numSamples + m);
          else byGroup.set(g, [b * numSamples + m]);
        }
        for (const members of byGroup.values()) {
          const o = members[0]! * K;
          jobs.push({ context: concatTokens(contexts[b]!, contexts[b]!.length, [out.subarray(o, o + j)]), members });
        }
      }
      for (let start = 0; start < jobs.length; start += batchSize) {
        const batch = jobs.slice(start, start + batchSize);
        const probs = await probsOf(
          batch.map((x) => x.context),
          signal,
        );
        batch.forEach((job, r) => {
          const { sum } = rowStats(probs, r * V, V, what);
          drawTokens(probs, r * V, V, sum, rng, job.members.length, drawn);
          job.members.forEach((member, m) => {
            out[member * K + j] = drawn[m]!;
          });
        });
      }
    }
    return out;
  };

  const checkNumSamples = (numSamples: number): number =>
    checkInt(numSamples, 'numSamples', 1, MAX_SAMPLES_PER_POSITION);

  const sampler: ChunkSampler = {
    chunkSize: K,
    vocabSize: V,
    async sample(contexts: readonly TokenIds[], numSamples: number, opts?: SampleCallOptions) {
      checkNumSamples(numSamples);
      const out = new Int32Array(contexts.length * numSamples * K);
      // Bounded memory: at most `batchSize` contexts' distributions at a time.
      for (let start = 0; start < contexts.length; start += batchSize) {
        const batch = contexts.slice(start, start + batchSize);
        const probs = await probsOf(batch, opts?.signal);
        const chunks = await drawChunks(batch, numSamples, { probs, off: (b) => b * V, what }, opts?.signal);
        out.set(chunks, start * numSamples * K);
      }
      return out;
    },
  };
  const tfProbs = model.teacherForcedProbs;
  if (typeof tfProbs !== 'function') return sampler;
  return {
    ...sampler,
    async sampleTeacherForced(sequences: readonly TokenIds[], numSamples: number, opts?: SampleCallOptions) {
      checkNumSamples(numSamples);
      const results: Int32Array[] = [];
      for (const seq of sequences) {
        if (seq.length % K !== 0)
          fail(
            'INVALID_ARGUMENT',
            `sampleTeacherForced: sequence length ${seq.length} is not a multiple of K = ${K}; pad or cut it to whole chunks.`,
          );
        const L = seq.length / K;
        const contexts = Array.from({ length: Math.max(0, L - 1) }, (_, t) => seq.subarray(0, (t + 1) * K));
        if (seq.length * V <= maxTf && contexts.length > 0) {
          throwIfAborted(opts?.signal);
          const probs = await tfProbs.call(model, seq, opts?.signal ? { signal: opts.signal } : {});
          const tfWhat = 'NextTokenModel.teacherForcedProbs';
          checkProbsOutput(probs, seq.length * V, tfWhat, `[T = ${seq.length}, V = ${V}]`);
          // Row t·K − 1 is the distribution after the gold prefix of t chunks.
          const off = (b: number): number => ((b + 1) * K - 1) * V;
          results.push(await drawChunks(contexts, numSamples, { probs, off, what: tfWhat }, opts?.signal));
        } else results.push(await sampler.sample(contexts, numSamples, opts));
      }
      return results;
    },
  };
}

/**
 * Tags an object implementing one of the sampler contracts with the estimator that fits it.
 *
 * @remarks
 * Detection: an object with `nextTokenProbs` is explicit; one with `sample` and a numeric
 * `chunkSize` is a chunk sampler; one with only `sample` is a token sampler. An object that is
 * already a {@link BrierGenerator} is returned as is. Pass `kind` to force a choice (an
 * {@link NGramModel} is all three).
 * @param value - A ChunkSampler, TokenSampler, NextTokenModel or BrierGenerator.
 * @param kind - The estimator to use, when the object supports several.
 * @returns The tagged generator.
 * @throws `CalmError` `INVALID_ARGUMENT` when `value` implements none of the contracts or not the requested one.
 * @example
 * {@includeCode ../test/examples.test.ts#to-generator}
 * @category Adapters
 */
export function toBrierGenerator(value: unknown, kind?: EstimatorKind): BrierGenerator {
  if (value === null || typeof value !== 'object')
    fail(
      'INVALID_ARGUMENT',
      `toBrierGenerator: expected a sampler object, got ${value === null ? 'null' : typeof value}.`,
    );
  const v = value as Record<string, unknown>;
  if (typeof v['kind'] === 'string' && ('sampler' in v || 'model' in v)) {
    const g = value as BrierGenerator;
    if (kind !== undefined && g.kind !== kind)
      fail('INVALID_ARGUMENT', `toBrierGenerator: the generator is of kind "${g.kind}", not "${kind}".`);
    return g;
  }
  const explicit = typeof v['nextTokenProbs'] === 'function' && typeof v['vocabSize'] === 'number';
  const chunk = typeof v['sample'] === 'function' && typeof v['chunkSize'] === 'number';
  const token = typeof v['sample'] === 'function' && !chunk;
  const chosen = kind ?? (explicit ? 'explicit' : chunk ? 'chunk' : token ? 'token' : undefined);
  switch (chosen) {
    case 'explicit':
      if (!explicit)
        fail(
          'INVALID_ARGUMENT',
          'toBrierGenerator: kind "explicit" needs a NextTokenModel (nextTokenProbs and vocabSize).',
        );
      return { kind: 'explicit', model: value as NextTokenModel };
    case 'chunk':
      if (!chunk)
        fail('INVALID_ARGUMENT', 'toBrierGenerator: kind "chunk" needs a ChunkSampler (sample and chunkSize).');
      return { kind: 'chunk', sampler: value as ChunkSampler };
    case 'token':
      if (typeof v['sample'] !== 'function' || chunk) {
        fail(
          'INVALID_ARGUMENT',
          'toBrierGenerator: kind "token" needs a TokenSampler (sample(contexts, maxTokens, numSamples) and no chunkSize).',
        );
      }
      return { kind: 'token', sampler: value as TokenSampler };
    default:
      return fail(
        'INVALID_ARGUMENT',
        'toBrierGenerator: the object implements none of ChunkSampler (sample + chunkSize), TokenSampler (sample) or NextTokenModel (nextTokenProbs + vocabSize).',
      );
  }
}
