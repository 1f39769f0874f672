// Statistical helpers for tests of stochastic algorithms: chi-square goodness of fit with an exact
// p-value (regularised incomplete gamma), means with standard errors, total-variation distance.
// No tfjs here, so framework-free packages can use them.

/** Natural log of the gamma function (Lanczos, g = 7, n = 9; |error| < 1e-13 for x > 0). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x < a + 1) {
    // series for P
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
  }
  // continued fraction for Q (Lentz)
  let b = x + 1 - a;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Result of {@link chiSquareTest}. */
export interface ChiSquareResult {
  /** The χ² statistic. */
  statistic: number;
  /** Degrees of freedom (bins after pooling − 1). */
  dof: number;
  /** P(χ²_dof ≥ statistic). */
  pValue: number;
}

/**
 * Pearson χ² goodness-of-fit of observed counts against expected probabilities. Bins whose
 * expected count is below `minExpected` are pooled into one bin (standard practice), so
 * distributions with many near-zero outcomes can be tested.
 */
export function chiSquareTest(observed: ArrayLike<number>, probs: ArrayLike<number>, minExpected = 5): ChiSquareResult {
  let n = 0;
  for (let i = 0; i < observed.length; i++) n += observed[i]!;
  let psum = 0;
  for (let i = 0; i < probs.length; i++) psum += probs[i]!;
  const bins: { o: number; e: number }[] = [];
  const pooled = { o: 0, e: 0 };
  for (let i = 0; i < probs.length; i++) {
    const e = (n * probs[i]!) / psum;
    const o = observed[i] ?? 0;
    if (e < minExpected) {
      pooled.o += o;
      pooled.e += e;
    } else bins.push({ o, e });
  }
  if (pooled.e > 0 || pooled.o > 0) {
    if (pooled.e >= minExpected || bins.length === 0) bins.push(pooled);
    else if (bins.length > 0) {
      // merge the small pool into the smallest regular bin
      bins.sort((a, b) => a.e - b.e);
      bins[0]!.o += pooled.o;
      bins[0]!.e += pooled.e;
    }
  }
  let stat = 0;
  for (const { o, e } of bins) stat += e > 0 ? ((o - e) * (o - e)) / e : o > 0 ? Infinity : 0;
  const dof = Math.max(1, bins.length - 1);
  return { statistic: stat, dof, pValue: gammaQ(dof / 2, stat / 2) };
}

/** Sample mean, standard deviation and standard error of the mean. */
export function meanAndStderr(xs: ArrayLike<number>): { mean: number; std: number; stderr: number; n: number } {
  const n = xs.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += xs[i]!;
  const mean = s / n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (xs[i]! - mean) ** 2;
  const std = n > 1 ? Math.sqrt(v / (n - 1)) : 0;
  return { mean, std, stderr: std / Math.sqrt(n), n };
}

/** Total-variation distance ½ Σ |p − q| between two (unnormalised) distributions over the same support. */
export function totalVariation(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let sp = 0;
  let sq = 0;
  const n = Math.max(p.length, q.length);
  for (let i = 0; i < n; i++) {
    sp += p[i] ?? 0;
    sq += q[i] ?? 0;
  }
  let tv = 0;
  for (let i = 0; i < n; i++) tv += Math.abs((p[i] ?? 0) / sp - (q[i] ?? 0) / sq);
  return tv / 2;
}

/** Normalises non-negative weights to probabilities. */
export function normalize(w: ArrayLike<number>): Float64Array {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += w[i]!;
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i]! / s;
  return out;
}

/**
 * Unbiased sample variance s² of `xs` with its standard error
 * √((m₄ − s⁴·(R − 3)/(R − 1)) / R) from the sample fourth central moment m₄, for testing a
 * predicted variance.
 */
export function sampleVariance(xs: ArrayLike<number>): { variance: number; stderr: number; n: number } {
  const R = xs.length;
  let s = 0;
  for (let i = 0; i < R; i++) s += xs[i]!;
  const mean = s / R;
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < R; i++) {
    const d = (xs[i]! - mean) ** 2;
    m2 += d;
    m4 += d * d;
  }
  const variance = R > 1 ? m2 / (R - 1) : 0;
  m4 /= R;
  const v4 = Math.max(m4 - (variance * variance * (R - 3)) / (R - 1), 0);
  return { variance, stderr: Math.sqrt(v4 / R), n: R };
}
