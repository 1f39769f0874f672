// Tempered ChunkSamplers: wrap any black-box `ChunkSampler` (a CALM model, a fake, a remote API) so
// that its draws follow P^(1/T)/Z exactly (Algorithm 1, drawn in batches across contexts) or
// approximately (Algorithm 2, one pool per context from one batched call), with cost accounting.
import { chunkKey, type ChunkSampler, type Rng, type SampleCallOptions, type TokenIds } from '@calm/core';
import { batchTemperatureSampleChunks, selectWithOrder } from './batch.js';
import {
  budgetExhausted,
  exactSettings,
  fallbackOrder,
  type BudgetExhaustedPolicy,
  type ExactSettings,
} from './exact.js';
import { assertInteger, fail } from './internal/errors.js';
import { ExactState, chunkMatcher } from './internal/exact-state.js';
import { batchOrder } from './temperature.js';

/**
 * Cumulative cost counters of a tempered sampler (since creation or the last `resetStats`).
 *
 * @remarks
 * "Draws" are individual chunks: a base call `sample(contexts, d)` with B contexts counts B·d draws
 * (one teacher-forced call counts (L−1)·d per sequence). Per accepted sample, the cost is
 * `drawn / accepted`; for the exact sampler `consumed / accepted` estimates Theorem 2's E[N] and
 * `drawn − consumed` is the over-draw of batching (draws left unused when a call ends).
 * @see {@link withExactTemperature}
 * @category Samplers
 */
export interface TemperatureSamplerStats {
  /** Tempered samples returned. */
  accepted: number;
  /** Individual chunks requested from the base sampler. */
  drawn: number;
  /** Chunks the algorithm actually used (exact: Theorem 2's N summed; batch: equals `drawn`). */
  consumed: number;
  /** Invocations of the base sampler's `sample` / `sampleTeacherForced`. */
  baseCalls: number;
  /** Exact sampler: samples that ran out of budget and used the `'approximate'` fallback. */
  exhausted: number;
  /** Batch sampler: pools where the cascade fell back below m = n (no chunk occurred n times). */
  fallbacks: number;
}

/**
 * A {@link ChunkSampler} whose draws are tempered, with its cost counters.
 * @see {@link withExactTemperature}
 * @category Samplers
 */
export interface TemperedChunkSampler extends ChunkSampler {
  /** The temperature T the draws follow. */
  readonly temperature: number;
  /** The wrapped sampler. */
  readonly base: ChunkSampler;
  /**
   * A snapshot of the cost counters.
   * @returns A copy; later calls do not change it.
   */
  stats(): TemperatureSamplerStats;
  /** Sets every counter back to 0. */
  resetStats(): void;
}

/**
 * Options of {@link withExactTemperature}.
 * @category Samplers
 */
export interface ExactChunkSamplerOptions {
  /** T ∈ (0, 1]; 1/T within 1e-9 of an integer counts as an integer. */
  temperature: number;
  /** Source of the Stage-2 coin flips and fallback choices (the base sampler has its own noise). */
  rng: Rng;
  /** Most draws one sample may use; default `DEFAULT_MAX_CALLS_PER_SAMPLE` (100 000). */
  maxCallsPerSample?: number;
  /** What to do when a sample runs out of budget; default `'throw'`. */
  onBudgetExhausted?: BudgetExhaustedPolicy;
  /** Stop Stage 1 at the first mismatch (same distribution, fewer draws); default `false`. */
  earlyReject?: boolean;
  /**
   * Draws requested per pending sample in the first round; doubles every round. Default
   * max(16, 2n). Larger values mean fewer base calls and more unused draws.
   */
  initialDrawsPerSample?: number;
  /**
   * Cap on the chunks requested in one base call, over all contexts (memory bound: B · d · K ids).
   * Default 1 048 576 (16 MiB of int32 ids at K = 4).
   */
  maxDrawsPerCall?: number;
}

/**
 * Options of {@link withBatchTemperature}.
 * @category Samplers
 */
export interface BatchChunkSamplerOptions {
  /** T = 1/n for an integer n ≥ 1 (within 1e-9 relative). */
  temperature: number;
  /** Source of the selection randomness (the base sampler has its own noise). */
  rng: Rng;
  /** N, draws per pool; default 200 as in the official code. */
  poolSize?: number;
  /**
   * Tempered samples per context drawn per base call (each needs N draws); default: all requested
   * samples in one call. Lower it to bound memory (B · samplesPerCall · N · K ids per call).
   */
  samplesPerCall?: number;
}

function emptyStats(): TemperatureSamplerStats {
  return { accepted: 0, drawn: 0, consumed: 0, baseCalls: 0, exhausted: 0, fallbacks: 0 };
}

/** Counts one forwarded base call that returned `count` plain draws (T = 1). */
function countPlain(stats: TemperatureSamplerStats, count: number): void {
  stats.accepted += count;
  stats.drawn += count;
  stats.consumed += count;
  stats.baseCalls++;
}

/** Cost counters of one wrapper; `resetStats` swaps in fresh ones, so read `counters.stats` when counting. */
interface Counters {
  stats: TemperatureSamplerStats;
}

/** A wrapper's own draws, called by {@link assembleTempered} after the argument checks, never with zero sequences. */
interface TemperedDraws {
  /** Tempered chunks for B ≥ 1 contexts: [B, numSamples, K] int32. */
  sample(
    contexts: readonly TokenIds[],
    numSamples: number,
    callOptions: SampleCallOptions | undefined,
  ): Promise<Int32Array>;
  /**
   * Tempered teacher-forced chunks: per sequence i, [positions[i], numSamples, K] int32, where
   * positions[i] = L−1; `teacherForced` is the base sampler's own fast path.
   */
  sampleTeacherForced(
    teacherForced: NonNullable<ChunkSampler['sampleTeacherForced']>,
    sequences: readonly TokenIds[],
    positions: readonly number[],
    numSamples: number,
    callOptions: SampleCallOptions | undefined,
  ): Promise<Int32Array[]>;
}

/**
 * The part both wrappers share: the sampler object (chunk size, temperature, base, cost counters,
 * the base's vocabSize), the argument checks of each call, empty calls, and a teacher-forced path
 * only when the base sampler has one.
 */
function assembleTempered(
  what: string,
  sampler: ChunkSampler,
  k: number,
  temperature: number,
  counters: Counters,
  draws: TemperedDraws,
): TemperedChunkSampler {
  const tempered: TemperedChunkSampler = {
    chunkSize: k,
    temperature,
    base: sampler,
    stats: () => ({ ...counters.stats }),
    resetStats: () => {
      counters.stats = emptyStats();
    },
    async sample(
      contexts: readonly TokenIds[],
      numSamples: number,
      callOptions?: SampleCallOptions,
    ): Promise<Int32Array> {
      checkCall(contexts, numSamples, `${what}.sample`);
      if (contexts.length === 0) return new Int32Array(0);
      return draws.sample(contexts, numSamples, callOptions);
    },
  };
  if (sampler.vocabSize !== undefined) Object.assign(tempered, { vocabSize: sampler.vocabSize });
  if (typeof sampler.sampleTeacherForced === 'function') {
    const teacherForced = sampler.sampleTeacherForced.bind(sampler);
    tempered.sampleTeacherForced = async (sequences, numSamples, callOptions) => {
      const positions = teacherForcedPositions(sequences, k, `${what}.sampleTeacherForced`);
      assertInteger(
        numSamples,
        `${what}.sampleTeacherForced: numSamples`,
        1,
        'ask for at least one sample per position',
      );
      if (sequences.length === 0) return [];
      return draws.sampleTeacherForced(teacherForced, sequences, positions, numSamples, callOptions);
    };
  }
  return tempered;
}

function checkBase(sampler: ChunkSampler, what: string): number {
  if (sampler === null || typeof sampler !== 'object' || typeof sampler.sample !== 'function') {
    fail(
      'INVALID_ARGUMENT',
      `${what}: expected a ChunkSampler (an object with chunkSize and sample()); got ${String(sampler)}.`,
    );
  }
  assertInteger(sampler.chunkSize, `${what}: sampler.chunkSize`, 1, 'the base sampler must report K, its chunk size');
  return sampler.chunkSize;
}

function checkCall(contexts: readonly TokenIds[], numSamples: number, what: string): void {
  if (!Array.isArray(contexts))
    fail('INVALID_ARGUMENT', `${what}: contexts must be an array of Int32Array token sequences.`);
  assertInteger(numSamples, `${what}: numSamples`, 1, 'ask for at least one sample per context');
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail('ABORTED', 'temperature sampling was aborted by the caller (options.signal).');
}

function checkLength(got: Int32Array, expected: number, what: string): void {
  if (!(got instanceof Int32Array) || got.length !== expected) {
    fail(
      'SHAPE_MISMATCH',
      `the base sampler's ${what} returned ${got instanceof Int32Array ? `${got.length} ids` : 'a non-Int32Array'}, ` +
        `expected ${expected}; fix the base sampler to honour the ChunkSampler contract ([B, numSamples, K] int32).`,
    );
  }
}

function teacherForcedPositions(sequences: readonly TokenIds[], k: number, what: string): number[] {
  if (!Array.isArray(sequences))
    fail('INVALID_ARGUMENT', `${what}: sequences must be an array of Int32Array token sequences.`);
  return sequences.map((s, i) => {
    if (!(s instanceof Int32Array) || s.length === 0 || s.length % k !== 0) {
      fail(
        'INVALID_ARGUMENT',
        `${what}: sequences[${i}] has ${s?.length} tokens; pass int32 sequences whose length is a positive multiple of K = ${k}.`,
      );
    }
    return s.length / k - 1;
  });
}

/** Draws for "units" (contexts, or teacher-forced positions): one [perUnit, K] block per requested unit. */
interface DrawSource {
  units: number;
  draw(units: readonly number[], perUnit: number): Promise<Int32Array[]>;
}

interface ChunkQueue {
  blocks: Int32Array[];
  block: number;
  pos: number;
  available: number;
}

/** Batched driver of Algorithm 1: one state per (unit, sample), draws shared per unit through a FIFO. */
async function runExact(
  source: DrawSource,
  numSamples: number,
  k: number,
  s: ExactSettings,
  opts: { temperature: number; rng: Rng; initial: number; maxPerCall: number; signal: AbortSignal | undefined },
  stats: TemperatureSamplerStats,
): Promise<Int32Array> {
  const { units } = source;
  const out = new Int32Array(units * numSamples * k);
  const pending: number[][] = [];
  const states: (ExactState<Int32Array> | undefined)[][] = [];
  const queues: ChunkQueue[] = [];
  for (let u = 0; u < units; u++) {
    pending.push(Array.from({ length: numSamples }, (_, j) => j));
    states.push(
      Array.from(
        { length: numSamples },
        () => new ExactState(s.n, s.alpha, chunkMatcher(), opts.rng, s.earlyReject, s.policy === 'approximate'),
      ),
    );
    queues.push({ blocks: [], block: 0, pos: 0, available: 0 });
  }
  let perSample = opts.initial;
  let remaining = units * numSamples;
  while (remaining > 0) {
    checkAborted(opts.signal);
    const request: number[] = [];
    let perUnit = 0;
    for (let u = 0; u < units && request.length < opts.maxPerCall; u++) {
      if (pending[u]!.length === 0) continue;
      let need = -queues[u]!.available;
      for (const j of pending[u]!) need += Math.min(perSample, s.maxCalls - states[u]![j]!.consumed);
      if (need > 0) {
        request.push(u); // (more contexts than maxDrawsPerCall: the rest wait for the next round)
        perUnit = Math.max(perUnit, need);
      }
    }
    if (request.length > 0) {
      perUnit = Math.max(1, Math.min(perUnit, Math.floor(opts.maxPerCall / request.length)));
      const blocks = await source.draw(request, perUnit);
      stats.baseCalls++;
      stats.drawn += perUnit * request.length;
      request.forEach((u, i) => {
        const q = queues[u]!;
        q.blocks.push(blocks[i]!);
        q.available += perUnit;
      });
    }
    for (let u = 0; u < units; u++) {
      const q = queues[u]!;
      const still: number[] = [];
      for (const j of pending[u]!) {
        const st = states[u]![j]!;
        while (q.available > 0 && st.consumed < s.maxCalls) {
          const blk = q.blocks[q.block]!;
          const chunk = blk.subarray(q.pos * k, q.pos * k + k);
          q.available--;
          if (++q.pos * k >= blk.length) {
            q.blocks[q.block] = new Int32Array(0); // release consumed blocks (accepted values were views)
            q.block++;
            q.pos = 0;
          }
          if (st.feed(chunk)) break;
        }
        let value: Int32Array | undefined;
        if (st.done) value = st.value!;
        else if (st.consumed >= s.maxCalls) {
          if (s.policy === 'throw') budgetExhausted(opts.temperature, s.maxCalls, ` for context ${u}, sample ${j}`);
          value = selectWithOrder(
            st.draws!,
            fallbackOrder(opts.temperature),
            chunkKey,
            opts.rng,
            'withExactTemperature',
          );
          stats.exhausted++;
        }
        if (value === undefined) {
          still.push(j);
          continue;
        }
        out.set(value, (u * numSamples + j) * k);
        stats.accepted++;
        stats.consumed += st.consumed;
        remaining--;
        states[u]![j] = undefined; // drop the state and the views it holds
      }
      pending[u] = still;
      if (still.length === 0) queues[u] = { blocks: [], block: 0, pos: 0, available: 0 };
    }
    perSample = Math.min(perSample * 2, s.maxCalls);
  }
  return out;
}

/**
 * Wraps a sampler so that its draws follow P^(1/T)/Z exactly (paper Algorithm 1, any T ∈ (0, 1]).
 *
 * @remarks
 * Every requested (context, sample) runs its own copy of Algorithm 1; the draws it needs are fetched
 * in rounds, one batched base call per round for all contexts that still have pending samples.
 * Round r asks each context for `initialDrawsPerSample · 2^r` draws per pending sample (capped by
 * the remaining budget), minus what it still has buffered, in one call of at most
 * `maxDrawsPerCall` chunks (all contexts share one `numSamples`, the largest need); unused draws of a
 * context are handed to that context's next pending sample (they are i.i.d.), and those left at the
 * end are discarded. `stats().consumed` counts the draws the algorithm used (Theorem 2's N, summed);
 * `stats().drawn` counts every chunk requested from the base sampler, which is what the model pays.
 * With earlyReject and a good initial size the over-draw is small; the number of base calls grows
 * only logarithmically with the cost. At T = 1 (n = 1, α = 0) a call is forwarded as one plain draw.
 * Chunks are the same outcome when all K ids are equal. `sampleTeacherForced` is provided when the
 * base sampler has it (each round then draws at every position of the sequences that still need draws).
 *
 * @param sampler - The base sampler (draws from P).
 * @param options - Temperature, RNG, budget and batching.
 * @returns A tempered sampler with the same chunkSize and vocabSize, and cost counters.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a bad temperature, option or base sampler.
 *   Its `sample` rejects with `BUDGET_EXHAUSTED` (policy `'throw'`), `SHAPE_MISMATCH` (the base
 *   sampler broke the contract), `ABORTED`, or whatever the base sampler throws.
 * @example
 * {@includeCode ../test/examples.test.ts#exact-chunks}
 * @category Samplers
 */
export function withExactTemperature(sampler: ChunkSampler, options: ExactChunkSamplerOptions): TemperedChunkSampler {
  const k = checkBase(sampler, 'withExactTemperature');
  const { temperature, rng } = options;
  const settings = exactSettings(temperature, options);
  const initial = options.initialDrawsPerSample ?? Math.max(16, 2 * settings.n);
  const maxPerCall = options.maxDrawsPerCall ?? 1 << 20;
  assertInteger(
    initial,
    'initialDrawsPerSample',
    1,
    'pass the number of draws to request per pending sample in the first round',
  );
  assertInteger(maxPerCall, 'maxDrawsPerCall', 1, 'pass the most chunks to request from the base sampler in one call');
  const counters: Counters = { stats: emptyStats() };
  const plain = settings.n === 1 && settings.alpha === 0;
  const run = (source: DrawSource, numSamples: number, signal: AbortSignal | undefined) =>
    runExact(source, numSamples, k, settings, { temperature, rng, initial, maxPerCall, signal }, counters.stats);

  return assembleTempered('withExactTemperature', sampler, k, temperature, counters, {
    async sample(contexts, numSamples, callOptions) {
      if (plain) {
        const ids = await sampler.sample(contexts, numSamples, callOptions);
        checkLength(ids, contexts.length * numSamples * k, 'sample');
        countPlain(counters.stats, contexts.length * numSamples);
        return ids;
      }
      const source: DrawSource = {
        units: contexts.length,
        async draw(units, perUnit) {
          const ids = await sampler.sample(
            units.map((u) => contexts[u]!),
            perUnit,
            callOptions,
          );
          checkLength(ids, units.length * perUnit * k, 'sample');
          return units.map((_, i) => ids.subarray(i * perUnit * k, (i + 1) * perUnit * k));
        },
      };
      return run(source, numSamples, callOptions?.signal);
    },
    async sampleTeacherForced(teacherForced, sequences, positions, numSamples, callOptions) {
      if (plain) {
        const res = await teacherForced(sequences, numSamples, callOptions);
        let count = 0;
        res.forEach((r, i) => {
          checkLength(r, positions[i]! * numSamples * k, 'sampleTeacherForced');
          count += positions[i]! * numSamples;
        });
        countPlain(counters.stats, count);
        return res;
      }
      // Units are (sequence, position) pairs, laid out sequence by sequence.
      const offsets: number[] = [];
      const unitSeq: number[] = [];
      let total = 0;
      positions.forEach((p, i) => {
        offsets.push(total);
        for (let t = 0; t < p; t++) unitSeq.push(i);
        total += p;
      });
      const source: DrawSource = {
        units: total,
        async draw(units, perUnit) {
          const seqs = [...new Set(units.map((u) => unitSeq[u]!))];
          const res = await teacherForced(
            seqs.map((i) => sequences[i]!),
            perUnit,
            callOptions,
          );
          const bySeq = new Map<number, Int32Array>();
          seqs.forEach((i, r) => {
            checkLength(res[r]!, positions[i]! * perUnit * k, 'sampleTeacherForced');
            bySeq.set(i, res[r]!);
          });
          counters.stats.drawn += seqs.reduce((acc, i) => acc + positions[i]! * perUnit, 0) - units.length * perUnit; // unrequested positions
          return units.map((u) => {
            const i = unitSeq[u]!;
            const t = u - offsets[i]!;
            return bySeq.get(i)!.subarray(t * perUnit * k, (t + 1) * perUnit * k);
          });
        },
      };
      const flat = await run(source, numSamples, callOptions?.signal);
      return positions.map((p, i) => flat.slice(offsets[i]! * numSamples * k, (offsets[i]! + p) * numSamples * k));
    },
  });
}

/**
 * Wraps a sampler so that each draw is chosen by the batch approximation (paper Algorithm 2, the
 * official `temperature_sampling`): for every requested sample, a pool of N draws for the same
 * context, selection ∝ C(count, m) with the cascade m = n, …, 1.
 *
 * @remarks
 * One base call `sample(contexts, numSamples · N)` draws every pool at once (split by
 * `samplesPerCall` if asked). Cost: exactly N draws per returned sample (`stats().drawn`), whatever
 * T; the price is bias for finite N (Theorem 3: it vanishes as N → ∞). T must be 1/n. At T = 1 a
 * call is forwarded as one plain draw, as the official code does. `sampleTeacherForced` is provided
 * when the base sampler has it (pools per position).
 *
 * @param sampler - The base sampler (draws from P).
 * @param options - Temperature, RNG, pool size and batching.
 * @returns A tempered sampler with the same chunkSize and vocabSize, and cost counters.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for a T that is not 1/n, a bad option or base sampler.
 *   Its `sample` rejects with `SHAPE_MISMATCH` (the base sampler broke the contract), `ABORTED`, or
 *   whatever the base sampler throws.
 * @example
 * {@includeCode ../test/examples.test.ts#batch-chunks}
 * @category Samplers
 */
export function withBatchTemperature(sampler: ChunkSampler, options: BatchChunkSamplerOptions): TemperedChunkSampler {
  const k = checkBase(sampler, 'withBatchTemperature');
  const { temperature, rng } = options;
  const n = batchOrder(temperature);
  const poolSize = options.poolSize ?? 200;
  assertInteger(poolSize, 'poolSize', 1, 'pass N, the number of draws per pool (the official code uses 200)');
  if (options.samplesPerCall !== undefined) {
    assertInteger(
      options.samplesPerCall,
      'samplesPerCall',
      1,
      'pass how many tempered samples per context to draw per base call',
    );
  }
  const counters: Counters = { stats: emptyStats() };
  const drawPerSample = n === 1 ? 1 : poolSize;

  /** Chooses from `pools` ([P, cnt · N, K] for P units) and scatters into `out` ([P, numSamples, K]) at sample `start`. */
  const choose = (
    pools: Int32Array,
    units: number,
    cnt: number,
    start: number,
    numSamples: number,
    out: Int32Array,
  ) => {
    const stats = counters.stats;
    const count = units * cnt;
    stats.drawn += count * drawPerSample;
    stats.consumed += count * drawPerSample;
    stats.accepted += count;
    let ids = pools;
    if (n > 1) {
      const res = batchTemperatureSampleChunks(pools, temperature, { numPools: count, chunkSize: k, rng });
      for (const m of res.levels) if (m < n) stats.fallbacks++;
      ids = res.ids;
    }
    for (let u = 0; u < units; u++) out.set(ids.subarray(u * cnt * k, (u + 1) * cnt * k), (u * numSamples + start) * k);
  };

  return assembleTempered('withBatchTemperature', sampler, k, temperature, counters, {
    async sample(contexts, numSamples, callOptions) {
      const b = contexts.length;
      const out = new Int32Array(b * numSamples * k);
      const per = options.samplesPerCall ?? numSamples;
      for (let start = 0; start < numSamples; start += per) {
        checkAborted(callOptions?.signal);
        const cnt = Math.min(per, numSamples - start);
        const pools = await sampler.sample(contexts, cnt * drawPerSample, callOptions);
        counters.stats.baseCalls++;
        checkLength(pools, b * cnt * drawPerSample * k, 'sample');
        choose(pools, b, cnt, start, numSamples, out);
      }
      return out;
    },
    async sampleTeacherForced(teacherForced, sequences, positions, numSamples, callOptions) {
      const outs = positions.map((p) => new Int32Array(p * numSamples * k));
      const per = options.samplesPerCall ?? numSamples;
      for (let start = 0; start < numSamples; start += per) {
        checkAborted(callOptions?.signal);
        const cnt = Math.min(per, numSamples - start);
        const res = await teacherForced(sequences, cnt * drawPerSample, callOptions);
        counters.stats.baseCalls++;
        positions.forEach((p, i) => {
          checkLength(res[i]!, p * cnt * drawPerSample * k, 'sampleTeacherForced');
          if (p > 0) choose(res[i]!, p, cnt, start, numSamples, outs[i]!);
        });
      }
      return outs;
    },
  });
}
