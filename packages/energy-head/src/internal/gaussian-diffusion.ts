// The Gaussian diffusion process of the official diffusion head (models/diffusion/ of
// shaochenze/calm: DiT's port of OpenAI's improved-diffusion): beta schedules, timestep
// respacing, the float64 coefficient tables, and the tensor pieces of training and sampling —
// q(x_t | x_0), p_mean_variance with learned-range or fixed-large variance, and the MSE + VLB
// training terms. The tables are computed in float64 (official numpy) and enter tensor math as
// float32 (official `_extract_into_tensor(...).float()`).

import * as tf from '@tensorflow/tfjs';

/** A named beta schedule of `get_named_beta_schedule`. */
export type BetaScheduleName = 'cosine' | 'linear';

/**
 * `get_named_beta_schedule(name, T)`: 'linear' = linspace(1e-4·1000/T, 0.02·1000/T, T) (numpy's
 * linspace: i·step + start, last = stop); 'cosine' = 1 − ᾱ((i+1)/T)/ᾱ(i/T) capped at 0.999 with
 * ᾱ(t) = cos((t + 0.008)/1.008 · π/2)².
 */
export function namedBetaSchedule(name: BetaScheduleName, numTimesteps: number): Float64Array {
  const out = new Float64Array(numTimesteps);
  if (name === 'linear') {
    const scale = 1000 / numTimesteps;
    const start = scale * 0.0001;
    const stop = scale * 0.02;
    const step = (stop - start) / (numTimesteps - 1);
    for (let i = 0; i < numTimesteps; i++) out[i] = i * step + start;
    if (numTimesteps > 1) out[numTimesteps - 1] = stop;
    return out;
  }
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  for (let i = 0; i < numTimesteps; i++)
    out[i] = Math.min(1 - alphaBar((i + 1) / numTimesteps) / alphaBar(i / numTimesteps), 0.999);
  return out;
}

/** Python's round(): to the nearest integer, ties to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * `space_timesteps(T, section_counts)` for a list of counts (the official string "100" is [100]):
 * each of the equal portions of [0, T) is strided to its count with a fractional stride and
 * Python's round. Sorted ascending. Throws a plain Error for a section too small (callers validate).
 */
export function spaceTimesteps(numTimesteps: number, sectionCounts: readonly number[]): number[] {
  const sizePer = Math.floor(numTimesteps / sectionCounts.length);
  const extra = numTimesteps % sectionCounts.length;
  const steps = new Set<number>();
  let start = 0;
  sectionCounts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw new Error(`cannot divide section of ${size} steps into ${count}`);
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0;
    for (let j = 0; j < count; j++) {
      steps.add(start + roundHalfEven(cur));
      cur += stride;
    }
    start += size;
  });
  return [...steps].sort((a, b) => a - b);
}

/** The float64 tables of a (respaced) `GaussianDiffusion`, indexed by its own step k. */
export interface DiffusionTables {
  /** Steps of this (respaced) process. */
  numTimesteps: number;
  /** The original timestep the network sees at step k (`timestep_map`). */
  timestepMap: readonly number[];
  betas: Float64Array;
  logBetas: Float64Array;
  alphasCumprod: Float64Array;
  alphasCumprodPrev: Float64Array;
  sqrtAlphasCumprod: Float64Array;
  sqrtOneMinusAlphasCumprod: Float64Array;
  sqrtRecipAlphasCumprod: Float64Array;
  sqrtRecipm1AlphasCumprod: Float64Array;
  posteriorVariance: Float64Array;
  posteriorLogVarianceClipped: Float64Array;
  posteriorMeanCoef1: Float64Array;
  posteriorMeanCoef2: Float64Array;
  /** FIXED_LARGE log variance: log of [posterior variance at step 1, betas[1:]]. */
  fixedLargeLogVariance: Float64Array;
}

const map = (a: Float64Array, f: (v: number, i: number) => number) => Float64Array.from(a, f);

/**
 * The tables of `SpacedDiffusion(use_timesteps, betas)`: the base process's ᾱ kept at
 * `useTimesteps` (ascending), new betas 1 − ᾱ_i/ᾱ_prev, then `GaussianDiffusion`'s tables of those
 * betas. With all timesteps this re-derives the betas up to rounding, as the official training
 * diffusion does. Needs at least two steps (the clipped posterior log variance reads step 1).
 */
export function diffusionTables(baseBetas: Float64Array, useTimesteps: readonly number[]): DiffusionTables {
  const keep = new Set(useTimesteps);
  const newBetas: number[] = [];
  const timestepMap: number[] = [];
  let acp = 1;
  let last = 1;
  for (let i = 0; i < baseBetas.length; i++) {
    acp *= 1 - baseBetas[i]!;
    if (keep.has(i)) {
      newBetas.push(1 - acp / last);
      last = acp;
      timestepMap.push(i);
    }
  }
  const betas = Float64Array.from(newBetas);
  const n = betas.length;
  const alphasCumprod = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) alphasCumprod[i] = prod *= 1 - betas[i]!;
  const alphasCumprodPrev = map(alphasCumprod, (_, i) => (i === 0 ? 1 : alphasCumprod[i - 1]!));
  const posteriorVariance = map(betas, (b, i) => (b * (1 - alphasCumprodPrev[i]!)) / (1 - alphasCumprod[i]!));
  return {
    numTimesteps: n,
    timestepMap,
    betas,
    logBetas: map(betas, Math.log),
    alphasCumprod,
    alphasCumprodPrev,
    sqrtAlphasCumprod: map(alphasCumprod, Math.sqrt),
    sqrtOneMinusAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 - a)),
    sqrtRecipAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped: map(posteriorVariance, (v, i) => Math.log(i === 0 ? posteriorVariance[1]! : v)),
    posteriorMeanCoef1: map(betas, (b, i) => (b * Math.sqrt(alphasCumprodPrev[i]!)) / (1 - alphasCumprod[i]!)),
    posteriorMeanCoef2: map(
      betas,
      (b, i) => ((1 - alphasCumprodPrev[i]!) * Math.sqrt(1 - b)) / (1 - alphasCumprod[i]!),
    ),
    fixedLargeLogVariance: map(betas, (b, i) => Math.log(i === 0 ? posteriorVariance[1]! : b)),
  };
}

/** A table value for every row (a tensor gathered at per-row steps, shape [..., 1]) or one step (a number). */
export type Coef = tf.Tensor | number;

/** Table coefficients at the current step(s), shaped to broadcast against x [..., l]. */
export interface StepCoefs {
  sqrtRecipAlphasCumprod: Coef;
  sqrtRecipm1AlphasCumprod: Coef;
  posteriorMeanCoef1: Coef;
  posteriorMeanCoef2: Coef;
  posteriorLogVarianceClipped: Coef;
  logBetas: Coef;
  fixedLargeLogVariance: Coef;
}

/** The coefficients of one step k (numbers; float32 once they meet a tensor). */
export function stepCoefs(t: DiffusionTables, k: number): StepCoefs {
  return {
    sqrtRecipAlphasCumprod: t.sqrtRecipAlphasCumprod[k]!,
    sqrtRecipm1AlphasCumprod: t.sqrtRecipm1AlphasCumprod[k]!,
    posteriorMeanCoef1: t.posteriorMeanCoef1[k]!,
    posteriorMeanCoef2: t.posteriorMeanCoef2[k]!,
    posteriorLogVarianceClipped: t.posteriorLogVarianceClipped[k]!,
    logBetas: t.logBetas[k]!,
    fixedLargeLogVariance: t.fixedLargeLogVariance[k]!,
  };
}

/** `table[t]` for integer steps t (any shape), as float32 of shape [...t.shape, 1]. */
export function gatherTable(table: Float64Array, t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.expandDims(tf.gather(tf.tensor1d(Float32Array.from(table)), t), -1));
}

/** The mean, log variance and x_0 prediction of p(x_{t−1} | x_t). */
export interface MeanVariance {
  mean: tf.Tensor;
  logVariance: tf.Tensor;
  predXstart: tf.Tensor;
}

/**
 * `p_mean_variance` (clip_denoised = False) from the network's ε prediction and, with learned
 * variance, its interpolation values v ∈ [−1, 1] (not clamped): log σ² = frac·log β_t +
 * (1 − frac)·log σ̃²_t (clipped) with frac = (v + 1)/2; without, the FIXED_LARGE log variance.
 * x̂_0 = √(1/ᾱ_t)·x − √(1/ᾱ_t − 1)·ε; mean = coef1·x̂_0 + coef2·x. Call inside a tidy.
 */
export function pMeanVariance(eps: tf.Tensor, v: tf.Tensor | null, x: tf.Tensor, c: StepCoefs): MeanVariance {
  let logVariance: tf.Tensor;
  if (v !== null) {
    const frac = tf.div(tf.add(v, 1), 2);
    logVariance = tf.add(tf.mul(frac, c.logBetas), tf.mul(tf.sub(1, frac), c.posteriorLogVarianceClipped));
  } else {
    logVariance = tf.add(tf.zerosLike(x), c.fixedLargeLogVariance);
  }
  const predXstart = tf.sub(tf.mul(x, c.sqrtRecipAlphasCumprod), tf.mul(eps, c.sqrtRecipm1AlphasCumprod));
  const mean = tf.add(tf.mul(predXstart, c.posteriorMeanCoef1), tf.mul(x, c.posteriorMeanCoef2));
  return { mean, logVariance, predXstart };
}

/** KL(N(m1, e^lv1) ‖ N(m2, e^lv2)) per element (`normal_kl`). */
function normalKl(m1: tf.Tensor, lv1: tf.Tensor, m2: tf.Tensor, lv2: tf.Tensor): tf.Tensor {
  const sq = tf.mul(tf.square(tf.sub(m1, m2)), tf.exp(tf.neg(lv2)));
  return tf.mul(0.5, tf.add(tf.add(tf.sub(tf.sub(lv2, lv1), 1), tf.exp(tf.sub(lv1, lv2))), sq));
}

/** The tanh approximation of the standard normal CDF. */
function approxStandardNormalCdf(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(tf.square(x), x))));
  return tf.mul(0.5, tf.add(1, tf.tanh(inner)));
}

/**
 * `discretized_gaussian_log_likelihood`: the log-probability of the 1/255-wide bin around x under
 * N(means, e^(2·logScales)), with open end bins below −0.999 and above 0.999 and probabilities
 * clamped at 1e-12 (made for images in [−1, 1]; applied to latents unchanged officially).
 */
export function discretizedGaussianLogLikelihood(x: tf.Tensor, means: tf.Tensor, logScales: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const centered = tf.sub(x, means);
    const invStdv = tf.exp(tf.neg(logScales));
    const cdfPlus = approxStandardNormalCdf(tf.mul(invStdv, tf.add(centered, 1 / 255)));
    const cdfMin = approxStandardNormalCdf(tf.mul(invStdv, tf.sub(centered, 1 / 255)));
    const logCdfPlus = tf.log(tf.maximum(cdfPlus, 1e-12));
    const logOneMinusCdfMin = tf.log(tf.maximum(tf.sub(1, cdfMin), 1e-12));
    const logDelta = tf.log(tf.maximum(tf.sub(cdfPlus, cdfMin), 1e-12));
    return tf.where(tf.less(x, -0.999), logCdfPlus, tf.where(tf.greater(x, 0.999), logOneMinusCdfMin, logDelta));
  });
}

/** Identity forward, zero gradient (PyTorch's `.detach()`). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad(((a: tf.Tensor) => ({
    value: a.clone(),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x) as T;
}

/** Per-row training terms and the diffused input. */
export interface TrainingTerms {
  /** x_t, shape of x0. */
  xt: tf.Tensor;
  /** Mean over the latent of (ε − ε̂)², shape of x0 without the last axis. */
  mse: tf.Tensor;
  /** The VLB term in bits per dimension (null without learned variance), same shape as mse. */
  vb: tf.Tensor | null;
}

/**
 * `training_losses` with loss type MSE: x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·noise; mse = mean (noise − ε̂)²;
 * with learned variance also the VLB term on the variance output (ε̂ detached): KL of the true
 * posterior q(x_{t−1} | x_t, x0) to p(x_{t−1} | x_t) / ln 2, or at t = 0 the decoder NLL / ln 2.
 * `model(xt)` returns the network output [..., l or 2l]. x0, noise [..., l]; t int32 [...].
 */
export function trainingTerms(
  tables: DiffusionTables,
  model: (xt: tf.Tensor) => tf.Tensor,
  x0: tf.Tensor,
  t: tf.Tensor,
  noise: tf.Tensor,
  learnSigma: boolean,
): TrainingTerms {
  const r = tf.tidy(() => {
    const c = (table: Float64Array) => gatherTable(table, t);
    const xt = tf.add(tf.mul(c(tables.sqrtAlphasCumprod), x0), tf.mul(c(tables.sqrtOneMinusAlphasCumprod), noise));
    const out = model(xt);
    const [eps, v] = learnSigma ? tf.split(out, 2, -1) : [out, null];
    const mse = tf.mean(tf.square(tf.sub(noise, eps!)), -1);
    if (!learnSigma) return { xt, mse };
    const coefs: StepCoefs = {
      sqrtRecipAlphasCumprod: c(tables.sqrtRecipAlphasCumprod),
      sqrtRecipm1AlphasCumprod: c(tables.sqrtRecipm1AlphasCumprod),
      posteriorMeanCoef1: c(tables.posteriorMeanCoef1),
      posteriorMeanCoef2: c(tables.posteriorMeanCoef2),
      posteriorLogVarianceClipped: c(tables.posteriorLogVarianceClipped),
      logBetas: c(tables.logBetas),
      fixedLargeLogVariance: 0,
    };
    const model_ = pMeanVariance(stopGradient(eps!), v!, xt, coefs);
    const trueMean = tf.add(tf.mul(coefs.posteriorMeanCoef1, x0), tf.mul(coefs.posteriorMeanCoef2, xt));
    const trueLogVar = tf.add(tf.zerosLike(x0), coefs.posteriorLogVarianceClipped);
    const kl = tf.div(tf.mean(normalKl(trueMean, trueLogVar, model_.mean, model_.logVariance), -1), Math.LN2);
    const ll = discretizedGaussianLogLikelihood(x0, model_.mean, tf.mul(model_.logVariance, 0.5));
    const nll = tf.div(tf.neg(tf.mean(ll, -1)), Math.LN2);
    const vb = tf.where(tf.equal(t, 0), nll, kl);
    return { xt, mse, vb };
  });
  return { xt: r.xt, mse: r.mse, vb: r.vb ?? null };
}
