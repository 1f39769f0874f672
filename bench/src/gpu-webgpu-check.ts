// GPU path check for @calm/nn's `webgpu` backend (Dawn through the `webgpu` package): on a machine
// with a GPU it (1) checks a small embedding + linear + softmax-CE model's loss and gradients on
// webgpu against the cpu backend, then (2) times square matmuls and a tiny training step.
// Prints a table and writes JSON (bench/results/gpu-webgpu-check.json, or $OUT when set).
//
//   cd bench && pnpm exec tsx --conditions=@calm/source src/gpu-webgpu-check.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng } from '@calm/core';
import {
  AdamW,
  createParams,
  embedding,
  initBackend,
  linear,
  normalInit,
  paramGrads,
  rmsNorm,
  onesInit,
  swiGluMlp,
  zerosInit,
  type ParamRecord,
} from '@calm/nn';

const V = 512;
const D = 128;
const B = 16;
const T = 64;

function model(params: ParamRecord, ids: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    let h = embedding(params, 'embed.weight', ids); // [B, T, D]
    h = tf.add(h, swiGluMlp(params, 'mlp', rmsNorm(params, 'norm', h, 1e-6)));
    const logits = linear(params, 'out', h).reshape([B * T, V]); // [B·T, V]
    return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, V), logits) as tf.Scalar;
  });
}

async function lossAndGrads(params: ParamRecord, ids: Int32Array, labels: Int32Array) {
  const idsT = tf.tensor2d(ids, [B, T], 'int32');
  const labT = tf.tensor1d(labels, 'int32');
  const { value, grads } = paramGrads(() => model(params, idsT, labT), params);
  const out = {
    loss: (await value.data())[0]!,
    grads: Object.fromEntries(
      await Promise.all(Object.entries(grads).map(async ([k, g]) => [k, await g.data()] as const)),
    ),
  };
  tf.dispose([idsT, labT, value, ...Object.values(grads)]);
  return out;
}

const rng = createRng(0);
const specs = {
  'embed.weight': { shape: [V, D], init: normalInit(0.02) },
  'norm.weight': { shape: [D], init: onesInit() },
  'mlp.gate_proj.weight': { shape: [4 * D, D], init: normalInit(0.02) },
  'mlp.up_proj.weight': { shape: [4 * D, D], init: normalInit(0.02) },
  'mlp.down_proj.weight': { shape: [D, 4 * D], init: normalInit(0.02) },
  'out.weight': { shape: [V, D], init: normalInit(0.02) },
  'out.bias': { shape: [V], init: zerosInit() },
};
const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
const labels = Int32Array.from({ length: B * T }, () => rng.int(V));

const info = await initBackend({ backend: 'webgpu' });
const params = createParams(specs, createRng(1));
const gpu = await lossAndGrads(params, ids, labels);
await tf.setBackend('cpu');
const paramsCpu = createParams(specs, createRng(1));
const cpu = await lossAndGrads(paramsCpu, ids, labels);
let maxGradDiff = 0;
for (const [k, g] of Object.entries(gpu.grads)) {
  const c = cpu.grads[k]!;
  let scale = 0;
  for (let i = 0; i < c.length; i++) scale = Math.max(scale, Math.abs(c[i]!));
  for (let i = 0; i < c.length; i++) maxGradDiff = Math.max(maxGradDiff, Math.abs(g[i]! - c[i]!) / (scale || 1));
}
const lossDiff = Math.abs(gpu.loss - cpu.loss);
const ok = lossDiff < 1e-4 && maxGradDiff < 1e-3;
console.log(`backend: ${info.detail}`);
console.log(
  `loss webgpu ${gpu.loss.toFixed(6)} vs cpu ${cpu.loss.toFixed(6)} (|diff| ${lossDiff.toExponential(2)}); max relative grad diff ${maxGradDiff.toExponential(2)} → ${ok ? 'OK' : 'MISMATCH'}`,
);
if (!ok) process.exitCode = 1;

await tf.setBackend('webgpu');
const timings: Record<string, number> = {};
for (const n of [512, 1024, 2048, 4096]) {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  for (let i = 0; i < 3; i++) tf.matMul(a, b).dispose();
  await tf.matMul(a, b).data();
  const reps = n >= 4096 ? 5 : 20;
  const t0 = performance.now();
  let last: tf.Tensor | undefined;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = tf.matMul(a, b);
  }
  await last!.data();
  const ms = (performance.now() - t0) / reps;
  timings[`matmul_${n}_gflops`] = (2 * n ** 3) / (ms * 1e6);
  tf.dispose([a, b, last!]);
}
const opt = new AdamW(params, { lr: 1e-3 });
const idsT = tf.tensor2d(ids, [B, T], 'int32');
const labT = tf.tensor1d(labels, 'int32');
const step = async () => {
  const { value, grads } = paramGrads(() => model(params, idsT, labT), params);
  opt.step(grads);
  const l = (await value.data())[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return l;
};
const first = await step();
await step();
const t0 = performance.now();
let lossNow = first;
for (let i = 0; i < 20; i++) lossNow = await step();
timings.train_step_ms = (performance.now() - t0) / 20;
console.log(
  `train: loss ${first.toFixed(4)} → ${lossNow.toFixed(4)} after 22 AdamW steps; ${timings.train_step_ms.toFixed(2)} ms/step`,
);
for (const [k, v] of Object.entries(timings)) console.log(`${k.padEnd(24)} ${v.toFixed(1)}`);
const outDir = process.env.OUT ?? join(import.meta.dirname, '..', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, 'gpu-webgpu-check.json'),
  JSON.stringify(
    {
      backend: info,
      lossDiff,
      maxGradDiff,
      ok,
      lossFirst: first,
      lossAfter: lossNow,
      timings,
      tfjs: tf.version.tfjs,
      node: process.version,
    },
    null,
    2,
  ),
);
process.exit(process.exitCode ?? 0);
