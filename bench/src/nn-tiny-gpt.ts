// Benchmark of @calm/nn's wasm training kernels: one train step (forward, backward, clipping,
// AdamW) of a tiny GPT (B=8, T=128, d=128, 4 layers, 4 heads, V=4096) on the wasm backend, first
// with tfjs's stock kernels (plus the missing UnsortedSegmentSum, without which no embedding can
// train), then with ours, in one process, after checking both give the same loss and gradients.
// Then, in a child process, ours with the opt-in two-thread shim.
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/nn-tiny-gpt.ts
//   → table on stdout, JSON in results/nn-tiny-gpt.json. `--quick` times fewer steps.
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '@calm/core';
import {
  AdamW,
  clipByGlobalNorm,
  createParams,
  embedding,
  initBackend,
  linear,
  normalInit,
  onesInit,
  paramGrads,
  registerWasmKernels,
  rmsNorm,
  unregisterWasmKernels,
  swiGluMlp,
  type ParamRecord,
  type ParamSpec,
} from '@calm/nn';

const CFG = { B: 8, T: 128, d: 128, layers: 4, heads: 4, V: 4096, inter: 344 } as const;
const HD = CFG.d / CFG.heads;
const QUICK = process.argv.includes('--quick');
const STOCK_REPS = QUICK ? 2 : 5;
const OURS_REPS = QUICK ? 2 : 9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.9) - 1)]!;

function specs(): Record<string, ParamSpec> {
  const s: Record<string, ParamSpec> = { 'embed_tokens.weight': { shape: [CFG.V, CFG.d], init: normalInit(0.02) } };
  for (let i = 0; i < CFG.layers; i++) {
    const p = `layers.${i}`;
    s[`${p}.input_layernorm.weight`] = { shape: [CFG.d], init: onesInit() };
    for (const n of ['q', 'k', 'v', 'o'])
      s[`${p}.self_attn.${n}_proj.weight`] = { shape: [CFG.d, CFG.d], init: normalInit(0.02) };
    s[`${p}.post_attention_layernorm.weight`] = { shape: [CFG.d], init: onesInit() };
    s[`${p}.mlp.gate_proj.weight`] = { shape: [CFG.inter, CFG.d], init: normalInit(0.02) };
    s[`${p}.mlp.up_proj.weight`] = { shape: [CFG.inter, CFG.d], init: normalInit(0.02) };
    s[`${p}.mlp.down_proj.weight`] = { shape: [CFG.d, CFG.inter], init: normalInit(0.02) };
  }
  s['norm.weight'] = { shape: [CFG.d], init: onesInit() };
  s['lm_head.weight'] = { shape: [CFG.V, CFG.d], init: normalInit(0.02) };
  return s;
}

function attention(params: ParamRecord, prefix: string, x: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  const { B, T, d, heads } = CFG;
  const split = (t: tf.Tensor) =>
    tf.reshape(tf.transpose(tf.reshape(t, [B, T, heads, HD]), [0, 2, 1, 3]), [B * heads, T, HD]);
  const q = split(linear(params, `${prefix}.q_proj`, x)); // [B·H, T, hd]
  const k = split(linear(params, `${prefix}.k_proj`, x));
  const v = split(linear(params, `${prefix}.v_proj`, x));
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HD)), mask); // [B·H, T, T]
  const ctx = tf.matMul(tf.softmax(scores), v); // [B·H, T, hd]
  const merged = tf.reshape(tf.transpose(tf.reshape(ctx, [B, heads, T, HD]), [0, 2, 1, 3]), [B, T, d]);
  return linear(params, `${prefix}.o_proj`, merged);
}

function loss(params: ParamRecord, ids: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    let h = embedding(params, 'embed_tokens.weight', ids); // [B, T, d]
    for (let i = 0; i < CFG.layers; i++) {
      const p = `layers.${i}`;
      h = tf.add(h, attention(params, `${p}.self_attn`, rmsNorm(params, `${p}.input_layernorm`, h, 1e-6), mask));
      h = tf.add(h, swiGluMlp(params, `${p}.mlp`, rmsNorm(params, `${p}.post_attention_layernorm`, h, 1e-6)));
    }
    const logits = tf.reshape(linear(params, 'lm_head', rmsNorm(params, 'norm', h, 1e-6)), [CFG.B * CFG.T, CFG.V]);
    // Cross-entropy: mean of −log softmax at the targets, picked with a gather on the flat
    // log-probabilities (whose gradient is one UnsortedSegmentSum), not a [B·T, V] one-hot product.
    const logp = tf.logSoftmax(logits); // [B·T, V]
    return tf.neg(tf.mean(tf.gather(tf.reshape(logp, [-1]), targets))) as tf.Scalar;
  });
}

function data() {
  const rng = createRng('tiny-gpt-data');
  const n = CFG.B * CFG.T;
  const ids = new Int32Array(n);
  const targets = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = rng.int(CFG.V);
  for (let i = 0; i < n; i++) targets[i] = i * CFG.V + ((ids[i]! * 7 + 3) % CFG.V); // flat index into [B·T, V]
  const causal = tf.linalg.bandPart(tf.ones([CFG.T, CFG.T]), -1, 0);
  return {
    ids: tf.tensor(ids, [CFG.B, CFG.T], 'int32'),
    targets: tf.tensor(targets, [CFG.B * CFG.T], 'int32'),
    mask: tf.tidy(() => tf.mul(tf.sub(1, causal), -1e9)),
  };
}

type Batch = ReturnType<typeof data>;

async function trainStep(params: ParamRecord, opt: AdamW, batch: Batch): Promise<number> {
  const { value, grads } = paramGrads(() => loss(params, batch.ids, batch.targets, batch.mask), params);
  const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
  opt.step(clipped, 3e-4);
  const l = (await value.data())[0]!; // sync point
  tf.dispose([value, norm, ...Object.values(grads), ...Object.values(clipped)]);
  return l;
}

interface Timing {
  wallMs: number[];
  cpuMs: number[];
  loss: number[];
}

const useStock = (): void => {
  unregisterWasmKernels();
  registerWasmKernels({ kernels: ['UnsortedSegmentSum'] }); // missing in tfjs: needed to train at all
};
const useOurs = (): void => registerWasmKernels();

// Times train steps with each kernel set in turn (stock, ours, stock, ours, …) so that both see
// the same machine load; wall time and this process's CPU time.
async function timeInterleaved(sets: Array<{ use: () => void; reps: number }>): Promise<Timing[]> {
  const params = createParams(specs(), createRng(1));
  const opt = new AdamW(params, { lr: 3e-4, beta2: 0.95, weightDecay: 0.1 });
  const batch = data();
  const out: Timing[] = sets.map(() => ({ wallMs: [], cpuMs: [], loss: [] }));
  for (const set of sets) {
    set.use();
    await trainStep(params, opt, batch); // warm-up
  }
  const before = tf.memory().numTensors;
  const rounds = Math.max(...sets.map((x) => x.reps));
  for (let r = 0; r < rounds; r++) {
    for (const [i, set] of sets.entries()) {
      if (r >= set.reps) continue;
      set.use();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const l = await trainStep(params, opt, batch);
      out[i]!.wallMs.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      out[i]!.cpuMs.push((c.user + c.system) / 1000);
      out[i]!.loss.push(l);
    }
  }
  if (tf.memory().numTensors !== before)
    throw new Error(`tensor leak: ${tf.memory().numTensors - before} tensors over ${rounds} rounds`);
  opt.dispose();
  tf.dispose([...Object.values(params), batch.ids, batch.targets, batch.mask]);
  return out;
}

async function lossAndGrads(): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  const params = createParams(specs(), createRng(1));
  const batch = data();
  const { value, grads } = paramGrads(() => loss(params, batch.ids, batch.targets, batch.mask), params);
  const out = {
    loss: (await value.data())[0]!,
    grads: Object.fromEntries(
      await Promise.all(Object.entries(grads).map(async ([k, g]) => [k, Float32Array.from(await g.data())] as const)),
    ),
  };
  tf.dispose([value, ...Object.values(grads), ...Object.values(params), batch.ids, batch.targets, batch.mask]);
  return out;
}

// Relative error of b against a, normwise per gradient: max|a−b| / max|a|.
function worstRelError(
  a: Record<string, Float32Array>,
  b: Record<string, Float32Array>,
): { worst: number; at: string } {
  let worst = 0;
  let at = '';
  for (const [k, x] of Object.entries(a)) {
    const y = b[k]!;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(x[i]!));
    }
    const rel = diff / (scale || 1);
    if (!(rel <= worst)) {
      worst = rel;
      at = k;
    }
  }
  return { worst, at };
}

async function child(): Promise<void> {
  const info = await initBackend({ backend: 'wasm', threads: 2 });
  const [r] = await timeInterleaved([{ use: useOurs, reps: OURS_REPS }]);
  process.stdout.write(
    `${JSON.stringify({ detail: info.detail, threads: info.threads, ms: r!.wallMs, loss: r!.loss })}\n`,
  );
  process.exit(0); // pthread workers would keep the process alive
}

async function main(): Promise<void> {
  const stockInfo = await initBackend({ backend: 'wasm', patchKernels: false });
  useStock();

  // 1. Correctness: the same loss and gradients with both kernel sets.
  const stockRef = await lossAndGrads();
  useOurs();
  const oursRef = await lossAndGrads();
  const lossRel = Math.abs(oursRef.loss - stockRef.loss) / Math.abs(stockRef.loss);
  const grad = worstRelError(stockRef.grads, oursRef.grads);
  const TOL = 1e-4;
  console.log(
    `correctness: loss ${stockRef.loss.toFixed(6)} (stock) vs ${oursRef.loss.toFixed(6)} (ours), rel ${lossRel.toExponential(2)}; worst gradient rel error ${grad.worst.toExponential(2)} (${grad.at})`,
  );
  if (!(lossRel < TOL && grad.worst < TOL))
    throw new Error(`stock and patched kernels disagree beyond ${TOL}; refusing to time`);

  // 2. Timing, interleaved step by step so that both kernel sets see the same machine load.
  const [stockT, oursT] = await timeInterleaved([
    { use: useStock, reps: STOCK_REPS },
    { use: useOurs, reps: OURS_REPS },
  ]);
  const stock = stockT!;
  const ours = oursT!;
  const ratio = median(stock.wallMs) / median(ours.wallMs);
  const cpuRatio = median(stock.cpuMs) / median(ours.cpuMs);

  // 3. The two-thread shim, in a child (threads are fixed when the wasm backend starts).
  let threads2: { detail: string; threads: number; ms: number[]; loss: number[] } | { error: string };
  try {
    const self = fileURLToPath(import.meta.url);
    // From TypeScript sources through tsx, or from a bundled .mjs (e.g. on a machine without pnpm).
    const runner = self.endsWith('.ts') ? ['--conditions=@calm/source', '--import', 'tsx', self] : [self];
    const out = execFileSync(process.execPath, [...runner, '--child-threads', ...(QUICK ? ['--quick'] : [])], {
      encoding: 'utf8',
      timeout: 300_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    threads2 = JSON.parse(out.trim().split('\n').at(-1)!) as typeof threads2;
  } catch (e) {
    threads2 = { error: (e as Error).message.split('\n')[0]! };
  }

  const rows: Array<[string, number[], number[] | undefined]> = [
    ['stock kernels (+UnsortedSegmentSum), 1 thread', stock.wallMs, stock.cpuMs],
    ['@calm/nn kernels, 1 thread', ours.wallMs, ours.cpuMs],
    ...('ms' in threads2
      ? [['@calm/nn kernels, 2 threads (shim, child)', threads2.ms, undefined] as [string, number[], undefined]]
      : []),
  ];
  console.log(
    `\ntiny GPT train step on wasm: B=${CFG.B} T=${CFG.T} d=${CFG.d} layers=${CFG.layers} heads=${CFG.heads} V=${CFG.V} (AdamW, clip 1.0)`,
  );
  console.log(
    `${'configuration'.padEnd(44)} ${'median ms'.padStart(10)} ${'p90 ms'.padStart(8)} ${'cpu ms'.padStart(8)} ${'reps'.padStart(5)}`,
  );
  for (const [name, ms, cpu] of rows) {
    console.log(
      `${name.padEnd(44)} ${median(ms).toFixed(0).padStart(10)} ${p90(ms).toFixed(0).padStart(8)} ${(cpu ? median(cpu).toFixed(0) : '–').padStart(8)} ${String(ms.length).padStart(5)}`,
    );
  }
  console.log(
    `\nspeed-up of our kernels over stock: ${ratio.toFixed(2)}× wall, ${cpuRatio.toFixed(2)}× CPU time (required ≥ 4× wall: ${ratio >= 4 ? 'yes' : 'NO'})`,
  );
  if ('ms' in threads2)
    console.log(`two threads vs one (ours, wall): ${(median(ours.wallMs) / median(threads2.ms)).toFixed(2)}×`);
  else console.log(`two-thread shim failed: ${threads2.error}`);

  let sha = 'unknown';
  try {
    sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    sha = 'no commit';
  }
  const result = {
    bench: 'nn-tiny-gpt',
    config: CFG,
    context: {
      backendAtStart: stockInfo.detail,
      tfjs: tf.version_core,
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      sha,
      date: new Date().toISOString(),
    },
    correctness: {
      stockLoss: stockRef.loss,
      oursLoss: oursRef.loss,
      lossRel,
      worstGradRel: grad.worst,
      worstGradParam: grad.at,
      tolerance: TOL,
    },
    stock: {
      medianMs: median(stock.wallMs),
      p90Ms: p90(stock.wallMs),
      medianCpuMs: median(stock.cpuMs),
      ms: stock.wallMs,
      cpuMs: stock.cpuMs,
    },
    ours: {
      medianMs: median(ours.wallMs),
      p90Ms: p90(ours.wallMs),
      medianCpuMs: median(ours.cpuMs),
      ms: ours.wallMs,
      cpuMs: ours.cpuMs,
    },
    speedup: ratio,
    speedupCpu: cpuRatio,
    meetsTarget: ratio >= 4,
    twoThreads:
      'ms' in threads2
        ? {
            detail: threads2.detail,
            medianMs: median(threads2.ms),
            p90Ms: p90(threads2.ms),
            ms: threads2.ms,
            speedupOverOneThread: median(ours.wallMs) / median(threads2.ms),
          }
        : threads2,
  };
  const dir = process.env['CALM_BENCH_RESULTS'] ?? fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nn-tiny-gpt.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote results/nn-tiny-gpt.json`);
  if (ratio < 4) process.exitCode = 1;
}

if (process.argv.includes('--child-threads')) await child();
else await main();
