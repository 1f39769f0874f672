import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, parseSafetensors, serializeSafetensors } from '@calm/core';
import { expectNoLeak } from '@calm/testing/tfjs';
import {
  AdamW,
  clipByGlobalNorm,
  constantSchedule,
  createParams,
  defaultDecayPredicate,
  disposeParams,
  globalNorm,
  initBackend,
  namedArraysToOptimizerState,
  normalInit,
  optimizerStateToNamedArrays,
  paramGrads,
  warmupConstantSchedule,
  warmupCosineSchedule,
  type ParamRecord,
} from '../src/index.js';
import { randomValues, seeded } from '../../testing/src/nn-helpers.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const SHAPES: Record<string, number[]> = { 'proj.weight': [3, 4], 'proj.bias': [3], 'norm.weight': [4] };

function makeParams(): ParamRecord {
  return createParams(
    Object.fromEntries(Object.entries(SHAPES).map(([k, shape]) => [k, { shape, init: normalInit(1) }])),
    createRng(5),
  );
}

// torch.optim.AdamW, step by step, in float64.
function referenceAdamW(
  p0: Record<string, Float32Array>,
  gradsPerStep: Array<Record<string, Float32Array>>,
  lrs: number[],
  o: { beta1: number; beta2: number; eps: number; weightDecay: number; decay: (name: string) => boolean },
): Array<Record<string, Float64Array>> {
  const p = Object.fromEntries(Object.entries(p0).map(([k, v]) => [k, Float64Array.from(v)]));
  const m: Record<string, Float64Array> = {};
  const v: Record<string, Float64Array> = {};
  const t: Record<string, number> = {};
  const history: Array<Record<string, Float64Array>> = [];
  gradsPerStep.forEach((grads, s) => {
    const lr = lrs[s]!;
    for (const [name, g] of Object.entries(grads)) {
      const x = p[name]!;
      m[name] ??= new Float64Array(x.length);
      v[name] ??= new Float64Array(x.length);
      t[name] = (t[name] ?? 0) + 1;
      const bc1 = 1 - o.beta1 ** t[name]!;
      const bc2 = 1 - o.beta2 ** t[name]!;
      for (let i = 0; i < x.length; i++) {
        if (o.decay(name)) x[i] = x[i]! * (1 - lr * o.weightDecay);
        m[name]![i] = o.beta1 * m[name]![i]! + (1 - o.beta1) * g[i]!;
        v[name]![i] = o.beta2 * v[name]![i]! + (1 - o.beta2) * g[i]! * g[i]!;
        x[i] = x[i]! - (lr / bc1) * (m[name]![i]! / (Math.sqrt(v[name]![i]!) / Math.sqrt(bc2) + o.eps));
      }
    }
    history.push(Object.fromEntries(Object.entries(p).map(([k, x]) => [k, Float64Array.from(x)])));
  });
  return history;
}

describe('AdamW', () => {
  it('matches a hand-computed torch AdamW for several steps (decoupled decay, bias correction, skipped params)', async () => {
    const params = makeParams();
    const p0 = Object.fromEntries(Object.entries(params).map(([k, x]) => [k, Float32Array.from(x.dataSync())]));
    const rng = seeded('adamw');
    const gradsPerStep = [0, 1, 2, 3].map((s) => {
      const g: Record<string, Float32Array> = {};
      for (const [k, shape] of Object.entries(SHAPES))
        if (!(s === 1 && k === 'proj.bias')) g[k] = randomValues(shape, rng, 0.5);
      return g;
    });
    const lrs = [1e-2, 5e-3, 2e-2, 1e-2];
    const hyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const opt = new AdamW(params, { lr: 1, ...hyper });
    expect(opt.isDecayed('proj.weight')).toBe(true);
    expect(opt.isDecayed('proj.bias')).toBe(false);
    expect(opt.isDecayed('norm.weight')).toBe(false);
    const ref = referenceAdamW(p0, gradsPerStep, lrs, { ...hyper, decay: (n) => n === 'proj.weight' });
    for (let s = 0; s < 4; s++) {
      const grads = Object.fromEntries(Object.entries(gradsPerStep[s]!).map(([k, v]) => [k, tf.tensor(v, SHAPES[k])]));
      // The first update of a parameter creates its two moment variables; nothing else stays.
      const before = tf.memory().numTensors;
      opt.step(grads, lrs[s]);
      expect(tf.memory().numTensors - before).toBe(s === 0 ? 6 : 0);
      tf.dispose(Object.values(grads));
      for (const [k, x] of Object.entries(params)) {
        const got = x.dataSync();
        const want = ref[s]![k]!;
        for (let i = 0; i < want.length; i++)
          expect(Math.abs(got[i]! - want[i]!), `${k}[${i}] after step ${s + 1}`).toBeLessThan(
            1e-6 * Math.max(1, Math.abs(want[i]!)),
          );
      }
    }
    expect(opt.stepCount).toBe(4);
    const state = opt.getState();
    expect(state.step).toBe(4);
    expect(state.params['proj.bias']!.step).toBe(3); // no gradient in step 2
    expect(state.params['proj.weight']!.step).toBe(4);
    const live = tf.memory().numTensors;
    opt.dispose();
    expect(live - tf.memory().numTensors).toBe(6);
    disposeParams(params);
  });

  it('exports and imports its state (through safetensors) and resumes bit-exactly', async () => {
    const rng = seeded('resume');
    const grads = [0, 1, 2, 3, 4].map(() =>
      Object.fromEntries(Object.entries(SHAPES).map(([k, s]) => [k, randomValues(s, rng)])),
    );
    const schedule = warmupCosineSchedule({ lr: 1e-2, warmupSteps: 2, totalSteps: 5, minLr: 1e-3 });
    const run = (opt: AdamW, params: ParamRecord, from: number, to: number) => {
      for (let s = from; s < to; s++) {
        const g = Object.fromEntries(Object.entries(grads[s]!).map(([k, v]) => [k, tf.tensor(v, SHAPES[k])]));
        opt.step(g, schedule(opt.stepCount));
        tf.dispose(Object.values(g));
      }
      void params;
    };
    const hyper = { lr: 1e-2, beta2: 0.95, weightDecay: 0.1 };
    const a = makeParams();
    const optA = new AdamW(a, hyper);
    run(optA, a, 0, 5);

    const b = makeParams();
    const optB = new AdamW(b, hyper);
    run(optB, b, 0, 2);
    const bytes = serializeSafetensors(optimizerStateToNamedArrays(optB.getState(), b));
    const saved = Object.fromEntries(Object.entries(b).map(([k, x]) => [k, Float32Array.from(x.dataSync())]));
    optB.dispose();
    disposeParams(b);

    const c = createParams(
      Object.fromEntries(Object.entries(SHAPES).map(([k, shape]) => [k, { shape, init: () => saved[k]! }])),
      createRng(0),
    );
    const optC = new AdamW(c, hyper);
    optC.setState(namedArraysToOptimizerState(parseSafetensors(bytes).tensors));
    expect(optC.stepCount).toBe(2);
    run(optC, c, 2, 5);
    for (const k of Object.keys(SHAPES)) expect(c[k]!.dataSync()).toEqual(a[k]!.dataSync());
    const sa = optA.getState();
    const sc = optC.getState();
    expect(sc).toEqual(sa);
    for (const o of [optA, optC]) o.dispose();
    disposeParams({ ...a });
    disposeParams(c);
  });

  it('decays by the HF rule by default, and the predicate is configurable', () => {
    const v2 = tf.variable(tf.zeros([2, 2]));
    const v1 = tf.variable(tf.zeros([2]));
    const cases: Array<[string, tf.Variable, boolean]> = [
      ['encoder.encoder_layers.0.mlp.gate_proj.weight', v2, true],
      ['encoder.embed_tokens.weight', v2, true],
      ['encoder.hidden_to_latent.bias', v1, false],
      ['encoder.norm.weight', v1, false],
      ['encoder.encoder_layers.1.layernorm.weight', v1, false],
      ['transformer.layers.3.post_attention_layernorm.weight', v1, false],
      ['mlp_generator.mlp_blocks.0.in_ln.weight', v1, false],
      ['mlp_generator.norm_hidden.weight', v1, false],
      ['embed_proj.3.weight', v1, false],
      ['decoder.lm_head_weight', v2, true],
    ];
    for (const [name, v, want] of cases) expect(defaultDecayPredicate(name, v), name).toBe(want);
    const params = { 'a.weight': v2, 'a.bias': v1 };
    const opt = new AdamW(params, { lr: 1, decay: (name) => name.endsWith('.bias') });
    expect(opt.isDecayed('a.weight')).toBe(false);
    expect(opt.isDecayed('a.bias')).toBe(true);
    opt.dispose();
    tf.dispose([v1, v2]);
  });

  it('rejects bad options, unknown/frozen/misshaped gradients and bad states, all at once', () => {
    const params = makeParams();
    const frozen = tf.variable(tf.zeros([2]), false);
    expect(() => new AdamW(params, { lr: -1, beta1: 1, eps: Number.NaN })).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        details: {
          problems: [
            'lr must be a finite number >= 0, got -1',
            'beta1 must be a probability in [0, 1), got 1',
            'eps must be a finite number >= 0, got NaN',
          ],
        },
      }),
    );
    const opt = new AdamW({ ...params, frozen }, { lr: 1e-3 });
    const g = { nope: tf.zeros([1]), frozen: tf.zeros([2]) };
    expect(() => opt.step(g)).toThrow(/unknown parameters: nope\. gradients for non-trainable parameters: frozen/);
    const bad = { 'proj.weight': tf.zeros([4, 3]) };
    expect(() => opt.step(bad)).toThrow(/grad \[4, 3\] vs param \[3, 4\]/);
    expect(opt.stepCount).toBe(0);
    expect(() => opt.step({}, Number.POSITIVE_INFINITY)).toThrow(/lr must/);
    expect(() =>
      opt.setState({ step: 1, params: { x: { step: 1, m: new Float32Array(1), v: new Float32Array(1) } } }),
    ).toThrow(/"x" is not a parameter/);
    expect(() =>
      opt.setState({ step: 1, params: { 'proj.bias': { step: 1, m: new Float32Array(2), v: new Float32Array(3) } } }),
    ).toThrow(/m\/v have 2\/3 values/);
    tf.dispose([...Object.values(g), ...Object.values(bad), frozen]);
    opt.dispose();
    disposeParams(params);
  });

  it('paramGrads keys gradients by state_dict name and honours the filter', async () => {
    const params = makeParams();
    const x = tf.ones([2, 4]);
    await expectNoLeak(() => {
      const { value, grads } = paramGrads(
        () => tf.sum(tf.mul(tf.add(tf.matMul(x, params['proj.weight']!, false, true), params['proj.bias']!), 2)),
        params,
        (n) => n !== 'proj.bias',
      );
      expect(Object.keys(grads)).toEqual(['proj.weight']); // norm.weight is unused, proj.bias filtered
      expect(Array.from(grads['proj.weight']!.dataSync())).toEqual(new Array(12).fill(4));
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect(() =>
      paramGrads(
        () => tf.sum(x),
        params,
        () => false,
      ),
    ).toThrow(/no trainable parameter/);
    x.dispose();
    disposeParams(params);
  });
});

describe('clipByGlobalNorm', () => {
  it('scales to the limit when above it, leaves gradients alone below it, and returns the pre-clip norm', async () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]], [1, 2]) }; // global norm 5
    await expectNoLeak(async () => {
      const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
      expect(norm.dataSync()[0]).toBeCloseTo(5, 6);
      const after = globalNorm(clipped);
      expect(Math.abs(after.dataSync()[0]! - 1)).toBeLessThan(1e-6);
      expect(Array.from(clipped['a']!.dataSync())).toEqual([expect.closeTo(0.6, 6), 0]);
      const { grads: same, norm: n2 } = clipByGlobalNorm(grads, 10);
      expect(n2.dataSync()[0]).toBeCloseTo(5, 6);
      expect(Array.from(same['b']!.dataSync())).toEqual([0, 4]);
      expect(same['b']).not.toBe(grads.b); // always new tensors
      tf.dispose([norm, after, n2, ...Object.values(clipped), ...Object.values(same)]);
    });
    const empty = globalNorm({});
    expect(empty.dataSync()[0]).toBe(0);
    expect(() => clipByGlobalNorm(grads, 0)).toThrow(/maxNorm/);
    tf.dispose([empty, ...Object.values(grads)]);
  });
});

describe('schedules', () => {
  it('are exact at the edge steps', () => {
    const c = constantSchedule(3e-4);
    expect([c(0), c(1000)]).toEqual([3e-4, 3e-4]);
    const w = warmupConstantSchedule(3e-4, 1000);
    expect(w(0)).toBe(0);
    expect(w(500)).toBe(1.5e-4);
    expect(w(999)).toBe((3e-4 * 999) / 1000);
    expect(w(1000)).toBe(3e-4);
    expect(w(50000)).toBe(3e-4);
    expect(warmupConstantSchedule(1, 0)(0)).toBe(1);
    const cos = warmupCosineSchedule({ lr: 1e-3, warmupSteps: 100, totalSteps: 1100, minLr: 1e-4 });
    expect(cos(0)).toBe(0);
    expect(cos(50)).toBe(5e-4);
    expect(cos(100)).toBe(1e-3); // warm-up end: the peak
    expect(cos(600)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 15); // half way down
    expect(cos(1100)).toBe(1e-4); // total end: the floor
    expect(cos(5000)).toBe(1e-4);
    expect(cos(1099)).toBeGreaterThan(1e-4);
    expect(warmupCosineSchedule({ lr: 1, warmupSteps: 0, totalSteps: 4 })(0)).toBe(1);
    expect(warmupCosineSchedule({ lr: 1, warmupSteps: 0, totalSteps: 4 })(4)).toBe(0);
  });

  it('reject bad arguments', () => {
    expect(() => constantSchedule(-1)).toThrow(/lr/);
    expect(() => warmupConstantSchedule(1, 1.5)).toThrow(/warmupSteps/);
    expect(() => warmupCosineSchedule({ lr: 1, warmupSteps: 10, totalSteps: 10 })).toThrow(/must exceed/);
    expect(() => warmupCosineSchedule({ lr: 1, warmupSteps: 1, totalSteps: 10, minLr: 2 })).toThrow(/minLr/);
    expect(() => warmupCosineSchedule({ lr: -1, warmupSteps: 0.5, totalSteps: 10 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        details: {
          problems: ['lr must be a finite number >= 0, got -1', 'warmupSteps must be a non-negative integer, got 0.5'],
        },
      }),
    );
    expect(() => constantSchedule(1)(-1)).toThrow(/step/);
    expect(() => constantSchedule(1)(0.5)).toThrow(/step/);
  });
});
