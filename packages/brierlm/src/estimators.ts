// The three per-block Brier-n estimators: implicit chunk samplers (official `eval_brier`,
// including the K < 4 collision roll-out), implicit token samplers (n 4-token samples per
// position) and explicit next-token models (official `train_ar.py`: exact P(y), Monte-Carlo
// prefix collision × exact last-token Σp²). Each returns per-position Brier-1..4 estimates.
//
// With n samples per position the implicit estimate of Brier-k is the U-statistic
// 2·(hits among the n samples)/n − (agreeing ordered pairs)/(n(n−1)) on the first k tokens; the
// pairs are counted by grouping equal prefixes (Σ_groups c(c−1)), O(n) per position. With n = 2
// it is exactly the official 1{x₁ = y} + 1{x₂ = y} − 1{x₁ = x₂}.

import {
  NO_TOKEN,
  type ChunkSampler,
  type NextTokenModel,
  type Rng,
  type TokenIds,
  type TokenSampler,
} from '@calm/core';
import type { PositionRecord } from './types.js';
import { MAX_N, checkIdsOutput, checkProbsOutput, concatTokens, fail, forEachBatch } from './internal/util.js';
import { PrefixGrouper, drawTokens, rowStats } from './internal/sampling.js';

/** What the evaluation loop hands to an estimator for one block. */
export interface EstimatorContext {
  /** Index of the block (for records and error messages). */
  blockIndex: number;
  /** Contexts per sampler call. */
  batchSize: number;
  /** Samples per position n (≥ 2). */
  samplesPerPosition: number;
  /** Abort signal, forwarded to every call. */
  signal: AbortSignal | undefined;
  /** The evaluation RNG (explicit estimator draws). */
  rng: Rng;
  /** Whether to build per-position records. */
  keepPositions: boolean;
  /** Whether the samplers' teacher-forced fast paths may be used. */
  teacherForced: boolean;
  /** Largest T·V for which `teacherForcedProbs` is called. */
  maxTeacherForcedEntries: number;
  /** Reports the fraction of this block done; also counts one sampler call. */
  called(fraction: number): void;
}

/** Per-position estimates of one block. */
export interface BlockEstimate {
  /** Scored positions P. */
  numPositions: number;
  /** Brier-1..4 per position, shape [P, 4]. */
  brier: Float64Array;
  /** Collision term per position, shape [P, 4]. */
  collision: Float64Array;
  /** Per-position records when requested. */
  records: PositionRecord[] | undefined;
}

function callOptions(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** n samples per scored position, as the implicit estimators draw them. */
interface PositionSamples {
  /** n, samples per position. */
  n: number;
  /** Tokens: sample i of position p starts at `(p·n + i)·stride`; its first 4 are scored against the target. */
  tokens: Int32Array;
  /** Tokens between consecutive samples (K for chunks, 4 for tokens). */
  stride: number;
  /**
   * `pairs[p·4 + j]` = ordered pairs of samples that agree on the first j + 1 tokens at position
   * p, when they come from elsewhere (the chunk estimator's roll-out for K < 4); when absent they
   * are counted from `tokens`.
   */
  pairs?: Float64Array;
  /** Index in the block of position p's first target token. */
  firstTarget: (p: number) => number;
}

/**
 * Brier-n of the implicit estimators from n samples: 2·hits/n − pairs/(n(n−1)) on the first n
 * tokens, hits = samples whose prefix equals the target's, pairs = ordered pairs of samples with
 * equal prefixes (official `eval_brier` for n = 2: 1[x₁ = y] + 1[x₂ = y] − 1[x₁ = x₂]).
 */
function scoreSamples(block: TokenIds, P: number, ctx: EstimatorContext, x: PositionSamples): BlockEstimate {
  const { n, tokens, stride, pairs } = x;
  const brier = new Float64Array(P * MAX_N);
  const collision = new Float64Array(P * MAX_N);
  const records: PositionRecord[] | undefined = ctx.keepPositions ? [] : undefined;
  const grouper = new PrefixGrouper(n);
  const hit = new Uint8Array(n);
  const nPairs = n * (n - 1);
  for (let p = 0; p < P; p++) {
    const first = x.firstTarget(p);
    const base = p * n * stride;
    hit.fill(1);
    grouper.reset(n);
    let agreeing = nPairs; // ordered pairs that agree on the prefix so far
    for (let j = 0; j < MAX_N; j++) {
      const y = block[first + j]!;
      let hits = 0;
      for (let i = 0; i < n; i++) {
        hit[i]! &= tokens[base + i * stride + j] === y ? 1 : 0;
        hits += hit[i]!;
      }
      if (pairs) agreeing = pairs[p * MAX_N + j]!;
      else if (agreeing > 0) agreeing = grouper.refine((i) => tokens[base + i * stride + j]!);
      const agree = agreeing / nPairs;
      brier[p * MAX_N + j] = 2 * (hits / n) - agree;
      collision[p * MAX_N + j] = agree;
    }
    if (records) {
      const sample = (i: number): number[] => Array.from(tokens.subarray(base + i * stride, base + i * stride + MAX_N));
      const record: PositionRecord = {
        block: ctx.blockIndex,
        position: p,
        tokenIndex: first,
        target: Array.from(block.subarray(first, first + MAX_N)),
        brier: Array.from(brier.subarray(p * MAX_N, (p + 1) * MAX_N)),
        collision: Array.from(collision.subarray(p * MAX_N, (p + 1) * MAX_N)),
        sample1: sample(0),
        sample2: sample(1),
      };
      if (n > 2) record.samples = range(n).map(sample);
      records.push(record);
    }
  }
  return { numPositions: P, brier, collision, records };
}

/** Samples at one position that agree on every chunk so far, rolled out together (K < 4). */
interface RollGroup {
  /** Position t. */
  t: number;
  /** The chunks they share, r·K tokens after r steps. */
  prefix: Int32Array;
  /** Members (≥ 2). */
  size: number;
}

/** Appends one group per set of ≥ 2 members with equal prefixes (the grouper's current groups). */
function pushGroups(
  out: RollGroup[],
  grouper: PrefixGrouper,
  t: number,
  prefixOf: (member: number) => Int32Array,
): void {
  const seen = new Uint8Array(grouper.groups);
  for (let i = 0; i < grouper.n; i++) {
    const g = grouper.gid[i]!;
    if (seen[g] || grouper.size[g]! < 2) continue;
    seen[g] = 1;
    out.push({ t, prefix: prefixOf(i), size: grouper.size[g]! });
  }
}

/**
 * Implicit chunk generator (CALM-like). Positions are target chunks 1..L−1 (index t = 0..L−2);
 * for K < 4 only t = 0..(L−1)−s−1 with s = ceil(4/K), as the official code.
 */
export async function estimateChunkBlock(
  sampler: ChunkSampler,
  block: TokenIds,
  ctx: EstimatorContext,
): Promise<BlockEstimate> {
  const K = sampler.chunkSize;
  const n = ctx.samplesPerPosition;
  const T = block.length;
  if (T % K !== 0) {
    fail(
      'INVALID_ARGUMENT',
      `block ${ctx.blockIndex} has ${T} tokens, not a multiple of the chunk size K = ${K}; use a block size that is a multiple of K (8192 in the official protocol).`,
    );
  }
  const L = T / K;
  const s = Math.ceil(MAX_N / K);
  const P = K >= MAX_N ? L - 1 : L - 1 - s;
  if (P < 1) {
    fail(
      'INVALID_ARGUMENT',
      `block ${ctx.blockIndex} has ${T} tokens = ${L} chunks of K = ${K}: too short to score any 4-gram (need at least ${K >= MAX_N ? 2 : s + 2} chunks); use longer blocks.`,
    );
  }
  // Teacher-forced samples at target positions 0..nTf−1, shape [nTf, n, K] (for K < 4 the last
  // one is never used).
  const nTf = K >= MAX_N ? L - 1 : L - 2;
  let tf: Int32Array = new Int32Array(nTf * n * K);
  const tfShare = K >= MAX_N ? 1 : 0.5;
  const opts = callOptions(ctx.signal);
  if (ctx.teacherForced && typeof sampler.sampleTeacherForced === 'function') {
    const out = await sampler.sampleTeacherForced([block], n, opts);
    ctx.called(tfShare);
    if (!Array.isArray(out) || out.length !== 1) {
      fail(
        'SHAPE_MISMATCH',
        `ChunkSampler.sampleTeacherForced returned ${Array.isArray(out) ? out.length : 'no'} arrays for 1 sequence; return one Int32Array per sequence.`,
      );
    }
    const a = out[0];
    checkIdsOutput(a, (L - 1) * n * K, 'ChunkSampler.sampleTeacherForced', `[L−1 = ${L - 1}, ${n}, K = ${K}]`);
    tf = a.subarray(0, nTf * n * K);
  } else {
    await forEachBatch(range(nTf), ctx.batchSize, ctx.signal, async (ts) => {
      const contexts = ts.map((t) => block.subarray(0, (t + 1) * K));
      const out = await sampler.sample(contexts, n, opts);
      checkIdsOutput(out, ts.length * n * K, 'ChunkSampler.sample', `[B = ${ts.length}, ${n}, K = ${K}]`);
      tf.set(out, ts[0]! * n * K);
      ctx.called((tfShare * (ts[ts.length - 1]! + 1)) / nTf);
    });
  }
  if (K >= MAX_N) return scoreSamples(block, P, ctx, { n, tokens: tf, stride: K, firstTarget: (t) => (t + 1) * K });

  // K < 4. Accuracy terms: sample i at position t is the concatenation of the teacher-forced
  // samples i at t, t+1, …, t+s−1 (a later chunk only counts once the earlier ones matched the
  // gold, so conditioning it on the gold prefix is exact).
  const hitTokens = new Int32Array(P * n * MAX_N);
  for (let t = 0; t < P; t++)
    for (let i = 0; i < n; i++)
      for (let j = 0; j < MAX_N; j++)
        hitTokens[(t * n + i) * MAX_N + j] = tf[((t + Math.floor(j / K)) * n + i) * K + (j % K)]!;

  // Collision term: n roll-outs per position, grown as a tree. Step 0 groups the n teacher-forced
  // chunks at t by prefix; every group of c ≥ 2 samples that agree on all chunks so far shares its
  // context, so their continuations are c fresh independent draws from sample(context + shared
  // chunks, c); singletons can no longer agree with anyone and stop. Agreeing ordered pairs are
  // counted at every token, which makes the collision term the U-statistic of n independent
  // roll-outs (for n = 2: the official roll-out along sample 1).
  const pairs = new Float64Array(P * MAX_N);
  const grouper = new PrefixGrouper(n);
  let groups: RollGroup[] = [];
  for (let t = 0; t < P; t++) {
    grouper.reset(n);
    for (let q = 0; q < K; q++) pairs[t * MAX_N + q] = grouper.refine((i) => tf[(t * n + i) * K + q]!);
    pushGroups(groups, grouper, t, (i) => tf.slice((t * n + i) * K, (t * n + i + 1) * K));
  }
  for (let r = 1; r < s && groups.length > 0; r++) {
    const w = r < s - 1 ? K : MAX_N - K * (s - 1); // tokens of this step inside the 4-gram
    const next: RollGroup[] = [];
    // One numSamples per call: batch the groups by size (n = 2: all of size 2, in order of t).
    const bySize = new Map<number, RollGroup[]>();
    for (const g of groups) {
      const list = bySize.get(g.size);
      if (list) list.push(g);
      else bySize.set(g.size, [g]);
    }
    for (const c of [...bySize.keys()].sort((a, b) => a - b)) {
      const sub = new PrefixGrouper(c);
      await forEachBatch(bySize.get(c)!, ctx.batchSize, ctx.signal, async (rows) => {
        const contexts = rows.map((g) => concatTokens(block, (g.t + 1) * K, [g.prefix]));
        const out = await sampler.sample(contexts, c, opts);
        checkIdsOutput(out, rows.length * c * K, 'ChunkSampler.sample', `[B = ${rows.length}, ${c}, K = ${K}]`);
        rows.forEach((g, b) => {
          const at = (m: number, q: number): number => out[(b * c + m) * K + q]!;
          sub.reset(c);
          let agreeing = c * (c - 1);
          for (let q = 0; q < w && agreeing > 0; q++) {
            agreeing = sub.refine((m) => at(m, q));
            pairs[g.t * MAX_N + r * K + q]! += agreeing;
          }
          if (r < s - 1 && agreeing > 0) {
            pushGroups(next, sub, g.t, (m) => {
              const prefix = new Int32Array((r + 1) * K);
              prefix.set(g.prefix);
              prefix.set(out.subarray((b * c + m) * K, (b * c + m + 1) * K), r * K);
              return prefix;
            });
          }
        });
        ctx.called(0.5 + (0.5 * (r - 1)) / (s - 1));
      });
    }
    groups = next.sort((a, b) => a.t - b.t);
  }
  return scoreSamples(block, P, ctx, { n, tokens: hitTokens, stride: MAX_N, pairs, firstTarget: (t) => (t + 1) * K });
}

/** Checks that token-sampler output holds only NO_TOKEN or ids in [0, V). */
function checkTokenRange(out: Int32Array, vocabSize: number | undefined, what: string): void {
  const V = vocabSize ?? 2147483647;
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    if (v !== NO_TOKEN && (v < 0 || v >= V)) {
      fail(
        'INVALID_ARGUMENT',
        `${what} returned token id ${v} at flat index ${i}; ids must be in [0, ${vocabSize ?? '2^31'}) or NO_TOKEN (${NO_TOKEN}) after an early stop.`,
      );
    }
  }
}

/** The positions i = 0..T−5 a token-level estimator scores (at least one, else INVALID_ARGUMENT). */
function tokenPositions(block: TokenIds, ctx: EstimatorContext, what: string): number {
  const T = block.length;
  if (T - MAX_N < 1)
    fail(
      'INVALID_ARGUMENT',
      `block ${ctx.blockIndex} has ${T} tokens; ${what} needs at least ${MAX_N + 1}; use longer blocks.`,
    );
  return T - MAX_N;
}

/** Implicit token-level generator: positions i = 0..T−5, n 4-token samples each. */
export async function estimateTokenBlock(
  sampler: TokenSampler,
  block: TokenIds,
  ctx: EstimatorContext,
): Promise<BlockEstimate> {
  const n = ctx.samplesPerPosition;
  const P = tokenPositions(block, ctx, 'token-level BrierLM');
  const tokens = new Int32Array(P * n * MAX_N);
  const opts = callOptions(ctx.signal);
  await forEachBatch(range(P), ctx.batchSize, ctx.signal, async (is) => {
    const contexts = is.map((i) => block.subarray(0, i + 1));
    const out = await sampler.sample(contexts, MAX_N, n, opts);
    checkIdsOutput(out, is.length * n * MAX_N, 'TokenSampler.sample', `[B = ${is.length}, ${n}, maxTokens = ${MAX_N}]`);
    checkTokenRange(out, sampler.vocabSize, 'TokenSampler.sample');
    tokens.set(out, is[0]! * n * MAX_N);
    ctx.called((is[is.length - 1]! + 1) / P);
  });
  // NO_TOKEN in two samples = both texts ended there: the same outcome, so it counts as agreement.
  return scoreSamples(block, P, ctx, { n, tokens, stride: MAX_N, firstTarget: (i) => i + 1 });
}

/** Draws that agree on every token so far at one position, rolled out together (explicit estimator). */
interface DrawGroup {
  /** Position i. */
  i: number;
  /** The tokens they share, j after j steps. */
  prefix: Int32Array;
  /** Members (≥ 2). */
  size: number;
}

/**
 * Draws `size` tokens from a row, groups them, and appends the groups of ≥ 2 that continue with
 * `prefix + token`. `grouper` and `drawn` are scratch space for at least `size` members.
 */
function drawAndGroup(
  out: DrawGroup[],
  probs: Float32Array | Float64Array,
  off: number,
  V: number,
  sum: number,
  size: number,
  rng: Rng,
  i: number,
  prefix: Int32Array,
  grouper: PrefixGrouper,
  drawn: Int32Array,
): void {
  drawTokens(probs, off, V, sum, rng, size, drawn);
  grouper.reset(size);
  if (grouper.refine((m) => drawn[m]!) === 0) return;
  const seen = new Uint8Array(grouper.groups);
  for (let m = 0; m < size; m++) {
    const g = grouper.gid[m]!;
    if (seen[g] || grouper.size[g]! < 2) continue;
    seen[g] = 1;
    const p = new Int32Array(prefix.length + 1);
    p.set(prefix);
    p[prefix.length] = drawn[m]!;
    out.push({ i, prefix: p, size: grouper.size[g]! });
  }
}

/**
 * Explicit next-token model: positions i = 0..T−5; exact P(y_{1:k}) from teacher-forced
 * probabilities; collision_1 = Σ_x p₀(x)² exactly, and for k ≥ 2 the U-statistic over n roll-outs
 * of 1{draws i and j agree on k−1 tokens} · Σ_x p_{k−1}(x | shared prefix)²: the draws are grown as
 * a tree (every group of c ≥ 2 agreeing draws gets the next distribution at its prefix and c fresh
 * draws). For n = 2 this is the official `train_ar.py` roll-out along sample 1.
 */
export async function estimateExplicitBlock(
  model: NextTokenModel,
  block: TokenIds,
  ctx: EstimatorContext,
): Promise<BlockEstimate> {
  const T = block.length;
  const V = model.vocabSize;
  const n = ctx.samplesPerPosition;
  const P = tokenPositions(block, ctx, 'BrierLM');
  for (let i = 0; i < T; i++) {
    const y = block[i]!;
    if (y < 0 || y >= V)
      fail(
        'INVALID_ARGUMENT',
        `block ${ctx.blockIndex} token ${i} = ${y} is outside the model vocabulary [0, ${V}); tokenise with the model's tokenizer.`,
      );
  }
  const opts = callOptions(ctx.signal);
  const gold = new Float64Array(T - 1); // p(block[t+1] | block[0..t])
  // coll[i*4 + j]: Σp² at step 0 (j = 0); for j ≥ 1, Σ over groups of c(c−1)·Σp² at the group's prefix.
  const coll = new Float64Array(P * MAX_N);
  let groups: DrawGroup[] = [];
  const empty = new Int32Array(0);
  const grouper = new PrefixGrouper(n);
  const drawn = new Int32Array(n);
  const share0 = 0.5;

  const takeRow = (p: Float32Array | Float64Array, off: number, t: number, what: string): void => {
    const { sum, sumSq } = rowStats(p, off, V, what);
    gold[t] = p[off + block[t + 1]!]! / sum;
    if (t < P) {
      coll[t * MAX_N] = sumSq / (sum * sum);
      drawAndGroup(groups, p, off, V, sum, n, ctx.rng, t, empty, grouper, drawn);
    }
  };

  if (ctx.teacherForced && typeof model.teacherForcedProbs === 'function' && T * V <= ctx.maxTeacherForcedEntries) {
    const probs = await model.teacherForcedProbs(block, opts);
    ctx.called(share0);
    checkProbsOutput(probs, T * V, 'NextTokenModel.teacherForcedProbs', `[T = ${T}, V = ${V}]`);
    for (let t = 0; t < T - 1; t++) takeRow(probs, t * V, t, 'NextTokenModel.teacherForcedProbs');
  } else {
    await forEachBatch(range(T - 1), ctx.batchSize, ctx.signal, async (ts) => {
      const probs = await model.nextTokenProbs(
        ts.map((t) => block.subarray(0, t + 1)),
        opts,
      );
      checkProbsOutput(probs, ts.length * V, 'NextTokenModel.nextTokenProbs', `[B = ${ts.length}, V = ${V}]`);
      ts.forEach((t, b) => takeRow(probs, b * V, t, 'NextTokenModel.nextTokenProbs'));
      ctx.called((share0 * (ts[ts.length - 1]! + 1)) / (T - 1));
    });
  }

  for (let j = 1; j < MAX_N && groups.length > 0; j++) {
    const next: DrawGroup[] = [];
    await forEachBatch(groups, ctx.batchSize, ctx.signal, async (rows) => {
      const contexts = rows.map((g) => concatTokens(block, g.i + 1, [g.prefix]));
      const probs = await model.nextTokenProbs(contexts, opts);
      checkProbsOutput(probs, rows.length * V, 'NextTokenModel.nextTokenProbs', `[B = ${rows.length}, V = ${V}]`);
      rows.forEach((g, b) => {
        const { sum, sumSq } = rowStats(probs, b * V, V, 'NextTokenModel.nextTokenProbs');
        coll[g.i * MAX_N + j]! += g.size * (g.size - 1) * (sumSq / (sum * sum));
        if (j < MAX_N - 1) drawAndGroup(next, probs, b * V, V, sum, g.size, ctx.rng, g.i, g.prefix, grouper, drawn);
      });
      ctx.called(share0 + ((1 - share0) * j) / (MAX_N - 1));
    });
    groups = next;
  }

  const brier = new Float64Array(P * MAX_N);
  const collision = new Float64Array(P * MAX_N);
  const records: PositionRecord[] | undefined = ctx.keepPositions ? [] : undefined;
  const nPairs = n * (n - 1);
  for (let i = 0; i < P; i++) {
    let py = 1;
    const probs: number[] = [];
    for (let j = 0; j < MAX_N; j++) {
      py *= gold[i + j]!;
      probs.push(py);
      const c = j === 0 ? coll[i * MAX_N]! : coll[i * MAX_N + j]! / nPairs;
      brier[i * MAX_N + j] = 2 * py - c;
      collision[i * MAX_N + j] = c;
    }
    records?.push({
      block: ctx.blockIndex,
      position: i,
      tokenIndex: i + 1,
      target: Array.from(block.subarray(i + 1, i + 1 + MAX_N)),
      brier: Array.from(brier.subarray(i * MAX_N, (i + 1) * MAX_N)),
      collision: Array.from(collision.subarray(i * MAX_N, (i + 1) * MAX_N)),
      targetProb: probs,
    });
  }
  return { numPositions: P, brier, collision, records };
}
