// The fused kernels (one wasm SIMD kernel forward, one backward): each is compared with the same
// op on the cpu backend, which computes it from stock tfjs ops (forward and gradient, 1e-5
// relative to the output's scale), and its analytic gradient with central finite differences of
// a float64 re-implementation of the op; no tensor leaks.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak } from '@calm/testing/tfjs';
import {
  AdamW,
  cachedSelfAttention,
  causalSelfAttention,
  clipByGlobalNorm,
  createParams,
  crossEntropy,
  disposeParams,
  globalNorm,
  initBackend,
  layerNorm,
  normalInit,
  pairwiseDistanceMeans,
  rmsNorm,
  silu,
  swiGlu,
  swiGluMlp,
  wasmKernelsRegistered,
} from '../src/index.js';
import { expectSameResults, randomValues, runOn, seeded } from '../../testing/src/nn-helpers.js';

const REL = 1e-5;

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  await initBackend({ backend: 'wasm' });
  expect(wasmKernelsRegistered()).toBe(true);
});

/** Fused (wasm) against stock ops (cpu), every output. */
async function compare(fn: () => tf.Tensor | tf.Tensor[], label: string): Promise<void> {
  expectSameResults(await runOn('wasm', fn), await runOn('cpu', fn), REL, label);
}

/**
 * The gradient of Σ r·f(x) from the wasm kernels against central differences of the float64
 * reference `f64` (at every coordinate of small inputs), relative to the gradient's scale.
 */
async function checkGradient(
  label: string,
  inputs: Float32Array[],
  shapes: number[][],
  op: (...xs: tf.Tensor[]) => tf.Tensor,
  f64: (...xs: Float64Array[]) => Float64Array,
  tol = 2e-4,
): Promise<void> {
  await tf.setBackend('wasm');
  const out64 = f64(...inputs.map((x) => Float64Array.from(x)));
  const r = randomValues([out64.length], seeded(`${label}/r`));
  const grads = tf.tidy(() => {
    const xs = inputs.map((v, i) => tf.tensor(v, shapes[i]));
    const gs = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(tf.reshape(op(...ys), [-1]), tf.tensor1d(r))))(xs);
    return gs;
  });
  const analytic = await Promise.all(grads.map(async (g) => Float64Array.from(await g.data())));
  tf.dispose(grads);
  const h = 1e-5;
  const loss = (xs: Float64Array[]) => {
    const y = f64(...xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += r[i]! * y[i]!;
    return s;
  };
  inputs.forEach((x, which) => {
    const xs = inputs.map((v) => Float64Array.from(v));
    const a = analytic[which]!;
    let scale = 0;
    for (const v of a) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let i = 0; i < x.length; i++) {
      const keep = xs[which]![i]!;
      xs[which]![i] = keep + h;
      const up = loss(xs);
      xs[which]![i] = keep - h;
      const down = loss(xs);
      xs[which]![i] = keep;
      worst = Math.max(worst, Math.abs((up - down) / (2 * h) - a[i]!));
    }
    expect(worst / (scale || 1), `${label}: gradient of input ${which} vs finite differences`).toBeLessThan(tol);
  });
}

// float64 references, rows of the last axis
function rms64(x: Float64Array, w: Float64Array): Float64Array {
  const d = w.length;
  const y = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += d) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[o + j]! ** 2;
    const s = 1 / Math.sqrt(ss / d + 1e-6);
    for (let j = 0; j < d; j++) y[o + j] = x[o + j]! * s * w[j]!;
  }
  return y;
}
function ln64(x: Float64Array, w: Float64Array, b: Float64Array): Float64Array {
  const d = w.length;
  const y = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += d) {
    let mu = 0;
    for (let j = 0; j < d; j++) mu += x[o + j]! / d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[o + j]! - mu) ** 2 / d;
    const s = 1 / Math.sqrt(v + 1e-6);
    for (let j = 0; j < d; j++) y[o + j] = (x[o + j]! - mu) * s * w[j]! + b[j]!;
  }
  return y;
}
const silu64 = (x: Float64Array): Float64Array => x.map((v) => v / (1 + Math.exp(-v)));
function swiGlu64(x: Float64Array, h: number): Float64Array {
  const rows = x.length / (2 * h);
  const y = new Float64Array(rows * h);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < h; j++) {
      const g = x[2 * r * h + j]!;
      y[r * h + j] = (g / (1 + Math.exp(-g))) * x[2 * r * h + h + j]!;
    }
  return y;
}
function ce64(logits: Float64Array, labels: number[], v: number): Float64Array {
  let total = 0;
  for (let r = 0; r < labels.length; r++) {
    let m = -Infinity;
    for (let j = 0; j < v; j++) m = Math.max(m, logits[r * v + j]!);
    let s = 0;
    for (let j = 0; j < v; j++) s += Math.exp(logits[r * v + j]! - m);
    total += Math.log(s) + m - logits[r * v + labels[r]!]!;
  }
  return Float64Array.of(total / labels.length);
}
function pairwise64(x: Float64Array, y: Float64Array, b: number, n: number, m: number, l: number, alpha: number) {
  const dist = (a: Float64Array, i: number, c: Float64Array, j: number) => {
    let s = 0;
    for (let k = 0; k < l; k++) s += (a[i * l + k]! - c[j * l + k]!) ** 2;
    return s > 0 ? s ** (alpha / 2) : 0;
  };
  const out = new Float64Array(2 * b);
  for (let p = 0; p < b; p++) {
    let c = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) c += dist(x, p * n + i, y, p * m + j);
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) s += dist(x, p * n + i, x, p * n + j);
    out[p] = c / (n * m);
    out[b + p] = s / (n * (n - 1));
  }
  return out;
}

describe('RMSNorm, LayerNorm', () => {
  const rng = seeded('norms');
  // d = 130 exercises the vector loop and its scalar tail
  const x = randomValues([7, 130], rng, 2);
  const w = randomValues([130], rng, 0.5).map((v) => v + 1);
  const b = randomValues([130], rng, 0.5);
  it('forward and gradients equal the stock ops on cpu', async () => {
    await compare(() => {
      const xt = tf.tensor2d(x, [7, 130]);
      const p = { 'n.weight': tf.tensor1d(w), 'n.bias': tf.tensor1d(b) };
      const dy = tf.tensor2d(randomValues([7, 130], seeded('dy')), [7, 130]);
      const gr = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(rmsNorm({ 'n.weight': c }, 'n', a, 1e-6), dy)));
      const gl = tf.grads((a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) =>
        tf.sum(tf.mul(layerNorm({ 'n.weight': c, 'n.bias': e }, 'n', a, 1e-6), dy)),
      );
      return [
        rmsNorm(p, 'n', xt, 1e-6),
        layerNorm(p, 'n', xt, 1e-6),
        ...gr([xt, p['n.weight']]),
        ...gl([xt, p['n.weight'], p['n.bias']]),
      ];
    }, 'norms');
  });
  it('gradients equal finite differences of the float64 op', async () => {
    const xs = randomValues([3, 6], seeded('fd-x'));
    const ws = randomValues([6], seeded('fd-w')).map((v) => v + 1);
    const bs = randomValues([6], seeded('fd-b'));
    await checkGradient(
      'rmsNorm',
      [xs, ws],
      [[3, 6], [6]],
      (a, c) => rmsNorm({ 'n.weight': c! }, 'n', a!, 1e-6),
      (a, c) => rms64(a!, c!),
    );
    await checkGradient(
      'layerNorm',
      [xs, ws, bs],
      [[3, 6], [6], [6]],
      (a, c, e) => layerNorm({ 'n.weight': c!, 'n.bias': e! }, 'n', a!, 1e-6),
      (a, c, e) => ln64(a!, c!, e!),
    );
  });
});

describe('SiLU, SwiGLU', () => {
  const rng = seeded('act');
  it('forward and gradients equal the stock ops on cpu, over a wide range of inputs', async () => {
    const x = randomValues([9, 66], rng, 6); // includes |x| ≫ 1
    const gu = randomValues([9, 2 * 33], rng, 6);
    await compare(() => {
      const xt = tf.tensor2d(x, [9, 66]);
      const gt = tf.tensor2d(gu, [9, 66]);
      const dy = tf.tensor2d(randomValues([9, 66], seeded('dy1')), [9, 66]);
      const dh = tf.tensor2d(randomValues([9, 33], seeded('dy2')), [9, 33]);
      return [
        silu(xt),
        swiGlu(gt),
        tf.grad((a: tf.Tensor) => tf.sum(tf.mul(silu(a), dy)))(xt),
        tf.grad((a: tf.Tensor) => tf.sum(tf.mul(swiGlu(a), dh)))(gt),
      ];
    }, 'activations');
  });
  it('gradients equal finite differences of the float64 op', async () => {
    const x = randomValues([2, 10], seeded('fd-silu'), 3);
    await checkGradient(
      'silu',
      [x],
      [[2, 10]],
      (a) => silu(a!),
      (a) => silu64(a!),
    );
    await checkGradient(
      'swiGlu',
      [x],
      [[2, 10]],
      (a) => swiGlu(a!),
      (a) => swiGlu64(a!, 5),
    );
  });
  it('swiGluMlp equals separate gate and up projections', async () => {
    const p = createParams(
      {
        'm.gate_proj.weight': { shape: [12, 8], init: normalInit(0.3) },
        'm.up_proj.weight': { shape: [12, 8], init: normalInit(0.3) },
        'm.down_proj.weight': { shape: [8, 12], init: normalInit(0.3) },
      },
      seeded('mlp'),
    );
    const x = tf.tensor2d(randomValues([5, 8], seeded('mlp-x')), [5, 8]);
    const fused = swiGluMlp(p, 'm', x);
    const plain = tf.tidy(() => {
      const g = tf.matMul(x, p['m.gate_proj.weight']!, false, true);
      const u = tf.matMul(x, p['m.up_proj.weight']!, false, true);
      return tf.matMul(tf.mul(tf.mul(g, tf.sigmoid(g)), u), p['m.down_proj.weight']!, false, true);
    });
    expectSameResults(
      { values: [await fused.data()] as Float32Array[], shapes: [fused.shape] },
      { values: [await plain.data()] as Float32Array[], shapes: [plain.shape] },
      REL,
      'swiGluMlp',
    );
    tf.dispose([fused, plain, x]);
    disposeParams(p);
  });
  it('rejects an odd last dimension', () => {
    const x = tf.zeros([2, 5]);
    expect(() => swiGlu(x)).toThrow(/must be even/);
    x.dispose();
  });
});

describe('crossEntropy', () => {
  it('forward and gradient equal the stock ops on cpu, and finite differences', async () => {
    const logits = randomValues([6, 45], seeded('ce'), 4);
    const labels = [0, 44, 3, 3, 17, 20];
    await compare(() => {
      const l = tf.tensor2d(logits, [6, 45]);
      const y = tf.tensor1d(labels, 'int32');
      return [crossEntropy(l, y), tf.grad((a: tf.Tensor) => crossEntropy(a as tf.Tensor2D, y))(l)];
    }, 'crossEntropy');
    await checkGradient(
      'crossEntropy',
      [logits],
      [[6, 45]],
      (a) => crossEntropy(a as tf.Tensor2D, tf.tensor1d(labels, 'int32')),
      (a) => ce64(a!, labels, 45),
    );
  });
  it('rejects labels outside the vocabulary', async () => {
    await tf.setBackend('wasm');
    const l = tf.zeros([2, 4]) as tf.Tensor2D;
    const y = tf.tensor1d([1, 4], 'int32');
    await expectNoLeak(() => expect(() => crossEntropy(l, y)).toThrow(/not in \[0, 3\]/));
    tf.dispose([l, y]);
  });
});

describe('pairwiseDistanceMeans', () => {
  for (const alpha of [1, 2, 1.5]) {
    it(`α = ${alpha}: forward and gradients equal the stock ops on cpu, and finite differences`, async () => {
      const x = randomValues([3, 4, 8], seeded(`pd-x${alpha}`));
      const y = randomValues([3, 5, 8], seeded(`pd-y${alpha}`));
      x.set(x.subarray(0, 8), 8); // two coinciding samples: distance 0, gradient 0
      await compare(() => {
        const xt = tf.tensor3d(x, [3, 4, 8]);
        const yt = tf.tensor3d(y, [3, 5, 8]);
        const { cross, self } = pairwiseDistanceMeans(xt, yt, alpha);
        const w = tf.tensor1d([1, -2, 0.5]);
        const g = tf.grads((a: tf.Tensor, c: tf.Tensor) => {
          const r = pairwiseDistanceMeans(a as tf.Tensor3D, c as tf.Tensor3D, alpha);
          return tf.add(tf.sum(tf.mul(r.cross, w)), tf.sum(tf.mul(r.self, tf.neg(w))));
        })([xt, yt]);
        return [cross, self, ...g];
      }, `pairwise α=${alpha}`);
      const xs = randomValues([2, 3, 4], seeded(`pd-fd${alpha}`));
      const ys = randomValues([2, 2, 4], seeded(`pd-fd-y${alpha}`));
      await checkGradient(
        `pairwise α=${alpha}`,
        [xs, ys],
        [
          [2, 3, 4],
          [2, 2, 4],
        ],
        (a, c) => {
          const r = pairwiseDistanceMeans(a as tf.Tensor3D, c as tf.Tensor3D, alpha);
          return tf.concat([r.cross, r.self]);
        },
        (a, c) => pairwise64(a!, c!, 2, 3, 2, 4, alpha),
      );
    });
  }
  it('rejects bad shapes and exponents', () => {
    const x = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    const y = tf.zeros([2, 3, 5]) as tf.Tensor3D;
    expect(() => pairwiseDistanceMeans(x, y, 1)).toThrow(/SHAPE|must be/);
    expect(() => pairwiseDistanceMeans(x, x, 3)).toThrow(/alpha/);
    tf.dispose([x, y]);
  });
});

describe('AdamW, global norm and clipping', () => {
  it('equal the stock ops on cpu over a few steps', async () => {
    const run = () => {
      const params = createParams(
        { 'a.weight': { shape: [5, 7], init: normalInit(1) }, 'a.bias': { shape: [5], init: normalInit(1) } },
        seeded('adam'),
      );
      const opt = new AdamW(params, { lr: 0.05, beta2: 0.95, weightDecay: 0.1 });
      const norms: tf.Tensor[] = [];
      for (let s = 0; s < 3; s++) {
        const grads = {
          'a.weight': tf.tensor2d(randomValues([5, 7], seeded(`g${s}`), 3), [5, 7]),
          'a.bias': tf.tensor1d(randomValues([5], seeded(`b${s}`), 3)),
        };
        const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
        norms.push(norm, globalNorm(clipped));
        opt.step(clipped);
        tf.dispose([...Object.values(grads), ...Object.values(clipped)]);
      }
      const out = [tf.clone(params['a.weight']!), tf.clone(params['a.bias']!), ...norms];
      opt.dispose();
      disposeParams(params);
      return out;
    };
    await compare(run, 'adamw');
  });
  it('do not leak', async () => {
    await tf.setBackend('wasm');
    const params = createParams({ w: { shape: [4, 3], init: normalInit(1) } }, seeded('leak'));
    const opt = new AdamW(params, { lr: 0.1 });
    opt.step({ w: tf.ones([4, 3]) }); // creates the moments
    await expectNoLeak(() => {
      const g = { w: tf.ones([4, 3]) };
      const { grads, norm } = clipByGlobalNorm(g, 0.5);
      opt.step(grads);
      tf.dispose([...Object.values(g), ...Object.values(grads), norm]);
    });
    opt.dispose();
    disposeParams(params);
  });
});

describe('Identity and Cast share data', () => {
  it('clones and same-dtype casts equal their input and survive its disposal', async () => {
    await tf.setBackend('wasm');
    await expectNoLeak(async () => {
      const x = tf.tensor1d([1, 2, 3]);
      const c = tf.clone(x);
      const k = tf.cast(x, 'float32');
      const i = tf.cast(x, 'int32');
      x.dispose();
      expect(Array.from(await c.data())).toEqual([1, 2, 3]);
      expect(Array.from(await k.data())).toEqual([1, 2, 3]);
      expect(i.dtype).toBe('int32');
      tf.dispose([c, k, i]);
    });
  });
});

describe('leaks', () => {
  it('no fused op leaks a tensor, forward or backward', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([4, 8]);
    const w = tf.ones([8]);
    const b = tf.zeros([8]);
    const p3 = tf.randomNormal([2, 3, 4]) as tf.Tensor3D;
    const labels = tf.tensor1d([1, 2, 3, 0], 'int32');
    await expectNoLeak(() => {
      const g = tf.grads((a: tf.Tensor, c: tf.Tensor, e: tf.Tensor, q: tf.Tensor) => {
        const n = layerNorm({ 'n.weight': c, 'n.bias': e }, 'n', rmsNorm({ 'n.weight': c }, 'n', a, 1e-6), 1e-6);
        const r = pairwiseDistanceMeans(q as tf.Tensor3D, q as tf.Tensor3D, 1);
        return tf.addN([
          tf.sum(swiGlu(silu(n))),
          crossEntropy(n as tf.Tensor2D, labels),
          tf.sum(r.cross),
          tf.sum(r.self),
        ]) as tf.Scalar;
      })([x, w, b, p3]);
      tf.dispose(g);
    });
    tf.dispose([x, w, b, p3, labels]);
  });
});

describe('causalSelfAttention', () => {
  // float64 reference: heads side by side in qkv [B, T, (nh + 2nkv)·D], RoPE rotate-half, causal softmax
  function attention64(qkv: Float64Array, b: number, t: number, nh: number, nkv: number, d: number, rope: boolean) {
    const w = (nh + 2 * nkv) * d;
    const out = new Float64Array(b * t * nh * d);
    const rot = (x: number[], pos: number): number[] => {
      if (!rope) return x;
      const half = d / 2;
      return x.map((v, j) => {
        const i = j % half;
        const a = pos * (1 / 10000 ** ((2 * i) / d));
        const other = j < half ? -x[j + half]! : x[j - half]!;
        return v * Math.cos(a) + other * Math.sin(a);
      });
    };
    const head = (bi: number, pos: number, h: number) =>
      Array.from({ length: d }, (_, j) => qkv[(bi * t + pos) * w + h * d + j]!);
    for (let bi = 0; bi < b; bi++)
      for (let h = 0; h < nh; h++) {
        const g = Math.floor(h / (nh / nkv));
        for (let i = 0; i < t; i++) {
          const q = rot(head(bi, i, h), i);
          const s = Array.from({ length: i + 1 }, (_, j) => {
            const k = rot(head(bi, j, nh + g), j);
            return q.reduce((acc, v, c) => acc + v * k[c]!, 0) / Math.sqrt(d);
          });
          const m = Math.max(...s);
          const e = s.map((v) => Math.exp(v - m));
          const z = e.reduce((x, y) => x + y, 0);
          for (let j = 0; j <= i; j++) {
            const v = head(bi, j, nh + nkv + g);
            for (let c = 0; c < d; c++) {
              const o = ((bi * t + i) * nh + h) * d + c;
              out[o] = out[o]! + (e[j]! / z) * v[c]!;
            }
          }
        }
      }
    return out;
  }
  const tables = (t: number, d: number) => {
    const cos = new Float32Array(t * d);
    const sin = new Float32Array(t * d);
    for (let p = 0; p < t; p++)
      for (let j = 0; j < d; j++) {
        const a = Math.fround(p * Math.fround(1 / 10000 ** ((2 * (j % (d / 2))) / d)));
        cos[p * d + j] = Math.cos(a);
        sin[p * d + j] = Math.sin(a);
      }
    return { cos, sin };
  };
  const cases = [
    { b: 2, t: 5, nh: 2, nkv: 1, d: 4, rope: true }, // grouped-query heads
    { b: 1, t: 70, nh: 2, nkv: 2, d: 8, rope: true }, // two query blocks
    { b: 2, t: 9, nh: 1, nkv: 1, d: 6, rope: false }, // no rope, D not a multiple of 4
  ];
  for (const c of cases) {
    it(`forward and gradient equal the stock ops on cpu (${JSON.stringify(c)})`, async () => {
      const w = (c.nh + 2 * c.nkv) * c.d;
      const x = randomValues([c.b, c.t, w], seeded(`att-${c.t}`));
      const dyv = randomValues([c.b, c.t, c.nh * c.d], seeded(`att-dy-${c.t}`));
      const { cos, sin } = tables(c.t, c.d);
      await compare(
        () => {
          const qkv = tf.tensor3d(x, [c.b, c.t, w]);
          const opts = {
            numHeads: c.nh,
            numKvHeads: c.nkv,
            ...(c.rope ? { cos: tf.tensor2d(cos, [c.t, c.d]), sin: tf.tensor2d(sin, [c.t, c.d]) } : {}),
          };
          const dy = tf.tensor3d(dyv, [c.b, c.t, c.nh * c.d]);
          return [
            causalSelfAttention(qkv, opts),
            tf.grad((a: tf.Tensor) => tf.sum(tf.mul(causalSelfAttention(a as tf.Tensor3D, opts), dy)))(qkv),
          ];
        },
        `attention ${JSON.stringify(c)}`,
      );
    });
  }
  it('equals a float64 reference, and its gradient finite differences', async () => {
    const c = { b: 1, t: 4, nh: 2, nkv: 1, d: 4 };
    const w = (c.nh + 2 * c.nkv) * c.d;
    const x = randomValues([c.b, c.t, w], seeded('att-fd'));
    const { cos, sin } = tables(c.t, c.d);
    await tf.setBackend('wasm');
    const y = tf.tidy(() =>
      causalSelfAttention(tf.tensor3d(x, [c.b, c.t, w]), {
        numHeads: c.nh,
        numKvHeads: c.nkv,
        cos: tf.tensor2d(cos, [c.t, c.d]),
        sin: tf.tensor2d(sin, [c.t, c.d]),
      }),
    );
    expectSameResults(
      { values: [(await y.data()) as Float32Array], shapes: [[y.size]] },
      {
        values: [Float32Array.from(attention64(Float64Array.from(x), c.b, c.t, c.nh, c.nkv, c.d, true))],
        shapes: [[y.size]],
      },
      1e-5,
      'attention vs float64',
    );
    y.dispose();
    await checkGradient(
      'attention',
      [x],
      [[c.b, c.t, w]],
      (a) =>
        causalSelfAttention(a as tf.Tensor3D, {
          numHeads: c.nh,
          numKvHeads: c.nkv,
          cos: tf.tensor2d(cos, [c.t, c.d]),
          sin: tf.tensor2d(sin, [c.t, c.d]),
        }),
      (a) => attention64(a!, c.b, c.t, c.nh, c.nkv, c.d, true),
    );
  });
  it('rejects bad head counts and tables, and does not leak', async () => {
    await tf.setBackend('wasm');
    const qkv = tf.randomNormal([1, 3, 12]) as tf.Tensor3D;
    expect(() => causalSelfAttention(qkv, { numHeads: 3, numKvHeads: 2 })).toThrow(/multiple/);
    expect(() => causalSelfAttention(qkv, { numHeads: 5, numKvHeads: 5 })).toThrow(/qkv must be/);
    const bad = tf.zeros([3, 3]) as tf.Tensor2D;
    expect(() => causalSelfAttention(qkv, { numHeads: 1, numKvHeads: 1, cos: bad, sin: bad })).toThrow(/cos and sin/);
    await expectNoLeak(() => {
      const g = tf.grad((a: tf.Tensor) =>
        tf.sum(causalSelfAttention(a as tf.Tensor3D, { numHeads: 2, numKvHeads: 1 })),
      )(qkv);
      g.dispose();
    });
    tf.dispose([qkv, bad]);
  });
});

describe('cachedSelfAttention', () => {
  // Prompt then one position at a time over a cache must equal causal attention over the whole
  // sequence, on wasm (in place) and on cpu (stock ops, buffers replaced).
  for (const backend of ['wasm', 'cpu']) {
    it(`equals causalSelfAttention over the whole sequence, step by step (${backend})`, async () => {
      await tf.setBackend(backend);
      const [b, t, nh, nkv, d] = [2, 7, 4, 2, 8];
      const w = (nh + 2 * nkv) * d;
      const x = tf.tensor3d(randomValues([b, t, w], seeded('cached')), [b, t, w]);
      const table = (pos: number, len: number) => {
        const cos = new Float32Array(len * d);
        const sin = new Float32Array(len * d);
        for (let p = 0; p < len; p++)
          for (let j = 0; j < d; j++) {
            const a = (pos + p) * 10000 ** (-(2 * (j % (d / 2))) / d);
            cos[p * d + j] = Math.cos(a);
            sin[p * d + j] = Math.sin(a);
          }
        return { cos: tf.tensor2d(cos, [len, d]), sin: tf.tensor2d(sin, [len, d]) };
      };
      const full = tf.tidy(() => causalSelfAttention(x, { numHeads: nh, numKvHeads: nkv, ...table(0, t) }));
      const cache = { keys: tf.zeros([b, nkv, 9, d]) as tf.Tensor4D, values: tf.zeros([b, nkv, 9, d]) as tf.Tensor4D };
      const parts: tf.Tensor[] = [];
      await expectNoLeak(() => {
        for (const [start, len] of [
          [0, 3],
          [3, 1],
          [4, 1],
          [5, 2],
        ] as const) {
          parts.push(
            tf.tidy(() =>
              cachedSelfAttention(tf.slice(x, [0, start, 0], [b, len, w]), cache, start, {
                numHeads: nh,
                numKvHeads: nkv,
                ...table(start, len),
              }),
            ),
          );
        }
      }, parts.length + 4); // the four outputs (and, on cpu, buffers replaced one for one)
      const stepped = tf.concat(parts, 1);
      expectSameResults(
        { values: [(await stepped.data()) as Float32Array], shapes: [stepped.shape] },
        { values: [(await full.data()) as Float32Array], shapes: [full.shape] },
        1e-5,
        `cached attention (${backend})`,
      );
      expect(() =>
        cachedSelfAttention(tf.slice(x, [0, 0, 0], [b, 3, w]), cache, 7, { numHeads: nh, numKvHeads: nkv }),
      ).toThrow(/capacity/);
      tf.dispose([x, full, stepped, ...parts, cache.keys, cache.values]);
      await tf.setBackend('wasm');
    });
  }
});
