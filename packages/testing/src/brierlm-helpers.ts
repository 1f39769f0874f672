// Test helpers for @calm/brierlm: exact Brier-n of a model with known next-token probabilities
// (by enumerating every n-gram continuation: only for small vocabularies), the position layouts
// of the three estimators, and toy generators (always right, always wrong, deterministic argmax).

/** A next-token distribution as a synchronous function of the context. */
export type ProbsFn = (context: ArrayLike<number>) => ArrayLike<number>;

/**
 * Exact Brier-1..4 at one position: 2·P(y₁..yₙ | ctx) − Σ_{x ∈ V^n} P(x₁..xₙ | ctx)².
 * Enumerates V + V² + V³ contexts; use small V.
 */
export function exactBrierAt(probs: ProbsFn, context: ArrayLike<number>, target: ArrayLike<number>): number[] {
  const ctx = Array.from(context);
  // P(y_{1:n}) by the chain rule.
  const py: number[] = [];
  let p = 1;
  const c = [...ctx];
  for (let j = 0; j < 4; j++) {
    p *= probs(c)[target[j]!]!;
    py.push(p);
    c.push(target[j]!);
  }
  const coll = collisionSums(probs, ctx, 4);
  return py.map((v, n) => 2 * v - coll[n]!);
}

/** [C₁..C_depth] with C_n(ctx) = Σ_{x ∈ V^n} P(x | ctx)², by C_n(ctx) = Σ_x p(x)² C_{n−1}(ctx + x). */
export function collisionSums(probs: ProbsFn, ctx: number[], depth: number): number[] {
  const p = probs(ctx);
  const out = new Array<number>(depth).fill(0);
  for (let x = 0; x < p.length; x++) {
    const q = p[x]! * p[x]!;
    if (q === 0) continue;
    out[0]! += q;
    if (depth > 1) {
      const sub = collisionSums(probs, [...ctx, x], depth - 1);
      for (let n = 1; n < depth; n++) out[n]! += q * sub[n - 1]!;
    }
  }
  return out;
}

/** Chunk estimator positions of a block of T tokens: first target-token index of each scored position. */
export function chunkPositions(T: number, K: number): number[] {
  const L = T / K;
  const s = Math.ceil(4 / K);
  const P = K >= 4 ? L - 1 : L - 1 - s;
  return Array.from({ length: P }, (_, t) => (t + 1) * K);
}

/** Token/explicit estimator positions of a block of T tokens: first target-token index (i + 1). */
export function tokenPositions(T: number): number[] {
  return Array.from({ length: T - 4 }, (_, i) => i + 1);
}

/** Mean exact Brier-1..4 over the given first-target indices of a block. */
export function exactMeanBrier(probs: ProbsFn, block: ArrayLike<number>, starts: readonly number[]): number[] {
  const sum = [0, 0, 0, 0];
  for (const s of starts) {
    const b = exactBrierAt(probs, Array.from(block).slice(0, s), Array.from(block).slice(s, s + 4));
    for (let n = 0; n < 4; n++) sum[n]! += b[n]!;
  }
  return sum.map((v) => v / starts.length);
}

/** The continuation of `context` inside `block` (the context must be a prefix of the block, possibly followed by non-block tokens). */
function continuation(block: ArrayLike<number>, context: ArrayLike<number>, length: number, fill: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < length; j++) out.push(context.length + j < block.length ? block[context.length + j]! : fill);
  return out;
}

/** Sampler objects that always continue with the gold tokens of one block (deterministic and always right). */
export function perfectGenerators(block: Int32Array, vocabSize: number) {
  return {
    chunk: (K: number) => ({
      chunkSize: K,
      async sample(contexts: readonly Int32Array[], numSamples: number) {
        const out = new Int32Array(contexts.length * numSamples * K);
        contexts.forEach((c, b) => {
          const x = continuation(block, c, K, 0);
          for (let m = 0; m < numSamples; m++) out.set(x, (b * numSamples + m) * K);
        });
        return out;
      },
    }),
    token: {
      async sample(contexts: readonly Int32Array[], maxTokens: number, numSamples: number) {
        const out = new Int32Array(contexts.length * numSamples * maxTokens);
        contexts.forEach((c, b) => {
          const x = continuation(block, c, maxTokens, 0);
          for (let m = 0; m < numSamples; m++) out.set(x, (b * numSamples + m) * maxTokens);
        });
        return out;
      },
    },
    explicit: {
      vocabSize,
      async nextTokenProbs(contexts: readonly Int32Array[]) {
        const out = new Float32Array(contexts.length * vocabSize);
        contexts.forEach((c, b) => {
          out[b * vocabSize + continuation(block, c, 1, 0)[0]!] = 1;
        });
        return out;
      },
    },
  };
}

/** Sampler objects that always output the same token `wrong` (deterministic, never right when `wrong` is not in the data). */
export function constantGenerators(wrong: number, vocabSize: number) {
  return {
    chunk: (K: number) => ({
      chunkSize: K,
      async sample(contexts: readonly Int32Array[], numSamples: number) {
        return new Int32Array(contexts.length * numSamples * K).fill(wrong);
      },
    }),
    token: {
      async sample(contexts: readonly Int32Array[], maxTokens: number, numSamples: number) {
        return new Int32Array(contexts.length * numSamples * maxTokens).fill(wrong);
      },
    },
    explicit: {
      vocabSize,
      async nextTokenProbs(contexts: readonly Int32Array[]) {
        const out = new Float32Array(contexts.length * vocabSize);
        contexts.forEach((_, b) => {
          out[b * vocabSize + wrong] = 1;
        });
        return out;
      },
    },
  };
}

/** A chunk sampler that decodes greedily (argmax of `probs`, token by token) for every sample: the bug BrierLM must flag. */
export function argmaxChunkSampler(probs: ProbsFn, K: number) {
  return {
    chunkSize: K,
    async sample(contexts: readonly Int32Array[], numSamples: number) {
      const out = new Int32Array(contexts.length * numSamples * K);
      contexts.forEach((c, b) => {
        const ctx = Array.from(c);
        const x: number[] = [];
        for (let j = 0; j < K; j++) {
          const p = probs(ctx);
          let best = 0;
          for (let v = 1; v < p.length; v++) if (p[v]! > p[best]!) best = v;
          x.push(best);
          ctx.push(best);
        }
        for (let m = 0; m < numSamples; m++) out.set(x, (b * numSamples + m) * K);
      });
      return out;
    },
  };
}

/**
 * A first-order Markov chain as a `NextTokenModel`: the distribution after a context is
 * `rows[last token]` (with `teacherForcedProbs`). With dyadic probabilities (0.5, 0.375, …) the
 * float32 rows are exact, so the model's Brier-k is known in closed form ({@link markovKgramMoments}).
 */
export function markovModel(rows: readonly (readonly number[])[]) {
  const V = rows.length;
  const row = (c: ArrayLike<number>): readonly number[] => rows[c[c.length - 1]!]!;
  return {
    vocabSize: V,
    probs: (c: ArrayLike<number>): Float64Array => Float64Array.from(row(c)),
    async nextTokenProbs(contexts: readonly Int32Array[]): Promise<Float32Array> {
      const out = new Float32Array(contexts.length * V);
      contexts.forEach((c, b) => out.set(row(c), b * V));
      return out;
    },
    async teacherForcedProbs(sequence: Int32Array): Promise<Float32Array> {
      const out = new Float32Array(sequence.length * V);
      for (let t = 0; t < sequence.length; t++) out.set(rows[sequence[t]!]!, t * V);
      return out;
    },
  };
}

/** Brier-k of one position in closed form: P(y₁..y_k) and the power sums Σₓ P(x)² and Σₓ P(x)³ over k-grams. */
export interface KgramMoments {
  /** P(y₁..y_k | context). */
  py: number;
  /** Σ_{x ∈ V^k} P(x | context)², the collision probability. */
  s2: number;
  /** Σ_{x ∈ V^k} P(x | context)³. */
  s3: number;
  /** The exact Brier-k: 2·py − s2. */
  brier: number;
}

/**
 * Closed-form k-gram moments (k = 1..4) of a Markov chain after a context ending in `last`, for
 * the gold continuation `target`: P(y₁..y_k) = Π rows, and Σₓ P(x)^m = (R^{∘m})^k·1 at `last`
 * (R^{∘m}: entry-wise m-th power of the transition matrix).
 */
export function markovKgramMoments(
  rows: readonly (readonly number[])[],
  last: number,
  target: ArrayLike<number>,
): KgramMoments[] {
  const V = rows.length;
  const power = (m: number, v: number[]): number[] => rows.map((r) => r.reduce((acc, p, x) => acc + p ** m * v[x]!, 0));
  let v2 = new Array<number>(V).fill(1);
  let v3 = new Array<number>(V).fill(1);
  const out: KgramMoments[] = [];
  let py = 1;
  let prev = last;
  for (let k = 0; k < 4; k++) {
    v2 = power(2, v2);
    v3 = power(3, v3);
    py *= rows[prev]![target[k]!]!;
    prev = target[k]!;
    out.push({ py, s2: v2[last]!, s3: v3[last]!, brier: 2 * py - v2[last]! });
  }
  return out;
}

/**
 * The variance of the n-sample estimate 2·hits/n − pairs/(n(n−1)) at one position: a
 * U-statistic of order 2 with kernel φ(x₁, x₂) = 1{x₁ = y} + 1{x₂ = y} − 1{x₁ = x₂}, so
 * Var = 2/(n(n−1))·(2(n−2)·ζ₁ + ζ₂) with ζ₁ = Var(1{x = y} − P(x)) and ζ₂ = Var φ
 * (→ 4ζ₁/n for large n; ζ₂ for n = 2).
 */
export function uStatisticBrierVariance(m: KgramMoments, n: number): number {
  const { py, s2, s3 } = m;
  const zeta1 = py * (1 - py) ** 2 + s3 - py ** 3 - (py - s2) ** 2;
  const zeta2 = 2 * py + s2 - 2 * py * py - (2 * py - s2) ** 2;
  return (2 / (n * (n - 1))) * (2 * (n - 2) * zeta1 + zeta2);
}

/**
 * The variance of the mean of n/2 disjoint two-sample estimates (a naive n-sample estimator,
 * also unbiased): 2ζ₂/n. Tests use it to show the variance check tells the estimators apart.
 */
export function disjointPairsBrierVariance(m: KgramMoments, n: number): number {
  const { py, s2 } = m;
  const zeta2 = 2 * py + s2 - 2 * py * py - (2 * py - s2) ** 2;
  return (2 * zeta2) / n;
}
