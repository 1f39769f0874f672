// Benchmark of @calm/energy-head's energy score: pairwise distances through matrix products
// ('matmul', memory O(B·N·M)) against materialised differences ('direct', memory O(B·N·M·L)),
// forward and forward + backward, on the wasm backend with @calm/nn's kernels. First checks that
// both methods agree (loss and gradient), then times them (warm-up, repetitions, median).
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/energy-score.ts [--quick]
//   → table on stdout, JSON in results/energy-score.json.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRng } from '@calm/core';
import { initBackend } from '@calm/nn';
import { posteriorEnergyLoss, type DistanceMethod } from '@calm/energy-head';

const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Largest [B, N, M, L] float32 difference tensor the direct method may allocate. */
const DIRECT_LIMIT_BYTES = 600 * 2 ** 20;

interface Case {
  name: string;
  B: number;
  N: number;
  M: number;
  L: number;
}

const CASES: Case[] = [
  { name: 'tiny (fixture-like)', B: 16, N: 4, M: 6, L: 8 },
  { name: 'small', B: 64, N: 8, M: 16, L: 32 },
  { name: 'CALM N=8 M=100 l=128, 64 positions', B: 64, N: 8, M: 100, L: 128 },
  { name: 'CALM N=8 M=100 l=128, 256 positions', B: 256, N: 8, M: 100, L: 128 },
  { name: 'CALM N=8 M=100 l=128, 1024 positions', B: 1024, N: 8, M: 100, L: 128 },
];

function inputs(c: Case) {
  const rng = createRng(`bench-${c.name}`);
  const t = (shape: number[], mean = 0, std = 1) =>
    tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, d) => a * d, 1)), mean, std), shape);
  return {
    samples: t([c.B, c.N, c.L]) as tf.Tensor3D,
    mean: t([c.B, c.L], 0.1) as tf.Tensor2D,
    logStd: t([c.B, c.L], -1, 0.2) as tf.Tensor2D,
    eps: t([c.B, c.M, c.L]) as tf.Tensor3D,
  };
}

function run(
  method: DistanceMethod,
  backward: boolean,
  x: ReturnType<typeof inputs>,
): { loss: number; grad?: Float32Array } {
  const f = (s: tf.Tensor) =>
    posteriorEnergyLoss(s as tf.Tensor3D, { mean: x.mean, logStd: x.logStd }, { targetNoise: x.eps, method });
  if (!backward) {
    const l = f(x.samples);
    const v = l.dataSync()[0]!;
    l.dispose();
    return { loss: v };
  }
  const { value, grad } = tf.valueAndGrad(f)(x.samples);
  const out = { loss: value.dataSync()[0]!, grad: grad.dataSync() as Float32Array };
  tf.dispose([value, grad]);
  return out;
}

function time(fn: () => void): number {
  fn(); // warm-up
  fn();
  const ts: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

async function main(): Promise<void> {
  const info = await initBackend({ backend: 'wasm' });
  const rows: Record<string, unknown>[] = [];
  console.log(`backend: ${JSON.stringify(info)}`);
  console.log('| case | B·N·M·L | method | agree (loss, max |Δgrad|) | forward ms | fwd+bwd ms |');
  console.log('|---|---|---|---|---|---|');
  for (const c of CASES) {
    const x = inputs(c);
    const directBytes = c.B * c.N * c.M * c.L * 4;
    const directOk = directBytes <= DIRECT_LIMIT_BYTES;
    // Correctness first.
    const a = run('matmul', true, x);
    let agree = 'direct skipped (memory)';
    if (directOk) {
      const b = run('direct', true, x);
      let maxDiff = 0;
      for (let i = 0; i < a.grad!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.grad![i]! - b.grad![i]!));
      const relLoss = Math.abs(a.loss - b.loss) / Math.max(1, Math.abs(b.loss));
      if (!(relLoss < 1e-5) || !(maxDiff < 1e-5))
        throw new Error(`${c.name}: matmul and direct disagree (loss ${a.loss} vs ${b.loss}, grad ${maxDiff})`);
      agree = `${relLoss.toExponential(1)}, ${maxDiff.toExponential(1)}`;
    }
    for (const method of ['matmul', 'direct'] as const) {
      if (method === 'direct' && !directOk) {
        rows.push({
          case: c.name,
          ...c,
          method,
          skipped: `needs ${(directBytes / 2 ** 20).toFixed(0)} MiB for the differences`,
        });
        console.log(
          `| ${c.name} | ${(c.B * c.N * c.M * c.L).toExponential(2)} | direct | — | skipped (${(directBytes / 2 ** 20).toFixed(0)} MiB) | — |`,
        );
        continue;
      }
      const fwd = time(() => run(method, false, x));
      const both = time(() => run(method, true, x));
      rows.push({ case: c.name, ...c, method, forwardMs: fwd, forwardBackwardMs: both, agree });
      console.log(
        `| ${c.name} | ${(c.B * c.N * c.M * c.L).toExponential(2)} | ${method} | ${agree} | ${fwd.toFixed(2)} | ${both.toFixed(2)} |`,
      );
    }
    tf.dispose(Object.values(x));
  }
  mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('../results/energy-score.json', import.meta.url),
    JSON.stringify({ backend: info, reps: REPS, rows }, null, 2),
  );
}

await main();
