// The API examples of @calm/nn: each `#region` is included into a TSDoc `@example` with
// `{@includeCode}`, so the documented code is the code that runs here. Tiny shapes; the wasm
// backend, as users run it. Assertions stay outside the regions.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, parseSafetensors, serializeSafetensors, type CalmError } from '@calm/core';
import { expectNoLeak } from '@calm/testing/tfjs';
import {
  AdamW,
  adoptParams,
  cachedSelfAttention,
  causalSelfAttention,
  clipByGlobalNorm,
  crossEntropy,
  globalNorm,
  constantSchedule,
  countParams,
  createParams,
  disposeParams,
  embedding,
  initBackend,
  layerNorm,
  linear,
  loadParams,
  loadTensors,
  namedArraysToOptimizerState,
  namedArraysToTensors,
  normalInit,
  onesInit,
  fusedKernelsActive,
  optimizerStateToNamedArrays,
  pairwiseDistanceMeans,
  paramGrads,
  paramsToNamedArrays,
  rmsNorm,
  saveParams,
  swiGlu,
  swiGluMlp,
  trainStep,
  trainableVariables,
  warmupConstantSchedule,
  warmupCosineSchedule,
  zerosInit,
  type BackendInfo,
  type ParamRecord,
  type ParamSpec,
} from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'calm-nn-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let info: BackendInfo;
beforeAll(async () => {
  // #region backend
  // import { initBackend } from '@calm/nn';
  info = await initBackend({ backend: 'wasm' }); // the default; or 'tensorflow', 'webgpu', 'cpu', or CALM_BACKEND=...
  info.detail; // one line for your logs, e.g. 'wasm (tfjs 4.22.0, SIMD, 1 thread, training kernels; default)'
  // #endregion backend
});

/** A two-layer toy model: embedding [V = 10, d = 4], norm, SwiGLU MLP (I = 8), projection to V. */
const SPECS: Record<string, ParamSpec> = {
  'embed.weight': { shape: [10, 4], init: normalInit(0.02) },
  'norm.weight': { shape: [4], init: onesInit() },
  'mlp.gate_proj.weight': { shape: [8, 4], init: normalInit(0.02) },
  'mlp.up_proj.weight': { shape: [8, 4], init: normalInit(0.02) },
  'mlp.down_proj.weight': { shape: [4, 8], init: normalInit(0.02) },
  'head.weight': { shape: [10, 4], init: normalInit(0.02) },
  'head.bias': { shape: [10], init: zerosInit() },
};
const toyParams = (seed: number): ParamRecord => createParams(SPECS, createRng(seed));

describe('@calm/nn examples', () => {
  it('README quick start: parameters by name, a loss, training steps', async () => {
    // #region readme
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { AdamW, createParams, crossEntropy, initBackend, linear, normalInit, trainStep, zerosInit } from '@calm/nn';
    const info = await initBackend(); // wasm with @calm/nn's training kernels, unless CALM_BACKEND says otherwise
    const specs = {
      'proj.weight': { shape: [3, 8], init: normalInit(0.02) }, // [out, in], as torch's nn.Linear
      'proj.bias': { shape: [3], init: zerosInit() },
    };
    const params = createParams(specs, createRng(1)); // tf.Variables keyed by state_dict names, seeded
    const x = tf.randomNormal([12, 8], 0, 1, 'float32', 2) as tf.Tensor2D; // [N, 8] float32
    const labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32'); // [N] int32
    const opt = new AdamW(params, { lr: 1e-2, beta2: 0.95, weightDecay: 0.1 });
    const lossFn = () => crossEntropy(linear(params, 'proj', x) as tf.Tensor2D, labels); // mean over N, in nats
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const { loss, gradNorm } = trainStep(opt, params, [lossFn]); // gradients, clipping at 1.0, AdamW
      if (step % 10 === 9) losses.push((await loss.data())[0]!); // reading a scalar syncs the device: log rarely
      tf.dispose([loss, gradNorm]);
    }
    // #endregion readme
    expect(info.detail).toContain(info.name);
    expect(losses[1]!).toBeLessThan(losses[0]!);
    tf.dispose([x, labels]);
    opt.dispose();
    disposeParams(params);
  });

  it('initialises the backend with its training kernels', () => {
    expect(info.name).toBe('wasm');
    expect(info.kernelsPatched).toBe(true);
    expect(info.detail).toMatch(/^wasm \(tfjs 4\.22\.0/);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('creates seeded named parameters', () => {
    // #region params
    // import { createRng } from '@calm/core';
    // import { countParams, createParams, disposeParams, normalInit, onesInit, trainableVariables, zerosInit } from '@calm/nn';
    const params = createParams(
      {
        'embed_tokens.weight': { shape: [10, 4], init: normalInit(0.02, { zeroRows: [9] }) }, // row 9 = PAD
        'norm.weight': { shape: [4], init: onesInit() },
        'proj.weight': { shape: [6, 4], init: normalInit(0.02) }, // PyTorch layout [out, in]
        'proj.bias': { shape: [6], init: zerosInit(), trainable: false },
      },
      createRng(1), // equal seeds give bit-identical weights on every backend
    );
    countParams(params); // 40 + 4 + 24 + 6 = 74
    trainableVariables(params).length; // 3: the varList for tf.variableGrads
    disposeParams(params);
    // #endregion params
    expect(countParams(params)).toBe(74);
    expect(trainableVariables(params)).toHaveLength(3);
    expect(params['norm.weight']!.isDisposed).toBe(true);
  });

  it('adopts existing parameters, reporting every problem at once', () => {
    const loaded = createParams(
      {
        'head.fc.weight': { shape: [6, 4], init: normalInit(0.02) },
        'head.fc.bias': { shape: [6], init: zerosInit() },
        'other.weight': { shape: [2], init: onesInit() },
      },
      createRng(2),
    );
    // #region adopt-params
    // import { adoptParams } from '@calm/nn';
    // loaded: variables by name, e.g. from loadParams or another model (a superset is fine)
    const specs = { 'head.fc.weight': { shape: [6, 4] }, 'head.fc.bias': { shape: [6] } }; // or a ParamSpec record
    const head = adoptParams(specs, loaded, 'MyHead'); // the same variables, keyed and ordered as `specs`
    let message = '';
    try {
      adoptParams({ ...specs, 'head.out.weight': { shape: [2, 6] } }, loaded, 'MyHead', {
        hint: 'check the head prefix.',
      });
    } catch (e) {
      message = (e as Error).message; // MISSING_PARAMETER: '[@calm/nn] MyHead: 1 parameter(s) missing: head.out.weight. check the head prefix.'
    }
    // #endregion adopt-params
    expect(Object.keys(head)).toEqual(['head.fc.weight', 'head.fc.bias']);
    expect(head['head.fc.bias']).toBe(loaded['head.fc.bias']);
    expect(message).toMatch(/MyHead: 1 parameter\(s\) missing: head\.out\.weight\. check the head prefix\./);
    disposeParams(loaded);
  });

  it('adoptParams lists every missing name and every shape, dtype and type problem in one error', () => {
    const ok = tf.variable(tf.zeros([2, 3]));
    const wrongShape = tf.variable(tf.zeros([3, 2]));
    const wrongDtype = tf.variable(tf.zeros([4], 'int32'));
    const plain = tf.zeros([5]);
    const specs = {
      a: { shape: [2, 3] },
      b: { shape: [2, 3] },
      c: { shape: [4] },
      d: { shape: [5] },
      e: { shape: [1] },
      f: { shape: [1] },
    };
    const given = { a: ok, b: wrongShape, c: wrongDtype, d: plain };
    let err: CalmError | undefined;
    try {
      adoptParams(specs, given, 'Thing');
    } catch (e) {
      err = e as CalmError;
    }
    expect(err?.code).toBe('MISSING_PARAMETER');
    expect(err?.details).toEqual({
      missing: ['e', 'f'],
      shapes: ['"b" is [3, 2], expected [2, 3]'],
      dtypes: ['"c" is int32, expected float32'],
      notVariables: ['d'],
    });
    expect(err?.message).toMatch(/2 parameter\(s\) missing: e, f\. 1 with the wrong shape/);
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as CalmError).code;
      }
      return undefined;
    };
    expect(codeOf(() => adoptParams({ b: specs.b }, given, 'Thing'))).toBe('SHAPE_MISMATCH');
    expect(codeOf(() => adoptParams({ c: specs.c }, given, 'Thing'))).toBe('DTYPE_UNSUPPORTED');
    expect(codeOf(() => adoptParams({ d: specs.d }, given, 'Thing'))).toBe('INVALID_ARGUMENT');
    expect(adoptParams({ d: specs.d }, given, 'Thing', { requireVariables: false }).d).toBe(plain);
    tf.dispose([ok, wrongShape, wrongDtype, plain]);
  });

  it('runs the layers as pure functions of a parameter record', async () => {
    const params = toyParams(2);
    await expectNoLeak(() => {
      // #region layers
      // import * as tf from '@tensorflow/tfjs';
      // import { embedding, layerNorm, linear, rmsNorm, swiGluMlp } from '@calm/nn';
      // params: a ParamRecord with 'embed.weight' [V = 10, d = 4], 'norm.weight' [d], 'mlp.*_proj.weight' and 'head.weight' [V, d] (+ bias), float32
      const logits = tf.tidy(() => {
        const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32'); // [B, S] int32
        const h = embedding(params, 'embed.weight', ids); // [B, S, d] float32
        const n = rmsNorm(params, 'norm', h, 1e-6); // [B, S, d]
        const m = tf.add(h, swiGluMlp(params, 'mlp', n)); // residual, [B, S, d]
        return linear(params, 'head', m); // [B, S, V] float32
      });
      logits.shape; // [1, 3, 10]
      logits.dispose();
      // #endregion layers
      expect(logits.shape).toEqual([1, 3, 10]);
    });
    const p = createParams(
      { 'ln.weight': { shape: [4], init: onesInit() }, 'ln.bias': { shape: [4], init: zerosInit() } },
      createRng(0),
    );
    const y = layerNorm(p, 'ln', tf.tensor2d([[1, 2, 3, 4]]), 1e-6);
    expect(Math.abs((await tf.mean(y).data())[0]!)).toBeLessThan(1e-6);
    tf.dispose([y]);
    disposeParams(p);
    disposeParams(params);
  });

  it('takes training steps: gradients by name, clipping, AdamW, a schedule', async () => {
    const params = toyParams(3);
    const ids = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
    const labels = tf.tensor1d([2, 3, 4, 5], 'int32');
    const losses: number[] = [];
    // #region train-step
    // import * as tf from '@tensorflow/tfjs';
    // import { AdamW, crossEntropy, embedding, linear, trainStep, warmupCosineSchedule } from '@calm/nn';
    // params: as in the layers example; ids [1, 4] int32; labels [4] int32
    const opt = new AdamW(params, { lr: 1e-2, beta2: 0.95, weightDecay: 0.1 }); // CALM's betas and decay
    const schedule = warmupCosineSchedule({ lr: 1e-2, warmupSteps: 2, totalSteps: 20 });
    const lossFn = (): tf.Scalar =>
      crossEntropy(tf.reshape(linear(params, 'head', embedding(params, 'embed.weight', ids)), [4, 10]), labels);
    for (let step = 0; step < 5; step++) {
      // Two micro-batches (here the same one twice): gradients summed, divided by 2, clipped at 1.0, AdamW.
      const { loss, gradNorm } = trainStep(opt, params, [lossFn, lossFn], {
        lr: schedule(opt.stepCount),
        maxGradNorm: 1,
      });
      losses.push((await loss.data())[0]!); // read scalars at log intervals only: it syncs the device
      tf.dispose([loss, gradNorm]);
    }
    opt.dispose();
    // #endregion train-step
    expect(losses[4]!).toBeLessThan(losses[0]!);
    tf.dispose([ids, labels]);
    disposeParams(params);
  });

  it('takes gradients by name and clips them to a global norm', () => {
    const params = toyParams(4);
    const ids = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
    const labels = tf.tensor1d([2, 3, 4, 5], 'int32');
    // #region gradients
    // import * as tf from '@tensorflow/tfjs';
    // import { clipByGlobalNorm, crossEntropy, embedding, globalNorm, linear, paramGrads } from '@calm/nn';
    const lossFn = (): tf.Scalar =>
      crossEntropy(tf.reshape(linear(params, 'head', embedding(params, 'embed.weight', ids)), [4, 10]), labels);
    const { value, grads } = paramGrads(lossFn, params); // grads keyed by state_dict name, like params
    const norm = globalNorm(grads); // √(Σ‖g‖²), a float32 scalar
    const clipped = clipByGlobalNorm(grads, 0.5); // torch's clip_grad_norm_: scaled so the norm is ≤ 0.5
    // #endregion gradients
    expect(Object.keys(grads)).toEqual(expect.arrayContaining(['embed.weight', 'head.weight', 'head.bias']));
    expect(globalNorm(clipped.grads).dataSync()[0]!).toBeLessThanOrEqual(0.5 + 1e-5);
    expect(clipped.norm.dataSync()[0]).toBeCloseTo(norm.dataSync()[0]!, 5);
    tf.dispose([ids, labels, value, norm, clipped.norm, ...Object.values(grads), ...Object.values(clipped.grads)]);
    disposeParams(params);
  });

  it('computes the cross-entropy of logits against labels', () => {
    // #region cross-entropy
    // import * as tf from '@tensorflow/tfjs';
    // import { crossEntropy } from '@calm/nn';
    const logits = tf.tensor2d([
      [2, 0, -1],
      [0, 0, 0],
    ]); // [N, V] float32
    const labels = tf.tensor1d([0, 2], 'int32'); // [N] int32
    const ce = crossEntropy(logits, labels); // mean over N of logsumexp(x) − x[label], in nats
    const grad = tf.grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor2D, labels))(logits); // (softmax − onehot) / N
    // #endregion cross-entropy
    const expected = (Math.log(Math.exp(2) + 1 + Math.exp(-1)) - 2 + Math.log(3)) / 2;
    expect(ce.dataSync()[0]).toBeCloseTo(expected, 5);
    expect(grad.shape).toEqual([2, 3]);
    tf.dispose([logits, labels, ce, grad]);
  });

  it('runs the fused ops', () => {
    // #region fused-ops
    // import * as tf from '@tensorflow/tfjs';
    // import { fusedKernelsActive, pairwiseDistanceMeans, swiGlu } from '@calm/nn';
    fusedKernelsActive(); // true on wasm after initBackend(): the ops below run as fused kernels
    const gateUp = tf.tensor2d([[1, -2, 3, 0.5]]); // [N = 1, 2h = 4]: gate [1, -2], up [3, 0.5]
    const gated = swiGlu(gateUp); // [1, 2]: silu(gate) · up
    const x = tf.tensor3d([
      [
        [0, 0],
        [3, 4],
      ],
    ]); // [B = 1, N = 2, L = 2]
    const y = tf.tensor3d([[[0, 0]]]); // [B = 1, M = 1, L = 2]
    const { cross, self } = pairwiseDistanceMeans(x, y, 1); // [1] each: mean ‖x − y‖ = 2.5, mean ‖x − x′‖ = 5
    // #endregion fused-ops
    const silu = (v: number) => v / (1 + Math.exp(-v));
    expect(Array.from(gated.dataSync())[0]).toBeCloseTo(silu(1) * 3, 5);
    expect(fusedKernelsActive()).toBe(true);
    expect(cross.dataSync()[0]).toBeCloseTo(2.5, 5);
    expect(self.dataSync()[0]).toBeCloseTo(5, 5);
    tf.dispose([gateUp, gated, x, y, cross, self]);
  });

  it('runs causal self-attention over a fused projection', () => {
    // #region attention
    // import * as tf from '@tensorflow/tfjs';
    // import { causalSelfAttention } from '@calm/nn';
    const [b, t, heads, kvHeads, d] = [2, 5, 4, 2, 8];
    const qkv = tf.randomNormal([b, t, (heads + 2 * kvHeads) * d]) as tf.Tensor3D; // q heads | k heads | v heads
    const out = causalSelfAttention(qkv, { numHeads: heads, numKvHeads: kvHeads }); // [2, 5, 32], heads merged
    // #endregion attention
    expect(out.shape).toEqual([b, t, heads * d]);
    tf.dispose([qkv, out]);
  });

  it('decodes with a key/value cache', () => {
    // #region cached-attention
    // import * as tf from '@tensorflow/tfjs';
    // import { cachedSelfAttention } from '@calm/nn';
    const [b, heads, d, capacity] = [1, 2, 4, 16];
    const cache = { keys: tf.zeros([b, heads, capacity, d]), values: tf.zeros([b, heads, capacity, d]) } as {
      keys: tf.Tensor4D;
      values: tf.Tensor4D;
    };
    const prompt = tf.randomNormal([b, 5, 3 * heads * d]) as tf.Tensor3D; // q|k|v of 5 positions
    const first = cachedSelfAttention(prompt, cache, 0, { numHeads: heads }); // [1, 5, 8]; positions 0–4 cached
    const next = tf.randomNormal([b, 1, 3 * heads * d]) as tf.Tensor3D; // one more position
    const out = cachedSelfAttention(next, cache, 5, { numHeads: heads }); // [1, 1, 8], attends positions 0–5
    // #endregion cached-attention
    expect(out.shape).toEqual([1, 1, 8]);
    tf.dispose([cache.keys, cache.values, prompt, first, next, out]);
  });

  it('evaluates learning-rate schedules', () => {
    // #region schedules
    // import { constantSchedule, warmupConstantSchedule, warmupCosineSchedule } from '@calm/nn';
    const cosine = warmupCosineSchedule({ lr: 3e-4, warmupSteps: 100, totalSteps: 1000, minLr: 3e-5 });
    cosine(0); // 0: warm-up starts from zero
    cosine(100); // 3e-4, the peak
    cosine(1000); // 3e-5 from totalSteps on
    warmupConstantSchedule(3e-4, 100)(50); // 1.5e-4
    constantSchedule(3e-4)(12345); // 3e-4
    // #endregion schedules
    expect(cosine(0)).toBe(0);
    expect(cosine(100)).toBeCloseTo(3e-4, 12);
    expect(cosine(1000)).toBeCloseTo(3e-5, 12);
    expect(warmupConstantSchedule(3e-4, 100)(50)).toBeCloseTo(1.5e-4, 12);
    expect(constantSchedule(3e-4)(12345)).toBe(3e-4);
  });

  it('saves and loads parameters as safetensors checkpoints', async () => {
    const params = toyParams(4);
    const dir = join(tmp, 'ckpt');
    // #region checkpoint
    // import { loadParams, loadTensors, saveParams } from '@calm/nn';
    // params: a ParamRecord created from SPECS (parameter specs by name), as in the createParams example
    await saveParams(join(dir, 'model.safetensors'), params, { format: 'pt' }, { floatDtype: 'BF16' });
    const restored = createParams(SPECS, createRng(5)); // same names and shapes, other values
    const report = await loadParams(dir, restored); // a folder finds model.safetensors (or pytorch_model.bin)
    report.loaded.length; // 7; strict loading throws on missing or unexpected keys instead
    const { tensors } = await loadTensors(dir, { ignore: [/^head\./] }); // new tensors, caller disposes
    Object.keys(tensors); // the five non-head tensors
    tf.dispose(Object.values(tensors));
    // #endregion checkpoint
    expect(report.loaded).toHaveLength(7);
    expect(report.metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors)).toHaveLength(5);
    const a = await params['norm.weight']!.data();
    expect(Array.from(await restored['norm.weight']!.data())).toEqual(Array.from(a)); // ones survive BF16
    disposeParams(params);
    disposeParams(restored);
  });

  it('moves tensors to and from named arrays without the file system', async () => {
    const params = toyParams(6);
    // #region named-arrays
    // import { serializeSafetensors, parseSafetensors } from '@calm/core';
    // import { namedArraysToTensors, paramsToNamedArrays } from '@calm/nn';
    // params: any named tensors (float32, int32 or bool)
    const arrays = await paramsToNamedArrays(params, { floatDtype: 'F16' }); // host copies, stored as F16
    const bytes = serializeSafetensors(arrays); // browser-safe: no node:fs
    const copies = namedArraysToTensors(parseSafetensors(bytes).tensors); // float32 tensors again
    copies['embed.weight']!.shape; // [10, 4]
    tf.dispose(Object.values(copies));
    // #endregion named-arrays
    expect(copies['embed.weight']!.shape).toEqual([10, 4]);
    expect(copies['embed.weight']!.dtype).toBe('float32');
    disposeParams(params);
  });

  it('exports and restores the optimiser state bit-exactly', () => {
    const params = toyParams(7);
    const grads = { 'head.bias': tf.fill([10], 0.5) };
    // #region optimizer-state
    // import { parseSafetensors, serializeSafetensors } from '@calm/core';
    // import { AdamW, namedArraysToOptimizerState, optimizerStateToNamedArrays } from '@calm/nn';
    // params: a ParamRecord; grads: gradients by parameter name, float32
    const opt = new AdamW(params, { lr: 1e-3 });
    opt.step(grads);
    const bytes = serializeSafetensors(optimizerStateToNamedArrays(opt.getState(), params)); // exp_avg, exp_avg_sq, step
    const resumed = new AdamW(params, { lr: 1e-3 });
    resumed.setState(namedArraysToOptimizerState(parseSafetensors(bytes).tensors));
    resumed.stepCount; // 1: the next update continues exactly where `opt` stopped
    // #endregion optimizer-state
    expect(resumed.stepCount).toBe(1);
    expect(resumed.getState()).toEqual(opt.getState());
    opt.dispose();
    resumed.dispose();
    tf.dispose(Object.values(grads));
    disposeParams(params);
  });
});
