// A small, fast, seedable random number generator with a serialisable state, so that training
// runs, evaluations and samplers are reproducible and resumable. Nothing in the project uses
// Math.random.
//
// Algorithm: xoshiro128** (Blackman & Vigna) seeded through splitmix32; doubles from 53 random bits;
// normals by the Box–Muller transform (the spare value is part of the state).

import { CalmError } from './errors.js';

/**
 * The serialisable state of an {@link Rng}: plain JSON.
 * @see {@link createRng}
 * @category Random
 */
export interface RngState {
  /** Always `'xoshiro128**'`. */
  algorithm: 'xoshiro128**';
  /** The four 32-bit words of the generator state, as unsigned integers. */
  state: [number, number, number, number];
  /** A cached second normal deviate from Box–Muller, or `null`. */
  spareNormal: number | null;
}

/**
 * A seedable random number generator.
 * @see {@link createRng}
 * @category Random
 */
export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number;
  /**
   * A uniform integer in [0, n).
   * @param n - Exclusive upper bound, an integer in [1, 2^32].
   */
  int(n: number): number;
  /** A standard normal deviate. */
  normal(): number;
  /**
   * `true` with probability p.
   * @param p - Probability in [0, 1].
   */
  bernoulli(p: number): boolean;
  /**
   * An index drawn with probability proportional to `weights[i]`.
   * @param weights - Non-negative finite weights with a positive sum (need not be normalised).
   */
  categorical(weights: ArrayLike<number>): number;
  /**
   * Fills `out` with uniform values in [low, high).
   * @param out - Destination array.
   * @param low - Lower bound (inclusive), default 0.
   * @param high - Upper bound (exclusive), default 1.
   */
  fillUniform<T extends Float32Array | Float64Array>(out: T, low?: number, high?: number): T;
  /**
   * Fills `out` with normal deviates of the given mean and standard deviation.
   * @param out - Destination array.
   * @param mean - Mean, default 0.
   * @param std - Standard deviation, default 1.
   */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean?: number, std?: number): T;
  /** A new generator whose stream does not overlap this one's (xoshiro jump by 2^64 draws); this one advances too. */
  split(): Rng;
  /** A copy of the state; feed it to {@link restoreRng} to continue exactly from here. */
  getState(): RngState;
  /**
   * Replaces the state with a saved one.
   * @param state - A state returned by {@link Rng.getState}.
   */
  setState(state: RngState): void;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashSeed(seed: number | string): number {
  if (typeof seed === 'number') {
    if (!Number.isFinite(seed)) {
      throw new CalmError('INVALID_ARGUMENT', `createRng: seed must be a finite number or a string, got ${seed}.`, {
        source: '@calm/core',
      });
    }
    // Fold the full double into 32 bits so 1 and 1 + 2^32 differ.
    const hi = Math.floor(seed / 4294967296);
    return (Math.imul(hi >>> 0, 0x27d4eb2d) ^ (seed >>> 0)) >>> 0;
  }
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const JUMP = [0x8764000b, 0xf542d2d3, 0x6fa035c3, 0x77f2db5b];

class Xoshiro128 implements Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  constructor(state: RngState) {
    this.setState(state);
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  uniform(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new CalmError('INVALID_ARGUMENT', `Rng.int: n must be an integer in [1, 2^32], got ${n}.`, {
        source: '@calm/core',
      });
    }
    // Lemire-style rejection for exact uniformity.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  bernoulli(p: number): boolean {
    if (!(p >= 0 && p <= 1)) {
      throw new CalmError('INVALID_ARGUMENT', `Rng.bernoulli: p must be in [0, 1], got ${p}.`, {
        source: '@calm/core',
      });
    }
    return this.uniform() < p;
  }

  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (!(w >= 0) || !Number.isFinite(w)) {
        throw new CalmError(
          'INVALID_ARGUMENT',
          `Rng.categorical: weights[${i}] = ${w}; weights must be finite and >= 0.`,
          {
            source: '@calm/core',
          },
        );
      }
      total += w;
    }
    if (!(total > 0)) {
      throw new CalmError('INVALID_ARGUMENT', 'Rng.categorical: weights sum to 0; pass at least one positive weight.', {
        source: '@calm/core',
      });
    }
    const target = this.uniform() * total;
    let acc = 0;
    let last = -1;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (w > 0) {
        acc += w;
        last = i;
        if (target < acc) return i;
      }
    }
    return last; // rounding: the last positive weight
  }

  // The bulk fills below produce exactly the values of repeated uniform() / normal() calls, with
  // the generator state in locals (about 1.5× faster for large arrays).

  fillUniform<T extends Float32Array | Float64Array>(out: T, low = 0, high = 1): T {
    const span = high - low;
    let s0 = this.s0 | 0;
    let s1 = this.s1 | 0;
    let s2 = this.s2 | 0;
    let s3 = this.s3 | 0;
    for (let i = 0; i < out.length; i++) {
      let x = Math.imul(s1, 5);
      const a = Math.imul((x << 7) | (x >>> 25), 9) >>> 5;
      let t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      x = Math.imul(s1, 5);
      const b = Math.imul((x << 7) | (x >>> 25), 9) >>> 6;
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = low + span * ((a * 67108864 + b) / 9007199254740992);
    }
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    return out;
  }

  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, std = 1): T {
    const n = out.length;
    let i = 0;
    if (n === 0) return out;
    if (this.spare !== null) {
      out[i++] = mean + std * this.spare;
      this.spare = null;
    }
    // Box–Muller pairs (u, v) from uniform(); the first value uses cos, the second sin, as normal().
    const pair = new Float64Array(2);
    while (i < n) {
      this.uniformPair(pair);
      const r = Math.sqrt(-2 * Math.log(pair[0]!));
      const angle = 2 * Math.PI * pair[1]!;
      out[i++] = mean + std * (r * Math.cos(angle));
      const second = r * Math.sin(angle);
      if (i < n) out[i++] = mean + std * second;
      else this.spare = second;
    }
    return out;
  }

  /** pair[0] = uniform() ≠ 0 (redrawn while 0), pair[1] = uniform(), with the state in locals. */
  private uniformPair(pair: Float64Array): void {
    let s0 = this.s0 | 0;
    let s1 = this.s1 | 0;
    let s2 = this.s2 | 0;
    let s3 = this.s3 | 0;
    let u = 0;
    let v = 0;
    for (let k = 0; k < 2; k++) {
      let value = 0;
      while (value === 0) {
        let x = Math.imul(s1, 5);
        const a = Math.imul((x << 7) | (x >>> 25), 9) >>> 5;
        let t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        x = Math.imul(s1, 5);
        const b = Math.imul((x << 7) | (x >>> 25), 9) >>> 6;
        t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        value = (a * 67108864 + b) / 9007199254740992;
        if (k === 1) break; // v may be 0
      }
      if (k === 0) u = value;
      else v = value;
    }
    pair[0] = u;
    pair[1] = v;
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }

  split(): Rng {
    const child = new Xoshiro128(this.getState());
    child.spare = null;
    // The child keeps the current stream position; this generator jumps 2^64 ahead.
    let t0 = 0,
      t1 = 0,
      t2 = 0,
      t3 = 0;
    for (const word of JUMP) {
      for (let b = 0; b < 32; b++) {
        if ((word >>> b) & 1) {
          t0 ^= this.s0;
          t1 ^= this.s1;
          t2 ^= this.s2;
          t3 ^= this.s3;
        }
        this.nextUint32();
      }
    }
    this.s0 = t0 >>> 0;
    this.s1 = t1 >>> 0;
    this.s2 = t2 >>> 0;
    this.s3 = t3 >>> 0;
    this.spare = null;
    return child;
  }

  getState(): RngState {
    return {
      algorithm: 'xoshiro128**',
      state: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0],
      spareNormal: this.spare,
    };
  }

  setState(state: RngState): void {
    validateState(state);
    [this.s0, this.s1, this.s2, this.s3] = state.state.map((x) => x >>> 0) as [number, number, number, number];
    this.spare = state.spareNormal;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function validateState(state: RngState): void {
  const ok =
    state !== null &&
    typeof state === 'object' &&
    state.algorithm === 'xoshiro128**' &&
    Array.isArray(state.state) &&
    state.state.length === 4 &&
    state.state.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff) &&
    state.state.some((x) => x !== 0) &&
    (state.spareNormal === null || typeof state.spareNormal === 'number');
  if (!ok) {
    throw new CalmError(
      'INVALID_ARGUMENT',
      'RNG state is malformed: expected { algorithm: "xoshiro128**", state: [4 uint32, not all 0], spareNormal: number | null } as returned by Rng.getState().',
      { source: '@calm/core' },
    );
  }
}

/**
 * Creates a seeded random number generator.
 *
 * @param seed - A finite number or a string; equal seeds give equal streams.
 * @returns A new {@link Rng}.
 * @throws {@link CalmError} `INVALID_ARGUMENT` for a non-finite seed.
 * @example
 * {@includeCode ../test/examples.test.ts#rng}
 * @category Random
 */
export function createRng(seed: number | string): Rng {
  const next = splitmix32(hashSeed(seed));
  const state: [number, number, number, number] = [next(), next(), next(), next()];
  if (state.every((x) => x === 0)) state[0] = 1;
  return new Xoshiro128({ algorithm: 'xoshiro128**', state, spareNormal: null });
}

/**
 * Recreates a generator from a state saved with {@link Rng.getState}.
 * @param state - The saved state.
 * @returns A generator that continues the saved stream exactly.
 * @throws {@link CalmError} `INVALID_ARGUMENT` for a malformed state.
 * @example
 * {@includeCode ../test/examples.test.ts#rng}
 * @category Random
 */
export function restoreRng(state: RngState): Rng {
  return new Xoshiro128(state);
}
