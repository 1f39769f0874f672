// One optimiser step, the same for every model and every training loop: the gradients of one or
// more micro-batch losses are summed, clipped to a global norm and applied by AdamW. Split in two
// (accumulate, apply) so that a data-parallel trainer can sum the gradients of several workers
// between the halves. Callers scale each micro-batch loss by 1/count so that the sum is the mean
// (nanoGPT's `loss / gradient_accumulation_steps`); `trainStep` does it for them.

import * as tf from '@tensorflow/tfjs';
import type { AdamW } from './adamw.js';
import { clipByGlobalNorm, globalNorm } from './clip.js';
import { paramGrads } from './grads.js';
import { fail } from './internal/errors.js';
import type { ParamRecord } from './params.js';

/**
 * Summed losses and gradients of several micro-batches.
 * @see {@link accumulateGradients}
 * @category Training
 */
export interface GradientSum {
  /** Sum of the micro-batch losses, a float32 scalar. */
  lossSum: tf.Scalar;
  /** Sum of the micro-batch gradients by parameter name, each shaped like its parameter (any shape), float32. */
  gradSum: Record<string, tf.Tensor>;
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
 * @returns The summed loss (float32 scalar) and the summed gradients (each shaped like its
 *   parameter, float32). Caller owns the returned tensors and must dispose them.
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
  return { lossSum: lossSum!, gradSum: gradSum! };
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
 * The second half of a step: clips the step's gradients to a global norm and applies one
 * optimiser update.
 * @param optimizer - The optimiser of the parameters.
 * @param grads - The step's gradients by parameter name (e.g. the summed, scaled micro-batch
 *   gradients of {@link accumulateGradients}, or their sum across workers), each shaped like its
 *   parameter (any shape), float32; not disposed.
 * @param options - Learning rate and clipping.
 * @returns The global gradient norm before clipping, a float32 scalar. Caller owns the returned
 *   tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad clipping threshold.
 * @example
 * {@includeCode ../test/examples.test.ts#train-step}
 * @category Training
 */
export function applyGradients(
  optimizer: AdamW,
  grads: Record<string, tf.Tensor>,
  options: ApplyGradientsOptions = {},
): tf.Scalar {
  const maxGradNorm = options.maxGradNorm === undefined ? 1.0 : options.maxGradNorm;
  if (maxGradNorm !== null && !(maxGradNorm > 0 && Number.isFinite(maxGradNorm)))
    fail('INVALID_ARGUMENT', `applyGradients: maxGradNorm must be a finite number > 0 or null, got ${maxGradNorm}.`);
  if (maxGradNorm === null) {
    const norm = globalNorm(grads);
    optimizer.step(grads, options.lr);
    return norm;
  }
  const clipped = clipByGlobalNorm(grads, maxGradNorm);
  try {
    optimizer.step(clipped.grads, options.lr);
  } catch (e) {
    clipped.norm.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(clipped.grads));
  }
  return clipped.norm;
}

/**
 * One optimiser step over one or more micro-batches: each loss is scaled by 1/count so that the
 * summed gradient is the mean's ({@link accumulateGradients}), then {@link applyGradients} clips it
 * to a global norm and AdamW applies it.
 * @param optimizer - The optimiser of `params`.
 * @param params - The parameters (updated in place).
 * @param losses - One loss function per micro-batch (float32 scalars).
 * @param options - Learning rate and clipping.
 * @returns The mean loss over the micro-batches and the gradient norm before clipping, each a
 *   float32 scalar. Caller owns the returned tensors and must dispose them.
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
  const scale = 1 / losses.length; // the sum of the scaled losses is their mean
  const sum = accumulateGradients(
    losses.map((loss) => () => tf.tidy(() => tf.mul(loss(), scale) as tf.Scalar)),
    params,
  );
  try {
    return { loss: sum.lossSum, gradNorm: applyGradients(optimizer, sum.gradSum, options) };
  } catch (e) {
    sum.lossSum.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(sum.gradSum));
  }
}
