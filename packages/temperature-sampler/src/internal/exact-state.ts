// The exact algorithm (paper Algorithm 1) as a state machine that consumes one draw at a time, so the
// same code runs behind the one-at-a-time generic sampler and the batched ChunkSampler driver.
import type { Rng } from '@calm/core';

/** Compares draws with the current reference outcome x*. */
export interface Matcher<X> {
  /** Makes `ref` the reference outcome. */
  bind(ref: X): void;
  /** Whether `x` is the same outcome as the reference. */
  matches(x: X): boolean;
}

/** A matcher from a key function (`===` on keys). */
export function keyMatcher<X>(key: (x: X) => unknown): Matcher<X> {
  let refKey: unknown;
  return {
    bind(ref) {
      refKey = key(ref);
    },
    matches(x) {
      const k = key(x);
      return Object.is(k, refKey) || k === refKey; // NaN keys are equal, as in a Map (and 0 === -0)
    },
  };
}

/** A matcher for chunks of token ids: exact equality of all K ids, no allocation. */
export function chunkMatcher(): Matcher<Int32Array> {
  let ref: Int32Array = new Int32Array(0);
  return {
    bind(r) {
      ref = r;
    },
    matches(x) {
      if (x.length !== ref.length) return false;
      for (let i = 0; i < x.length; i++) if (x[i] !== ref[i]) return false;
      return true;
    },
  };
}

/**
 * One exact temperature sample in progress. Feed it i.i.d. draws from P until `done`; the result is
 * distributed as P^(1/T)/Z (Theorem 1). `consumed` counts the draws it used (Theorem 2's N).
 */
export class ExactState<X> {
  /** Draws used so far. */
  consumed = 0;
  /** Whether a sample was accepted. */
  done = false;
  /** The accepted outcome (valid once `done`). */
  value: X | undefined;
  /** Draws consumed, kept only when `keepDraws` (for the approximate budget fallback). */
  readonly draws: X[] | undefined;

  private stage: 1 | 2 = 1;
  /** Draws of the current trial's Stage 1 so far. */
  private j = 0;
  private allEqual = true;
  private candidate: X | undefined;
  /** Stage-2 step counter i (1-based). */
  private i = 1;

  constructor(
    private readonly n: number,
    private readonly alpha: number,
    private readonly matcher: Matcher<X>,
    private readonly rng: Rng,
    private readonly earlyReject: boolean,
    keepDraws: boolean,
  ) {
    this.draws = keepDraws ? [] : undefined;
  }

  /** Consumes one draw; returns `true` once a sample has been accepted. */
  feed(x: X): boolean {
    this.consumed++;
    this.draws?.push(x);
    if (this.stage === 1) {
      if (this.j === 0) {
        this.candidate = x;
        this.matcher.bind(x);
        this.allEqual = true;
      } else if (this.allEqual && !this.matcher.matches(x)) {
        this.allEqual = false;
      }
      this.j++;
      if (!this.allEqual && this.earlyReject) {
        this.j = 0; // the trial is lost already; the remaining Stage-1 draws would be thrown away
        return false;
      }
      if (this.j < this.n) return false;
      this.j = 0;
      if (!this.allEqual) return false; // reject: new trial
      if (this.alpha === 0) return this.accept();
      this.stage = 2; // x* reached with probability P(x*)^n
      this.i = 1;
      return false;
    }
    // Stage 2: a Bernoulli factory that succeeds with probability P(x*)^alpha.
    if (this.matcher.matches(x)) return this.accept();
    if (this.rng.uniform() < this.alpha / this.i) {
      this.stage = 1; // reject: new trial
      return false;
    }
    this.i++;
    return false;
  }

  private accept(): boolean {
    this.done = true;
    this.value = this.candidate;
    return true;
  }
}
