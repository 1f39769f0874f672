// Benchmark comparing @calm/energy-head's two GenerativeHead implementations on the wasm backend:
// the energy MLP head (one forward pass per sample) and the flow-matching head (an ODE solve, 20
// network calls per sample by default). First checks that injected noise reproduces samples
// exactly and that losses/gradients are finite, then times sampling and one training step
// (loss + gradients) with warm-up, repetitions and the median.
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/energy-heads.ts [--quick]
//   → table on stdout, JSON in results/energy-heads.json.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRng } from '@calm/core';
import { initBackend, paramGrads } from '@calm/nn';
import { EnergyHead, FlowMatchingHead, type GenerativeHead } from '@calm/energy-head';

const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 7;
const CFG = { H: 256, L: 32, blocks: 2, B: 64, N: 8, M: 100 } as const;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(fn: () => void): { median: number; min: number } {
  fn();
  fn();
  const ts: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return { median: median(ts), min: Math.min(...ts) };
}

async function main(): Promise<void> {
  const info = await initBackend({ backend: 'wasm' });
  const rng = createRng('bench-heads');
  const t = (shape: number[], mean = 0, std = 1) =>
    tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, d) => a * d, 1)), mean, std), shape);
  const hidden = t([CFG.B, CFG.H]) as tf.Tensor2D;
  const mean = t([CFG.B, CFG.L]) as tf.Tensor2D;
  const logStd = t([CFG.B, CFG.L], -1, 0.2) as tf.Tensor2D;
  const heads: GenerativeHead[] = [
    new EnergyHead(
      { hiddenSize: CFG.H, latentSize: CFG.L, numMlpLayers: CFG.blocks, numSamples: CFG.N, numTargetSamples: CFG.M },
      { rng: createRng(1) },
    ),
    new FlowMatchingHead(
      {
        hiddenSize: CFG.H,
        latentSize: CFG.L,
        numMlpLayers: CFG.blocks,
        numSamples: CFG.N,
        solver: 'midpoint',
        numSteps: 10,
      },
      { rng: createRng(2) },
    ),
    new FlowMatchingHead(
      {
        hiddenSize: CFG.H,
        latentSize: CFG.L,
        numMlpLayers: CFG.blocks,
        numSamples: CFG.N,
        solver: 'euler',
        numSteps: 4,
      },
      { rng: createRng(3) },
    ),
  ];
  // Give the zero-initialised output layers values so samples are non-trivial.
  for (const head of heads) {
    for (const [name, v] of Object.entries(head.params))
      if (/final_layer\.(linears\.2|linear)|adaLN/.test(name)) v.assign(t(v.shape, 0, 0.02));
  }
  const rows: Record<string, unknown>[] = [];
  console.log(`backend: ${info.detail}; H=${CFG.H}, l=${CFG.L}, blocks=${CFG.blocks}, B=${CFG.B} hidden states`);
  console.log('| head | sample 8/hidden: ms (min) | samples/s | GFLOP/s | loss+grads: ms (min) | MFLOP/sample |');
  console.log('|---|---|---|---|---|---|');
  for (const head of heads) {
    const label =
      head instanceof FlowMatchingHead ? `flow (${head.config.solver}, ${head.config.numSteps} steps)` : 'energy';
    // Correctness: injected noise reproduces the rng draw; loss and gradients are finite.
    const noiseShape: [number, number, number] =
      head instanceof EnergyHead ? [CFG.B, CFG.N, head.config.noiseSize] : [CFG.B, CFG.N, CFG.L];
    const draw = createRng(9);
    const noise = (
      head instanceof EnergyHead
        ? tf.tensor(draw.fillUniform(new Float32Array(noiseShape.reduce((a, d) => a * d, 1)), -0.5, 0.5), noiseShape)
        : tf.tensor(draw.fillNormal(new Float32Array(noiseShape.reduce((a, d) => a * d, 1))), noiseShape)
    ) as tf.Tensor3D;
    const a = head.sample(hidden, CFG.N, { noise });
    const b = head.sample(hidden, CFG.N, { rng: createRng(9) });
    const same = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
    if (same !== 0) throw new Error(`${label}: rng and injected noise disagree (${same})`);
    const { value, grads } = paramGrads(() => head.loss(hidden, { mean, logStd }, { rng }), head.params);
    const finite =
      Number.isFinite(value.dataSync()[0]!) && Object.values(grads).every((g) => g.dataSync().every(Number.isFinite));
    if (!finite) throw new Error(`${label}: non-finite loss or gradient`);
    tf.dispose([noise, a, b, value, ...Object.values(grads)]);

    const sampleMs = time(() => {
      const z = head.sample(hidden, CFG.N, { rng });
      z.dataSync();
      z.dispose();
    });
    const stepMs = time(() => {
      const r = paramGrads(() => head.loss(hidden, { mean, logStd }, { rng }), head.params);
      r.value.dataSync();
      tf.dispose([r.value, ...Object.values(r.grads)]);
    });
    const flops = head.flopsPerSample(CFG.N);
    const perSecond = (CFG.B * CFG.N) / (sampleMs.median / 1000);
    const row = {
      head: label,
      sampleMs,
      stepMs,
      samplesPerSecond: perSecond,
      mflopPerSample: flops / 1e6,
      gflops: (perSecond * flops) / 1e9,
    };
    rows.push(row);
    console.log(
      `| ${label} | ${sampleMs.median.toFixed(1)} (${sampleMs.min.toFixed(1)}) | ${perSecond.toFixed(0)} | ${row.gflops.toFixed(2)} | ${stepMs.median.toFixed(1)} (${stepMs.min.toFixed(1)}) | ${(flops / 1e6).toFixed(2)} |`,
    );
  }
  for (const h of heads) h.dispose();
  tf.dispose([hidden, mean, logStd]);
  mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('../results/energy-heads.json', import.meta.url),
    JSON.stringify({ backend: info, config: CFG, reps: REPS, rows }, null, 2),
  );
}

await main();
