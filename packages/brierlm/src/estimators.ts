// The three per-block Brier-n estimators: implicit chunk samplers (official `eval_brier`,
// including the K < 4 collision roll-out), implicit token samplers (two 4-token samples per
// position) and explicit next-token models (official `train_ar.py`: exact P(y), Monte-Carlo
// prefix collision × exact last-token Σp²). Each returns per-position Brier-1..4 estimates.

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

/** What the evaluation loop hands to an estimator for one block. */
export interface EstimatorContext {
  /** Index of the block (for records and error messages). */
  blockIndex: number;
  /** Contexts per sampler call. */
  batchSize: number;
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

/** Two independent samples per scored position, as the implicit estimators draw them. */
interface TwoSamples {
  /** Sample 1; position p's tokens start at `p · stride`. */
  s1: Int32Array;
  /** Sample 2, laid out as `s1`. */
  s2: Int32Array;
  /** Tokens between consecutive positions' samples (K for chunks, 4 for tokens). */
  stride: number;
  /**
   * `eq[p·4 + j]` = 1 when the samples agree at token j of position p (the chunk estimator's
   * roll-out for K < 4); when absent, the tokens of `s1` and `s2` are compared.
   */
  eq?: Uint8Array;
  /** Index in the block of position p's first target token. */
  firstTarget: (p: number) => number;
}

/**
 * Brier-n of the implicit estimators from two samples: 1[x₁ = y] + 1[x₂ = y] − 1[x₁ = x₂] on the
 * first n tokens, with the prefix indicators accumulated over n = 1..4 (official `eval_brier`).
 */
function scoreTwoSamples(block: TokenIds, P: number, ctx: EstimatorContext, x: TwoSamples): BlockEstimate {
  const { s1, s2, stride, eq } = x;
  const brier = new Float64Array(P * MAX_N);
  const collision = new Float64Array(P * MAX_N);
  const records: PositionRecord[] | undefined = ctx.keepPositions ? [] : undefined;
  for (let p = 0; p < P; p++) {
    const first = x.firstTarget(p);
    let a1 = 1;
    let a2 = 1;
    let c = 1;
    for (let j = 0; j < MAX_N; j++) {
      const y = block[first + j]!;
      const x1 = s1[p * stride + j]!;
      const x2 = s2[p * stride + j]!;
      a1 *= x1 === y ? 1 : 0;
      a2 *= x2 === y ? 1 : 0;
      c *= eq ? eq[p * MAX_N + j]! : x1 === x2 ? 1 : 0;
      brier[p * MAX_N + j] = a1 + a2 - c;
      collision[p * MAX_N + j] = c;
    }
    records?.push({
      block: ctx.blockIndex,
      position: p,
      tokenIndex: first,
      target: Array.from(block.subarray(first, first + MAX_N)),
      brier: Array.from(brier.subarray(p * MAX_N, (p + 1) * MAX_N)),
      collision: Array.from(collision.subarray(p * MAX_N, (p + 1) * MAX_N)),
      sample1: Array.from(s1.subarray(p * stride, p * stride + MAX_N)),
      sample2: Array.from(s2.subarray(p * stride, p * stride + MAX_N)),
    });
  }
  return { numPositions: P, brier, collision, records };
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
  // Teacher-forced samples at target positions 0..nTf−1 (for K < 4 the last one is never used).
  const nTf = K >= MAX_N ? L - 1 : L - 2;
  const tf1 = new Int32Array(nTf * K);
  const tf2 = new Int32Array(nTf * K);
  const tfShare = K >= MAX_N ? 1 : 0.5;
  const opts = callOptions(ctx.signal);
  if (ctx.teacherForced && typeof sampler.sampleTeacherForced === 'function') {
    const out = await sampler.sampleTeacherForced([block], 2, opts);
    ctx.called(tfShare);
    if (!Array.isArray(out) || out.length !== 1) {
      fail(
        'SHAPE_MISMATCH',
        `ChunkSampler.sampleTeacherForced returned ${Array.isArray(out) ? out.length : 'no'} arrays for 1 sequence; return one Int32Array per sequence.`,
      );
    }
    const a = out[0];
    checkIdsOutput(a, (L - 1) * 2 * K, 'ChunkSampler.sampleTeacherForced', `[L−1 = ${L - 1}, 2, K = ${K}]`);
    for (let t = 0; t < nTf; t++) {
      tf1.set(a.subarray(2 * t * K, (2 * t + 1) * K), t * K);
      tf2.set(a.subarray((2 * t + 1) * K, (2 * t + 2) * K), t * K);
    }
  } else {
    await forEachBatch(range(nTf), ctx.batchSize, ctx.signal, async (ts) => {
      const contexts = ts.map((t) => block.subarray(0, (t + 1) * K));
      const out = await sampler.sample(contexts, 2, opts);
      checkIdsOutput(out, ts.length * 2 * K, 'ChunkSampler.sample', `[B = ${ts.length}, 2, K = ${K}]`);
      ts.forEach((t, b) => {
        tf1.set(out.subarray(2 * b * K, (2 * b + 1) * K), t * K);
        tf2.set(out.subarray((2 * b + 1) * K, (2 * b + 2) * K), t * K);
      });
      ctx.called((tfShare * (ts[ts.length - 1]! + 1)) / nTf);
    });
  }

  // Token equality of the two samples for the collision term, eq[t*4 + j].
  const eq = new Uint8Array(P * MAX_N);
  if (K >= MAX_N) {
    for (let t = 0; t < P; t++)
      for (let j = 0; j < MAX_N; j++) eq[t * MAX_N + j] = tf1[t * K + j] === tf2[t * K + j] ? 1 : 0;
  } else {
    // Roll-out: step 0 compares the teacher-forced pair at t; step r ≥ 1 continues along sample 1.
    const roll = new Int32Array(P * s * K); // sample-1 chunks of each row, step by step
    let alive: number[] = [];
    for (let t = 0; t < P; t++) {
      let same = true;
      for (let q = 0; q < K; q++) {
        const e = tf1[t * K + q] === tf2[t * K + q];
        eq[t * MAX_N + q] = e ? 1 : 0;
        same &&= e;
      }
      roll.set(tf1.subarray(t * K, (t + 1) * K), t * s * K);
      if (same) alive.push(t);
    }
    for (let r = 1; r < s && alive.length > 0; r++) {
      const w = r < s - 1 ? K : MAX_N - K * (s - 1);
      const next: number[] = [];
      await forEachBatch(alive, ctx.batchSize, ctx.signal, async (rows) => {
        const contexts = rows.map((t) => concatTokens(block, (t + 1) * K, [roll.subarray(t * s * K, (t * s + r) * K)]));
        const out = await sampler.sample(contexts, 2, opts);
        checkIdsOutput(out, rows.length * 2 * K, 'ChunkSampler.sample', `[B = ${rows.length}, 2, K = ${K}]`);
        rows.forEach((t, b) => {
          let same = true;
          for (let q = 0; q < w; q++) {
            const e = out[2 * b * K + q] === out[(2 * b + 1) * K + q];
            eq[t * MAX_N + r * K + q] = e ? 1 : 0;
            same &&= e;
          }
          roll.set(out.subarray(2 * b * K, (2 * b + 1) * K), (t * s + r) * K);
          if (same) next.push(t);
        });
        ctx.called(0.5 + (0.5 * (r - 1)) / (s - 1));
      });
      alive = next;
    }
  }

  return scoreTwoSamples(block, P, ctx, { s1: tf1, s2: tf2, stride: K, eq, firstTarget: (t) => (t + 1) * K });
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

/** Implicit token-level generator: positions i = 0..T−5, two 4-token samples each. */
export async function estimateTokenBlock(
  sampler: TokenSampler,
  block: TokenIds,
  ctx: EstimatorContext,
): Promise<BlockEstimate> {
  const T = block.length;
  const P = T - MAX_N;
  if (P < 1)
    fail(
      'INVALID_ARGUMENT',
      `block ${ctx.blockIndex} has ${T} tokens; token-level BrierLM needs at least ${MAX_N + 1}; use longer blocks.`,
    );
  const s1 = new Int32Array(P * MAX_N);
  const s2 = new Int32Array(P * MAX_N);
  const opts = callOptions(ctx.signal);
  await forEachBatch(range(P), ctx.batchSize, ctx.signal, async (is) => {
    const contexts = is.map((i) => block.subarray(0, i + 1));
    const out = await sampler.sample(contexts, MAX_N, 2, opts);
    checkIdsOutput(out, is.length * 2 * MAX_N, 'TokenSampler.sample', `[B = ${is.length}, 2, maxTokens = ${MAX_N}]`);
    checkTokenRange(out, sampler.vocabSize, 'TokenSampler.sample');
    is.forEach((i, b) => {
      s1.set(out.subarray(2 * b * MAX_N, (2 * b + 1) * MAX_N), i * MAX_N);
      s2.set(out.subarray((2 * b + 1) * MAX_N, (2 * b + 2) * MAX_N), i * MAX_N);
    });
    ctx.called((is[is.length - 1]! + 1) / P);
  });
  // NO_TOKEN on both sides = both texts ended there: the same outcome, so it counts as a collision.
  return scoreTwoSamples(block, P, ctx, { s1, s2, stride: MAX_N, firstTarget: (i) => i + 1 });
}

/** Sum and sum of squares of one probability row, validated. */
function rowStats(
  p: Float32Array | Float64Array,
  off: number,
  V: number,
  what: string,
): { sum: number; sumSq: number } {
  let sum = 0;
  let sumSq = 0;
  for (let x = 0; x < V; x++) {
    const v = p[off + x]!;
    if (!(v >= 0) || v === Infinity)
      fail('INVALID_ARGUMENT', `${what}: probability ${v} at token ${x}; probabilities must be finite and >= 0.`);
    sum += v;
    sumSq += v * v;
  }
  if (!(Math.abs(sum - 1) <= 1e-3)) {
    fail(
      'INVALID_ARGUMENT',
      `${what}: a probability row sums to ${sum}; return normalised next-token probabilities (softmax of the logits).`,
    );
  }
  return { sum, sumSq };
}

/** Two independent draws from one (unnormalised, total `sum`) probability row in one pass. */
function drawTwo(p: Float32Array | Float64Array, off: number, V: number, sum: number, rng: Rng): [number, number] {
  const u1 = rng.uniform() * sum;
  const u2 = rng.uniform() * sum;
  let r1 = -1;
  let r2 = -1;
  let acc = 0;
  let last = -1;
  for (let x = 0; x < V && (r1 < 0 || r2 < 0); x++) {
    const v = p[off + x]!;
    if (v > 0) {
      acc += v;
      last = x;
      if (r1 < 0 && u1 < acc) r1 = x;
      if (r2 < 0 && u2 < acc) r2 = x;
    }
  }
  // Rounding at the top end: fall back to the last token with positive probability.
  if (r1 < 0 || r2 < 0) {
    if (last < 0)
      for (let x = V - 1; x >= 0; x--)
        if (p[off + x]! > 0) {
          last = x;
          break;
        }
    if (r1 < 0) r1 = last;
    if (r2 < 0) r2 = last;
  }
  return [r1, r2];
}

/**
 * Explicit next-token model: positions i = 0..T−5; exact P(y_{1:n}) from teacher-forced
 * probabilities; collision_n = 1{first n−1 pairs of draws agree} · Σ_x p_{n−1}(x)², rolled out
 * along sample 1 (official `train_ar.py`).
 */
export async function estimateExplicitBlock(
  model: NextTokenModel,
  block: TokenIds,
  ctx: EstimatorContext,
): Promise<BlockEstimate> {
  const T = block.length;
  const V = model.vocabSize;
  const P = T - MAX_N;
  if (P < 1)
    fail(
      'INVALID_ARGUMENT',
      `block ${ctx.blockIndex} has ${T} tokens; BrierLM needs at least ${MAX_N + 1}; use longer blocks.`,
    );
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
  const coll = new Float64Array(P * MAX_N); // Σp² at step j along sample 1 (valid where alive)
  const same = new Uint8Array(P * MAX_N); // same[i*4 + j]: draws agreed on steps < j
  const roll = new Int32Array(P * (MAX_N - 1)); // sample-1 tokens of steps 0..2
  let alive: number[] = [];
  const share0 = 0.5;

  const takeRow = (p: Float32Array | Float64Array, off: number, t: number, what: string): void => {
    const { sum, sumSq } = rowStats(p, off, V, what);
    gold[t] = p[off + block[t + 1]!]! / sum;
    if (t < P) {
      coll[t * MAX_N] = sumSq / (sum * sum);
      same[t * MAX_N] = 1;
      const [a, b] = drawTwo(p, off, V, sum, ctx.rng);
      roll[t * (MAX_N - 1)] = a;
      if (a === b) alive.push(t);
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
  alive.sort((a, b) => a - b);

  for (let j = 1; j < MAX_N && alive.length > 0; j++) {
    const next: number[] = [];
    await forEachBatch(alive, ctx.batchSize, ctx.signal, async (rows) => {
      const contexts = rows.map((i) =>
        concatTokens(block, i + 1, [roll.subarray(i * (MAX_N - 1), i * (MAX_N - 1) + j)]),
      );
      const probs = await model.nextTokenProbs(contexts, opts);
      checkProbsOutput(probs, rows.length * V, 'NextTokenModel.nextTokenProbs', `[B = ${rows.length}, V = ${V}]`);
      rows.forEach((i, b) => {
        const { sum, sumSq } = rowStats(probs, b * V, V, 'NextTokenModel.nextTokenProbs');
        coll[i * MAX_N + j] = sumSq / (sum * sum);
        same[i * MAX_N + j] = 1;
        if (j < MAX_N - 1) {
          const [x1, x2] = drawTwo(probs, b * V, V, sum, ctx.rng);
          roll[i * (MAX_N - 1) + j] = x1;
          if (x1 === x2) next.push(i);
        }
      });
      ctx.called(share0 + ((1 - share0) * j) / (MAX_N - 1));
    });
    alive = next;
  }

  const brier = new Float64Array(P * MAX_N);
  const collision = new Float64Array(P * MAX_N);
  const records: PositionRecord[] | undefined = ctx.keepPositions ? [] : undefined;
  for (let i = 0; i < P; i++) {
    let py = 1;
    const probs: number[] = [];
    for (let j = 0; j < MAX_N; j++) {
      py *= gold[i + j]!;
      probs.push(py);
      const c = same[i * MAX_N + j] ? coll[i * MAX_N + j]! : 0;
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
