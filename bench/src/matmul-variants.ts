// The wasm backend's matrix product (`BatchMatMul` of @calm/nn, one thread) with its two gemm
// variants — multiply then add (fixed-width SIMD) and fused multiply-add (relaxed SIMD's
// f32x4.relaxed_madd) — at the quickstart's shapes (the CALM, AR and autoencoder train steps' largest
// products): first each variant against a float64 product, then GFLOP/s timed interleaved
// (plain, fma, plain, fma, …) in this process.
//
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/matmul-variants.ts [--reps 9] [--ms 150]
//   → a table on stdout, JSON in results/matmul-variants.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@calm/nn';
// Package-internal: which gemm variant the kernel module is built with (same module instance as the
// one @calm/nn's source resolves to).
import {
  forceGemmVariant,
  type GemmVariant,
  relaxedSimdSupported,
} from '../../packages/nn/src/internal/simd/features.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const REPS = Number(arg('reps', '9'));
const MIN_MS = Number(arg('ms', '150')); // each timed sample repeats the product for at least this long
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Shape {
  label: string;
  a: [number, number];
  b: [number, number];
  tA: boolean;
  tB: boolean;
}
const S = (label: string, a: [number, number], b: [number, number], tA = false, tB = false): Shape => ({
  label,
  a,
  b,
  tA,
  tB,
});
// From `train-step-profile.ts --detail BatchMatMul` at the quickstart shape.
const SHAPES: Shape[] = [
  S('CALM attn proj x·Wᵀ', [2016, 128], [128, 128], false, true),
  S('CALM attn proj dy·W', [2016, 128], [128, 128]),
  S('CALM attn proj xᵀ·dy', [2016, 128], [2016, 128], true),
  S('CALM mlp up x·Wᵀ', [504, 128], [640, 128], false, true),
  S('CALM mlp up dy·W', [504, 640], [640, 128]),
  S('CALM mlp up dyᵀ·x', [504, 640], [504, 128], true),
  S('CALM head x·Wᵀ (k 32)', [2016, 32], [128, 32], false, true),
  S('AR mlp up x·Wᵀ', [2040, 128], [640, 128], false, true),
  S('AR mlp up dy·W', [2040, 640], [640, 128]),
  S('AR mlp up dyᵀ·x', [2040, 640], [2040, 128], true),
  S('AR mlp down x·Wᵀ', [2040, 320], [128, 320], false, true),
  S('AE up x·Wᵀ (n 512)', [2048, 64], [512, 64], false, true),
  S('AE dyᵀ·x (n 64)', [2048, 512], [2048, 64], true),
  S('AE dy·W (n 64)', [2048, 512], [512, 64]),
];

const dims = (s: Shape) => {
  const m = s.tA ? s.a[1] : s.a[0];
  const k = s.tA ? s.a[0] : s.a[1];
  const n = s.tB ? s.b[0] : s.b[1];
  return { m, n, k };
};

/** Largest |x − ref| over the largest |ref|, against a float64 product of the same float32 inputs. */
function relError(s: Shape, av: Float32Array, bv: Float32Array, out: Float32Array): number {
  const { m, n, k } = dims(s);
  const A = (i: number, p: number) => (s.tA ? av[p * m + i]! : av[i * k + p]!);
  const B = (p: number, j: number) => (s.tB ? bv[j * k + p]! : bv[p * n + j]!);
  let maxDiff = 0;
  let maxRef = 0;
  // Every 7th row keeps the float64 reference cheap.
  for (let i = 0; i < m; i += 7)
    for (let j = 0; j < n; j++) {
      let ref = 0;
      for (let p = 0; p < k; p++) ref += A(i, p) * B(p, j);
      maxDiff = Math.max(maxDiff, Math.abs(out[i * n + j]! - ref));
      maxRef = Math.max(maxRef, Math.abs(ref));
    }
  return maxDiff / maxRef;
}

async function main(): Promise<void> {
  const info = await initBackend({ backend: 'wasm', threads: 1 });
  const fma = relaxedSimdSupported();
  console.log(
    `${info.detail}; relaxed SIMD: ${fma ? 'yes' : 'no'} (node ${process.version}, V8 ${process.versions.v8})`,
  );
  const variants: GemmVariant[] = fma ? ['plain', 'fma'] : ['plain'];
  const rows: Array<Record<string, unknown>> = [];
  const totals: Record<GemmVariant, { flop: number; ms: number }> = {
    plain: { flop: 0, ms: 0 },
    fma: { flop: 0, ms: 0 },
  };
  for (const s of SHAPES) {
    const { m, n, k } = dims(s);
    const flop = 2 * m * n * k;
    const a = tf.randomUniform(s.a, -1, 1, 'float32', 1);
    const b = tf.randomUniform(s.b, -1, 1, 'float32', 2);
    const av = a.dataSync() as Float32Array;
    const bv = b.dataSync() as Float32Array;
    const errors: Partial<Record<GemmVariant, number>> = {};
    const outs: Partial<Record<GemmVariant, Float32Array>> = {};
    for (const v of variants) {
      forceGemmVariant(v);
      const out = tf.matMul(a, b, s.tA, s.tB);
      outs[v] = out.dataSync() as Float32Array;
      out.dispose();
      errors[v] = relError(s, av, bv, outs[v]!);
    }
    // Repeats per sample so that one sample lasts about MIN_MS.
    forceGemmVariant('plain');
    let t0 = performance.now();
    tf.matMul(a, b, s.tA, s.tB).dispose();
    const once = Math.max(0.01, performance.now() - t0);
    const inner = Math.max(1, Math.ceil(MIN_MS / once));
    const samples: Record<GemmVariant, number[]> = { plain: [], fma: [] };
    for (let r = 0; r < REPS; r++)
      for (const v of variants) {
        forceGemmVariant(v);
        tf.matMul(a, b, s.tA, s.tB).dispose(); // warm
        t0 = performance.now();
        for (let i = 0; i < inner; i++) tf.matMul(a, b, s.tA, s.tB).dispose();
        samples[v].push((performance.now() - t0) / inner);
      }
    const row: Record<string, unknown> = { ...s, m, n, k, flop };
    for (const v of variants) {
      const ms = median(samples[v]);
      totals[v].flop += flop;
      totals[v].ms += ms;
      row[v] = { ms, gflops: flop / ms / 1e6, relError: errors[v] };
    }
    rows.push(row);
    const cell = (v: GemmVariant) =>
      row[v] ? `${((row[v] as { gflops: number }).gflops).toFixed(1)} (err ${errors[v]!.toExponential(1)})` : '–';
    const ratio = fma ? (row['fma'] as { gflops: number }).gflops / (row['plain'] as { gflops: number }).gflops : NaN;
    console.log(
      `| ${s.label} | ${m}×${k}·${k}×${n} | ${cell('plain')} | ${cell('fma')} | ${Number.isNaN(ratio) ? '–' : `${ratio.toFixed(2)}×`} |`,
    );
    tf.dispose([a, b]);
  }
  forceGemmVariant(undefined);
  const gf = (v: GemmVariant) => totals[v].flop / totals[v].ms / 1e6;
  console.log(
    `all shapes (each once): plain ${gf('plain').toFixed(1)} GFLOP/s${fma ? `, fma ${gf('fma').toFixed(1)} GFLOP/s (${(gf('fma') / gf('plain')).toFixed(2)}×)` : ''}`,
  );
  const dir = process.env['CALM_BENCH_RESULTS'] ?? fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'matmul-variants.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        node: process.version,
        v8: process.versions.v8,
        cpu: cpus()[0]?.model,
        loadavg: loadavg(),
        relaxedSimd: fma,
        reps: REPS,
        rows,
        totals: Object.fromEntries(variants.map((v) => [v, { gflops: gf(v) }])),
      },
      null,
      2,
    ),
  );
  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; wrote ${file}`,
  );
}

await main();
