// Losses shared by the models: the mean cross-entropy of logits against integer labels with a
// fast analytic gradient (used by the autoencoder's reconstruction loss and the AR baseline).

import * as tf from '@tensorflow/tfjs';
import { crossEntropyFused, hasKernel } from './fused.js';

/**
 * Mean cross-entropy of logits against integer labels, in nats: mean(logsumexp(x) − x[label]),
 * with the analytic gradient `(softmax(x) − onehot(label)) / N` (no gradient through the max of
 * the log-sum-exp, whose mask is slow on the wasm backend). One implementation for every model:
 * the autoencoder's reconstruction loss and the AR baseline's causal-LM loss. On the wasm backend
 * with `@calm/nn`'s kernels, one fused kernel forward (softmax kept for the backward) and one
 * backward.
 * @param logits - Logits, shape [N, V], float32.
 * @param labels - Labels, shape [N], int32, values in [0, V).
 * @returns The mean, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @example
 * {@includeCode ../test/examples.test.ts#cross-entropy}
 * @category Losses
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const [n, v] = logits.shape;
  if (hasKernel('CalmCrossEntropy') && logits.dtype === 'float32' && labels.dtype === 'int32')
    return crossEntropyFused(logits, labels);
  const f = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const shifted = tf.sub(x, tf.max(x, -1, true)); // [N, V]
    const lse = tf.log(tf.sum(tf.exp(shifted), -1)); // [N]
    const flat = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), labels);
    const picked = tf.gather(tf.reshape(shifted, [n * v]), flat); // [N]
    save([shifted, lse, labels]);
    return {
      value: tf.mean(tf.sub(lse, picked)) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sh, ls, lab] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        const probs = tf.exp(tf.sub(sh, tf.expandDims(ls, -1)));
        return tf.mul(tf.sub(probs, tf.oneHot(lab, v)), tf.div(dy, n));
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return tf.tidy(() => f(logits) as tf.Scalar);
}
