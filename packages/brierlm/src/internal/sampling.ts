// The two building blocks of the n-sample estimators, shared by the estimators and the
// NextTokenModel → ChunkSampler adapter: grouping samples by equal prefixes (hashing one token at
// a time, O(n) per prefix length) and drawing several tokens from one probability row.

import type { Rng } from '@calm/core';
import { fail } from './util.js';

/** Most samples per position, and most members one {@link PrefixGrouper} groups (keeps the hash keys exact). */
export const MAX_SAMPLES_PER_POSITION = 2 ** 20;

/**
 * Groups n members (samples) by their prefixes, one token at a time. After `reset`, every member
 * is in group 0 (the empty prefix); each `refine` appends one token per member and splits the
 * groups, so members share a group exactly when their prefixes so far are equal. Group ids are
 * dense and numbered in order of first appearance. Work per `refine` is O(n): the key of a member
 * is (group id, token), hashed as one number.
 */
export class PrefixGrouper {
  /** Group id of each member, length ≥ n. */
  readonly gid: Int32Array;
  /** Size of each group, indexed by group id. */
  readonly size: Int32Array;
  /** Number of groups after the last call. */
  groups = 0;
  /** Number of members. */
  n = 0;
  private readonly keys = new Map<number, number>();

  constructor(capacity: number) {
    if (capacity > MAX_SAMPLES_PER_POSITION)
      fail('INVALID_ARGUMENT', `at most ${MAX_SAMPLES_PER_POSITION} samples can be grouped at once, got ${capacity}.`);
    this.gid = new Int32Array(capacity);
    this.size = new Int32Array(capacity);
  }

  /** Puts all `n` members into group 0. */
  reset(n: number): void {
    this.n = n;
    this.gid.fill(0, 0, n);
    this.size[0] = n;
    this.groups = n > 0 ? 1 : 0;
  }

  /**
   * Extends every member's prefix by `token(i)` and regroups.
   * @returns Σ over the new groups of c·(c − 1): the number of ordered pairs (i ≠ j) of members
   *   whose prefixes are now equal.
   */
  refine(token: (member: number) => number): number {
    const n = this.n;
    const gid = this.gid;
    const size = this.size;
    if (n === 2) {
      // Same result without a hash map, for the default two samples.
      const same = gid[0] === gid[1] && token(0) === token(1);
      gid[0] = 0;
      gid[1] = same ? 0 : 1;
      size[0] = same ? 2 : 1;
      size[1] = same ? 0 : 1;
      this.groups = same ? 1 : 2;
      return same ? 2 : 0;
    }
    const keys = this.keys;
    keys.clear();
    let groups = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      // gid < 2^20 and the token as uint32 < 2^32: the key is an exact integer below 2^52.
      const key = gid[i]! * 4294967296 + (token(i) >>> 0);
      let g = keys.get(key);
      if (g === undefined) {
        g = groups++;
        keys.set(key, g);
        size[g] = 0;
      }
      pairs += 2 * size[g]!; // the new member pairs with each earlier member, in both orders
      size[g]!++;
      gid[i] = g;
    }
    this.groups = groups;
    return pairs;
  }
}

/** Sum and sum of squares of one probability row, validated (finite, ≥ 0, sums to 1 ± 1e-3). */
export function rowStats(
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

let scratchU = new Float64Array(16);
let scratchOrder = new Int32Array(16);

/**
 * Draws `count` independent tokens from one probability row (total `sum`, not renormalised) by
 * inverse CDF, in one pass over the row: the uniforms are drawn first, in order, then sorted.
 * Writes the tokens to `out[0..count)`.
 */
export function drawTokens(
  p: Float32Array | Float64Array,
  off: number,
  V: number,
  sum: number,
  rng: Rng,
  count: number,
  out: Int32Array,
): void {
  if (scratchU.length < count) {
    scratchU = new Float64Array(count);
    scratchOrder = new Int32Array(count);
  }
  const u = scratchU;
  const order = scratchOrder;
  for (let m = 0; m < count; m++) {
    u[m] = rng.uniform() * sum;
    order[m] = m;
  }
  if (count === 2) {
    if (u[1]! < u[0]!) {
      order[0] = 1;
      order[1] = 0;
    }
  } else if (count > 2) order.subarray(0, count).sort((a, b) => u[a]! - u[b]!);
  let next = 0; // the next uniform (in sorted order) still to place
  let acc = 0;
  let last = -1;
  for (let x = 0; x < V && next < count; x++) {
    const v = p[off + x]!;
    if (v > 0) {
      acc += v;
      last = x;
      while (next < count && u[order[next]!]! < acc) out[order[next++]!] = x;
    }
  }
  // Rounding at the top end: the last token with positive probability.
  if (next < count) {
    if (last < 0)
      for (let x = V - 1; x >= 0; x--)
        if (p[off + x]! > 0) {
          last = x;
          break;
        }
    while (next < count) out[order[next++]!] = last;
  }
}
