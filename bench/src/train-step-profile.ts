// Profile of one training step (loss, gradients, clipping, AdamW) of the CALM LM, the AR baseline
// and the autoencoder on the wasm backend, one thread: ms/step, tokens/s, kernel launches per step
// and a per-kernel profile (self time, forward / backward / optimiser) from timers wrapped around
// every registered wasm kernel.
//
// With `--baseline DIR` (a copy of the repository at an older commit whose packages resolve this
// checkout's node_modules, see scripts below), the same models are built from both copies with the
// same seeds; the bench first checks that both give the same loss and gradients, then times them
// interleaved in this process (A, B, A, B, …) so that both see the same machine load.
//
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/train-step-profile.ts
//   [--models calm,ar,ae] [--shape quickstart|512] [--reps 7] [--top 12] [--baseline /tmp/calm-base]
//   [--batch 8] [--no-profile] → tables on stdout, JSON in results/train-step-profile[-<shape>].json.
// Making a baseline copy of commit C:
//   git archive C | tar -x -C /tmp/calm-base && ln -s "$PWD/node_modules" /tmp/calm-base/node_modules
//   for p in packages/*/; do cp -a "$p/node_modules" "/tmp/calm-base/$p"; done
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as calmAutoencoder from '@calm/autoencoder';
import * as calmCore from '@calm/core';
import * as calmModel from '@calm/model';
import * as calmNn from '@calm/nn';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const MODELS = arg('models', 'calm,ar,ae').split(',') as Array<'calm' | 'ar' | 'ae'>;
const SHAPE = arg('shape', 'quickstart') as 'quickstart' | '512';
const REPS = Number(arg('reps', '7'));
const TOP = Number(arg('top', '12'));
const BASELINE = arg('baseline', '');
const PROFILE = !process.argv.includes('--no-profile');
// Kernel timer: 'cpu' (this process's CPU time, robust to other processes on a shared machine) or 'wall'.
const CLOCK = arg('clock', 'cpu') as 'cpu' | 'wall';
const now =
  CLOCK === 'cpu'
    ? () => {
        const c = process.cpuUsage();
        return (c.user + c.system) / 1000;
      }
    : () => performance.now();
const DETAIL = new Set(arg('detail', '').split(',').filter(Boolean)); // kernels to break down by input shapes
// Blocks per step (AR at hidden 512 needs 4: eight blocks of the stock attention exhaust the wasm heap).
const B = Number(arg('batch', '8'));
const T = 256;
const V = 512;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.round(q * (xs.length - 1))))]!;

// ---------------------------------------------------------------------------------------------
// The code under test: this checkout, or a baseline copy of the packages.

interface Impl {
  name: string;
  nn: typeof calmNn;
  model: typeof calmModel;
  ae: typeof calmAutoencoder;
  core: typeof calmCore;
}

async function loadImpl(dir: string): Promise<Impl> {
  const load = (pkg: string) => import(pathToFileURL(join(dir, 'packages', pkg, 'src', 'index.ts')).href);
  return {
    name: 'baseline',
    nn: (await load('nn')) as typeof calmNn,
    model: (await load('model')) as typeof calmModel,
    ae: (await load('autoencoder')) as typeof calmAutoencoder,
    core: (await load('core')) as typeof calmCore,
  };
}

const current: Impl = { name: 'current', nn: calmNn, model: calmModel, ae: calmAutoencoder, core: calmCore };

// Kernel registrations are global: before running an implementation, put its kernels in place.
function activate(impl: Impl, all: Impl[]): void {
  for (const other of all) if (other !== impl) other.nn.unregisterWasmKernels();
  impl.nn.registerWasmKernels();
}

// ---------------------------------------------------------------------------------------------
// Models and one step

const special = { vocabSize: V, padTokenId: V - 1, bosTokenId: V - 3, eosTokenId: V - 2 };
const backbone =
  SHAPE === '512'
    ? { hiddenSize: 512, intermediateSize: 1376, numHiddenLayers: 8, numAttentionHeads: 8, numKeyValueHeads: 8 }
    : { hiddenSize: 128, intermediateSize: 320, numHiddenLayers: 4, numAttentionHeads: 4, numKeyValueHeads: 4 };

interface Task {
  kind: 'calm' | 'ar' | 'ae';
  label: string;
  tokens: number;
  params: Record<string, tf.Variable>;
  optimizer: calmNn.AdamW;
  /** One loss evaluation; draws its noise from `rng`. */
  loss: (rng: calmCore.Rng) => tf.Scalar;
  dispose: () => void;
}

function buildTask(impl: Impl, kind: 'calm' | 'ar' | 'ae', ids: Int32Array): Task {
  const { core, model, ae, nn } = impl;
  const aeCfg = ae.autoencoderConfig({
    ...special,
    hiddenSize: 64,
    intermediateSize: 128,
    latentSize: 32,
    patchSize: 4,
    aeDropout: 0.05,
    klWeight: 0.01,
  });
  const idsT = tf.tensor2d(ids, [B, T], 'int32');
  if (kind === 'ae') {
    const params = ae.createAutoencoderParams(aeCfg, core.createRng('profile/ae'));
    const optimizer = new nn.AdamW(params, { lr: 1e-2, beta2: 0.95, weightDecay: 0.1 });
    return {
      kind,
      label: 'autoencoder (hidden 64, intermediate 128, latent 32, K 4)',
      tokens: B * T,
      params,
      optimizer,
      loss: (rng) => ae.autoencoderLoss(params, aeCfg, idsT, { rng, training: true }),
      dispose: () => {
        optimizer.dispose();
        nn.disposeParams(params);
        idsT.dispose();
      },
    };
  }
  if (kind === 'ar') {
    const m = new model.ArModel(model.arConfig({ ...special, ...backbone }), { rng: core.createRng('profile/ar') });
    const optimizer = new nn.AdamW(m.params, { lr: 3e-3, beta2: 0.95, weightDecay: 0.1 });
    return {
      kind,
      label: `AR baseline (hidden ${backbone.hiddenSize}, ${backbone.numHiddenLayers} layers, vocab ${V})`,
      tokens: B * T,
      params: m.params,
      optimizer,
      loss: () => m.loss(idsT),
      dispose: () => {
        optimizer.dispose();
        m.dispose();
        idsT.dispose();
      },
    };
  }
  const aeParams = ae.createAutoencoderParams(aeCfg, core.createRng('profile/ae'));
  const m = new model.CalmModel(
    model.calmConfig({
      ...special,
      ...backbone,
      patchSize: 4,
      latentSize: 32,
      noiseSize: 32,
      numMlpLayers: 2,
      numSamples: 4,
      numTargetSamples: 32,
    }),
    aeCfg,
    { rng: core.createRng('profile/calm'), aeParams },
  );
  const optimizer = new nn.AdamW(m.params, { lr: 1e-3, beta2: 0.95, weightDecay: 0.1 });
  return {
    kind,
    label: `CALM (hidden ${backbone.hiddenSize}, ${backbone.numHiddenLayers} layers, K 4, latent 32, N 4, M 32)`,
    tokens: B * T,
    params: m.params,
    optimizer,
    loss: (rng) => m.loss(idsT, { rng }),
    dispose: () => {
      optimizer.dispose();
      m.dispose();
      idsT.dispose();
    },
  };
}

type Phase = 'forward' | 'backward' | 'optimizer' | 'other';
let phase: Phase = 'other';

/** One optimiser step, as `trainStep` of @calm/nn (its two halves, so that phases can be told apart). */
async function step(impl: Impl, task: Task, rng: calmCore.Rng): Promise<number> {
  const loss = () => {
    phase = 'forward';
    const l = task.loss(rng);
    phase = 'backward';
    return l;
  };
  const sum = impl.nn.accumulateGradients([loss], task.params);
  phase = 'optimizer';
  // applyGradients takes the gradients (older copies of the packages: the sum and its count).
  const apply = impl.nn.applyGradients as (
    o: calmNn.AdamW,
    g: unknown,
    opts: calmNn.ApplyGradientsOptions,
  ) => tf.Scalar;
  const norm = apply(task.optimizer, 'count' in sum ? sum : sum.gradSum, { maxGradNorm: 1.0 });
  phase = 'other';
  const value = (await sum.lossSum.data())[0]!; // the step's one sync point, as a training loop logs
  tf.dispose([sum.lossSum, norm, ...Object.values(sum.gradSum)]);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Kernel profiler: timers around every wasm kernel, self time (nested kernel calls subtracted).

interface KernelStat {
  calls: Record<Phase, number>;
  ms: Record<Phase, number>;
}
const zero = (): Record<Phase, number> => ({ forward: 0, backward: 0, optimizer: 0, other: 0 });

function signature(args: Parameters<tf.KernelFunc>[0]): string {
  const shapes = Object.values(args.inputs).map((t) => `[${(t as tf.TensorInfo).shape.join(',')}]`);
  const attrs = Object.entries(args.attrs ?? {})
    .filter(([, v]) => v !== false && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`);
  return `${shapes.join(' ')}${attrs.length ? ` ${attrs.join(' ')}` : ''}`;
}

/** Multiply-adds × 2 of a BatchMatMul call. */
function matMulFlops(args: Parameters<tf.KernelFunc>[0]): number {
  const a = (args.inputs['a'] as tf.TensorInfo).shape;
  const b = (args.inputs['b'] as tf.TensorInfo).shape;
  const tA = Boolean(args.attrs?.['transposeA']);
  const tB = Boolean(args.attrs?.['transposeB']);
  const m = tA ? a.at(-1)! : a.at(-2)!;
  const k = tA ? a.at(-2)! : a.at(-1)!;
  const n = tB ? b.at(-2)! : b.at(-1)!;
  const batch = Math.max(
    a.slice(0, -2).reduce((x, y) => x * y, 1),
    b.slice(0, -2).reduce((x, y) => x * y, 1),
  );
  return 2 * batch * m * n * k;
}

class Profiler {
  stats = new Map<string, KernelStat>();
  matMulFlops = 0;
  private saved: tf.KernelConfig[] = [];
  private stack: number[] = []; // child time accumulated per open frame
  private depth = 0;
  topLevelCalls = 0;

  install(): void {
    this.saved = tf.getKernelsForBackend('wasm').map((k) => ({ ...k }));
    for (const k of this.saved) {
      const orig = k.kernelFunc;
      const name = k.kernelName;
      const wrapped = ((args: Parameters<tf.KernelFunc>[0]) => {
        this.stack.push(0);
        if (this.depth === 0) this.topLevelCalls++;
        if (name === 'BatchMatMul' && this.depth === 0) this.matMulFlops += matMulFlops(args);
        this.depth++;
        const t0 = now();
        try {
          return orig(args);
        } finally {
          const dt = now() - t0;
          this.depth--;
          const children = this.stack.pop()!;
          if (this.stack.length) this.stack[this.stack.length - 1]! += dt;
          const key = DETAIL.has(name) ? `${name} ${signature(args)}` : name;
          let s = this.stats.get(key);
          if (!s) {
            s = { calls: zero(), ms: zero() };
            this.stats.set(key, s);
          }
          s.calls[phase]++;
          s.ms[phase] += dt - children;
        }
      }) as tf.KernelFunc;
      tf.unregisterKernel(name, 'wasm');
      tf.registerKernel({ ...k, kernelFunc: wrapped });
    }
  }

  uninstall(): void {
    for (const k of this.saved) {
      tf.unregisterKernel(k.kernelName, 'wasm');
      tf.registerKernel(k);
    }
    this.saved = [];
  }

  reset(): void {
    this.stats.clear();
    this.topLevelCalls = 0;
    this.matMulFlops = 0;
  }
}

interface ProfileRow {
  kernel: string;
  calls: number;
  ms: number;
  forwardMs: number;
  backwardMs: number;
  optimizerMs: number;
}

async function profileSteps(
  impl: Impl,
  task: Task,
  steps: number,
): Promise<{
  rows: ProfileRow[];
  launches: Record<Phase, number>;
  kernelMs: number;
  wallMs: number;
  matMulGflop: number;
}> {
  const prof = new Profiler();
  const rng = impl.core.createRng('profile/steps');
  prof.install();
  let wall = 0;
  try {
    await step(impl, task, rng); // warm-up under the profiler (kernel setup)
    prof.reset();
    for (let i = 0; i < steps; i++) {
      const t0 = now();
      await step(impl, task, rng);
      wall += now() - t0;
    }
  } finally {
    prof.uninstall();
  }
  const rows: ProfileRow[] = [];
  const launches = zero();
  let kernelMs = 0;
  for (const [kernel, s] of prof.stats) {
    const calls = Object.values(s.calls).reduce((a, b) => a + b, 0) / steps;
    const ms = Object.values(s.ms).reduce((a, b) => a + b, 0) / steps;
    kernelMs += ms;
    for (const p of Object.keys(launches) as Phase[]) launches[p] += s.calls[p] / steps;
    rows.push({
      kernel,
      calls,
      ms,
      forwardMs: s.ms.forward / steps,
      backwardMs: s.ms.backward / steps,
      optimizerMs: s.ms.optimizer / steps,
    });
  }
  rows.sort((a, b) => b.ms - a.ms);
  return { rows, launches, kernelMs, wallMs: wall / steps, matMulGflop: prof.matMulFlops / steps / 1e9 };
}

// ---------------------------------------------------------------------------------------------
// Correctness: loss and gradients of every implementation against the first one.

async function lossAndGrads(impl: Impl, task: Task): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  const rng = impl.core.createRng('profile/check');
  const { value, grads } = impl.nn.paramGrads(() => task.loss(rng), task.params);
  const out = {
    loss: (await value.data())[0]!,
    grads: Object.fromEntries(
      await Promise.all(Object.entries(grads).map(async ([k, g]) => [k, Float32Array.from(await g.data())] as const)),
    ),
  };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

function worstRelError(
  a: Record<string, Float32Array>,
  b: Record<string, Float32Array>,
): { worst: number; at: string } {
  let worst = 0;
  let at = '';
  for (const [k, x] of Object.entries(a)) {
    const y = b[k];
    if (!y) return { worst: Infinity, at: `${k} (missing)` };
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

// ---------------------------------------------------------------------------------------------

function dataIds(): Int32Array {
  const rng = calmCore.createRng('profile/data');
  // Token ids below the special ids (no PAD inside blocks, as the packed training data).
  return Int32Array.from({ length: B * T }, () => rng.int(V - 3));
}

async function main(): Promise<void> {
  const info = await calmNn.initBackend({ backend: 'wasm', threads: 1 });
  const impls: Impl[] = [current];
  if (BASELINE) impls.unshift(await loadImpl(BASELINE)); // baseline first: the reference
  const ids = dataIds();
  const results: Record<string, unknown> = {};
  for (const kind of MODELS) {
    const tasks = impls.map((impl) => {
      activate(impl, impls);
      return buildTask(impl, kind, ids);
    });
    console.log(`\n## ${tasks[0]!.label}, batch ${B} × ${T} tokens, AdamW, clip 1.0 (${SHAPE} shape)`);

    // 1. Correctness against the reference implementation (same seeds, same noise draws).
    const refs: Array<{ loss: number; grads: Record<string, Float32Array> }> = [];
    for (const [i, impl] of impls.entries()) {
      activate(impl, impls);
      refs.push(await lossAndGrads(impl, tasks[i]!));
    }
    const checks: Array<{ impl: string; lossRel: number; gradRel: number; at: string }> = [];
    for (let i = 1; i < impls.length; i++) {
      const lossRel = Math.abs(refs[i]!.loss - refs[0]!.loss) / Math.abs(refs[0]!.loss);
      const g = worstRelError(refs[0]!.grads, refs[i]!.grads);
      checks.push({ impl: impls[i]!.name, lossRel, gradRel: g.worst, at: g.at });
      console.log(
        `correctness: loss ${refs[0]!.loss.toFixed(6)} (${impls[0]!.name}) vs ${refs[i]!.loss.toFixed(6)} (${impls[i]!.name}), rel ${lossRel.toExponential(2)}; worst gradient rel error ${g.worst.toExponential(2)} (${g.at})`,
      );
      const TOL = 1e-4;
      if (!(lossRel < TOL && g.worst < TOL))
        throw new Error(`implementations disagree beyond ${TOL}; refusing to time`);
    }

    // 2. Timing, interleaved step by step.
    const rngs = impls.map((impl) => impl.core.createRng('profile/time'));
    for (const [i, impl] of impls.entries()) {
      activate(impl, impls);
      await step(impl, tasks[i]!, rngs[i]!); // warm-up
    }
    const times: number[][] = impls.map(() => []);
    const cpuTimes: number[][] = impls.map(() => []);
    const before = tf.memory().numTensors;
    for (let r = 0; r < REPS; r++) {
      for (const [i, impl] of impls.entries()) {
        activate(impl, impls);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await step(impl, tasks[i]!, rngs[i]!);
        times[i]!.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpuTimes[i]!.push((c.user + c.system) / 1000);
      }
    }
    if (tf.memory().numTensors !== before)
      throw new Error(`tensor leak: ${tf.memory().numTensors - before} tensors over ${REPS} rounds`);
    console.log(
      `\n| code | ms/step (median) | p10–p90 | cpu ms | tokens/s | reps |\n|---|---|---|---|---|---|\n${impls
        .map(
          (impl, i) =>
            `| ${impl.name} | ${median(times[i]!).toFixed(0)} | ${quantile(times[i]!, 0.1).toFixed(0)}–${quantile(times[i]!, 0.9).toFixed(0)} | ${median(cpuTimes[i]!).toFixed(0)} | ${((B * T) / (median(times[i]!) / 1000)).toFixed(0)} | ${REPS} |`,
        )
        .join('\n')}`,
    );
    if (impls.length > 1)
      console.log(
        `speed-up of ${impls.at(-1)!.name} over ${impls[0]!.name}: ${(median(times[0]!) / median(times.at(-1)!)).toFixed(2)}× wall, ${(median(cpuTimes[0]!) / median(cpuTimes.at(-1)!)).toFixed(2)}× CPU`,
      );

    // 3. Per-kernel profile of each implementation.
    const profiles: Record<string, unknown> = {};
    if (PROFILE) {
      for (const [i, impl] of impls.entries()) {
        activate(impl, impls);
        const p = await profileSteps(impl, tasks[i]!, Math.max(2, Math.ceil(REPS / 2)));
        profiles[impl.name] = p;
        const l = p.launches;
        console.log(
          `\nprofile (${impl.name}, ${CLOCK} time): ${p.wallMs.toFixed(0)} ms/step under the profiler, ${p.kernelMs.toFixed(0)} ms in kernels (${((100 * p.kernelMs) / p.wallMs).toFixed(0)} %), the rest is JS: tape, tidy, shape checks; kernel launches per step: ${(l.forward + l.backward + l.optimizer + l.other).toFixed(0)} (forward ${l.forward.toFixed(0)}, backward ${l.backward.toFixed(0)}, optimiser ${l.optimizer.toFixed(0)})`,
        );
        const mm = p.rows.filter((r) => r.kernel.startsWith('BatchMatMul')).reduce((a, r) => a + r.ms, 0);
        console.log(
          `matrix products: ${p.matMulGflop.toFixed(2)} GFLOP/step, ${mm.toFixed(0)} ms in BatchMatMul (${(p.matMulGflop / (mm / 1000)).toFixed(1)} GFLOP/s)`,
        );
        console.log(
          '| kernel | calls | ms | % of step | forward ms | backward ms | optimiser ms |\n|---|---|---|---|---|---|---|',
        );
        for (const r of p.rows.slice(0, TOP))
          console.log(
            `| ${r.kernel} | ${r.calls.toFixed(0)} | ${r.ms.toFixed(1)} | ${((100 * r.ms) / p.wallMs).toFixed(1)} | ${r.forwardMs.toFixed(1)} | ${r.backwardMs.toFixed(1)} | ${r.optimizerMs.toFixed(1)} |`,
          );
      }
    }
    results[kind] = {
      label: tasks[0]!.label,
      correctness: checks,
      timing: impls.map((impl, i) => ({
        code: impl.name,
        msMedian: median(times[i]!),
        cpuMsMedian: median(cpuTimes[i]!),
        tokensPerSecond: (B * T) / (median(times[i]!) / 1000),
        ms: times[i],
      })),
      profiles,
    };
    for (const t of tasks) t.dispose();
  }

  let sha = 'unknown';
  try {
    sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    sha = 'no commit';
  }
  const dir = process.env['CALM_BENCH_RESULTS'] ?? fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `train-step-profile${SHAPE === 'quickstart' ? '' : `-${SHAPE}`}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        bench: 'train-step-profile',
        shape: SHAPE,
        backbone,
        batch: [B, T],
        context: {
          backend: info.detail,
          tfjs: tf.version_core,
          node: process.version,
          cpu: cpus()[0]?.model,
          loadavg: loadavg(),
          sha,
          baseline: BASELINE || null,
          date: new Date().toISOString(),
        },
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(
    `\nload average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; wrote ${file}`,
  );
}

await main();
