// One optimiser step, the same for every model and every training loop: the gradients of one or
// more micro-batch losses are summed, divided by the number of micro-batches, clipped to a global
// norm, and applied by AdamW. Split in two so that a data-parallel trainer can sum the gradients
// of several workers between the halves.

import * as tf from '@tensorflow/tfjs';
import type { AdamW } from './adamw.js';
import { clipByGlobalNorm, globalNorm } from './clip.js';
import { paramGrads } from './grads.js';
import { fail } from './internal/errors.js';
import type { ParamRecord } from './params.js';

/**
 * Summed gradients of several micro-batches, before the division by their count.
 * @see {@link accumulateGradients}
 * @category Training
 */
export interface GradientSum {
  /** Sum of the micro-batch losses, a float32 scalar. */
  lossSum: tf.Scalar;
  /** Sum of the micro-batch gradients by parameter name, each shaped like its parameter, float32. */
  gradSum: Record<string, tf.Tensor>;
  /** Number of micro-batches summed. */
  count: number;
}

/**
 * Runs each micro-batch loss, takes its gradients with respect to the trainable parameters, and
 * sums losses and gradients.
 *
 * @remarks
 * Each loss runs inside `tf.variableGrads`, so its intermediate tensors are freed before the next
 * one starts. When a loss throws, every tensor made so far is disposed before the error
 * propagates (no leak).
 * @param losses - One function per micro-batch, each returning a float32 scalar loss (synchronous tensor code).
 * @param params - The parameters to differentiate (non-trainable ones are skipped).
 * @returns The summed loss (float32 scalar), the summed gradients (each shaped like its
 *   parameter, float32) and their count. Caller owns the returned tensors and must dispose them.
 * @throws `CalmError` `INVALID_ARGUMENT` without losses; whatever a loss throws.
 * @example
 * {@includeCode ../test/examples.test.ts#train-step}
 * @category Training
 */
export function accumulateGradients(losses: ReadonlyArray<() => tf.Scalar>, params: ParamRecord): GradientSum {
  if (losses.length === 0) fail('INVALID_ARGUMENT', 'accumulateGradients: pass at least one micro-batch loss.');
  let lossSum: tf.Scalar | null = null;
  let gradSum: Record<string, tf.Tensor> | null = null;
  try {
    for (const loss of losses) {
      const { value, grads } = paramGrads(loss, params);
      if (lossSum === null || gradSum === null) {
        lossSum = value;
        gradSum = grads;
        continue;
      }
      const [prevLoss, prevGrads]: [tf.Scalar, Record<string, tf.Tensor>] = [lossSum, gradSum];
      lossSum = tf.add(prevLoss, value) as tf.Scalar;
      gradSum = tf.tidy(() => {
        const out: Record<string, tf.Tensor> = {};
        for (const [k, g] of Object.entries(prevGrads)) out[k] = tf.add(g, grads[k]!);
        return out;
      });
      tf.dispose([prevLoss, value, ...Object.values(prevGrads), ...Object.values(grads)]);
    }
  } catch (e) {
    tf.dispose([...(lossSum ? [lossSum] : []), ...Object.values(gradSum ?? {})]);
    throw e;
  }
  return { lossSum: lossSum!, gradSum: gradSum!, count: losses.length };
}

/**
 * Options of {@link applyGradients} and {@link trainStep}.
 * @category Training
 */
export interface ApplyGradientsOptions {
  /** Learning rate of this step (overrides the optimiser's own). */
  lr?: number;
  /** Global-norm clipping threshold (torch's `clip_grad_norm_`), `null` to disable. @defaultValue 1.0 */
  maxGradNorm?: number | null;
}

/**
 * The second half of a step: divides summed gradients by the number of micro-batches (so the
 * update is that of their mean), clips them to a global norm and applies one optimiser update.
 * @param optimizer - The optimiser of the parameters.
 * @param sum - Summed gradients and their count (e.g. from {@link accumulateGradients}, or summed across workers); not disposed.
 * @param options - Learning rate and clipping.
 * @returns The global gradient norm before clipping, a float32 scalar. Caller owns the returned
 *   tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad count or clipping threshold.
 * @example
 * {@includeCode ../test/examples.test.ts#train-step}
 * @category Training
 */
export function applyGradients(
  optimizer: AdamW,
  sum: Pick<GradientSum, 'gradSum' | 'count'>,
  options: ApplyGradientsOptions = {},
): tf.Scalar {
  const maxGradNorm = options.maxGradNorm === undefined ? 1.0 : options.maxGradNorm;
  if (maxGradNorm !== null && !(maxGradNorm > 0 && Number.isFinite(maxGradNorm)))
    fail('INVALID_ARGUMENT', `applyGradients: maxGradNorm must be a finite number > 0 or null, got ${maxGradNorm}.`);
  if (!Number.isInteger(sum.count) || sum.count < 1)
    fail('INVALID_ARGUMENT', `applyGradients: count must be an integer >= 1, got ${sum.count}.`);
  // The mean over micro-batches (one micro-batch: the sum itself, no copy).
  const mean =
    sum.count === 1
      ? sum.gradSum
      : tf.tidy(() => {
          const out: Record<string, tf.Tensor> = {};
          for (const [k, g] of Object.entries(sum.gradSum)) out[k] = tf.div(g, sum.count);
          return out;
        });
  let update = mean;
  let norm: tf.Scalar;
  try {
    if (maxGradNorm === null) norm = globalNorm(mean);
    else {
      const clipped = clipByGlobalNorm(mean, maxGradNorm);
      update = clipped.grads;
      norm = clipped.norm;
    }
    optimizer.step(update, options.lr);
  } finally {
    const temps = [
      ...(mean === sum.gradSum ? [] : Object.values(mean)),
      ...(update === mean ? [] : Object.values(update)),
    ];
    tf.dispose(temps);
  }
  return norm;
}

/**
 * One optimiser step over one or more micro-batches: {@link accumulateGradients}, then
 * {@link applyGradients} — the mean gradient, clipped to a global norm, applied by AdamW.
 * @param optimizer - The optimiser of `params`.
 * @param params - The parameters (updated in place).
 * @param losses - One loss function per micro-batch (float32 scalars).
 * @param options - Learning rate and clipping.
 * @returns The mean loss over the micro-batches and the gradient norm before clipping, float32
 *   scalars. Caller owns the returned tensors and must dispose them.
 * @throws `CalmError` as {@link accumulateGradients} and {@link applyGradients}.
 * @example
 * {@includeCode ../test/examples.test.ts#train-step}
 * @category Training
 */
export function trainStep(
  optimizer: AdamW,
  params: ParamRecord,
  losses: ReadonlyArray<() => tf.Scalar>,
  options: ApplyGradientsOptions = {},
): { loss: tf.Scalar; gradNorm: tf.Scalar } {
  const sum = accumulateGradients(losses, params);
  try {
    const gradNorm = applyGradients(optimizer, sum, options);
    const loss = tf.tidy(() => tf.div(sum.lossSum, sum.count) as tf.Scalar);
    return { loss, gradNorm };
  } finally {
    tf.dispose([sum.lossSum, ...Object.values(sum.gradSum)]);
  }
}
