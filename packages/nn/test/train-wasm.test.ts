import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import {
  AdamW,
  clipByGlobalNorm,
  createParams,
  disposeParams,
  embedding,
  initBackend,
  linear,
  normalInit,
  onesInit,
  paramGrads,
  rmsNorm,
  type ParamRecord,
} from '../src/index.js';
import { expectScaledClose } from '../../testing/src/nn-helpers.js';

// A tiny language model, embedding -> one causal self-attention (batched matmuls) -> RMSNorm ->
// vocabulary projection -> softmax cross-entropy, trained on the wasm backend with our kernels.
const V = 64;
const D = 16;
const T = 8;
const B = 4;

const SPECS = {
  'embed_tokens.weight': { shape: [V, D], init: normalInit(0.5) },
  'attn.q_proj.weight': { shape: [D, D], init: normalInit(0.2) },
  'attn.k_proj.weight': { shape: [D, D], init: normalInit(0.2) },
  'norm.weight': { shape: [D], init: onesInit() },
  'lm_head.weight': { shape: [V, D], init: normalInit(0.2) },
};

function batch(seed: number): { ids: Int32Array; targets: Int32Array } {
  // Each sequence counts upward modulo V from a random start: learnable next-token structure.
  const rng = createRng(seed);
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = rng.int(V);
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = (start + t) % V;
      targets[b * T + t] = (start + t + 1) % V;
    }
  }
  return { ids, targets };
}

function loss(params: ParamRecord, ids: Int32Array, targets: Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const x = embedding(params, 'embed_tokens.weight', tf.tensor(ids, [B, T], 'int32')); // [B, T, D]
    const q = linear(params, 'attn.q_proj', x); // [B, T, D]
    const k = linear(params, 'attn.k_proj', x); // [B, T, D]
    const scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(D)); // [B, T, T]
    const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // lower triangle
    const masked = tf.add(scores, tf.mul(tf.sub(1, causal), -1e9));
    const h = tf.add(x, tf.matMul(tf.softmax(masked), x)); // [B, T, D]
    const logits = linear(params, 'lm_head', rmsNorm(params, 'norm', h, 1e-6)); // [B, T, V]
    const logp = tf.logSoftmax(logits); // [B, T, V]
    const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor(targets, [B, T], 'int32'), V)), -1); // [B, T]
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}

async function gradsOn(backend: string): Promise<{ value: number; grads: Record<string, Float32Array> }> {
  await tf.setBackend(backend);
  const params = createParams(SPECS, createRng(42));
  const { ids, targets } = batch(1);
  const { value, grads } = paramGrads(() => loss(params, ids, targets), params);
  const out = {
    value: value.dataSync()[0]!,
    grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Float32Array.from(g.dataSync())])),
  };
  tf.dispose([value, ...Object.values(grads)]);
  disposeParams(params);
  return out;
}

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  await initBackend({ backend: 'wasm' });
});

describe('a tiny model on the wasm backend', () => {
  it('has the same loss and gradients as on the cpu backend (1e-5)', async () => {
    const wasm = await gradsOn('wasm');
    const cpu = await gradsOn('cpu');
    expect(Math.abs(wasm.value - cpu.value)).toBeLessThan(1e-5 * Math.abs(cpu.value));
    expect(Object.keys(wasm.grads).sort()).toEqual(Object.keys(SPECS).sort());
    for (const k of Object.keys(cpu.grads)) expectScaledClose(wasm.grads[k]!, cpu.grads[k]!, 1e-5, k);
  });

  it('trains: the loss falls, with no tensor leaked per step', async () => {
    await tf.setBackend('wasm');
    const params = createParams(SPECS, createRng(42));
    const opt = new AdamW(params, { lr: 2e-2, beta2: 0.95, weightDecay: 0.1 });
    const losses: number[] = [];
    let live = 0;
    for (let step = 0; step < 40; step++) {
      const { ids, targets } = batch(100 + step);
      const { value, grads } = paramGrads(() => loss(params, ids, targets), params);
      const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
      opt.step(clipped);
      losses.push(value.dataSync()[0]!);
      tf.dispose([value, norm, ...Object.values(grads), ...Object.values(clipped)]);
      if (step === 1) live = tf.memory().numTensors;
      if (step > 1) expect(tf.memory().numTensors).toBe(live);
    }
    const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(first).toBeGreaterThan(Math.log(V) * 0.8); // starts near chance
    expect(last).toBeLessThan(first * 0.5);
    opt.dispose();
    disposeParams(params);
  });
});
