// Benchmark of @calm/autoencoder: trains a tiny byte-level autoencoder (K = 4, V = 256 bytes +
// EOS/PAD/BOS) on WikiText-103 documents with the official loss on the wasm backend, within a
// time budget, then measures token and whole-chunk reconstruction accuracy on *other* documents —
// with the posterior mean, a posterior sample, and the mean plus Gaussian noise of σ = 0.3 (the
// paper's robustness property). Checks correctness first (byte tokenizer round trip; the loss of
// the PyTorch parity fixture on this backend), reports step-time percentiles, prints a table and
// writes JSON to bench/results/autoencoder-train.json.
//
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/autoencoder-train.ts [options]
//   --data <path>        WikiText JSONL ({"text": ...} per line)   [shared data folder]
//   --budget <seconds>   wall-clock budget of the whole run         [900]
//   --eval-docs <n>      documents held out for evaluation (the last n)  [10]
//   --steps <n>          train exactly n steps (cosine schedule over n) instead of until the budget
//   --hidden, --intermediate, --latent, --batch, --lr, --seed, --threads 1|2, --eval-reserve <s>, --out <path>
// Without --steps the cosine schedule follows the fraction of the training time spent, so the run
// adapts to a shared, noisy machine (the step count then varies between runs).
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, type Rng } from '@calm/core';
import { readSafetensorsFile } from '@calm/core/node';
import { AdamW, countParams, disposeParams, initBackend } from '@calm/nn';
import { SHARED_DATA_DIR } from '@calm/testing';
import {
  autoencoderConfig,
  autoencoderLoss,
  autoencoderParamShapes,
  autoencoderParamsFromStateDict,
  autoencoderTrainStep,
  createAutoencoderParams,
  evaluateReconstruction,
  type AutoencoderConfig,
  type ReconstructionResult,
} from '@calm/autoencoder';

const t0 = performance.now();
const elapsed = (): number => (performance.now() - t0) / 1000;

// ---------------------------------------------------------------------------------------------
// Options

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const here = dirname(fileURLToPath(import.meta.url));
const opts = {
  data: arg('data', join(SHARED_DATA_DIR, 'wikitext-103-document-test.jsonl')),
  budget: Number(arg('budget', '900')),
  evalDocs: Number(arg('eval-docs', '10')),
  hidden: Number(arg('hidden', '128')),
  intermediate: Number(arg('intermediate', '128')),
  latent: Number(arg('latent', '64')),
  batch: Number(arg('batch', '256')),
  lr: Number(arg('lr', '3e-3')),
  steps: Number(arg('steps', '0')),
  seed: Number(arg('seed', '1')),
  threads: Number(arg('threads', '1')) as 1 | 2,
  evalReserve: Number(arg('eval-reserve', '100')),
  out: arg('out', join(here, '..', 'results', 'autoencoder-train.json')),
};

// ---------------------------------------------------------------------------------------------
// A byte-level tokenizer: UTF-8 bytes are ids 0..255, then EOS, PAD, BOS.

const EOS = 256;
const PAD = 257;
const BOS = 258;
const VOCAB = 259;
const K = 4;

function encodeText(text: string): Int32Array {
  return Int32Array.from(new TextEncoder().encode(text));
}
function decodeIds(ids: ArrayLike<number>): string {
  const bytes: number[] = [];
  for (let i = 0; i < ids.length; i++) if (ids[i]! < 256) bytes.push(ids[i]!);
  return new TextDecoder().decode(Uint8Array.from(bytes));
}
/** The official AE data layout (spec §1.3): each document + EOS, right-padded with PAD to a multiple of K. */
function documentStream(docs: string[]): Int32Array {
  const parts: Int32Array[] = [];
  let n = 0;
  for (const d of docs) {
    const ids = encodeText(d);
    const len = Math.ceil((ids.length + 1) / K) * K;
    const p = new Int32Array(len).fill(PAD);
    p.set(ids);
    p[ids.length] = EOS;
    parts.push(p);
    n += len;
  }
  const out = new Int32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Correctness checks

const info = await initBackend({ backend: 'wasm', threads: opts.threads });
const docs = readFileSync(opts.data, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => (JSON.parse(l) as { text: string }).text);
if (docs.length <= opts.evalDocs)
  throw new Error(`${opts.data} has ${docs.length} documents; need more than --eval-docs ${opts.evalDocs}.`);
const trainDocs = docs.slice(0, docs.length - opts.evalDocs);
const evalDocs = docs.slice(docs.length - opts.evalDocs);
for (const d of evalDocs) if (decodeIds(encodeText(d)) !== d) throw new Error('byte tokenizer round trip failed');
const train = documentStream(trainDocs);
const heldOut = documentStream(evalDocs);
const trainChunks = train.length / K;

async function checkParity(): Promise<number> {
  const file = join(here, '..', '..', 'packages', 'autoencoder', 'test', 'fixtures', 'ae-tiny.safetensors');
  const { metadata, tensors } = await readSafetensorsFile(file);
  const ae = (JSON.parse(metadata.config!) as { ae: Record<string, number> }).ae;
  const config = autoencoderConfig({
    vocabSize: ae.vocab_size!,
    hiddenSize: ae.hidden_size!,
    intermediateSize: ae.intermediate_size!,
    latentSize: ae.latent_size!,
    patchSize: ae.patch_size!,
  });
  const shapes = autoencoderParamShapes(config);
  const { params } = autoencoderParamsFromStateDict(config, new Map([...tensors].filter(([k]) => k in shapes)));
  const get = (n: string) => tensors.get(n)!;
  const ids = tf.tensor2d(get('input.ids').data as Int32Array, get('input.ids').shape as [number, number], 'int32');
  const loss = autoencoderLoss(params, config, ids, {
    noise: {
      tokenMask: get('noise.token_mask').data,
      eps: get('noise.eps').data,
      latentKeep: get('noise.latent_keep').data,
    },
  });
  const diff = Math.abs((await loss.data())[0]! - get('expected.loss').data[0]!);
  tf.dispose([ids, loss]);
  disposeParams(params);
  if (!(diff < 1e-4)) throw new Error(`parity check failed: |loss - expected| = ${diff}`);
  return diff;
}
const parityDiff = await checkParity();

// ---------------------------------------------------------------------------------------------
// Training

const config: AutoencoderConfig = autoencoderConfig({
  vocabSize: VOCAB,
  hiddenSize: opts.hidden,
  intermediateSize: opts.intermediate,
  latentSize: opts.latent,
  patchSize: K,
  padTokenId: PAD,
  bosTokenId: BOS,
  eosTokenId: EOS,
});
const params = createAutoencoderParams(config, createRng(opts.seed));
const opt = new AdamW(params, { lr: opts.lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
const noiseRng = createRng(opts.seed + 1);
const dataRng = createRng(opts.seed + 2);

function sampleBatch(rng: Rng): Int32Array {
  const out = new Int32Array(opts.batch * K);
  for (let b = 0; b < opts.batch; b++) {
    const c = rng.int(trainChunks);
    out.set(train.subarray(c * K, c * K + K), b * K);
  }
  return out;
}

/** Linear warm-up over 100 steps, then cosine decay to 5 % over `progress` ∈ [0, 1]. */
function lrAt(step: number, progress: number): number {
  if (step < 100) return (opts.lr * (step + 1)) / 100;
  const p = Math.min(1, Math.max(0, progress));
  return opts.lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * p)));
}

const trainBudget = opts.budget - opts.evalReserve - elapsed();
const stepTimes: number[] = [];
let step = 0;
let lastLoss = Number.NaN;
let tensorsAfterFirst = 0;
const log: Array<{ step: number; seconds: number; loss: number; lr: number }> = [];
const trainStart = performance.now();
while (true) {
  const spent = (performance.now() - trainStart) / 1000;
  if (opts.steps > 0 ? step >= opts.steps : spent >= trainBudget) break;
  const progress = opts.steps > 0 ? (step - 100) / Math.max(1, opts.steps - 100) : spent / trainBudget;
  const lr = lrAt(step, progress);
  const s0 = performance.now();
  const ids = tf.tensor2d(sampleBatch(dataRng), [opts.batch, K], 'int32');
  const { loss, gradNorm } = autoencoderTrainStep(params, config, opt, ids, { rng: noiseRng, lr });
  ids.dispose();
  if (step % 100 === 0) {
    lastLoss = (await loss.data())[0]!;
    log.push({ step, seconds: Math.round(spent), loss: lastLoss, lr });
    process.stderr.write(`step ${step} t=${spent.toFixed(0)}s loss ${lastLoss.toFixed(4)} lr ${lr.toExponential(2)}\n`);
  }
  tf.dispose([loss, gradNorm]);
  stepTimes.push(performance.now() - s0);
  if (step === 0) tensorsAfterFirst = tf.memory().numTensors; // AdamW creates its moments at the first step
  step++;
}
const trainSeconds = (performance.now() - trainStart) / 1000;
const leaked = tf.memory().numTensors - tensorsAfterFirst;

// ---------------------------------------------------------------------------------------------
// Evaluation on held-out documents

const evalStart = performance.now();
const rows: Array<{ name: string; r: ReconstructionResult }> = [];
const evalRng = createRng(opts.seed + 3);
for (const [name, o] of [
  ['posterior mean', { latent: 'mean' as const }],
  ['posterior sample', { latent: 'sample' as const, rng: evalRng }],
  ['mean + N(0, 0.3²)', { latent: 'mean' as const, noiseStd: 0.3, rng: evalRng }],
  ['sample + N(0, 0.3²)', { latent: 'sample' as const, noiseStd: 0.3, rng: evalRng }],
] as const) {
  rows.push({
    name,
    r: await evaluateReconstruction(params, config, heldOut, { ...o, ignoreTokenId: PAD, batchSize: 2048 }),
  });
}
const withPad = await evaluateReconstruction(params, config, heldOut, { latent: 'mean', batchSize: 2048 });
const evalSeconds = (performance.now() - evalStart) / 1000;

// ---------------------------------------------------------------------------------------------
// Report

const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const warm = stepTimes.slice(5);
const pct = (x: number) => `${(100 * x).toFixed(3)} %`;
console.log(
  `\n@calm/autoencoder byte-level AE on WikiText-103 (${info.detail}; ${cpus().length} cores, load avg ${loadavg()[0]!.toFixed(1)} at end)`,
);
console.log(
  `config: V=${VOCAB} K=${K} H=${config.hiddenSize} I=${config.intermediateSize} L=${config.latentSize} layers 2+2 (${countParams(params)} parameters), batch ${opts.batch} chunks, lr ${opts.lr} (100-step warm-up + cosine${opts.steps > 0 ? ` over ${opts.steps} steps` : ' over the time budget'}), official loss (dropout ${config.aeDropout}, KL clamp ${config.klClamp}, β ${config.klWeight})`,
);
console.log(
  `data: ${trainDocs.length} train docs (${train.length} tokens), ${evalDocs.length} held-out docs (${heldOut.length} tokens incl. PAD); parity check |Δloss| = ${parityDiff.toExponential(1)}`,
);
console.log(
  `training: ${step} steps in ${trainSeconds.toFixed(0)} s (${((step * opts.batch) / trainChunks).toFixed(2)} epochs); step time median ${q(warm, 0.5).toFixed(0)} ms, p10 ${q(warm, 0.1).toFixed(0)} ms, p90 ${q(warm, 0.9).toFixed(0)} ms; final loss ${lastLoss.toFixed(4)}; tensor count change after step 1: ${leaked}`,
);
console.log('');
console.log('| held-out latent | token accuracy | chunk accuracy | tokens |');
console.log('|---|---|---|---|');
for (const { name, r } of rows)
  console.log(`| ${name} | ${pct(r.tokenAccuracy)} | ${pct(r.chunkAccuracy)} | ${r.tokens} |`);
console.log(
  `| posterior mean, PAD counted | ${pct(withPad.tokenAccuracy)} | ${pct(withPad.chunkAccuracy)} | ${withPad.tokens} |`,
);
console.log(`\nevaluation ${evalSeconds.toFixed(0)} s; whole run ${elapsed().toFixed(0)} s (budget ${opts.budget} s)`);

mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(
  opts.out,
  `${JSON.stringify(
    {
      bench: 'autoencoder-train',
      date: new Date().toISOString(),
      backend: info.detail,
      cores: cpus().length,
      loadAverageAtEnd: loadavg(),
      options: opts,
      config,
      parameters: countParams(params),
      data: {
        trainDocs: trainDocs.length,
        trainTokens: train.length,
        evalDocs: evalDocs.length,
        evalTokens: heldOut.length,
      },
      parityLossDiff: parityDiff,
      training: {
        steps: step,
        seconds: trainSeconds,
        epochs: (step * opts.batch) / trainChunks,
        stepMs: { median: q(warm, 0.5), p10: q(warm, 0.1), p90: q(warm, 0.9) },
        finalLoss: lastLoss,
        tensorsLeaked: leaked,
        log,
      },
      evaluation: {
        seconds: evalSeconds,
        ignorePad: Object.fromEntries(rows.map(({ name, r }) => [name, r])),
        padCounted: withPad,
      },
      totalSeconds: elapsed(),
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${opts.out}`);
disposeParams(params);
opt.dispose();
