// The shared train step and the fast cross-entropy: gradients of micro-batches sum to the gradient
// of the whole batch, the update equals one step on the whole batch, nothing leaks when a loss
// throws, and the cross-entropy's analytic gradient equals the stock log-sum-exp gradient.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import { expectClose, expectNoLeak, useWasm } from '@calm/testing/tfjs';
import {
  AdamW,
  accumulateGradients,
  applyGradients,
  createParams,
  crossEntropy,
  disposeParams,
  embedding,
  linear,
  normalInit,
  trainStep,
  zerosInit,
  type ParamRecord,
} from '../src/index.js';

beforeAll(useWasm);

const V = 37;
const H = 8;

function model(seed: number): ParamRecord {
  return createParams(
    {
      'embed.weight': { shape: [V, H], init: normalInit(0.5) },
      'head.weight': { shape: [V, H], init: normalInit(0.5) },
      'head.bias': { shape: [V], init: zerosInit() },
    },
    createRng(seed),
  );
}

/** Mean next-token cross-entropy of a bigram model over a batch of sequences [B, T]. */
function lossOf(params: ParamRecord, ids: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [b, t] = ids.shape;
    const inputs = tf.slice(ids, [0, 0], [b, t - 1]);
    const labels = tf.reshape(tf.slice(ids, [0, 1], [b, t - 1]), [b * (t - 1)]) as tf.Tensor1D;
    const logits = tf.reshape(linear(params, 'head', embedding(params, 'embed.weight', inputs)), [b * (t - 1), V]);
    return crossEntropy(logits as tf.Tensor2D, labels);
  });
}

function batch(rows: number, seed: number): tf.Tensor2D {
  const rng = createRng(seed);
  return tf.tensor2d(
    Int32Array.from({ length: rows * 9 }, () => rng.int(V)),
    [rows, 9],
    'int32',
  );
}

const values = (p: ParamRecord) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.dataSync().slice()]));

describe('crossEntropy', () => {
  it('equals mean(logsumexp − picked logit), value and gradient, against the stock ops', () => {
    const rng = createRng(3);
    const logits = tf.tensor2d(
      Float32Array.from({ length: 13 * V }, () => 4 * rng.normal()),
      [13, V],
    );
    const labels = tf.tensor1d(
      Int32Array.from({ length: 13 }, () => rng.int(V)),
      'int32',
    );
    const stock = (x: tf.Tensor) =>
      tf.mean(tf.sub(tf.logSumExp(x, -1), tf.sum(tf.mul(x, tf.oneHot(labels, V)), -1))) as tf.Scalar;
    const ours = (x: tf.Tensor) => crossEntropy(x as tf.Tensor2D, labels);
    const a = tf.valueAndGrad(ours)(logits);
    const b = tf.valueAndGrad(stock)(logits);
    expectClose(a.value, b.value, { atol: 1e-6, label: 'value' });
    expectClose(a.grad, b.grad, { atol: 1e-7, label: 'gradient' });
    tf.dispose([logits, labels, a.value, a.grad, b.value, b.grad]);
  });
});

describe('trainStep', () => {
  it('two micro-batches of B give the same update as one batch of 2B (to 1e-6)', () => {
    const whole = batch(4, 1);
    const [first, second] = tf.split(whole, 2, 0) as [tf.Tensor2D, tf.Tensor2D];
    const p1 = model(7);
    const p2 = model(7);
    const o1 = new AdamW(p1, { lr: 1e-2, weightDecay: 0.1 });
    const o2 = new AdamW(p2, { lr: 1e-2, weightDecay: 0.1 });
    for (let step = 0; step < 3; step++) {
      const a = trainStep(o1, p1, [() => lossOf(p1, first), () => lossOf(p1, second)], { maxGradNorm: 0.5 });
      const b = trainStep(o2, p2, [() => lossOf(p2, whole)], { maxGradNorm: 0.5 });
      expectClose(a.loss, b.loss, { atol: 1e-6, label: `loss ${step}` });
      expectClose(a.gradNorm, b.gradNorm, { atol: 1e-6, rtol: 1e-6, label: `grad norm ${step}` });
      tf.dispose([a.loss, a.gradNorm, b.loss, b.gradNorm]);
    }
    const v1 = values(p1);
    const v2 = values(p2);
    for (const k of Object.keys(v1)) expectClose(v1[k]!, v2[k]!, { atol: 1e-6, label: k });
    tf.dispose([whole, first, second]);
    o1.dispose();
    o2.dispose();
    disposeParams(p1);
    disposeParams(p2);
  });

  it('sums micro-batch gradients: three scaled copies then apply equals trainStep on one', () => {
    const ids = batch(2, 5);
    const p1 = model(2);
    const p2 = model(2);
    const o1 = new AdamW(p1, { lr: 3e-3 });
    const o2 = new AdamW(p2, { lr: 3e-3 });
    const third = () => tf.tidy(() => tf.div(lossOf(p1, ids), 3) as tf.Scalar);
    const sum = accumulateGradients([third, third, third], p1);
    const norm = applyGradients(o1, sum.gradSum, { maxGradNorm: null });
    const r = trainStep(o2, p2, [() => lossOf(p2, ids)], { maxGradNorm: null });
    expectClose(norm, r.gradNorm, { atol: 1e-6, rtol: 1e-6, label: 'norm' });
    const v1 = values(p1);
    const v2 = values(p2);
    for (const k of Object.keys(v1)) expectClose(v1[k]!, v2[k]!, { atol: 1e-6, label: k });
    tf.dispose([ids, norm, r.loss, r.gradNorm, sum.lossSum, ...Object.values(sum.gradSum)]);
    o1.dispose();
    o2.dispose();
    disposeParams(p1);
    disposeParams(p2);
  });

  it('leaks no tensor when a loss throws mid-step, and leaves the parameters untouched', async () => {
    const ids = batch(2, 9);
    const p = model(4);
    const opt = new AdamW(p, { lr: 1e-2 });
    const before = values(p);
    await expectNoLeak(() => {
      const boom = () =>
        tf.tidy(() => {
          tf.ones([64, 64]);
          throw new Error('boom');
        });
      expect(() => trainStep(opt, p, [() => lossOf(p, ids), boom], {})).toThrow('boom');
    });
    expect(opt.stepCount).toBe(0);
    const after = values(p);
    for (const k of Object.keys(before)) expect(after[k]).toEqual(before[k]);
    tf.dispose(ids);
    opt.dispose();
    disposeParams(p);
  });
});
