// Training throughput of the project against PyTorch on the same models: the autoencoder, CALM and
// the AR baseline, at the quickstart's shapes and at hidden 512 × 8 layers, on one core and on all
// cores. For each row both sides start from the same weights (written here with the official
// names, read by bench/py/train_step.py into tools/reference's modules), are checked to compute
// the same loss (and gradient norm) on the same batch with the same injected noise, and are then
// timed in alternating repetitions within one run; medians are reported.
//
// Project side: the trainer's own step engine (`createTrainStepper` of @calm/trainer, what
// `runTraining` runs: the task's loss, gradients, clipping at 1.0, AdamW) on the wasm backend with
// @calm/nn's kernels — one thread, or data-parallel worker threads on every core for the "all
// cores" rows (the batch is cut into one micro-batch per worker; rows say `dataParallel`).
// PyTorch side: Debian's python3-torch in a child process, forward + backward + clip_grad_norm_ +
// torch.optim.AdamW, with fresh noise every step. Debian's torch goes through the system BLAS; this
// bench loads OpenBLAS (libopenblas0-openmp) for that process only through LD_LIBRARY_PATH, sets
// OMP_NUM_THREADS to the row's cores and, on AVX-512 machines, OPENBLAS_CORETYPE=SkylakeX (OpenBLAS
// 0.3.21 picks a slow kernel on Sapphire Rapids; on CPUs without AVX-512 that kernel is an illegal
// instruction, so elsewhere OpenBLAS's own detection stays). Each row reports the BLAS library
// actually mapped, its core name and the thread count.
//
// Tokens/s = tokens of input per optimiser step (B × T) / median step time.
//
// Run: pnpm bench train-vs-pytorch [--models ae,calm,ar] [--shapes quickstart,h512x8] [--cores 1,all]
//   [--steps 3] [--reps 3] [--warmup 2] [--warmup-ms 5000] [--quick] [--tag name] [--python /usr/bin/python3] [--keep]
//   → table on stdout, JSON in bench/results/train-vs-pytorch[-tag].json.
// Needs: apt-get install -y python3-torch libopenblas0-openmp (Debian 12: PyTorch 1.13).
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '@calm/core';
import { writeSafetensorsFile } from '@calm/core/node';
import {
  autoencoderConfig,
  autoencoderLoss,
  createAutoencoderParams,
  sampleAutoencoderNoise,
  type AutoencoderConfig,
} from '@calm/autoencoder';
import { AdamW, globalNorm, initBackend, paramGrads, saveParams, type ParamRecord } from '@calm/nn';
import { ArModel, CalmModel, arConfig, calmConfig, type ArConfig, type CalmConfig } from '@calm/model';
import { arTrainTask, autoencoderTrainTask, calmTrainTask, createTrainStepper, type TrainTask } from '@calm/trainer';
import { projectStep, type ProjectRun } from './lib/project-step.ts';

type ModelKind = 'ae' | 'calm' | 'ar';
type ShapeName = 'quickstart' | 'h512x8';
type CoresName = '1' | 'all';

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const list = <T extends string>(name: string, dflt: string, allowed: readonly T[]): T[] => {
  const xs = arg(name, dflt)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const x of xs)
    if (!allowed.includes(x as T)) throw new Error(`--${name}: "${x}" is not one of ${allowed.join(', ')}`);
  return xs as T[];
};
const QUICK = argv.includes('--quick');
const MODELS = list<ModelKind>('models', 'ae,calm,ar', ['ae', 'calm', 'ar']);
const SHAPES = list<ShapeName>('shapes', 'quickstart,h512x8', ['quickstart', 'h512x8']);
const CORES = list<CoresName>('cores', '1,all', ['1', 'all']);
const STEPS = Number(arg('steps', QUICK ? '1' : '3')); // timed steps per repetition and side
const REPS = Number(arg('reps', QUICK ? '2' : '3'));
const WARMUP = Number(arg('warmup', QUICK ? '1' : '2'));
// The project's side also warms up for at least this long: V8 compiles its JavaScript (tfjs's op
// dispatch) and wasm as they run, tiering hot code up over the first hundreds of kernel calls, and
// the data-parallel rows start fresh worker threads whose code is cold. PyTorch needs no JIT.
const WARMUP_MS = Number(arg('warmup-ms', QUICK ? '0' : '5000'));
const TAG = arg('tag', '');
const KEEP = argv.includes('--keep'); // keep the weights/batch files (to run train_step.py by hand)
const PYTHON = arg('python', process.env['CALM_BENCH_PYTHON'] ?? '/usr/bin/python3');
const PY_SCRIPT = fileURLToPath(new URL('../py/train_step.py', import.meta.url));
const TOL = 1e-4; // |Δloss| ≤ TOL · max(1, |loss|), the project's parity tolerance against PyTorch
const GRAD_TOL = 1e-3; // relative, for the global gradient norm (kernels reorder sums)
for (const [n, v] of [
  ['steps', STEPS],
  ['reps', REPS],
  ['warmup', WARMUP],
  ['warmup-ms', WARMUP_MS],
] as const)
  if (!Number.isInteger(v) || v < (n.startsWith('warmup') ? 0 : 1))
    throw new Error(`--${n} must be a positive integer`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---------------------------------------------------------------- shapes

/**
 * The two shapes. `quickstart` is exactly the quickstart's (packages/trainer/src/quickstart.ts):
 * BPE vocabulary 512 (BOS, EOS, PAD = its last three ids), blocks of 256 tokens; autoencoder hidden
 * 64 / intermediate 128 / latent 32 / K 4 with dropout 0.05, KL weight 0.01 and log σ bias −1.2,
 * batch 8, lr 1e-2; CALM hidden 128, 4 layers, 4 heads, intermediate 320, latent 32, noise 32, 2
 * head blocks, N 4, M 32, batch 8, lr 1e-3; AR the same backbone, batch 16, lr 3e-3.
 * `h512x8` scales it: vocabulary 4096, the official autoencoder shape (hidden 512 / intermediate
 * 1280 / latent 128, dropout 0.15, KL weight 1e-3), CALM and AR backbone hidden 512, 8 layers, 8
 * heads, intermediate 1376, CALM latent 128 (the autoencoder's), noise 64, 2 head blocks (one per 4
 * layers, the official rule), N and M as the quickstart; batches as the quickstart except AR at
 * 4 × 256 (at 8 × 256 the project's AR forward and backward exhaust the 4 GB wasm heap; 4 × 256
 * already takes ≈3.5 GB); lr 3e-4 (the official one). Both shapes: AdamW β 0.9/0.95, ε 1e-8,
 * weight decay 0.1 (not on biases and norms), clipping 1.0, constant lr (the quickstart's warm-up
 * and cosine cost nothing).
 */
interface Shape {
  vocab: number;
  blockSize: number;
  ae: Partial<AutoencoderConfig>;
  aeLogStdBias: number | null;
  backbone: Pick<
    CalmConfig,
    'hiddenSize' | 'intermediateSize' | 'numHiddenLayers' | 'numAttentionHeads' | 'numKeyValueHeads'
  >;
  calm: Pick<CalmConfig, 'latentSize' | 'noiseSize' | 'numMlpLayers' | 'numSamples' | 'numTargetSamples'>;
  batch: Record<ModelKind, number>;
  lr: Record<ModelKind, number>;
}

const SHAPE: Record<ShapeName, Shape> = {
  quickstart: {
    vocab: 512,
    blockSize: 256,
    ae: { hiddenSize: 64, intermediateSize: 128, latentSize: 32, patchSize: 4, aeDropout: 0.05, klWeight: 0.01 },
    aeLogStdBias: -1.2,
    backbone: { hiddenSize: 128, intermediateSize: 320, numHiddenLayers: 4, numAttentionHeads: 4, numKeyValueHeads: 4 },
    calm: { latentSize: 32, noiseSize: 32, numMlpLayers: 2, numSamples: 4, numTargetSamples: 32 },
    batch: { ae: 8, calm: 8, ar: 16 },
    lr: { ae: 1e-2, calm: 1e-3, ar: 3e-3 },
  },
  h512x8: {
    vocab: 4096,
    blockSize: 256,
    ae: { hiddenSize: 512, intermediateSize: 1280, latentSize: 128, patchSize: 4, aeDropout: 0.15, klWeight: 1e-3 },
    aeLogStdBias: null,
    backbone: {
      hiddenSize: 512,
      intermediateSize: 1376,
      numHiddenLayers: 8,
      numAttentionHeads: 8,
      numKeyValueHeads: 8,
    },
    calm: { latentSize: 128, noiseSize: 64, numMlpLayers: 2, numSamples: 4, numTargetSamples: 32 },
    batch: { ae: 8, calm: 8, ar: 4 }, // AR at 8 × 256 exhausts the project's wasm heap (4 GB)
    lr: { ae: 3e-4, calm: 3e-4, ar: 3e-4 },
  },
};
const OPTIMIZER = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 } as const;
const MAX_GRAD_NORM = 1.0;

// Python dataclass fields of tools/reference/calm_reference.py (AEConfig, LlamaConfig, CALMConfig).
const aeToPy = (c: AutoencoderConfig) => ({
  vocab_size: c.vocabSize,
  hidden_size: c.hiddenSize,
  intermediate_size: c.intermediateSize,
  latent_size: c.latentSize,
  patch_size: c.patchSize,
  num_encoder_layers: c.numEncoderLayers,
  num_decoder_layers: c.numDecoderLayers,
  ae_dropout: c.aeDropout,
  kl_clamp: c.klClamp,
  kl_weight: c.klWeight,
  rms_norm_eps: c.rmsNormEps,
});
const llamaToPy = (c: ArConfig | CalmConfig) => ({
  vocab_size: c.vocabSize,
  hidden_size: c.hiddenSize,
  intermediate_size: c.intermediateSize,
  num_hidden_layers: c.numHiddenLayers,
  num_attention_heads: c.numAttentionHeads,
  num_key_value_heads: c.numKeyValueHeads,
  rms_norm_eps: c.rmsNormEps,
  rope_theta: c.ropeTheta,
  pad_token_id: c.padTokenId,
});
const calmToPy = (c: CalmConfig) => ({
  ...llamaToPy(c),
  patch_size: c.patchSize,
  latent_size: c.latentSize,
  noise_size: c.noiseSize,
  num_mlp_layers: c.numMlpLayers,
  num_samples: c.numSamples,
  beta: c.beta,
  num_target_samples: c.numTargetSamples,
});

// ---------------------------------------------------------------- the project's models

/** One row's project model: its training task, what PyTorch must load, and the check's loss. */
interface Built {
  task: TrainTask;
  /** Every tensor PyTorch loads, by official name (CALM: its frozen autoencoder under `ae_model.`). */
  weights: Record<string, tf.Tensor>;
  configs: Record<string, unknown>;
  batch: { ids: Int32Array; shape: [number, number] };
  /** Injected noise for the check, as named arrays (also written for PyTorch). */
  noise: Record<string, { shape: number[]; data: Float32Array | Int32Array }>;
  /** The loss on the batch with the injected noise (for `paramGrads`). */
  checkLoss: (ids: tf.Tensor2D) => tf.Scalar;
  dispose: () => void;
}

function randomIds(rng: Rng, n: number, vocab: number): Int32Array {
  // Ordinary tokens only (BOS, EOS and PAD are the last three ids).
  return Int32Array.from({ length: n }, () => rng.int(vocab - 3));
}

function aeFor(shapeName: ShapeName, rng: Rng): { cfg: AutoencoderConfig; params: ParamRecord } {
  const s = SHAPE[shapeName];
  const cfg = autoencoderConfig({
    vocabSize: s.vocab,
    bosTokenId: s.vocab - 3,
    eosTokenId: s.vocab - 2,
    padTokenId: s.vocab - 1,
    ...s.ae,
  });
  const params = createAutoencoderParams(cfg, rng);
  if (s.aeLogStdBias !== null) {
    const b = new Float32Array(2 * cfg.latentSize).fill(s.aeLogStdBias, cfg.latentSize);
    tf.tidy(() => params['encoder.hidden_to_latent.bias']!.assign(tf.tensor1d(b)));
  }
  return { cfg, params };
}

function build(model: ModelKind, shapeName: ShapeName): Built {
  const s = SHAPE[shapeName];
  const rng = createRng(`train-vs-pytorch/${shapeName}/${model}/init`);
  const noiseRng = createRng(`train-vs-pytorch/${shapeName}/${model}/check-noise`);
  const B = s.batch[model];
  const T = s.blockSize;
  const batch = {
    ids: randomIds(createRng(`train-vs-pytorch/${shapeName}/batch`), B * T, s.vocab),
    shape: [B, T] as [number, number],
  };
  const special = { vocabSize: s.vocab, bosTokenId: s.vocab - 3, eosTokenId: s.vocab - 2, padTokenId: s.vocab - 1 };

  if (model === 'ae') {
    const { cfg, params } = aeFor(shapeName, rng);
    const n = sampleAutoencoderNoise(cfg, B, T, noiseRng);
    const S = T / cfg.patchSize;
    return {
      task: autoencoderTrainTask(params, cfg),
      weights: params,
      configs: { ae: aeToPy(cfg) },
      batch,
      noise: {
        'noise.token_mask': { shape: [B, T], data: n.tokenMask },
        'noise.eps': { shape: [B, S, cfg.latentSize], data: n.eps },
        'noise.latent_keep': { shape: [B, S, cfg.latentSize], data: n.latentKeep },
      },
      checkLoss: (ids) => autoencoderLoss(params, cfg, ids, { training: true, noise: n }),
      dispose: () => tf.dispose(Object.values(params)),
    };
  }
  if (model === 'calm') {
    const ae = aeFor(shapeName, createRng(`train-vs-pytorch/${shapeName}/ae/init`));
    const cfg = calmConfig({ ...special, ...s.backbone, ...s.calm, patchSize: ae.cfg.patchSize });
    const calm = new CalmModel(cfg, ae.cfg, { rng, aeParams: ae.params });
    // The head's last Linear is zero-initialised officially, which makes every head sample 0 and
    // the loss independent of the backbone; a small random init lets the check cover the whole
    // model (the cost of a step does not depend on it).
    const last = calm.params['mlp_generator.final_layer.linears.2.weight']!;
    tf.tidy(() => last.assign(tf.tensor(rng.fillNormal(new Float32Array(last.size), 0, 0.02), last.shape)));
    const L = T / cfg.patchSize - 1;
    const head = noiseRng.fillUniform(new Float32Array(B * L * cfg.numSamples * cfg.noiseSize), -0.5, 0.5);
    const target = noiseRng.fillNormal(new Float32Array(B * L * cfg.numTargetSamples * cfg.latentSize));
    const headShape = [B, L, cfg.numSamples, cfg.noiseSize];
    const targetShape = [B, L, cfg.numTargetSamples, cfg.latentSize];
    const weights: Record<string, tf.Tensor> = { ...calm.params };
    for (const [k, v] of Object.entries(ae.params)) weights[`ae_model.${k}`] = v;
    return {
      task: calmTrainTask(calm, { blockSize: T }),
      weights,
      configs: { ae: aeToPy(ae.cfg), lm: calmToPy(cfg) },
      batch,
      noise: {
        'noise.head': { shape: headShape, data: head },
        'noise.target': { shape: targetShape, data: target },
      },
      checkLoss: (ids) =>
        tf.tidy(() =>
          calm.loss(ids, {
            noise: {
              head: tf.tensor4d(head, headShape as [number, number, number, number]),
              target: tf.tensor4d(target, targetShape as [number, number, number, number]),
            },
          }),
        ),
      dispose: () => calm.dispose(),
    };
  }
  const cfg = arConfig({ ...special, ...s.backbone });
  const ar = new ArModel(cfg, { rng });
  return {
    task: arTrainTask(ar, { blockSize: T }),
    weights: ar.params,
    configs: { lm: llamaToPy(cfg) },
    batch,
    noise: {},
    checkLoss: (ids) => ar.loss(ids),
    dispose: () => ar.dispose(),
  };
}

/** Loss and global gradient norm of the project on the batch with the injected noise. */
async function projectCheck(b: Built): Promise<{ loss: number; gradNorm: number }> {
  const ids = tf.tensor2d(b.batch.ids, b.batch.shape, 'int32');
  const { value, grads } = paramGrads(() => b.checkLoss(ids), b.task.params);
  const norm = globalNorm(grads);
  const out = { loss: (await value.data())[0]!, gradNorm: (await norm.data())[0]! };
  tf.dispose([ids, value, norm, ...Object.values(grads)]);
  return out;
}

// ---------------------------------------------------------------- the PyTorch process

const MULTIARCH: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/** Debian's OpenBLAS folder (openmp variant first), or null (torch then gets the system BLAS). */
function openblasDir(): string | null {
  if (process.env['CALM_BENCH_BLAS_DIR']) return process.env['CALM_BENCH_BLAS_DIR'];
  const arch = MULTIARCH[process.arch];
  if (!arch) return null;
  for (const v of ['openblas-openmp', 'openblas-pthread']) {
    const dir = `/usr/lib/${arch}/${v}`;
    if (existsSync(join(dir, 'libblas.so.3'))) return dir;
  }
  return null;
}

function cpuinfo(): { model: string; flags: Set<string> } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    return {
      model: /^model name\s*:\s*(.*)$/m.exec(text)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown',
      flags: new Set((/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/)),
    };
  } catch {
    return { model: cpus()[0]?.model ?? 'unknown', flags: new Set() };
  }
}

/**
 * OPENBLAS_CORETYPE for the PyTorch process: the caller's if set; SkylakeX when the CPU has the
 * AVX-512 subsets that kernel uses (OpenBLAS 0.3.21's detection picks a slow kernel on Sapphire
 * Rapids); otherwise unset, leaving OpenBLAS's own detection (SkylakeX would be an illegal
 * instruction on a CPU without AVX-512, e.g. AMD EPYC before Zen 4).
 */
function coretype(flags: Set<string>): { value: string | null; why: string } {
  const env = process.env['OPENBLAS_CORETYPE'];
  if (env) return { value: env, why: 'from the environment' };
  const avx512 = ['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'];
  if (avx512.every((f) => flags.has(f))) return { value: 'SkylakeX', why: `/proc/cpuinfo has ${avx512.join(', ')}` };
  return { value: null, why: 'no AVX-512 in /proc/cpuinfo: OpenBLAS detects the core itself' };
}

interface PyInfo {
  torch: string;
  threads: number;
  mappedBlasLibraries: string[];
  openblas: { library: string; corename: string; config: string; threads: number } | null;
  configShowBlas: string[];
  env: Record<string, string | null>;
}

function pythonEnv(threads: number, blasDir: string | null, core: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
  };
  if (blasDir) env['LD_LIBRARY_PATH'] = [blasDir, process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':');
  if (core) env['OPENBLAS_CORETYPE'] = core;
  return env;
}

/** A running train_step.py, read as JSON lines. */
class Py {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private waiter: ((line: string | null) => void) | null = null;
  private closed = false;
  private stderr = '';

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(PYTHON, ['-B', PY_SCRIPT, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    const rl = createInterface({ input: this.child.stdout });
    rl.on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(l);
      } else this.lines.push(l);
    });
    rl.on('close', () => {
      this.closed = true;
      this.waiter?.(null);
      this.waiter = null;
    });
    this.child.on('error', (e) => {
      this.stderr += `\n${e.message}`;
    });
  }

  /** The next JSON line, which must be the given event. */
  async next<T>(event: string): Promise<T> {
    const line =
      this.lines.shift() ?? (this.closed ? null : await new Promise<string | null>((r) => (this.waiter = r)));
    if (line === null)
      throw new Error(
        `train_step.py ended before "${event}".${this.stderr ? `\n${this.stderr.trim()}` : ''}\n(needs Debian's python3-torch: apt-get install -y python3-torch libopenblas0-openmp; or pass --python)`,
      );
    const obj = JSON.parse(line) as { event: string };
    if (obj.event !== event) throw new Error(`train_step.py: expected "${event}", got ${line.slice(0, 200)}`);
    return obj as T;
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    if (this.child.exitCode === null && this.child.signalCode === null)
      await new Promise((r) => this.child.once('exit', r));
  }

  /** Ends the process if it is still running (after a failure on our side). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }
}

// ---------------------------------------------------------------- one row

interface Row {
  model: ModelKind;
  shape: ShapeName;
  cores: CoresName;
  coresUsed: number;
  batch: [number, number];
  tokensPerStep: number;
  projectTokensPerSec: number | null;
  pytorchTokensPerSec: number | null;
  ratio: number | null;
  lossCheck: { project: number; pytorch: number; absDiff: number; tolerance: number; ok: boolean };
  gradNormCheck: { project: number; pytorch: number; relDiff: number; tolerance: number; ok: boolean };
  dataParallel: boolean | null;
  projectStepMs: number[];
  pytorchStepMs: number[];
  lastLoss: { project: number; pytorch: number } | null;
  leakedTensors: number;
  pytorch: {
    version: string;
    blas: string;
    threads: number;
    coretype: { set: string | null; why: string; detected: string | null };
    detail: PyInfo;
  };
  error?: string;
}

const BLAS_DIR = openblasDir();
const CPU = cpuinfo();
const CORETYPE = coretype(CPU.flags);

function blasSummary(info: PyInfo): string {
  if (info.openblas) {
    const variant = /openblas-(openmp|pthread)/.exec(info.openblas.library)?.[1] ?? '';
    return `OpenBLAS ${/OpenBLAS ([\d.]+)/.exec(info.openblas.config)?.[1] ?? ''}${variant ? ` (${variant})` : ''}, ${info.openblas.corename} kernels: ${info.openblas.library}`;
  }
  return `not OpenBLAS (reference BLAS?): ${info.mappedBlasLibraries.join(', ') || 'no BLAS library mapped'}`;
}

async function runRow(model: ModelKind, shapeName: ShapeName, coresName: CoresName, dir: string): Promise<Row> {
  const cores = coresName === '1' ? 1 : availableParallelism();
  const env = pythonEnv(cores, BLAS_DIR, CORETYPE.value);
  const built = build(model, shapeName);
  const s = SHAPE[shapeName];
  const tokensPerStep = built.batch.shape[0] * built.batch.shape[1];
  const weightsFile = join(dir, `${shapeName}-${model}-weights.safetensors`);
  const batchFile = join(dir, `${shapeName}-${model}-batch.safetensors`);
  const lr = s.lr[model];
  const optimizer = new AdamW(built.task.params, { lr, ...OPTIMIZER }); // the decay groups and the check
  let stepperToClose: { close(): Promise<void> } | undefined;
  let py: Py | undefined;
  try {
    // Weights with the official names; settings in the metadata; the same decay set on both sides.
    const decay = Object.keys(built.task.params).filter((k) => optimizer.isDecayed(k));
    const meta = {
      model,
      shape: shapeName,
      ...built.configs,
      optimizer: {
        lr,
        beta1: OPTIMIZER.beta1,
        beta2: OPTIMIZER.beta2,
        eps: OPTIMIZER.eps,
        weight_decay: OPTIMIZER.weightDecay,
        max_grad_norm: MAX_GRAD_NORM,
        decay,
      },
    };
    await saveParams(weightsFile, built.weights, { bench: JSON.stringify(meta) });
    await writeSafetensorsFile(batchFile, {
      'input.ids': { shape: built.batch.shape, data: built.batch.ids },
      ...built.noise,
    });
    const pyArgs = ['--weights', weightsFile, '--batch', batchFile, '--threads', String(cores)];

    // 1. The same loss (and gradient norm) on the same batch with the same noise.
    const ours = await projectCheck(built);
    const checker = new Py(['check', ...pyArgs], env);
    const theirs = await checker.next<{ loss: number; gradNorm: number; info: PyInfo }>('check');
    await checker.close();
    const absDiff = Math.abs(ours.loss - theirs.loss);
    const lossTol = TOL * Math.max(1, Math.abs(theirs.loss));
    const relGrad = Math.abs(ours.gradNorm - theirs.gradNorm) / Math.max(Math.abs(theirs.gradNorm), 1e-12);
    const base = {
      model,
      shape: shapeName,
      cores: coresName,
      coresUsed: cores,
      batch: built.batch.shape,
      tokensPerStep,
      lossCheck: { project: ours.loss, pytorch: theirs.loss, absDiff, tolerance: lossTol, ok: absDiff <= lossTol },
      gradNormCheck: {
        project: ours.gradNorm,
        pytorch: theirs.gradNorm,
        relDiff: relGrad,
        tolerance: GRAD_TOL,
        ok: relGrad <= GRAD_TOL,
      },
    };
    const pytorchOf = (info: PyInfo): Row['pytorch'] => ({
      version: info.torch,
      blas: blasSummary(info),
      threads: info.threads,
      coretype: { set: CORETYPE.value, why: CORETYPE.why, detected: info.openblas?.corename ?? null },
      detail: info,
    });
    if (!base.lossCheck.ok || !base.gradNormCheck.ok) {
      return {
        ...base,
        projectTokensPerSec: null,
        pytorchTokensPerSec: null,
        ratio: null,
        dataParallel: null,
        projectStepMs: [],
        pytorchStepMs: [],
        lastLoss: null,
        leakedTensors: 0,
        pytorch: pytorchOf(theirs.info),
        error: `the project and PyTorch disagree (loss ${ours.loss} vs ${theirs.loss}, gradient norm ${ours.gradNorm} vs ${theirs.gradNorm}); not timed`,
      };
    }

    // 2. Timing: warm-up on both sides, then repetitions alternating between the two (the side
    // that goes first alternates too), so both see the same machine load.
    const stepper = await createTrainStepper(built.task, {
      optimizer: { lr, ...OPTIMIZER },
      maxGradNorm: MAX_GRAD_NORM,
      seed: `train-vs-pytorch/${shapeName}/${model}/train`,
      workers: cores,
    });
    stepperToClose = stepper;
    const run: ProjectRun = { stepper, batch: built.batch, lr };
    let dataParallel = false;
    const step = async (): Promise<number> => {
      const r = await projectStep(run);
      dataParallel = r.dataParallel;
      return r.loss;
    };
    const timer = new Py(
      ['time', ...pyArgs, '--warmup', String(WARMUP), '--steps', String(STEPS), '--reps', String(REPS), '--interleave'],
      env,
    );
    py = timer;
    const ready = await timer.next<{ info: PyInfo }>('ready');
    const warmStart = performance.now();
    for (let i = 0; i < WARMUP || performance.now() - warmStart < WARMUP_MS; i++) await step();
    const tensorsBefore = tf.memory().numTensors;
    const projectMs: number[] = [];
    const pytorchMs: number[] = [];
    let lastProject = Number.NaN;
    let lastPytorch = Number.NaN;
    const pytorchRep = async () => {
      timer.send('go');
      const rep = await timer.next<{ stepMs: number[]; loss: number }>('rep');
      pytorchMs.push(...rep.stepMs);
      lastPytorch = rep.loss;
    };
    const projectRep = async () => {
      for (let i = 0; i < STEPS; i++) {
        const t0 = performance.now();
        lastProject = await step();
        projectMs.push(performance.now() - t0);
      }
    };
    for (let r = 0; r < REPS; r++) {
      if (r % 2 === 0) {
        await pytorchRep();
        await projectRep();
      } else {
        await projectRep();
        await pytorchRep();
      }
    }
    await timer.next('done');
    await timer.close();
    py = undefined;
    const leakedTensors = tf.memory().numTensors - tensorsBefore;
    const projectTokensPerSec = tokensPerStep / (median(projectMs) / 1000);
    const pytorchTokensPerSec = tokensPerStep / (median(pytorchMs) / 1000);
    return {
      ...base,
      projectTokensPerSec,
      pytorchTokensPerSec,
      ratio: projectTokensPerSec / pytorchTokensPerSec,
      dataParallel,
      projectStepMs: projectMs,
      pytorchStepMs: pytorchMs,
      lastLoss: { project: lastProject, pytorch: lastPytorch },
      leakedTensors,
      pytorch: pytorchOf(ready.info),
    };
  } finally {
    py?.kill();
    await stepperToClose?.close();
    optimizer.dispose();
    built.dispose();
    if (!KEEP) {
      rmSync(weightsFile, { force: true });
      rmSync(batchFile, { force: true });
    }
  }
}

// ---------------------------------------------------------------- main

function gitSha(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

const backend = await initBackend({ backend: 'wasm', threads: 1 });
const loadStart = loadavg();
console.log(`project: ${backend.detail}`);
console.log(
  `pytorch: ${PYTHON} ${PY_SCRIPT}; LD_LIBRARY_PATH=${BLAS_DIR ?? '(none: no Debian OpenBLAS found, the system BLAS is used)'}; OPENBLAS_CORETYPE=${CORETYPE.value ?? '(unset)'} (${CORETYPE.why})`,
);
console.log(
  `cpu: ${CPU.model}, ${availableParallelism()} cores; load ${loadStart.map((x) => x.toFixed(2)).join(' ')}; warm-up ${WARMUP} steps (the project's side at least ${WARMUP_MS} ms), ${REPS} × ${STEPS} timed steps per side and row\n`,
);

const dir = mkdtempSync(join(tmpdir(), 'calm-train-vs-pytorch-'));
const rows: Row[] = [];
const failures: Array<{ model: ModelKind; shape: ShapeName; cores: CoresName; error: string }> = [];
try {
  for (const shape of SHAPES)
    for (const model of MODELS)
      for (const cores of CORES) {
        let row: Row;
        try {
          row = await runRow(model, shape, cores, dir);
        } catch (e) {
          // e.g. the PyTorch process failed; a wasm abort ends the whole run instead.
          const error = (e as Error).message;
          failures.push({ model, shape, cores, error });
          console.log(`${shape} ${model} cores=${cores}: FAILED: ${error}`);
          continue;
        }
        rows.push(row);
        const c = row.lossCheck;
        console.log(
          `${shape} ${model} cores=${cores}: loss ${c.project.toFixed(6)} (project) vs ${c.pytorch.toFixed(6)} (PyTorch), |Δ| ${c.absDiff.toExponential(2)}; grad norm rel Δ ${row.gradNormCheck.relDiff.toExponential(2)}; ${
            row.error ??
            `${row.projectTokensPerSec!.toFixed(0)} vs ${row.pytorchTokensPerSec!.toFixed(0)} tok/s (${row.pytorch.blas}, ${row.pytorch.threads} thread${row.pytorch.threads === 1 ? '' : 's'})`
          }${row.leakedTensors ? `; WARNING: ${row.leakedTensors} tensors leaked` : ''}`,
        );
      }
} finally {
  if (KEEP) console.log(`kept the weights and batches in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

const fmt = (x: number | null, d = 0) => (x === null ? '–' : x.toFixed(d));
console.log('\n| model | shape | cores | batch | project tok/s | PyTorch tok/s | ratio | loss |Δ| | data-parallel |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.model} | ${r.shape} | ${r.cores}${r.cores === 'all' ? ` (${r.coresUsed})` : ''} | ${r.batch.join('×')} | ${fmt(r.projectTokensPerSec)} | ${fmt(r.pytorchTokensPerSec)} | ${fmt(r.ratio, 3)} | ${r.lossCheck.absDiff.toExponential(1)} | ${r.dataParallel === null ? '–' : r.dataParallel ? 'yes' : 'no'} |`,
  );
const first = rows.find((r) => !r.error) ?? rows[0];
if (first)
  console.log(
    `\nPyTorch ${first.pytorch.version}, ${first.pytorch.blas}; OPENBLAS_CORETYPE ${first.pytorch.coretype.set ?? 'unset'} (detected core: ${first.pytorch.coretype.detected ?? 'n/a'})`,
  );

const result = {
  bench: 'train-vs-pytorch',
  date: new Date().toISOString(),
  machine: {
    cpu: CPU.model,
    cores: availableParallelism(),
    avx2: CPU.flags.has('avx2'),
    avx512f: CPU.flags.has('avx512f'),
    node: process.version,
    tfjs: tf.version_core,
    backend: backend.detail,
    sha: gitSha(),
    loadavgStart: loadStart,
    loadavgEnd: loadavg(),
  },
  settings: {
    warmup: WARMUP,
    projectWarmupMs: WARMUP_MS,
    reps: REPS,
    stepsPerRep: STEPS,
    lossTolerance: `|Δ| ≤ ${TOL}·max(1, |loss|)`,
    gradNormTolerance: GRAD_TOL,
    python: PYTHON,
    ldLibraryPath: BLAS_DIR,
    openblasCoretype: { set: CORETYPE.value, why: CORETYPE.why },
    shapes: Object.fromEntries(SHAPES.map((n) => [n, SHAPE[n]])),
    optimizer: { ...OPTIMIZER, maxGradNorm: MAX_GRAD_NORM, schedule: 'constant' },
    tokensPerSec: 'B × T input tokens per optimiser step / median step time',
  },
  rows,
  failures,
};
const outDir = process.env['CALM_BENCH_RESULTS'] ?? fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, `train-vs-pytorch${TAG ? `-${TAG}` : ''}.json`);
writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwrote ${outFile}`);
if (failures.length || rows.some((r) => r.error)) process.exitCode = 1;
