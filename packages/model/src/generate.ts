// Text generation with a KV cache: CALM as the official `CALM.generate` (prompts right-padded with
// PAD to a multiple of K, one chunk per step drawn through @calm/energy-head's head chunk sampler,
// temperature through @calm/temperature-sampler, EOS handling, PAD stripped from the output) and
// the AR baseline with softmax temperature.

import * as tf from '@tensorflow/tfjs';
import { padToMultiple, type ChunkSampler, type Rng, type TokenIds } from '@calm/core';
import { createHeadChunkSampler } from '@calm/energy-head';
import {
  withBatchTemperature,
  withExactTemperature,
  type TemperatureSamplerStats,
  type TemperedChunkSampler,
} from '@calm/temperature-sampler';
import type { ArModel } from './ar-model.js';
import type { CalmModel } from './calm-model.js';
import { fail } from './internal/errors.js';
import { KvCache } from './llama.js';
import { calmDecoder, defaultMaxLatents } from './samplers.js';

/**
 * Options of {@link generateCalm}.
 * @category Generation
 */
export interface CalmGenerateOptions {
  /** Source of every random draw (head noise and temperature selection). */
  rng: Rng;
  /**
   * Stop when a row holds this many tokens, padded prompt included (the official `max_length`).
   * At least one of `maxLength` and `maxNewTokens` must be given.
   */
  maxLength?: number;
  /** Stop after this many generated tokens (rounded up to whole chunks). */
  maxNewTokens?: number;
  /**
   * Sampling temperature T ∈ (0, 1]. T = 1 draws one head sample per chunk. @defaultValue 1
   */
  temperature?: number;
  /**
   * `'batch'`: the official batch approximation (Algorithm 2; T must be 1/n); `'exact'`:
   * Algorithm 1 (any T, cost grows quickly as T falls). @defaultValue 'batch'
   */
  temperatureMethod?: 'batch' | 'exact';
  /** Pool size N of the batch approximation. @defaultValue 200 (official) */
  poolSize?: number;
  /** Stop a row at the first chunk containing EOS. @defaultValue true */
  stopAtEos?: boolean;
  /** Aborts generation (rejects with `ABORTED`). */
  signal?: AbortSignal;
  /** Called after every generated chunk with the number of chunks generated so far. */
  onStep?: (chunks: number) => void;
  /**
   * Called after every generated chunk, once per prompt still generating, with that prompt's index
   * and its new tokens (int32, PAD removed, up to K) — for streaming text as it is generated.
   */
  onTokens?: (prompt: number, tokens: Int32Array) => void;
}

/**
 * The result of {@link generateCalm} / {@link generateAr}.
 * @category Generation
 */
export interface GenerateResult {
  /** Per prompt: prompt and generated tokens, every PAD removed (the official output). */
  sequences: Int32Array[];
  /** Per prompt: only the generated tokens (PAD removed; up to and including EOS when it stopped there). */
  generated: Int32Array[];
  /** Per prompt: whether it stopped at EOS. */
  finishedAtEos: boolean[];
  /** Generation steps run (chunks for CALM, tokens for AR), over all prompt groups. */
  steps: number;
  /** Temperature-sampler cost counters (CALM with T < 1), summed over groups. */
  temperatureStats?: TemperatureSamplerStats;
}

function checkPrompts(prompts: readonly TokenIds[], vocab: number, fn: string): void {
  if (!Array.isArray(prompts) || prompts.length === 0)
    fail('INVALID_ARGUMENT', `${fn}: prompts must be a non-empty array of Int32Array token sequences.`);
  prompts.forEach((p, i) => {
    if (!(p instanceof Int32Array) || p.length === 0)
      fail('INVALID_ARGUMENT', `${fn}: prompts[${i}] must be a non-empty Int32Array (start it with BOS).`);
    for (let j = 0; j < p.length; j++)
      if (p[j]! < 0 || p[j]! >= vocab)
        fail('INVALID_ARGUMENT', `${fn}: prompts[${i}][${j}] = ${p[j]} is outside the vocabulary [0, ${vocab}).`);
  });
}

function stripPad(ids: ArrayLike<number>, pad: number | null): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) if (ids[i] !== pad) out.push(ids[i]!);
  return Int32Array.from(out);
}

function addStats(a: TemperatureSamplerStats | undefined, b: TemperatureSamplerStats): TemperatureSamplerStats {
  if (!a) return { ...b };
  return {
    accepted: a.accepted + b.accepted,
    drawn: a.drawn + b.drawn,
    consumed: a.consumed + b.consumed,
    baseCalls: a.baseCalls + b.baseCalls,
    exhausted: a.exhausted + b.exhausted,
    fallbacks: a.fallbacks + b.fallbacks,
  };
}

/**
 * Generates continuations with CALM, as the official `CALM.generate`.
 *
 * @remarks
 * Each prompt is right-padded with PAD to a multiple of K (the official quirk: the PAD embeds to
 * zero inside the last prompt chunk). Prompts with the same padded length are generated together
 * with one KV cache; a row's result never depends on the other rows. Each step takes the hidden
 * state of the last chunk, draws the next chunk (head sample → autoencoder decoder → argmax,
 * through `@calm/energy-head`'s `createHeadChunkSampler`, for any head; at temperature T through
 * `@calm/temperature-sampler`), and feeds it back. Finished rows receive PAD
 * chunks; every PAD is removed from the output.
 * @param model - A CALM model.
 * @param prompts - Token sequences (non-empty, int32).
 * @param options - Length limits, temperature, RNG, EOS handling.
 * @returns Sequences and generated parts, PAD removed.
 * @throws `CalmError` `INVALID_ARGUMENT` for bad prompts or options (T not 1/n with
 *   `'batch'`), `ABORTED`, `BUDGET_EXHAUSTED` (exact sampler).
 * @example
 * {@includeCode ../test/examples.test.ts#generate}
 * @category Generation
 */
export async function generateCalm(
  model: CalmModel,
  prompts: readonly TokenIds[],
  options: CalmGenerateOptions,
): Promise<GenerateResult> {
  const cfg = model.config;
  const k = cfg.patchSize;
  const pad = cfg.padTokenId;
  const eos = cfg.eosTokenId;
  checkPrompts(prompts, cfg.vocabSize, 'generateCalm');
  const { rng } = options;
  if (!rng || typeof rng.uniform !== 'function')
    fail('INVALID_ARGUMENT', 'generateCalm: options.rng must be an Rng from @calm/core.');
  if (options.maxLength === undefined && options.maxNewTokens === undefined)
    fail(
      'INVALID_ARGUMENT',
      'generateCalm: pass maxLength (total tokens, as the official max_length) or maxNewTokens.',
    );
  for (const [name, v] of [
    ['maxLength', options.maxLength],
    ['maxNewTokens', options.maxNewTokens],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1))
      fail('INVALID_ARGUMENT', `generateCalm: ${name} must be an integer >= 1, got ${v}.`);
  }
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0 && temperature <= 1))
    fail(
      'INVALID_ARGUMENT',
      `generateCalm: temperature must be in (0, 1], got ${temperature}; CALM can only sharpen its distribution.`,
    );
  const method = options.temperatureMethod ?? 'batch';
  if (method !== 'batch' && method !== 'exact')
    fail(
      'INVALID_ARGUMENT',
      `generateCalm: temperatureMethod must be 'batch' or 'exact', got ${JSON.stringify(method)}.`,
    );
  const stopAtEos = options.stopAtEos ?? true;
  const padded = prompts.map((p) => padToMultiple(p, k, pad));
  const groups = new Map<number, number[]>();
  padded.forEach((p, i) => groups.set(p.length, [...(groups.get(p.length) ?? []), i]));
  const sequences: Int32Array[] = new Array(prompts.length);
  const generated: Int32Array[] = new Array(prompts.length);
  const finishedAtEos: boolean[] = new Array(prompts.length).fill(false);
  let steps = 0;
  let tempStats: TemperatureSamplerStats | undefined;

  const decode = calmDecoder(model);
  const maxLatentsPerCall = defaultMaxLatents(model);
  for (const [len, members] of groups) {
    const g = members.length;
    const maxTotal = Math.min(
      options.maxLength ?? Infinity,
      options.maxNewTokens !== undefined ? len + Math.ceil(options.maxNewTokens / k) * k : Infinity,
    );
    const rows: number[][] = members.map((m) => Array.from(padded[m]!));
    const finished = new Array<boolean>(g).fill(false);
    // One chunk sampler per group over the current step's hidden states [G, H]: its contexts only
    // name rows (a temperature sampler may ask for some of them), so no token is re-encoded.
    const rowContexts: TokenIds[] = members.map(() => new Int32Array(0));
    const rowOf = new Map<TokenIds, number>(rowContexts.map((c, i) => [c, i]));
    let last: tf.Tensor2D | undefined;
    const base = createHeadChunkSampler({
      head: model.head,
      chunkSize: k,
      vocabSize: cfg.vocabSize,
      rng,
      maxLatentsPerCall,
      decode,
      hiddenStates: (contexts) => {
        const current = last!;
        if (contexts === rowContexts) return tf.clone(current); // every row in order: no copy
        const idx = contexts.map(
          (c) => rowOf.get(c) ?? fail('INTERNAL', 'generateCalm: the temperature sampler passed an unknown context.'),
        );
        return tf.tidy(() => tf.gather(current, tf.tensor1d(Int32Array.from(idx), 'int32')) as tf.Tensor2D);
      },
    });
    const tempered: TemperedChunkSampler | undefined =
      temperature === 1
        ? undefined
        : method === 'batch'
          ? withBatchTemperature(base, {
              temperature,
              rng,
              ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}),
            })
          : withExactTemperature(base, { temperature, rng });
    const sampler: ChunkSampler = tempered ?? base;
    const callOptions = options.signal ? { signal: options.signal } : {};
    // Room for the whole generation (chunk positions; capped, it grows by doubling beyond).
    const cache = new KvCache({ capacity: Math.ceil(Math.min(maxTotal, len + 256 * k) / k) });
    try {
      last = tf.tidy(() => {
        const h = model.hidden(tf.tensor2d(Int32Array.from(rows.flat()), [g, len], 'int32'), cache); // [G, S, H]
        return tf.reshape(tf.slice(h, [0, h.shape[1] - 1, 0], [g, 1, cfg.hiddenSize]), [
          g,
          cfg.hiddenSize,
        ]) as tf.Tensor2D; // [G, H]
      });
      let total = len;
      while (total < maxTotal && !finished.every((f) => f)) {
        if (options.signal?.aborted) fail('ABORTED', 'generation was aborted by the caller (options.signal).');
        const next = await sampler.sample(rowContexts, 1, callOptions); // [G, 1, K]
        for (let r = 0; r < g; r++) {
          const chunk = next.subarray(r * k, (r + 1) * k);
          if (finished[r]) chunk.fill(pad);
          rows[r]!.push(...chunk);
          if (!finished[r] && options.onTokens) options.onTokens(members[r]!, stripPad(chunk, pad));
          if (!finished[r] && stopAtEos && chunk.includes(eos)) {
            finished[r] = true;
            finishedAtEos[members[r]!] = true;
          }
        }
        total += k;
        steps++;
        options.onStep?.(steps);
        if (total >= maxTotal || finished.every((f) => f)) break;
        const prev = last;
        last = tf.tidy(
          () => tf.reshape(model.hidden(tf.tensor2d(next, [g, k], 'int32'), cache), [g, cfg.hiddenSize]) as tf.Tensor2D,
        ); // [G, H]
        prev.dispose();
      }
    } finally {
      last?.dispose();
      cache.dispose();
    }
    if (tempered) tempStats = addStats(tempStats, tempered.stats());
    members.forEach((m, r) => {
      sequences[m] = stripPad(rows[r]!, pad);
      generated[m] = stripPad(rows[r]!.slice(len), pad);
    });
  }
  const result: GenerateResult = { sequences, generated, finishedAtEos, steps };
  if (tempStats) result.temperatureStats = tempStats;
  return result;
}

/**
 * Options of {@link generateAr}.
 * @category Generation
 */
export interface ArGenerateOptions {
  /** Source of the token draws. */
  rng: Rng;
  /** Tokens to generate per prompt (≥ 1). */
  maxNewTokens: number;
  /** Softmax temperature (> 0); logits are divided by it. @defaultValue 1 */
  temperature?: number;
  /** Stop a row at EOS (included in the output). @defaultValue true */
  stopAtEos?: boolean;
  /** Aborts generation (rejects with `ABORTED`). */
  signal?: AbortSignal;
  /** Called after every generated token with the number of steps so far. */
  onStep?: (steps: number) => void;
}

/**
 * Generates continuations with the AR baseline: one token per step with a KV cache, sampled from
 * `softmax(logits / T)`. Prompts of equal length are batched; rows are independent.
 * @param model - An AR model.
 * @param prompts - Token sequences (non-empty, int32).
 * @param options - Length, temperature, RNG, EOS handling.
 * @returns Sequences (prompt + generated) and generated parts.
 * @throws `CalmError` `INVALID_ARGUMENT` for bad prompts or options, `ABORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#generate}
 * @category Generation
 */
export async function generateAr(
  model: ArModel,
  prompts: readonly TokenIds[],
  options: ArGenerateOptions,
): Promise<GenerateResult> {
  const cfg = model.config;
  checkPrompts(prompts, cfg.vocabSize, 'generateAr');
  const { rng } = options;
  if (!rng || typeof rng.uniform !== 'function')
    fail('INVALID_ARGUMENT', 'generateAr: options.rng must be an Rng from @calm/core.');
  if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 1)
    fail('INVALID_ARGUMENT', `generateAr: maxNewTokens must be an integer >= 1, got ${options.maxNewTokens}.`);
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0) || !Number.isFinite(temperature))
    fail('INVALID_ARGUMENT', `generateAr: temperature must be a finite number > 0, got ${temperature}.`);
  const stopAtEos = (options.stopAtEos ?? true) && cfg.eosTokenId !== null;
  const v = cfg.vocabSize;
  const groups = new Map<number, number[]>();
  prompts.forEach((p, i) => groups.set(p.length, [...(groups.get(p.length) ?? []), i]));
  const sequences: Int32Array[] = new Array(prompts.length);
  const generated: Int32Array[] = new Array(prompts.length);
  const finishedAtEos: boolean[] = new Array(prompts.length).fill(false);
  let steps = 0;
  for (const [len, members] of groups) {
    const g = members.length;
    const outs: number[][] = members.map(() => []);
    const finished = new Array<boolean>(g).fill(false);
    const cache = new KvCache({ capacity: len + Math.min(options.maxNewTokens, 1024) });
    try {
      let input = tf.tensor2d(Int32Array.from(members.flatMap((m) => Array.from(prompts[m]!))), [g, len], 'int32');
      for (let step = 0; step < options.maxNewTokens && !finished.every((f) => f); step++) {
        if (options.signal?.aborted) fail('ABORTED', 'generation was aborted by the caller (options.signal).');
        const probsT = tf.tidy(() => {
          const logits = model.logits(input, cache);
          const lastLogits = tf.reshape(tf.slice(logits, [0, logits.shape[1] - 1, 0], [g, 1, v]), [g, v]);
          return tf.softmax(temperature === 1 ? lastLogits : tf.div(lastLogits, temperature));
        });
        const probs = (await probsT.data()) as Float32Array;
        probsT.dispose();
        input.dispose();
        const next = new Int32Array(g);
        for (let r = 0; r < g; r++) {
          if (finished[r]) {
            next[r] = cfg.padTokenId ?? 0;
            continue;
          }
          next[r] = rng.categorical(probs.subarray(r * v, (r + 1) * v));
          outs[r]!.push(next[r]!);
          if (stopAtEos && next[r] === cfg.eosTokenId) {
            finished[r] = true;
            finishedAtEos[members[r]!] = true;
          }
        }
        steps++;
        options.onStep?.(steps);
        input = tf.tensor2d(next, [g, 1], 'int32');
      }
      input.dispose();
    } finally {
      cache.dispose();
    }
    members.forEach((m, r) => {
      generated[m] = Int32Array.from(outs[r]!);
      const seq = new Int32Array(prompts[m]!.length + outs[r]!.length);
      seq.set(prompts[m]!);
      seq.set(outs[r]!, prompts[m]!.length);
      sequences[m] = seq;
    });
  }
  return { sequences, generated, finishedAtEos, steps };
}
