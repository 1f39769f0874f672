// Gradients by state_dict name: tf.variableGrads keys its result by tfjs's internal variable
// names; trainers and optimisers here want the parameter record's keys.

import * as tf from '@tensorflow/tfjs';
import { fail } from './internal/errors.js';
import type { ParamRecord } from './params.js';

/**
 * Computes a scalar loss and its gradients with respect to the trainable parameters.
 *
 * @remarks
 * `f` must be synchronous (tensors created after an `await` would leak out of the tape).
 * Parameters the loss does not depend on get no entry, like torch's `None` grads.
 * @param f - Computes the loss, a float32 scalar, from the current parameter values.
 * @param params - The parameter record.
 * @param filter - Which trainable parameters to differentiate (e.g. freeze the autoencoder). @defaultValue all
 * @returns The loss (a float32 scalar) and gradients by parameter name (float32, each of its
 *   parameter's shape, so any shape). Caller owns
 *   the returned tensors and must dispose them. Inputs are not disposed.
 * @throws `CalmError` `INVALID_ARGUMENT` when no parameter is trainable or `f` does not return a scalar.
 * @example
 * {@includeCode ../test/examples.test.ts#gradients}
 * @category Optimizers
 */
export function paramGrads(
  f: () => tf.Scalar,
  params: ParamRecord,
  filter: (name: string) => boolean = () => true,
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const byVarName = new Map<string, string>();
  const varList: tf.Variable[] = [];
  for (const [name, v] of Object.entries(params)) {
    if (!v.trainable || !filter(name)) continue;
    byVarName.set(v.name, name);
    varList.push(v);
  }
  if (varList.length === 0)
    fail('INVALID_ARGUMENT', 'paramGrads: no trainable parameter passes the filter; nothing to differentiate.');
  const wrapped = (): tf.Scalar => {
    const y = f();
    if (!(y instanceof tf.Tensor) || y.rank !== 0)
      fail(
        'INVALID_ARGUMENT',
        `paramGrads: the loss function must return a scalar tensor, got ${y instanceof tf.Tensor ? `shape [${y.shape.join(', ')}]` : typeof y}.`,
      );
    return y;
  };
  const { value, grads } = tf.variableGrads(wrapped, varList);
  const out: Record<string, tf.Tensor> = {};
  for (const [varName, g] of Object.entries(grads)) out[byVarName.get(varName)!] = g;
  return { value, grads: out };
}
