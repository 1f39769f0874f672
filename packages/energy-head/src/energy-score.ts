// The energy score (Gneiting & Raftery), CALM's likelihood-free training objective: N model
// samples against M target samples drawn from the autoencoder's diagonal Gaussian posterior,
// with pairwise distances computed through matrix products and a square root whose gradient
// stays finite when two samples coincide.

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { fusedKernelsActive, pairwiseDistanceMeans } from '@calm/nn';
import { assertInteger, assertShape, fail } from './internal/errors.js';
import { normalNoise } from './noise.js';
import type { HeadLogger, TargetPosterior } from './types.js';

/**
 * How pairwise distances are computed.
 *
 * @remarks
 * - `'matmul'`: ‖a − b‖² = ‖a‖² + ‖b‖² − 2·a·b through one batched matrix product per term,
 *   clamped at 0; memory O(B·N·M). Inputs are centred first (fidelity: on the posterior mean or
 *   the targets' mean; diversity: on the samples' mean), which keeps the cancellation error small
 *   for nearby points.
 * - `'direct'`: materialises the [B, N, M, L] differences; exact for coinciding points but
 *   O(B·N·M·L) memory.
 *
 * Where `@calm/nn`'s fused kernels are active (the wasm backend), both methods run as one fused
 * kernel forward and one backward from exact differences, in O(B) memory
 * (`pairwiseDistanceMeans` of `@calm/nn`).
 * @see {@link energyScore}
 * @category Energy score
 */
export type DistanceMethod = 'matmul' | 'direct';

/**
 * Options of {@link energyScore} and {@link energyLoss}.
 * @category Energy score
 */
export interface EnergyScoreOptions {
  /**
   * The distance exponent α (`beta` in the official config), in (0, 2]. α = 2 is accepted with a
   * warning: the score is then only proper, not strictly proper.
   * @defaultValue 1
   */
  alpha?: number;
  /** Pairwise-distance algorithm. @defaultValue `'matmul'` */
  method?: DistanceMethod;
  /** Receives the α = 2 warning; nothing is printed when absent. */
  logger?: HeadLogger;
}

/**
 * Per-position parts of the energy score.
 * @see {@link energyScore}
 * @category Energy score
 */
export interface EnergyScoreParts {
  /** score = diversity − 2·fidelity, shape [B], float32 (higher is better). */
  score: tf.Tensor1D;
  /** Mean over the N·M pairs of ‖x_n − y_m‖^α, shape [B], float32. */
  fidelity: tf.Tensor1D;
  /** Mean over the N·(N−1) ordered pairs n ≠ k of ‖x_n − x_k‖^α, shape [B], float32. */
  diversity: tf.Tensor1D;
}

/**
 * Checks a distance exponent α for the energy score.
 *
 * @param alpha - The exponent (`beta` in the official config).
 * @returns Warnings (empty for α ∈ (0, 2); one message for α = 2, where the score is only proper).
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` when α is not a finite number in (0, 2].
 * @example
 * {@includeCode ../test/examples.test.ts#energy-score}
 * @category Energy score
 */
export function checkEnergyAlpha(alpha: number): string[] {
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0 || alpha > 2) {
    fail(
      'INVALID_ARGUMENT',
      `energy-score alpha (beta) must be a number in (0, 2], got ${String(alpha)}; use 1 (the paper's choice) or another value in (0, 2).`,
    );
  }
  if (alpha === 2) {
    return [
      'energy-score alpha = 2: the score is then only proper, not strictly proper (it matches means only; the paper reports training collapse); use alpha in (0, 2), e.g. 1.',
    ];
  }
  return [];
}

/**
 * Number of floating-point operations (2 per multiply-add) of one energy-score evaluation per
 * position with the `'matmul'` method, forward only.
 *
 * @param numSamples - N, model samples per position.
 * @param numTargets - M, target samples per position.
 * @param latentSize - L, the latent dimension.
 * @returns FLOPs per position.
 * @example
 * {@includeCode ../test/examples.test.ts#energy-score}
 * @category Energy score
 */
export function energyScoreFlops(numSamples: number, numTargets: number, latentSize: number): number {
  const n = numSamples;
  const m = numTargets;
  const l = latentSize;
  // Gram products, squared norms and the elementwise distance work.
  return 2 * n * m * l + 2 * n * n * l + 2 * (n + m) * l + 6 * (n * m + n * n);
}

/** ‖·‖^α from squared distances with a gradient that is finite (0) at distance 0. */
function powFromSquared(sq: tf.Tensor, alpha: number): tf.Tensor {
  if (alpha === 2) return sq;
  // mask = 1 where sq > 0 (tf.step has a zero gradient); masked entries are raised from 1, not 0.
  const mask = tf.step(sq);
  const safe = tf.add(sq, tf.sub(1, mask));
  const powered = alpha === 1 ? tf.sqrt(safe) : tf.pow(safe, tf.scalar(alpha / 2));
  return tf.mul(powered, mask);
}

/** Squared pairwise distances [B, N, M] between rows of a [B, N, L] and b [B, M, L]. */
function squaredDistances(a: tf.Tensor3D, b: tf.Tensor3D, method: DistanceMethod): tf.Tensor3D {
  if (method === 'direct') {
    const diff = tf.sub(tf.expandDims(a, 2), tf.expandDims(b, 1)); // [B, N, M, L]
    return tf.sum(tf.square(diff), -1) as tf.Tensor3D;
  }
  const an = tf.sum(tf.square(a), -1, true); // [B, N, 1]
  const bn = tf.reshape(tf.sum(tf.square(b), -1), [b.shape[0], 1, b.shape[1]]); // [B, 1, M]
  const ab = tf.matMul(a, b, false, true); // [B, N, M]
  return tf.relu(tf.sub(tf.add(an, bn), tf.mul(ab, 2))) as tf.Tensor3D;
}

function validateMethod(method: unknown): DistanceMethod {
  if (method !== 'matmul' && method !== 'direct') {
    fail(
      'INVALID_ARGUMENT',
      `energy-score method must be 'matmul' or 'direct', got ${String(method)}; omit it for 'matmul'.`,
    );
  }
  return method;
}

function checkSamples(samples: tf.Tensor, fn: string): void {
  if (samples.rank !== 3) {
    fail(
      'SHAPE_MISMATCH',
      `${fn}: samples must have shape [B, N, L], got [${samples.shape.join(', ')}]; reshape the model samples to [positions, samples, latent].`,
    );
  }
  if (samples.shape[1]! < 2) {
    fail(
      'INVALID_ARGUMENT',
      `${fn}: the diversity term needs N >= 2 model samples per position, got ${samples.shape[1]}; draw at least 2 (the paper uses 8).`,
    );
  }
  if (samples.dtype !== 'float32') {
    fail('DTYPE_UNSUPPORTED', `${fn}: samples must be float32, got ${samples.dtype}; cast with tf.cast(x, 'float32').`);
  }
}

function emitWarnings(alpha: number, logger: HeadLogger | undefined): void {
  const warnings = checkEnergyAlpha(alpha);
  if (logger) for (const w of warnings) logger.warn(w);
}

/** The diversity term [B]: the mean over ordered pairs n ≠ k. */
function diversityTerm(x: tf.Tensor3D, alpha: number, method: DistanceMethod): tf.Tensor1D {
  const n = x.shape[1];
  // Centre on the samples' own mean so nearby samples have small norms (less cancellation).
  const xc = method === 'matmul' ? (tf.sub(x, tf.mean(x, 1, true)) as tf.Tensor3D) : x;
  const d = powFromSquared(squaredDistances(xc, xc, method), alpha); // [B, N, N]
  const offDiagonal = tf.sub(tf.onesLike(d), tf.eye(n).expandDims(0)); // exclude n = k
  return tf.div(tf.sum(tf.mul(d, offDiagonal), [1, 2]), n * (n - 1)) as tf.Tensor1D;
}

/** The parts from the fused kernel of @calm/nn (exact differences, one kernel each way). */
function fusedParts(x: tf.Tensor3D, y: tf.Tensor3D, alpha: number): EnergyScoreParts {
  return tidyParts(() => {
    const { cross: fidelity, self: diversity } = pairwiseDistanceMeans(x, y, alpha);
    return { score: tf.sub(diversity, tf.mul(fidelity, 2)) as tf.Tensor1D, fidelity, diversity };
  });
}

/** tf.tidy for a function returning {@link EnergyScoreParts}. */
function tidyParts(fn: () => EnergyScoreParts): EnergyScoreParts {
  return tf.tidy(() => ({ ...fn() }) as unknown as tf.TensorContainer) as unknown as EnergyScoreParts;
}

function assemble(
  x: tf.Tensor3D,
  y: tf.Tensor3D,
  alpha: number,
  method: DistanceMethod,
  fidelitySq?: tf.Tensor3D,
): EnergyScoreParts {
  const fidelity = tf.mean(powFromSquared(fidelitySq ?? squaredDistances(x, y, method), alpha), [1, 2]) as tf.Tensor1D;
  const diversity = diversityTerm(x, alpha, method);
  const score = tf.sub(diversity, tf.mul(fidelity, 2)) as tf.Tensor1D;
  return { score, fidelity, diversity };
}

/**
 * The energy score of N model samples against M target samples, per position.
 *
 * @remarks
 * S(P, y) = E‖x − x′‖^α − 2·E‖x − y‖^α estimated as `diversity − 2·fidelity` (official
 * `EnergyTransformer.energy_score`). The diversity term uses only the off-diagonal pairs, and
 * distances of exactly 0 have gradient 0 (PyTorch's convention), so the loss and its gradient
 * stay finite when samples coincide (as they do at initialisation, where the head's last layer
 * is zero).
 *
 * @param samples - Model samples x, shape [B, N, L], float32, N ≥ 2.
 * @param targets - Target samples y, shape [B, M, L], float32.
 * @param options - α, distance method and a logger for the α = 2 warning.
 * @returns score, fidelity and diversity, each [B]. Caller owns the returned tensors and must
 *   dispose them. Inputs are not disposed.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for α outside (0, 2], N < 2 or an unknown method;
 *   `SHAPE_MISMATCH` for inconsistent shapes; `DTYPE_UNSUPPORTED` for non-float32 input.
 * @example
 * {@includeCode ../test/examples.test.ts#energy-score}
 * @category Energy score
 */
export function energyScore(
  samples: tf.Tensor3D,
  targets: tf.Tensor3D,
  options: EnergyScoreOptions = {},
): EnergyScoreParts {
  const alpha = options.alpha ?? 1;
  const method = validateMethod(options.method ?? 'matmul');
  emitWarnings(alpha, options.logger);
  checkSamples(samples, 'energyScore');
  const [b, , l] = samples.shape;
  assertShape(
    targets.shape,
    [b, null, l],
    'energyScore: targets',
    'pass targets as [B, M, L] with the same B and L as the samples',
  );
  if (targets.shape[1] < 1)
    fail('INVALID_ARGUMENT', 'energyScore: targets must hold at least one sample per position (M >= 1).');
  if (fusedKernelsActive()) return fusedParts(samples, targets, alpha);
  return tidyParts(() => {
    // Distances are translation invariant: centre on the targets' mean to limit cancellation.
    const centre = tf.mean(targets, 1, true);
    return assemble(tf.sub(samples, centre) as tf.Tensor3D, tf.sub(targets, centre) as tf.Tensor3D, alpha, method);
  });
}

/**
 * Options of {@link posteriorEnergyScore} and {@link posteriorEnergyLoss}.
 * @category Energy score
 */
export interface PosteriorEnergyOptions extends EnergyScoreOptions {
  /** M, target samples per position; ignored when `targetNoise` is given. @defaultValue 100 (hard-coded `n_y` in the official code) */
  numTargetSamples?: number;
  /** Standard-normal ε for the targets y = μ + σ·ε, shape [B, M, L], float32. */
  targetNoise?: tf.Tensor3D;
  /** Source of ε when `targetNoise` is absent. */
  rng?: Rng;
}

function checkPosterior(posterior: TargetPosterior, b: number, l: number, fn: string): void {
  if (!posterior || !(posterior.mean instanceof tf.Tensor) || !(posterior.logStd instanceof tf.Tensor)) {
    fail(
      'INVALID_ARGUMENT',
      `${fn}: posterior must be { mean: [B, L], logStd: [B, L] } tensors (the autoencoder encoder's output).`,
    );
  }
  assertShape(posterior.mean.shape, [b, l], `${fn}: posterior.mean`, 'pass one mean vector per position');
  assertShape(posterior.logStd.shape, [b, l], `${fn}: posterior.logStd`, 'pass one log-std vector per position');
}

/**
 * The energy score of N model samples against M samples of a diagonal Gaussian posterior
 * N(μ, diag(σ²)), σ = exp(logStd), per position; the CALM training objective.
 *
 * @remarks
 * Targets are y_m = μ + σ ⊙ ε_m with ε_m ~ N(0, I) (official: `n_y = 100` fresh draws per step).
 * Distances are computed on x − μ and σ ⊙ ε, which is exact algebra and keeps float32
 * cancellation small.
 *
 * @param samples - Model samples, shape [B, N, L], float32, N ≥ 2.
 * @param posterior - μ and log σ, each [B, L], float32 (no gradient flows into them unless the
 *   caller differentiates with respect to them).
 * @param options - α, distance method, M, and the target noise or an RNG to draw it.
 * @returns score, fidelity and diversity, each [B]. Caller owns the returned tensors and must
 *   dispose them. Inputs are not disposed.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for α outside (0, 2], N < 2, or neither
 *   `targetNoise` nor `rng`; `SHAPE_MISMATCH` for inconsistent shapes.
 * @example
 * {@includeCode ../test/examples.test.ts#posterior-energy}
 * @category Energy score
 */
export function posteriorEnergyScore(
  samples: tf.Tensor3D,
  posterior: TargetPosterior,
  options: PosteriorEnergyOptions = {},
): EnergyScoreParts {
  const alpha = options.alpha ?? 1;
  const method = validateMethod(options.method ?? 'matmul');
  emitWarnings(alpha, options.logger);
  checkSamples(samples, 'posteriorEnergyScore');
  const [b, , l] = samples.shape;
  checkPosterior(posterior, b, l, 'posteriorEnergyScore');
  const given = options.targetNoise;
  let m = 0;
  if (given !== undefined) {
    assertShape(
      given.shape,
      [b, null, l],
      'posteriorEnergyScore: targetNoise',
      'pass standard-normal noise of shape [B, M, L]',
    );
    if (given.shape[1] < 1)
      fail('INVALID_ARGUMENT', 'posteriorEnergyScore: targetNoise must hold M >= 1 samples per position.');
  } else {
    m = options.numTargetSamples ?? 100;
    assertInteger(m, 'numTargetSamples', 1, 'use 100 as the official code does');
    if (!options.rng)
      fail(
        'INVALID_ARGUMENT',
        'posteriorEnergyScore: pass options.rng (or options.targetNoise) to draw the target samples.',
      );
  }
  const rng = options.rng;
  const fused = fusedKernelsActive();
  return tidyParts(() => {
    const eps = given ?? (normalNoise(rng!, [b, m, l]) as tf.Tensor3D);
    const mean = tf.expandDims(posterior.mean, 1); // [B, 1, L]
    const std = tf.exp(tf.expandDims(posterior.logStd, 1));
    const x = tf.sub(samples, mean) as tf.Tensor3D;
    if (fused) return fusedParts(x, tf.mul(std, eps) as tf.Tensor3D, alpha); // y − μ = σ·ε
    if (method === 'direct') return assemble(x, tf.mul(std, eps) as tf.Tensor3D, alpha, method); // y − μ = σ·ε
    // ‖x − μ − σ·ε‖² = ‖x − μ‖² + Σ σ²ε² − 2·((x − μ)·σ)·ε, without materialising σ·ε.
    const xn = tf.sum(tf.square(x), -1, true); // [B, N, 1]
    const yn = tf.reshape(tf.sum(tf.mul(tf.square(eps), tf.square(std)), -1), [b, 1, eps.shape[1]]); // [B, 1, M]
    const xy = tf.matMul(tf.mul(x, std), eps, false, true); // [B, N, M]
    const sq = tf.relu(tf.sub(tf.add(xn, yn), tf.mul(xy, 2))) as tf.Tensor3D;
    return assemble(x, x, alpha, method, sq);
  });
}

/**
 * The energy loss: the mean over positions of −score (official `EnergyTransformer.forward`).
 *
 * @param samples - Model samples, shape [B, N, L], float32, N ≥ 2.
 * @param targets - Target samples, shape [B, M, L], float32.
 * @param options - α, distance method and a logger for the α = 2 warning.
 * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws {@link @calm/core!CalmError | CalmError} as {@link energyScore}.
 * @example
 * {@includeCode ../test/examples.test.ts#energy-score}
 * @category Energy score
 */
export function energyLoss(samples: tf.Tensor3D, targets: tf.Tensor3D, options: EnergyScoreOptions = {}): tf.Scalar {
  return reduceLoss(energyScore(samples, targets, options));
}

/**
 * The energy loss against a diagonal Gaussian posterior: the mean over positions of −score, with
 * M target samples y = μ + σ·ε.
 *
 * @param samples - Model samples, shape [B, N, L], float32, N ≥ 2.
 * @param posterior - μ and log σ, each [B, L], float32.
 * @param options - α, distance method, M, and the target noise or an RNG to draw it.
 * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws {@link @calm/core!CalmError | CalmError} as {@link posteriorEnergyScore}.
 * @example
 * {@includeCode ../test/examples.test.ts#posterior-energy}
 * @category Energy score
 */
export function posteriorEnergyLoss(
  samples: tf.Tensor3D,
  posterior: TargetPosterior,
  options: PosteriorEnergyOptions = {},
): tf.Scalar {
  return reduceLoss(posteriorEnergyScore(samples, posterior, options));
}

function reduceLoss(parts: EnergyScoreParts): tf.Scalar {
  const loss = tf.tidy(() => tf.neg(tf.mean(parts.score)) as tf.Scalar);
  parts.score.dispose();
  parts.fidelity.dispose();
  parts.diversity.dispose();
  return loss;
}
