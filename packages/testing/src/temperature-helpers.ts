// Test helpers for @calm/temperature-sampler (usable by any package that needs a fake ChunkSampler):
// a fast seeded categorical drawer, a fake ChunkSampler over explicit chunk distributions, and a
// ChunkSampler conformance check (shape, dtype, id range, determinism under fixed seeds).
import { chunkKey, createRng, type ChunkSampler, type Rng, type TokenIds } from '@calm/core';

/** Returns a function drawing an index with probability ∝ `probs[i]` (first bin whose CDF exceeds u). */
export function categoricalDrawer(probs: ArrayLike<number>, rng: Rng): () => number {
  const cdf = new Float64Array(probs.length);
  let acc = 0;
  for (let i = 0; i < probs.length; i++) {
    acc += probs[i]!;
    cdf[i] = acc;
  }
  const last = probs.length - 1;
  return () => {
    const u = rng.uniform() * acc;
    let lo = 0;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** Options of {@link fakeChunkSampler}. */
export interface FakeChunkSamplerOptions {
  /** K. */
  chunkSize: number;
  /** The possible chunks (each of length K), shared by all contexts. */
  chunks: readonly Int32Array[];
  /** The distribution over `chunks` after a context (may depend on the context). */
  probsFor: (context: TokenIds) => ArrayLike<number>;
  /** Seed of the fake model's own noise. */
  seed: number;
  /** Vocabulary size to report. */
  vocabSize?: number;
  /** Also implement `sampleTeacherForced` (position t conditions on the first t chunks). */
  teacherForced?: boolean;
}

/** A fake ChunkSampler with counters of calls and individual draws. */
export interface FakeChunkSampler extends ChunkSampler {
  /** Invocations of sample / sampleTeacherForced. */
  calls: number;
  /** Individual chunks drawn. */
  draws: number;
}

/** A fake ChunkSampler drawing each chunk i.i.d. from an explicit categorical distribution per context. */
export function fakeChunkSampler(options: FakeChunkSamplerOptions): FakeChunkSampler {
  const { chunkSize: k, chunks } = options;
  const rng = createRng(options.seed);
  const drawers = new Map<string, () => number>();
  const drawerFor = (context: TokenIds) => {
    const key = chunkKey(context);
    let d = drawers.get(key);
    if (d === undefined) {
      d = categoricalDrawer(options.probsFor(context), rng);
      drawers.set(key, d);
    }
    return d;
  };
  const fill = (out: Int32Array, at: number, context: TokenIds, count: number) => {
    const draw = drawerFor(context);
    for (let s = 0; s < count; s++) out.set(chunks[draw()]!, (at + s) * k);
  };
  const sampler: FakeChunkSampler = {
    chunkSize: k,
    calls: 0,
    draws: 0,
    async sample(contexts, numSamples) {
      sampler.calls++;
      sampler.draws += contexts.length * numSamples;
      const out = new Int32Array(contexts.length * numSamples * k);
      contexts.forEach((c, b) => fill(out, b * numSamples, c, numSamples));
      return out;
    },
  };
  if (options.vocabSize !== undefined) Object.assign(sampler, { vocabSize: options.vocabSize });
  if (options.teacherForced) {
    sampler.sampleTeacherForced = async (sequences, numSamples) => {
      sampler.calls++;
      return sequences.map((seq) => {
        const l = seq.length / k;
        const out = new Int32Array((l - 1) * numSamples * k);
        for (let t = 1; t < l; t++) fill(out, (t - 1) * numSamples, seq.subarray(0, t * k), numSamples);
        sampler.draws += (l - 1) * numSamples;
        return out;
      });
    };
  }
  return sampler;
}

/**
 * Checks the ChunkSampler contract on a sampler factory: `sample` returns int32 ids of shape
 * [B, numSamples, K] (ids in [0, vocabSize) when reported), an empty batch gives an empty array,
 * and two samplers built with the same seeds return identical ids. Returns the problems found.
 */
export async function chunkSamplerConformance(
  make: () => ChunkSampler,
  contexts: readonly TokenIds[],
): Promise<string[]> {
  const problems: string[] = [];
  const a = make();
  const b = make();
  const k = a.chunkSize;
  if (!Number.isInteger(k) || k < 1) problems.push(`chunkSize ${k} is not a positive integer`);
  for (const numSamples of [1, 3]) {
    const x = await a.sample(contexts, numSamples);
    const y = await b.sample(contexts, numSamples);
    if (!(x instanceof Int32Array)) problems.push(`sample(_, ${numSamples}) did not return an Int32Array`);
    if (x.length !== contexts.length * numSamples * k) {
      problems.push(
        `sample(_, ${numSamples}) returned ${x.length} ids, expected [${contexts.length}, ${numSamples}, ${k}]`,
      );
    }
    if (a.vocabSize !== undefined && x.some((id) => id < 0 || id >= a.vocabSize!))
      problems.push('ids outside [0, vocabSize)');
    if (x.length !== y.length || x.some((v, i) => v !== y[i]))
      problems.push(`sample(_, ${numSamples}) is not deterministic under fixed seeds`);
  }
  const empty = await a.sample([], 2);
  if (empty.length !== 0) problems.push('sample([], n) did not return an empty array');
  return problems;
}
