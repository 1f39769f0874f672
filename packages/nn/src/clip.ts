// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_ (HF Trainer's max_grad_norm),
// computed on the device without reading values back.

import * as tf from '@tensorflow/tfjs';
import { hasKernel, runKernel } from './fused.js';
import { fail } from './internal/errors.js';

/** Kernel inputs keyed by position ('0', '1', …). */
function indexed(list: tf.Tensor[]): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  list.forEach((t, i) => {
    out[String(i)] = t;
  });
  return out;
}

/**
 * The L2 norm of a set of gradients taken together, √(Σ‖gᵢ‖²).
 * @param grads - Gradients by name, any shapes, float32.
 * @returns A float32 scalar (0 for an empty set). Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @see {@link clipByGlobalNorm}
 * @category Optimizers
 */
export function globalNorm(grads: Record<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const list = Object.values(grads);
    if (list.length === 0) return tf.scalar(0);
    if (hasKernel('CalmSumSquares') && list.every((g) => g.dtype === 'float32'))
      return tf.sqrt(runKernel('CalmSumSquares', indexed(list))[0]!) as tf.Scalar; // one pass, one kernel
    const squares = list.map((g) => tf.sum(tf.square(g)));
    return tf.sqrt(tf.addN(squares)) as tf.Scalar;
  });
}

/**
 * Clips gradients by their global norm, as `torch.nn.utils.clip_grad_norm_`.
 *
 * @remarks
 * Every gradient is multiplied by `min(1, maxNorm / (norm + 1e-6))`, so afterwards the global
 * norm is at most `maxNorm` (equal to it, up to the 1e-6, when clipping happened). A non-finite
 * norm propagates (NaN/Inf gradients), as torch does by default.
 * @param grads - Gradients by name, any shape, float32.
 * @param maxNorm - The largest allowed global norm (> 0).
 * @returns `grads`: new tensors by the same names (always new, even when not scaled); `norm`: the
 *   global norm before clipping (float32 scalar). Caller owns the returned tensors and must dispose
 *   them. Inputs are not disposed.
 * @throws `CalmError` `INVALID_ARGUMENT` for a non-positive or non-finite `maxNorm`.
 * @example
 * {@includeCode ../test/examples.test.ts#gradients}
 * @category Optimizers
 */
export function clipByGlobalNorm(
  grads: Record<string, tf.Tensor>,
  maxNorm: number,
): { grads: Record<string, tf.Tensor>; norm: tf.Scalar } {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm))
    fail('INVALID_ARGUMENT', `clipByGlobalNorm: maxNorm must be a finite number > 0, got ${maxNorm}.`);
  const norm = globalNorm(grads);
  const clipped = tf.tidy(() => {
    const coef = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    const out: Record<string, tf.Tensor> = {};
    const entries = Object.entries(grads);
    if (hasKernel('CalmScaleMany') && entries.length > 0 && entries.every(([, g]) => g.dtype === 'float32')) {
      // Every gradient scaled by one kernel.
      const scaled = runKernel(
        'CalmScaleMany',
        { scale: coef, ...indexed(entries.map(([, g]) => g)) },
        {
          count: entries.length,
        },
      );
      entries.forEach(([name], i) => {
        out[name] = scaled[i]!;
      });
      return out;
    }
    for (const [name, g] of entries) out[name] = tf.mul(g, coef);
    return out;
  });
  return { grads: clipped, norm };
}
