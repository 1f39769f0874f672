import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, isCalmError } from '@calm/core';
import { expectClose, expectNoLeak } from '@calm/testing/tfjs';
import {
  countParams,
  createParams,
  disposeParams,
  embedding,
  initBackend,
  layerNorm,
  linear,
  normalInit,
  onesInit,
  rmsNorm,
  silu,
  swiGluMlp,
  trainableVariables,
  zerosInit,
  constantInit,
} from '../src/index.js';
import { expectSameResults, randomValues, runOn, seeded } from '../../testing/src/nn-helpers.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  await initBackend({ backend: 'wasm' });
});

// Float64 host references, written from the formulas in the official code.
function refLinear(
  x: Float32Array,
  rows: number,
  w: Float32Array,
  out: number,
  inF: number,
  b?: Float32Array,
): Float64Array {
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * w[o * inF + i]!;
      y[r * out + o] = s;
    }
  return y;
}

describe('initialisers and createParams', () => {
  it('is deterministic given a seed, on every backend, and keeps spec order', async () => {
    const specs = {
      'emb.weight': { shape: [6, 4], init: normalInit(0.02, { zeroRows: [5] }) },
      'norm.weight': { shape: [4], init: onesInit() },
      'proj.weight': { shape: [3, 4], init: normalInit(0.02) },
      'proj.bias': { shape: [3], init: zerosInit(), trainable: false },
    };
    const read = async (backend: string) => {
      await tf.setBackend(backend);
      const p = createParams(specs, createRng(7));
      const out = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
      expect(Object.keys(p)).toEqual(Object.keys(specs));
      expect(p['proj.bias']!.trainable).toBe(false);
      expect(countParams(p)).toBe(24 + 4 + 12 + 3);
      expect(countParams(p, { trainableOnly: true })).toBe(24 + 4 + 12);
      expect(trainableVariables(p).length).toBe(3);
      disposeParams(p);
      return out;
    };
    const onWasm = await read('wasm');
    const onCpu = await read('cpu');
    for (const k of Object.keys(specs)) expect(onWasm[k]).toEqual(onCpu[k]);
    expect(onWasm['norm.weight']).toEqual(new Float32Array(4).fill(1));
    expect(onWasm['proj.bias']).toEqual(new Float32Array(3));
    expect(Array.from(onWasm['emb.weight']!.subarray(20))).toEqual([0, 0, 0, 0]); // PAD row
    // Same seed, same values; another seed, other values.
    const again = createParams({ w: { shape: [4], init: normalInit(0.02) } }, createRng(7));
    const other = createParams({ w: { shape: [4], init: normalInit(0.02) } }, createRng(8));
    expect(Array.from(again['w']!.dataSync())).toEqual(Array.from(onWasm['emb.weight']!.subarray(0, 4)));
    expect(Array.from(other['w']!.dataSync())).not.toEqual(Array.from(again['w']!.dataSync()));
    disposeParams({ ...again, ...other });
  });

  it('normalInit has the requested standard deviation', () => {
    const v = normalInit(0.02)([200, 100], createRng(3));
    let s = 0;
    let s2 = 0;
    for (const x of v) {
      s += x;
      s2 += x * x;
    }
    const mean = s / v.length;
    const std = Math.sqrt(s2 / v.length - mean * mean);
    expect(Math.abs(mean)).toBeLessThan((0.02 * 4) / Math.sqrt(v.length)); // 4 standard errors
    expect(std).toBeGreaterThan(0.0198);
    expect(std).toBeLessThan(0.0202);
  });

  it('rejects bad specs and initialisers with CalmErrors, leaking nothing', async () => {
    await expectNoLeak(() => {
      expect(() =>
        createParams({ a: { shape: [2], init: zerosInit() }, b: { shape: [2, -1], init: zerosInit() } }, createRng(1)),
      ).toThrow(/shape/);
      expect(() => createParams({ a: { shape: [3], init: () => new Float32Array(2) } }, createRng(1))).toThrow(
        /returned 2 values/,
      );
    });
    expect(() => normalInit(-1)).toThrow(/std/);
    expect(() => normalInit(0.02, { zeroRows: [9] })([3, 2], createRng(1))).toThrow(/zero row 9/);
    expect(constantInit(2.5)([2], createRng(1))).toEqual(Float32Array.of(2.5, 2.5));
  });
});

describe('layers', () => {
  const rng = seeded('layers');
  const d = 6;
  const inter = 10;
  const makeParams = () =>
    createParams(
      {
        'lin.weight': { shape: [4, d], init: normalInit(0.5) },
        'lin.bias': { shape: [4], init: normalInit(0.5) },
        'emb.weight': { shape: [9, d], init: normalInit(1) },
        'rms.weight': { shape: [d], init: normalInit(1) },
        'ln.weight': { shape: [d], init: normalInit(1) },
        'ln.bias': { shape: [d], init: normalInit(1) },
        'mlp.gate_proj.weight': { shape: [inter, d], init: normalInit(0.3) },
        'mlp.up_proj.weight': { shape: [inter, d], init: normalInit(0.3) },
        'mlp.down_proj.weight': { shape: [d, inter], init: normalInit(0.3) },
      },
      createRng(11),
    );

  it('linear is x·Wᵀ + b with PyTorch layout, any leading shape, bias optional', async () => {
    await tf.setBackend('wasm');
    const p = makeParams();
    const xv = randomValues([2, 3, d], rng);
    const x = tf.tensor(xv, [2, 3, d]);
    const w = p['lin.weight']!.dataSync() as Float32Array;
    const b = p['lin.bias']!.dataSync() as Float32Array;
    await expectNoLeak(() => {
      const y = linear(p, 'lin', x);
      expect(y.shape).toEqual([2, 3, 4]);
      expectClose(y, refLinear(xv, 6, w, 4, d, b), { atol: 1e-5, rtol: 1e-5 });
      const noBias = linear(p, 'lin', x, { bias: false });
      expectClose(noBias, refLinear(xv, 6, w, 4, d), { atol: 1e-5, rtol: 1e-5 });
      tf.dispose([y, noBias]);
    });
    expect(() => linear(p, 'nope', x)).toThrow(/no parameter "nope.weight"/);
    expect(() => linear({ 'lin.weight': p['lin.weight']! }, 'lin', x, { bias: true })).toThrow(/lin.bias/);
    expect(() => linear(p, 'lin', tf.zeros([2, 5]))).toThrow(/last dimension of 6/);
    try {
      linear(p, 'lin.x', x);
    } catch (e) {
      expect(isCalmError(e, 'MISSING_PARAMETER')).toBe(true);
    }
    disposeParams(p);
    x.dispose();
  });

  it('rmsNorm is w·x/sqrt(mean(x²)+eps) and layerNorm is (x−μ)/sqrt(σ²+eps)·w+b', async () => {
    await tf.setBackend('wasm');
    const p = makeParams();
    const rows = 5;
    const xv = randomValues([rows, d], rng, 3);
    const x = tf.tensor(xv, [rows, d]);
    const w = p['rms.weight']!.dataSync();
    const lw = p['ln.weight']!.dataSync();
    const lb = p['ln.bias']!.dataSync();
    const eps = 1e-6;
    const rmsRef = new Float64Array(rows * d);
    const lnRef = new Float64Array(rows * d);
    for (let r = 0; r < rows; r++) {
      let ms = 0;
      let mu = 0;
      for (let i = 0; i < d; i++) {
        ms += xv[r * d + i]! ** 2 / d;
        mu += xv[r * d + i]! / d;
      }
      let v = 0;
      for (let i = 0; i < d; i++) v += (xv[r * d + i]! - mu) ** 2 / d;
      for (let i = 0; i < d; i++) {
        rmsRef[r * d + i] = (w[i]! * xv[r * d + i]!) / Math.sqrt(ms + eps);
        lnRef[r * d + i] = ((xv[r * d + i]! - mu) / Math.sqrt(v + eps)) * lw[i]! + lb[i]!;
      }
    }
    await expectNoLeak(() => {
      const a = rmsNorm(p, 'rms', x, eps);
      const b = layerNorm(p, 'ln', x, eps);
      expectClose(a, rmsRef, { atol: 1e-5, rtol: 1e-5, label: 'rmsNorm' });
      expectClose(b, lnRef, { atol: 1e-5, rtol: 1e-5, label: 'layerNorm' });
      tf.dispose([a, b]);
    });
    expect(() => rmsNorm(p, 'rms', tf.zeros([2, 4]), eps)).toThrow(/does not match/);
    expect(() => layerNorm(p, 'rms', x, eps)).toThrow(/rms.bias/);
    expect(() => rmsNorm(p, 'rms', x, -1)).toThrow(/eps/);
    disposeParams(p);
    x.dispose();
  });

  it('swiGluMlp is down(silu(gate(x)) * up(x)); embedding gathers rows', async () => {
    await tf.setBackend('wasm');
    const p = makeParams();
    const xv = randomValues([3, d], rng);
    const x = tf.tensor(xv, [3, d]);
    const g = refLinear(xv, 3, p['mlp.gate_proj.weight']!.dataSync() as Float32Array, inter, d);
    const u = refLinear(xv, 3, p['mlp.up_proj.weight']!.dataSync() as Float32Array, inter, d);
    const h = Float32Array.from(g, (v, i) => (v / (1 + Math.exp(-v))) * u[i]!);
    const ref = refLinear(h, 3, p['mlp.down_proj.weight']!.dataSync() as Float32Array, d, inter);
    const table = p['emb.weight']!.dataSync();
    await expectNoLeak(() => {
      const y = swiGluMlp(p, 'mlp', x);
      expectClose(y, ref, { atol: 1e-5, rtol: 1e-4, label: 'swiGluMlp' });
      const ids = tf.tensor2d(
        [
          [8, 0],
          [3, 3],
        ],
        [2, 2],
        'int32',
      );
      const e = embedding(p, 'emb.weight', ids);
      expect(e.shape).toEqual([2, 2, d]);
      expectClose(
        e.dataSync(),
        [8, 0, 3, 3].flatMap((r) => Array.from(table.subarray(r * d, r * d + d))),
        { atol: 0 },
      );
      const z = tf.tensor1d([-2, 0, 3]);
      const s = silu(z);
      expectClose(s, [-2 / (1 + Math.exp(2)), 0, 3 / (1 + Math.exp(-3))], { atol: 1e-6 });
      tf.dispose([y, ids, e, z, s]);
    });
    expect(() => embedding(p, 'emb.weight', tf.tensor1d([1, 2]))).toThrow(/int32/);
    disposeParams(p);
    x.dispose();
  });

  it('every layer and its gradient equals the cpu backend', async () => {
    const p = makeParams();
    const values = Object.fromEntries(
      Object.entries(p).map(([k, v]) => [k, { v: Float32Array.from(v.dataSync()), s: v.shape }]),
    );
    disposeParams(p);
    const xv = randomValues([2, 4, d], rng);
    const fn = () => {
      const q = Object.fromEntries(Object.entries(values).map(([k, { v, s }]) => [k, tf.tensor(v, s)]));
      const x = tf.tensor(xv, [2, 4, d]);
      const ids = tf.tensor2d(
        [
          [1, 4, 4, 8],
          [0, 2, 7, 1],
        ],
        [2, 4],
        'int32',
      );
      const loss = (xx: tf.Tensor, emb: tf.Tensor, wr: tf.Tensor, lw: tf.Tensor, gate: tf.Tensor) => {
        const r = { ...q, 'emb.weight': emb, 'rms.weight': wr, 'ln.weight': lw, 'mlp.gate_proj.weight': gate };
        const h = tf.add(xx, embedding(r, 'emb.weight', ids));
        const a = rmsNorm(r, 'rms', h, 1e-6);
        const b = layerNorm(r, 'ln', swiGluMlp(r, 'mlp', a), 1e-6);
        return tf.sum(tf.square(linear(r, 'lin', b)));
      };
      const grads = tf.grads(loss)([
        x,
        q['emb.weight']!,
        q['rms.weight']!,
        q['ln.weight']!,
        q['mlp.gate_proj.weight']!,
      ]);
      return [loss(x, q['emb.weight']!, q['rms.weight']!, q['ln.weight']!, q['mlp.gate_proj.weight']!), ...grads];
    };
    expectSameResults(await runOn('wasm', fn), await runOn('cpu', fn), 1e-5, 'layers');
  });
});
