// Adapters that turn generators users already have into the sampler contracts of @calm/core:
// plain per-context callbacks (one sample or one distribution per call, run with a concurrency
// limit), and detection of which estimator fits an object that implements a contract.

import {
  NO_TOKEN,
  type ChunkSampler,
  type NextTokenModel,
  type SampleCallOptions,
  type TokenIds,
  type TokenSampler,
} from '@calm/core';
import type { BrierGenerator, EstimatorKind } from './types.js';
import { checkInt, fail, mapLimit, throwIfAborted } from './internal/util.js';

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
