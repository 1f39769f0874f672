import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { paramGrads } from '@calm/nn';
import { expectClose, expectNoLeak } from '@calm/testing/tfjs';
import { FlowMatchingHead, flowHeadParamSpecs } from '../src/index.js';
import { createRng, normal, uniform, useWasm } from './backend.js';

beforeAll(useWasm);

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

const small = { hiddenSize: 16, latentSize: 4, numMlpLayers: 2, numSamples: 3 };

/** A head whose zero-initialised output layers are randomised, so velocities are non-zero. */
function liveHead(config: ConstructorParameters<typeof FlowMatchingHead>[0] = small): FlowMatchingHead {
  const head = new FlowMatchingHead(config, { rng: createRng(1) });
  const rng = createRng(2);
  for (const [name, v] of Object.entries(head.params)) {
    if (name.includes('adaLN_modulation') || name.includes('final_layer.linear'))
      v.assign(normal(rng, v.shape, 0, 0.2));
  }
  return head;
}

describe('FlowMatchingHead', () => {
  it('creates the official SimpleMLPAdaLN parameters with the official initialisation', () => {
    const head = new FlowMatchingHead(small, { rng: createRng(0) });
    const keys = Object.keys(head.params);
    expect(keys[0]).toBe('generative_head.net.time_embed.mlp.0.weight');
    expect(head.params['generative_head.net.time_embed.mlp.0.weight']!.shape).toEqual([16, 256]);
    expect(head.params['generative_head.net.res_blocks.1.adaLN_modulation.1.weight']!.shape).toEqual([48, 16]);
    expect(head.params['generative_head.net.final_layer.adaLN_modulation.1.weight']!.shape).toEqual([32, 16]);
    expect(keys).toEqual(Object.keys(flowHeadParamSpecs(small)));
    // Xavier-uniform bound for input_proj [16, 4]: sqrt(6 / 20).
    const w = head.params['generative_head.net.input_proj.weight']!.dataSync();
    expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 20));
    expect(Math.max(...Array.from(w, Math.abs))).toBeGreaterThan(0.5 * Math.sqrt(6 / 20));
    // Zero output layer: a fresh head's velocity is 0, so sampling returns x0 unchanged.
    const rng = createRng(3);
    const hidden = normal(rng, [2, 16]) as tf.Tensor2D;
    const x0 = normal(rng, [2, 3, 4]) as tf.Tensor3D;
    const z = head.sample(hidden, 3, { noise: x0 });
    expectClose(z, x0, { atol: 0 });
    tf.dispose([hidden, x0, z]);
    head.dispose();
  });

  it('discretises time like the official code: floor(1000·t)', () => {
    const head = new FlowMatchingHead(small, { rng: createRng(0) });
    const continuous = new FlowMatchingHead({ ...small, timeScale: 1, discreteTime: false }, { params: head.params });
    const t = tf.tensor1d([0.3, 0.3004, 0.0009, 0]);
    const e = head.timeEmbedding(t);
    const rows = tf.unstack(e);
    expectClose(rows[0]!, rows[1]!, { atol: 0 }); // both → 300
    expectClose(rows[2]!, rows[3]!, { atol: 0 }); // both → 0
    const ref = continuous.timeEmbedding(tf.tensor1d([300]));
    expectClose(rows[0]!, ref.reshape([256]), { atol: 1e-4 });
    tf.dispose([t, e, ...rows, ref]);
    continuous.dispose(); // adopted params stay
    expect(head.params['generative_head.net.input_proj.weight']!.isDisposed).toBe(false);
    head.dispose();
    expect(head.params['generative_head.net.input_proj.weight']!.isDisposed).toBe(true);
  });

  it('integrates with the midpoint and Euler solvers as specified', () => {
    const head = liveHead();
    const rng = createRng(4);
    const hidden = normal(rng, [2, 16]) as tf.Tensor2D;
    const x0 = normal(rng, [2, 1, 4]) as tf.Tensor3D;
    for (const solver of ['midpoint', 'euler'] as const) {
      const steps = 3;
      const h = new FlowMatchingHead({ ...small, solver, numSteps: steps }, { params: head.params });
      const z = h.sample(hidden, 1, { noise: x0 });
      // Manual solve with the public velocity network.
      let x = x0.reshape([2, 4]) as tf.Tensor2D;
      const v = (xx: tf.Tensor2D, t: number) => head.velocity(xx, tf.fill([2], t) as tf.Tensor1D, hidden);
      for (let i = 0; i < steps; i++) {
        const t = Math.fround(i / steps);
        const dt = 1 / steps;
        x = tf.tidy(() => {
          if (solver === 'euler') return tf.add(x, tf.mul(v(x, t), dt)) as tf.Tensor2D;
          const mid = tf.add(x, tf.mul(v(x, t), 0.5 * dt)) as tf.Tensor2D;
          return tf.add(x, tf.mul(v(mid, t + 0.5 * dt), dt)) as tf.Tensor2D;
        });
      }
      expectClose(z.reshape([2, 4]), x, { atol: 1e-5, label: solver });
      tf.dispose([z, x]);
    }
    tf.dispose([hidden, x0]);
    head.dispose();
  });

  it('computes the loss on x_t = (1 − t)·x0 + t·x1 with the velocity target x1 − x0', async () => {
    const head = liveHead();
    const rng = createRng(5);
    const hidden = normal(rng, [2, 16]) as tf.Tensor2D;
    const mean = normal(rng, [2, 4]) as tf.Tensor2D;
    const logStd = normal(rng, [2, 4], -1, 0.2) as tf.Tensor2D;
    const eps = normal(rng, [2, 3, 4]) as tf.Tensor3D;
    const x0 = normal(rng, [2, 3, 4]) as tf.Tensor3D;
    const time = uniform(rng, [2, 3], 0, 1) as tf.Tensor2D;
    await expectNoLeak(() => {
      const loss = head.loss(hidden, { mean, logStd }, { targetNoise: eps, noise: x0, time });
      const manual = tf.tidy(() => {
        const x1 = tf.add(tf.expandDims(mean, 1), tf.mul(tf.exp(tf.expandDims(logStd, 1)), eps));
        const t3 = tf.expandDims(time, 2);
        const xt = tf.add(tf.mul(tf.sub(1, t3), x0), tf.mul(t3, x1)).reshape([6, 4]) as tf.Tensor2D;
        const cond = tf.reshape(tf.tile(tf.expandDims(hidden, 1), [1, 3, 1]), [6, 16]) as tf.Tensor2D;
        const v = head.velocity(xt, time.reshape([6]) as tf.Tensor1D, cond);
        return tf.mean(tf.square(tf.sub(v, tf.sub(x1, x0).reshape([6, 4]))));
      });
      expectClose(loss, manual, { atol: 1e-5 });
      const { value, grads } = paramGrads(
        () => head.loss(hidden, { mean, logStd }, { rng: createRng(6) }),
        head.params,
      );
      expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
      expect(Object.keys(grads)).toHaveLength(Object.keys(head.params).length);
      tf.dispose([loss, manual, value, ...Object.values(grads)]);
    });
    tf.dispose([hidden, mean, logStd, eps, x0, time]);
    head.dispose();
  });

  it('samples reproducibly from an rng and rejects bad input with CalmErrors', () => {
    const head = liveHead();
    const hidden = normal(createRng(7), [2, 16]) as tf.Tensor2D;
    const a = head.sample(hidden, 4, { rng: createRng(8) });
    const b = head.sample(hidden, 4, { rng: createRng(8) });
    expect(a.shape).toEqual([2, 4, 4]);
    expectClose(a, b, { atol: 0 });
    expect(
      isCalmError(
        catchError(() => head.sample(hidden, 4, {})),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() =>
          head.loss(hidden, { mean: tf.zeros([2, 4]) as tf.Tensor2D, logStd: tf.zeros([2, 4]) as tf.Tensor2D }, {}),
        ),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => head.sample(tf.zeros([2, 5]) as tf.Tensor2D, 4, { rng: createRng(0) })),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => new FlowMatchingHead({ ...small, solver: 'rk4' as 'euler' }, { rng: createRng(0) })),
        'INVALID_CONFIG',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => new FlowMatchingHead({ ...small, numSteps: 0 }, { rng: createRng(0) })),
        'INVALID_CONFIG',
      ),
    ).toBe(true);
    expect(
      (
        catchError(
          () =>
            new FlowMatchingHead(
              { ...small, solver: 'rk4' as 'euler', timeScale: 0, discreteTime: 1 as unknown as boolean },
              { rng: createRng(0) },
            ),
        ) as { details: { problems: string[] } }
      ).details.problems,
    ).toEqual([
      'solver must be one of "midpoint", "euler", got "rk4"',
      'timeScale must be a finite number > 0, got 0',
      'discreteTime must be true or false, got 1',
    ]);
    tf.dispose([hidden, a, b]);
    head.dispose();
  });

  it('counts FLOPs over the ODE solve (20 network calls by default for both solvers)', () => {
    const mid = new FlowMatchingHead({ hiddenSize: 32, latentSize: 8 }, { rng: createRng(0) });
    const euler = new FlowMatchingHead({ hiddenSize: 32, latentSize: 8, solver: 'euler' }, { rng: createRng(0) });
    expect(mid.config.numSteps).toBe(10);
    expect(euler.config.numSteps).toBe(20);
    expect(mid.flopsPerSample()).toBe(euler.flopsPerSample());
    expect(mid.flopsPerSample(8)).toBeLessThan(mid.flopsPerSample());
    mid.dispose();
    euler.dispose();
  });
});
