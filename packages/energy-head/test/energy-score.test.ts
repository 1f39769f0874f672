import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { expectClose, expectNoLeak } from '@calm/testing/tfjs';
import {
  checkEnergyAlpha,
  energyLoss,
  energyScore,
  energyScoreFlops,
  posteriorEnergyLoss,
  posteriorEnergyScore,
  type DistanceMethod,
} from '../src/index.js';
import { createRng, normal, useWasm } from './backend.js';

beforeAll(useWasm);

/** Float64 reference: per-position score, fidelity, diversity. */
function reference(x: Float32Array, y: Float32Array, b: number, n: number, m: number, l: number, alpha: number) {
  const dist = (a: Float32Array, ia: number, c: Float32Array, ic: number) => {
    let s = 0;
    for (let k = 0; k < l; k++) {
      const d = a[ia + k]! - c[ic + k]!;
      s += d * d;
    }
    return Math.pow(Math.sqrt(s), alpha);
  };
  const score: number[] = [];
  const fid: number[] = [];
  const div: number[] = [];
  for (let p = 0; p < b; p++) {
    let f = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) f += dist(x, (p * n + i) * l, y, (p * m + j) * l);
    f /= n * m;
    let d = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) if (i !== j) d += dist(x, (p * n + i) * l, x, (p * n + j) * l);
    d /= n * (n - 1);
    fid.push(f);
    div.push(d);
    score.push(d - 2 * f);
  }
  return { score, fid, div };
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('energyScore', () => {
  const methods: DistanceMethod[] = ['matmul', 'direct'];
  for (const method of methods) {
    for (const alpha of [1, 1.5, 0.5, 2]) {
      it(`matches a float64 reference (${method}, alpha ${alpha})`, () => {
        const rng = createRng(`es-${method}-${alpha}`);
        const [b, n, m, l] = [3, 5, 7, 6];
        const x = normal(rng, [b, n, l], 0.3, 1.2) as tf.Tensor3D;
        const y = normal(rng, [b, m, l], -0.2, 0.8) as tf.Tensor3D;
        const ref = reference(x.dataSync() as Float32Array, y.dataSync() as Float32Array, b, n, m, l, alpha);
        const parts = energyScore(x, y, { alpha, method });
        expectClose(parts.fidelity, ref.fid, { atol: 1e-5, rtol: 1e-5, label: 'fidelity' });
        expectClose(parts.diversity, ref.div, { atol: 1e-5, rtol: 1e-5, label: 'diversity' });
        expectClose(parts.score, ref.score, { atol: 1e-5, rtol: 1e-5, label: 'score' });
        const loss = energyLoss(x, y, { alpha, method });
        expect(loss.dataSync()[0]).toBeCloseTo(-ref.score.reduce((a, v) => a + v, 0) / b, 5);
        tf.dispose([x, y, parts.score, parts.fidelity, parts.diversity, loss]);
      });
    }
  }

  it('gives the same values and gradients with matmul and direct distances', () => {
    const rng = createRng('agree');
    const x = normal(rng, [4, 8, 16]) as tf.Tensor3D;
    const y = normal(rng, [4, 20, 16], 0.5) as tf.Tensor3D;
    for (const alpha of [1, 1.5]) {
      const f = (method: DistanceMethod) =>
        tf.valueAndGrad((s: tf.Tensor) => energyLoss(s as tf.Tensor3D, y, { alpha, method }))(x);
      const a = f('matmul');
      const b = f('direct');
      expectClose(a.value, b.value, { atol: 1e-5, rtol: 1e-5, label: `loss alpha ${alpha}` });
      expectClose(a.grad, b.grad, { atol: 1e-5, rtol: 1e-4, label: `grad alpha ${alpha}` });
      tf.dispose([a.value, a.grad, b.value, b.grad]);
    }
    tf.dispose([x, y]);
  });

  it('keeps loss and gradients finite when samples coincide', () => {
    const rng = createRng('collide');
    const one = normal(rng, [2, 1, 8]);
    // Samples 0..3 identical, then two more identical pairs; and a fully collapsed position.
    const x = tf.concat([one, one, one, one, tf.add(one, 1), tf.add(one, 1)], 1) as tf.Tensor3D;
    const y = normal(rng, [2, 10, 8]) as tf.Tensor3D;
    for (const method of ['matmul', 'direct'] as const) {
      for (const alpha of [1, 1.5, 0.5]) {
        const { value, grad } = tf.valueAndGrad((s: tf.Tensor) => energyLoss(s as tf.Tensor3D, y, { alpha, method }))(
          x,
        );
        const g = grad.dataSync();
        expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
        expect(
          g.every((v) => Number.isFinite(v)),
          `${method} alpha ${alpha}`,
        ).toBe(true);
        // Diversity: 2 coinciding groups → only cross-group pairs count (8·2·2 ordered pairs).
        const parts = energyScore(x, y, { alpha, method });
        const expected = (4 * 2 * 2 * Math.pow(Math.sqrt(8), alpha)) / 30; // ‖1·ones(8)‖ = √8
        expectClose(parts.diversity, [expected, expected], { atol: 1e-4, rtol: 1e-5, label: `${method} diversity` });
        tf.dispose([value, grad, parts.score, parts.fidelity, parts.diversity]);
      }
    }
    tf.dispose([one, x, y]);
  });

  it('rejects bad alpha, too few samples and mismatched shapes with CalmErrors', () => {
    const x = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    const y = tf.zeros([2, 5, 4]) as tf.Tensor3D;
    for (const alpha of [0, -1, 2.5, Number.NaN, Infinity]) {
      expect(
        isCalmError(
          catchError(() => energyScore(x, y, { alpha })),
          'INVALID_ARGUMENT',
        ),
        `alpha ${alpha}`,
      ).toBe(true);
      expect(
        isCalmError(
          catchError(() => checkEnergyAlpha(alpha)),
          'INVALID_ARGUMENT',
        ),
      ).toBe(true);
    }
    const single = tf.zeros([2, 1, 4]) as tf.Tensor3D;
    expect(
      isCalmError(
        catchError(() => energyScore(single, y)),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    const wrongL = tf.zeros([2, 5, 3]) as tf.Tensor3D;
    expect(
      isCalmError(
        catchError(() => energyScore(x, wrongL)),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    const wrongB = tf.zeros([1, 5, 4]) as tf.Tensor3D;
    expect(
      isCalmError(
        catchError(() => energyScore(x, wrongB)),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => energyScore(x, y, { method: 'fast' as DistanceMethod })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    tf.dispose([x, y, single, wrongL, wrongB]);
  });

  it('accepts alpha in (0, 2) silently and alpha = 2 with a warning through the logger', () => {
    expect(checkEnergyAlpha(1)).toEqual([]);
    expect(checkEnergyAlpha(1.999)).toEqual([]);
    expect(checkEnergyAlpha(0.01)).toEqual([]);
    expect(checkEnergyAlpha(2)).toHaveLength(1);
    expect(checkEnergyAlpha(2)[0]).toMatch(/only proper/);
    const warnings: string[] = [];
    const x = tf.ones([1, 2, 3]) as tf.Tensor3D;
    const loss = energyLoss(x, x, { alpha: 2, logger: { warn: (w) => warnings.push(w) } });
    expect(warnings).toHaveLength(1);
    const loss1 = energyLoss(x, x, { alpha: 1.5, logger: { warn: (w) => warnings.push(w) } });
    expect(warnings).toHaveLength(1);
    tf.dispose([x, loss, loss1]);
  });

  it('leaks no tensors, forward or backward', async () => {
    const rng = createRng('leak');
    const x = normal(rng, [3, 4, 5]) as tf.Tensor3D;
    const y = normal(rng, [3, 6, 5]) as tf.Tensor3D;
    const mean = normal(rng, [3, 5]) as tf.Tensor2D;
    const logStd = normal(rng, [3, 5], -1, 0.1) as tf.Tensor2D;
    await expectNoLeak(() => {
      for (const method of ['matmul', 'direct'] as const) {
        const parts = energyScore(x, y, { method, alpha: 1.5 });
        tf.dispose([parts.score, parts.fidelity, parts.diversity]);
        const { value, grad } = tf.valueAndGrad((s: tf.Tensor) =>
          posteriorEnergyLoss(s as tf.Tensor3D, { mean, logStd }, { rng, numTargetSamples: 7, method }),
        )(x);
        tf.dispose([value, grad]);
      }
    });
    tf.dispose([x, y, mean, logStd]);
  });

  it('counts FLOPs of the matmul method', () => {
    // 2·N·M·L + 2·N²·L dominate.
    expect(energyScoreFlops(8, 100, 128)).toBeGreaterThan(2 * 8 * 100 * 128 + 2 * 64 * 128);
    expect(energyScoreFlops(8, 100, 128)).toBeLessThan(1.2 * (2 * 8 * 100 * 128 + 2 * 64 * 128));
  });
});

describe('posteriorEnergyScore', () => {
  it('equals energyScore on the targets mu + sigma * eps', () => {
    const rng = createRng('post');
    const [b, n, m, l] = [3, 4, 9, 5];
    const x = normal(rng, [b, n, l]) as tf.Tensor3D;
    const mean = normal(rng, [b, l], 0.5) as tf.Tensor2D;
    const logStd = normal(rng, [b, l], -0.5, 0.3) as tf.Tensor2D;
    const eps = normal(rng, [b, m, l]) as tf.Tensor3D;
    const y = tf.add(tf.expandDims(mean, 1), tf.mul(tf.exp(tf.expandDims(logStd, 1)), eps)) as tf.Tensor3D;
    for (const alpha of [1, 1.5]) {
      const a = posteriorEnergyScore(x, { mean, logStd }, { targetNoise: eps, alpha });
      const c = energyScore(x, y, { alpha });
      expectClose(a.score, c.score, { atol: 1e-5, rtol: 1e-5 });
      expectClose(a.fidelity, c.fidelity, { atol: 1e-5, rtol: 1e-5 });
      tf.dispose([a.score, a.fidelity, a.diversity, c.score, c.fidelity, c.diversity]);
    }
    tf.dispose([x, mean, logStd, eps, y]);
  });

  it('draws M targets from the rng reproducibly and requires an rng or noise', () => {
    const rng = createRng('post-rng');
    const x = normal(rng, [2, 3, 4]) as tf.Tensor3D;
    const mean = tf.zeros([2, 4]) as tf.Tensor2D;
    const logStd = tf.zeros([2, 4]) as tf.Tensor2D;
    const a = posteriorEnergyLoss(x, { mean, logStd }, { rng: createRng(5), numTargetSamples: 11 });
    const b = posteriorEnergyLoss(x, { mean, logStd }, { rng: createRng(5), numTargetSamples: 11 });
    const c = posteriorEnergyLoss(x, { mean, logStd }, { rng: createRng(6), numTargetSamples: 11 });
    expect(a.dataSync()[0]).toBe(b.dataSync()[0]);
    expect(a.dataSync()[0]).not.toBe(c.dataSync()[0]);
    expect(
      isCalmError(
        catchError(() => posteriorEnergyLoss(x, { mean, logStd })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    const badMean = tf.zeros([2, 5]) as tf.Tensor2D;
    expect(
      isCalmError(
        catchError(() => posteriorEnergyLoss(x, { mean: badMean, logStd }, { rng })),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    tf.dispose([x, mean, logStd, a, b, c, badMean]);
  });
});

describe('strict propriety (numerical)', () => {
  // Expected score E_y[S(P, y)] under the target Q, estimated with common random numbers: the
  // same target draws for every candidate P. The true distribution must score highest.
  function expectedScore(samples: tf.Tensor3D, targets: tf.Tensor3D, alpha: number): number {
    const parts = energyScore(samples, targets, { alpha });
    const v = tf.mean(parts.score).dataSync()[0]!;
    tf.dispose([parts.score, parts.fidelity, parts.diversity]);
    return v;
  }

  for (const alpha of [1, 1.5]) {
    it(`prefers the true Gaussian over shifted and scaled ones (alpha ${alpha})`, () => {
      const rng = createRng(`proper-gauss-${alpha}`);
      const [b, n, m, l] = [400, 16, 16, 2];
      const targets = normal(rng, [b, m, l]) as tf.Tensor3D; // Q = N(0, I)
      const base = normal(rng, [b, n, l]) as tf.Tensor3D; // common draws for every candidate
      const candidates: Record<string, tf.Tensor3D> = {
        true: base,
        shifted: tf.add(base, tf.tensor1d([0.35, 0])) as tf.Tensor3D,
        wide: tf.mul(base, 1.35) as tf.Tensor3D,
        narrow: tf.mul(base, 0.7) as tf.Tensor3D,
        collapsed: tf.mul(base, 0) as tf.Tensor3D,
      };
      const scores = Object.fromEntries(
        Object.entries(candidates).map(([k, v]) => [k, expectedScore(v, targets, alpha)]),
      );
      for (const k of ['shifted', 'wide', 'narrow', 'collapsed'])
        expect(scores.true, `${k}: ${JSON.stringify(scores)}`).toBeGreaterThan(scores[k]!);
      tf.dispose([targets, ...Object.values(candidates)]);
    });
  }

  it('prefers the true two-component mixture over its moment-matched Gaussian and a one-mode fit', () => {
    const rng = createRng('proper-mixture');
    const [b, n, m] = [300, 16, 16];
    // Q: ½ N((−1.5, 0), 0.3²I) + ½ N((1.5, 0), 0.3²I); mean 0, var_x = 1.5² + 0.09, var_y = 0.09.
    const mixture = (count: number) => {
      const out = new Float32Array(b * count * 2);
      for (let i = 0; i < b * count; i++) {
        const c = rng.bernoulli(0.5) ? 1.5 : -1.5;
        out[2 * i] = c + 0.3 * rng.normal();
        out[2 * i + 1] = 0.3 * rng.normal();
      }
      return tf.tensor3d(out, [b, count, 2]);
    };
    const targets = mixture(m);
    const truth = mixture(n);
    const z = normal(rng, [b, n, 2]);
    const gaussian = tf.mul(z, tf.tensor1d([Math.sqrt(1.5 * 1.5 + 0.09), 0.3])) as tf.Tensor3D;
    const oneMode = tf.add(tf.mul(z, 0.3), tf.tensor1d([1.5, 0])) as tf.Tensor3D;
    const sTrue = expectedScore(truth, targets, 1);
    expect(sTrue).toBeGreaterThan(expectedScore(gaussian, targets, 1));
    expect(sTrue).toBeGreaterThan(expectedScore(oneMode, targets, 1));
    tf.dispose([targets, truth, z, gaussian, oneMode]);
  });
});
