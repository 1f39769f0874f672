// Exact binomial weights C(count, m) for the batch sampler's selection step: plain doubles while every
// intermediate stays an exact integer (below 2^53), BigInt beyond, so large pools never overflow.

const MAX_EXACT = 2 ** 53;

/** C(c, m) as an exact double, or `undefined` when an intermediate would exceed 2^53. */
export function binomialNumber(c: number, m: number): number | undefined {
  if (m < 0 || m > c) return 0;
  const k = Math.min(m, c - m);
  let r = 1;
  for (let i = 0; i < k; i++) {
    const t = r * (c - i);
    if (t > MAX_EXACT) return undefined;
    r = t / (i + 1); // C(c, i) · (c − i) / (i + 1) = C(c, i + 1), an exact integer
  }
  return r;
}

/** C(c, m) exactly, as a BigInt. */
export function binomialBig(c: number, m: number): bigint {
  if (m < 0 || m > c) return 0n;
  const k = Math.min(m, c - m);
  let r = 1n;
  for (let i = 0; i < k; i++) r = (r * BigInt(c - i)) / BigInt(i + 1);
  return r;
}

/** Exact weights C(counts[i], m) for every entry (0 where counts[i] < m). */
export function exactSelectionWeights(counts: ArrayLike<number>, m: number): bigint[] {
  const cache = new Map<number, bigint>();
  const out: bigint[] = [];
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    let w = cache.get(c);
    if (w === undefined) {
      w = binomialBig(c, m);
      cache.set(c, w);
    }
    out.push(w);
  }
  return out;
}

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(16).length * 4;
}

/** Ratios w_i / Σ w as doubles, without overflow (both sides shifted to at most ~1000 bits). */
export function bigWeightsToProbabilities(weights: readonly bigint[]): Float64Array {
  let total = 0n;
  for (const w of weights) total += w;
  const shift = BigInt(Math.max(0, bitLength(total) - 1000));
  const denom = Number(total >> shift);
  const out = new Float64Array(weights.length);
  for (let i = 0; i < weights.length; i++) out[i] = Number(weights[i]! >> shift) / denom;
  return out;
}

/** Normalised selection probabilities C(counts[i], m) / Σ_j C(counts[j], m). */
export function selectionProbabilities(counts: ArrayLike<number>, m: number): Float64Array {
  const out = new Float64Array(counts.length);
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c < m) continue;
    const w = binomialNumber(c, m);
    if (w === undefined) return bigWeightsToProbabilities(exactSelectionWeights(counts, m));
    out[i] = w;
    total += w;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= total;
  return out;
}
