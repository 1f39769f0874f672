// `calm quickstart` (Node only): the whole CALM recipe at toy scale on the embedded State of the
// Union corpus, offline, in a fixed wall-clock budget — a small BPE tokenizer, stage 1 (the
// autoencoder), stage 2 (CALM with the autoencoder frozen), a matching AR baseline, BrierLM of
// both and of the n-gram reference on held-out text, a sample at T = 1/2, plots and a report.

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng } from '@calm/core';
import { pathExists, writeTextAtomic } from '@calm/core/node';
import { autoencoderConfig, createAutoencoderParams, evaluateReconstruction } from '@calm/autoencoder';
import { NGramModel, evaluateBrierLM, type BrierLMResult } from '@calm/brierlm';
import { createBlockStream, packEvalBlocks, type BatchEncoder, type Tokenizer } from '@calm/data-pile';
import { loadSotuCorpus, trainBpeTokenizer } from '@calm/data-pile/node';
import { countParams, initBackend, type LrSchedule } from '@calm/nn';
import { ArModel } from './ar-model.js';
import { CalmModel } from './calm-model.js';
import { arConfig, calmConfig } from './config.js';
import { evaluateAr, evaluateCalm } from './evaluate.js';
import { arInferenceFlops, calmInferenceFlops } from './flops.js';
import { generateCalm } from './generate.js';
import { fail } from './internal/errors.js';
import { brierVsFlopsSpec, trainingCurvesSpec, writePlot } from './plots.js';
import { summary } from './run.js';
import { readMetrics, runTraining, type MetricRecord, type TrainResult } from './train-loop.js';
import { arTrainTask, autoencoderTrainTask, calmTrainTask } from './train-tasks.js';

/**
 * Options of {@link runQuickstart}.
 * @category Quickstart
 */
export interface QuickstartOptions {
  /** Output folder (created; a previous quickstart's output there is replaced). */
  outDir: string;
  /** Wall-clock budget for the whole run, in minutes (training phases scale with it). @defaultValue 10 */
  budgetMinutes?: number;
  /** Seed of every random draw. @defaultValue 1 */
  seed?: number;
  /** Order of the n-gram reference generator that CALM is compared with. @defaultValue 2 */
  ngramOrder?: number;
  /** Held-out blocks of 256 tokens in the final evaluation. @defaultValue 48 */
  evalBlocks?: number;
  /** Receives phase starts, progress and log lines (the CLI draws progress bars from them). */
  onEvent?: (event: QuickstartEvent) => void;
  /** Aborts between steps. */
  signal?: AbortSignal;
  /** Select the wasm backend (unless `CALM_BACKEND` says otherwise). @defaultValue true */
  initBackend?: boolean;
}

/**
 * Events reported by {@link runQuickstart}.
 * @category Quickstart
 */
export type QuickstartEvent =
  | { /** A phase starts. */ type: 'phase'; /** Its name. */ phase: string; /** Work units (steps or blocks), when known. */ total: number; /** Unit of `rate`. */ unit: string }
  | { /** Progress within the current phase. */ type: 'progress'; /** Phase name. */ phase: string; /** Units done. */ value: number; /** Updated total. */ total?: number; /** Throughput. */ rate?: number; /** Short note (loss, ETA). */ note?: string }
  | { /** The current phase ended. */ type: 'phaseEnd'; /** Phase name. */ phase: string }
  | { /** A log line. */ type: 'log'; /** The text. */ message: string };

/**
 * The BrierLM numbers of one generator in the quickstart report.
 * @category Quickstart
 */
export interface QuickstartBrier {
  /** BrierLM ×100. */
  brierLM: number;
  /** Its standard error. */
  brierLMStderr: number;
  /** Brier-1..4. */
  brier: number[];
  /** Scored positions. */
  positions: number;
}

/**
 * What {@link runQuickstart} measured and wrote (also saved as `metrics.json`).
 * @category Quickstart
 */
export interface QuickstartResult {
  /** Output folder. */
  outDir: string;
  /** Seed. */
  seed: number;
  /** Budget in minutes. */
  budgetMinutes: number;
  /** Total wall-clock milliseconds. */
  elapsedMs: number;
  /** The compute backend. */
  backend: string;
  /** Tokenizer and data sizes. */
  data: { vocabSize: number; trainTokens: number; heldOutTokens: number; evalBlocks: number; blockSize: number };
  /** Stage 1. */
  autoencoder: { params: number; steps: number; tokens: number; flops: number; tokenAccuracy: number; chunkAccuracy: number };
  /** Stage 2. */
  calm: { params: number; steps: number; tokens: number; flops: number; inferenceFlopsPerToken: number; brier: QuickstartBrier };
  /** The AR baseline. */
  ar: { params: number; steps: number; tokens: number; flops: number; inferenceFlopsPerToken: number; brier: QuickstartBrier };
  /** The n-gram reference generator of `@calm/brierlm` (explicit probabilities). */
  ngram: { order: number; brier: QuickstartBrier };
  /** Whether CALM's BrierLM exceeds the n-gram reference's on the same held-out text. */
  calmBeatsNgram: boolean;
  /** A CALM sample at temperature 1/2 (batch approximation, pool 200). */
  sample: { prompt: string; text: string; temperature: number };
  /** Files written, relative to `outDir`. */
  files: string[];
}

/** Caches token ids per text so the three training streams tokenise the corpus once. */
function cachedEncoder(tokenizer: Tokenizer): BatchEncoder {
  const cache = new Map<string, Int32Array>();
  return {
    async encodeBatch(texts: readonly string[]) {
      const missing = texts.filter((t) => !cache.has(t));
      if (missing.length) (await tokenizer.encodeBatch(missing)).forEach((ids, i) => cache.set(missing[i]!, ids));
      return texts.map((t) => cache.get(t)!);
    },
  };
}

function brierOf(r: BrierLMResult): QuickstartBrier {
  return { brierLM: r.brierLM, brierLMStderr: r.brierLMStderr, brier: [...r.brier], positions: r.numPositions };
}

/**
 * A learning-rate schedule for runs bounded by time: linear warm-up over `warmup` steps, then a
 * half cosine over the elapsed fraction of `timeMs` down to `floor`·lr. Depends on the clock, so
 * it is for the quickstart's time-boxed runs only (not for resumable runs).
 */
function timeCosineSchedule(lr: number, warmup: number, timeMs: number, floor = 0.1): LrSchedule {
  let start: number | undefined;
  return (step) => {
    start ??= performance.now();
    const w = step < warmup ? step / warmup : 1;
    const p = Math.min(1, (performance.now() - start) / timeMs);
    return lr * w * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * p)));
  };
}

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const sci = (x: number) => x.toExponential(2);

async function prepareOutDir(outDir: string): Promise<void> {
  if (await pathExists(outDir)) {
    const st = await stat(outDir);
    if (!st.isDirectory()) fail('INVALID_ARGUMENT', `--out ${outDir} is a file; pass a folder.`);
    const entries = await readdir(outDir);
    if (entries.length > 0 && !entries.includes('quickstart.json')) {
      fail('INVALID_ARGUMENT', `--out ${outDir} is not empty and holds no previous quickstart (quickstart.json); pass an empty or new folder.`);
    }
    for (const e of entries) await rm(join(outDir, e), { recursive: true, force: true });
  }
  await mkdir(outDir, { recursive: true });
  await writeTextAtomic(join(outDir, 'quickstart.json'), `${JSON.stringify({ startedAt: new Date().toISOString() })}\n`);
}

/**
 * Runs the quickstart: tokenizer, autoencoder, CALM and AR baseline on the embedded SOTU corpus
 * within a wall-clock budget, then BrierLM on held-out addresses, a sample, plots and a report.
 *
 * @remarks
 * Budget split: autoencoder 15 %, CALM 55 %, AR baseline 15 % of the budget (each stage trains
 * until its share of time is spent, evaluations not counted), the rest for data preparation, evaluation and reporting.
 * Models are tiny (hidden 128, 4 layers) and the corpus is 10 MB, so the numbers illustrate the
 * pipeline, not the paper's results. Writes `report.md`, `metrics.json`, `plots/*.svg|png`, the
 * tokenizer and each stage's run folder (`ae/`, `calm/`, `ar/`, each with `metrics.jsonl` and
 * `final/`).
 * @param options - Output folder, budget, seed, progress events.
 * @returns The measured numbers (also in `metrics.json`).
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad option or a non-empty foreign `outDir`,
 *   `MISSING_DEPENDENCY` when the corpus or the tokenizer library is missing, `ABORTED`.
 * @example
 * ```ts
 * const r = await runQuickstart({ outDir: 'quickstart', budgetMinutes: 10, seed: 1 });
 * console.log(r.calm.brier.brierLM, r.ar.brier.brierLM, r.ngram.brier.brierLM);
 * ```
 * @category Quickstart
 */
export async function runQuickstart(options: QuickstartOptions): Promise<QuickstartResult> {
  const budgetMinutes = options.budgetMinutes ?? 10;
  const seed = options.seed ?? 1;
  const ngramOrder = options.ngramOrder ?? 2;
  if (!(budgetMinutes > 0) || !Number.isFinite(budgetMinutes)) fail('INVALID_ARGUMENT', `budgetMinutes must be a positive number, got ${budgetMinutes}.`);
  if (!Number.isSafeInteger(seed)) fail('INVALID_ARGUMENT', `seed must be an integer, got ${seed}.`);
  if (options.evalBlocks !== undefined && (!Number.isInteger(options.evalBlocks) || options.evalBlocks < 1)) fail('INVALID_ARGUMENT', `evalBlocks must be an integer >= 1, got ${options.evalBlocks}.`);
  if (!Number.isInteger(ngramOrder) || ngramOrder < 1) fail('INVALID_ARGUMENT', `ngramOrder must be an integer >= 1, got ${ngramOrder}.`);
  const emit = options.onEvent ?? (() => undefined);
  const log = (message: string) => emit({ type: 'log', message });
  const t0 = performance.now();
  const budgetMs = budgetMinutes * 60_000;
  const outDir = options.outDir;
  await prepareOutDir(outDir);
  const backend = (options.initBackend ?? true) ? (await initBackend()).detail : 'caller-selected';
  log(`backend: ${backend}`);

  // ---- data and tokenizer ----
  emit({ type: 'phase', phase: 'tokenizer', total: 1, unit: 'step' });
  const train = loadSotuCorpus({ split: 'train' });
  const test = loadSotuCorpus({ split: 'test' });
  const { tokenizer } = await trainBpeTokenizer({ texts: train.texts, vocabSize: 512, outPath: join(outDir, 'tokenizer.json') });
  const encoder = cachedEncoder(tokenizer);
  const trainIds = await encoder.encodeBatch(train.texts);
  const trainTokens = trainIds.reduce((a, x) => a + x.length + 1, 0);
  const blockSize = 256;
  const held = await packEvalBlocks(test.texts, tokenizer, { blockSize });
  const evalRng = createRng(`${seed}/eval-blocks`);
  // A fixed random subset of held-out blocks, spread over all addresses.
  const order = held.blocks.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = evalRng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const evalBlocks = order.slice(0, options.evalBlocks ?? 48).sort((a, b) => a - b).map((i) => held.blocks[i]!);
  const curveBlocks = evalBlocks.slice(0, 4);
  emit({ type: 'progress', phase: 'tokenizer', value: 1 });
  emit({ type: 'phaseEnd', phase: 'tokenizer' });
  log(`tokenizer: BPE ${tokenizer.vocabSize} ids; ${train.documents.length} training addresses (${trainTokens} tokens), ${test.documents.length} held-out (${held.tokens} tokens, ${evalBlocks.length} eval blocks of ${blockSize})`);
  const special = { vocabSize: tokenizer.vocabSize, padTokenId: tokenizer.pad, bosTokenId: tokenizer.bos, eosTokenId: tokenizer.eos };
  const remaining = () => budgetMs - (performance.now() - t0);
  const stageMs = (fraction: number) => Math.max(5_000, Math.min(fraction * budgetMs, remaining() - 0.12 * budgetMs));

  const train0 = async (
    phase: string,
    dir: string,
    task: Parameters<typeof runTraining>[0],
    layout: 'lm' | 'ae',
    lr: number,
    timeMs: number,
    batchSize: number,
    evaluate?: (c: { step: number }) => Promise<Record<string, unknown>>,
  ): Promise<TrainResult> => {
    emit({ type: 'phase', phase, total: Math.round(timeMs / 1000), unit: 'tok/s' });
    const started = performance.now();
    let lastLoss = '';
    const result = await runTraining(task, {
      outDir: join(outDir, dir),
      steps: 1_000_000,
      batchSize,
      seed,
      optimizer: { lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
      schedule: timeCosineSchedule(lr, 20, timeMs),
      maxGradNorm: 1.0,
      logEvery: 5,
      checkpointEvery: 0,
      resume: 'never',
      maxTimeMs: timeMs,
      ...(evaluate ? { evaluate, evalIntervalMs: timeMs / 4 } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onLog: (r) => {
        if (r.type === 'train') lastLoss = `loss ${r.loss.toFixed(3)}`;
        else log(`${phase} step ${r.step}: ${Object.entries(r.metrics).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${(v as number).toFixed(4)}`).join(', ')}`);
      },
      onProgress: (p) => emit({ type: 'progress', phase, value: Math.min(Math.round((performance.now() - started) / 1000), Math.round(timeMs / 1000)), rate: p.tokensPerSecond, note: `step ${p.step} ${lastLoss}` }),
      data: (cursor) =>
        createBlockStream(train.source, tokenizer, {
          blockSize,
          layout,
          ...(layout === 'ae' ? { chunkSize: 4 } : {}),
          encoder,
          shuffleBuffer: 64,
          epochs: Infinity,
          rng: createRng(`${seed}/data/${dir}`),
          ...(cursor ? { cursor } : {}),
        }),
    });
    emit({ type: 'phaseEnd', phase });
    return result;
  };

  // ---- stage 1: autoencoder ----
  // aeDropout 0.05: the paper scales dropout with the latent size (0.05 for l = 32, Fig. 7).
  const aeCfg = autoencoderConfig({ ...special, hiddenSize: 64, intermediateSize: 128, latentSize: 32, patchSize: 4, aeDropout: 0.05 });
  const aeParams = createAutoencoderParams(aeCfg, createRng(`${seed}/init/ae`));
  // Start the posterior's σ at e^-2 instead of 1 (log σ bias −2): at this scale the decoder
  // otherwise sees mostly noise for the first hundred steps. The loss is the official one.
  aeParams['encoder.hidden_to_latent.bias']!.assign(tf.tensor1d(new Float32Array(2 * aeCfg.latentSize).fill(-2, aeCfg.latentSize)));
  const heldStream = Int32Array.from(evalBlocks.slice(0, 16).flatMap((b) => Array.from(b)));
  const aeEval = async ({ step }: { step: number }) => {
    const r = await evaluateReconstruction(aeParams, aeCfg, heldStream, { latent: 'sample', rng: createRng(`${seed}/ae-eval/${step}`) });
    const m = await evaluateReconstruction(aeParams, aeCfg, heldStream, { latent: 'mean' });
    return { accuracy: r.tokenAccuracy, chunkAccuracy: r.chunkAccuracy, meanLatentAccuracy: m.tokenAccuracy };
  };
  const aeRun = await train0('autoencoder', 'ae', autoencoderTrainTask(aeParams, aeCfg), 'ae', 1e-2, stageMs(0.15), 8, aeEval);
  const aeFinal = await aeEval({ step: aeRun.steps });
  log(`autoencoder: ${aeRun.steps} steps, reconstruction ${(100 * (aeFinal.accuracy as number)).toFixed(2)} % of held-out tokens (sampled latent)`);

  // ---- stage 2: CALM with the autoencoder frozen ----
  const backboneCfg = { hiddenSize: 128, intermediateSize: 320, numHiddenLayers: 4, numAttentionHeads: 4, numKeyValueHeads: 4 };
  const calm = new CalmModel(
    calmConfig({ ...special, ...backboneCfg, patchSize: 4, latentSize: 32, noiseSize: 32, numMlpLayers: 2, numSamples: 4, numTargetSamples: 32, aePath: '../ae/final' }),
    aeCfg,
    { rng: createRng(`${seed}/init/calm`), aeParams },
  );
  const calmCurve = async ({ step }: { step: number }) => summary(await evaluateCalm(calm, curveBlocks, { seed: `${seed}/curve/${step}` }));
  const calmRun = await train0('CALM', 'calm', calmTrainTask(calm, { blockSize, aePath: '../ae/final' }), 'lm', 3e-3, stageMs(0.55), 8, calmCurve);

  // ---- the AR baseline (same backbone) ----
  const ar = new ArModel(arConfig({ ...special, ...backboneCfg }), { rng: createRng(`${seed}/init/ar`) });
  const arCurve = async ({ step }: { step: number }) => summary(await evaluateAr(ar, curveBlocks.slice(0, 2), { seed: `${seed}/curve/${step}` }));
  const arRun = await train0('AR baseline', 'ar', arTrainTask(ar, { blockSize }), 'lm', 3e-3, stageMs(0.15), 16, arCurve);

  // ---- evaluation on the held-out blocks ----
  emit({ type: 'phase', phase: 'evaluation', total: 3 * evalBlocks.length, unit: 'pos/s' });
  let done = 0;
  const progress = (p: { blocksDone: number; positionsDone: number }) => emit({ type: 'progress', phase: 'evaluation', value: done + p.blocksDone });
  const calmBrier = await evaluateCalm(calm, evalBlocks, { seed: `${seed}/final`, onProgress: progress });
  done += evalBlocks.length;
  const arBrier = await evaluateAr(ar, evalBlocks, { seed: `${seed}/final`, onProgress: progress });
  done += evalBlocks.length;
  const ngram = NGramModel.fit(
    trainIds.map((ids) => Int32Array.from([tokenizer.bos, ...ids])),
    { order: ngramOrder, vocabSize: tokenizer.vocabSize },
  );
  const ngramBrier = await evaluateBrierLM({ kind: 'explicit', model: ngram }, evalBlocks, { seed: `${seed}/final/ngram`, onProgress: progress });
  emit({ type: 'phaseEnd', phase: 'evaluation' });

  // ---- a sample at T = 1/2 ----
  const prompt = 'The state of the Union is';
  const promptIds = Int32Array.from([tokenizer.bos, ...(await tokenizer.encode(prompt))]);
  const gen = await generateCalm(calm, [promptIds], { rng: createRng(`${seed}/sample`), maxNewTokens: 48, temperature: 0.5, poolSize: 200 });
  const sampleText = await tokenizer.decode(gen.generated[0]!.filter((t) => t !== tokenizer.eos));

  // ---- plots, metrics, report ----
  const [aeRecs, calmRecs, arRecs] = await Promise.all([readMetrics(join(outDir, 'ae')), readMetrics(join(outDir, 'calm')), readMetrics(join(outDir, 'ar'))]);
  await mkdir(join(outDir, 'plots'), { recursive: true });
  const finalEval = (run: TrainResult, r: BrierLMResult): MetricRecord => ({ type: 'eval', step: run.steps, tokens: run.tokens, flops: run.flops, metrics: { brierLM: r.brierLM } });
  await writePlot(join(outDir, 'plots', 'training-curves'), trainingCurvesSpec({ autoencoder: aeRecs, CALM: calmRecs, 'AR baseline': arRecs }));
  await writePlot(
    join(outDir, 'plots', 'brierlm-vs-flops'),
    brierVsFlopsSpec({ CALM: [...calmRecs.filter((r) => r.type === 'eval'), finalEval(calmRun, calmBrier)], 'AR baseline': [...arRecs.filter((r) => r.type === 'eval'), finalEval(arRun, arBrier)] }, { [`${ngramOrder}-gram reference`]: ngramBrier.brierLM }),
  );
  const result: QuickstartResult = {
    outDir,
    seed,
    budgetMinutes,
    elapsedMs: 0,
    backend,
    data: { vocabSize: tokenizer.vocabSize, trainTokens, heldOutTokens: held.tokens, evalBlocks: evalBlocks.length, blockSize },
    autoencoder: { params: countParams(aeParams), steps: aeRun.steps, tokens: aeRun.tokens, flops: aeRun.flops, tokenAccuracy: aeFinal.accuracy as number, chunkAccuracy: aeFinal.chunkAccuracy as number },
    calm: { params: calm.numParams(), steps: calmRun.steps, tokens: calmRun.tokens, flops: calmRun.flops, inferenceFlopsPerToken: calmInferenceFlops(calm.config, aeCfg, { context: blockSize / 4 }).perToken, brier: brierOf(calmBrier) },
    ar: { params: ar.numParams(), steps: arRun.steps, tokens: arRun.tokens, flops: arRun.flops, inferenceFlopsPerToken: arInferenceFlops(ar.config, { context: blockSize }).perToken, brier: brierOf(arBrier) },
    ngram: { order: ngramOrder, brier: brierOf(ngramBrier) },
    calmBeatsNgram: calmBrier.brierLM > ngramBrier.brierLM,
    sample: { prompt, text: sampleText, temperature: 0.5 },
    files: ['report.md', 'metrics.json', 'tokenizer.json', 'plots/training-curves.svg', 'plots/training-curves.png', 'plots/brierlm-vs-flops.svg', 'plots/brierlm-vs-flops.png', 'ae/', 'calm/', 'ar/'],
  };
  result.elapsedMs = performance.now() - t0;
  await writeTextAtomic(join(outDir, 'metrics.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeTextAtomic(join(outDir, 'report.md'), reportMarkdown(result));
  calm.dispose();
  ar.dispose();
  return result;
}

function row(name: string, params: number, tokens: number, flops: number, inf: number | null, b: QuickstartBrier): string {
  return `| ${name} | ${(params / 1e6).toFixed(2)}M | ${tokens > 0 ? (tokens / 1e3).toFixed(0) + 'k' : '–'} | ${flops > 0 ? sci(flops) : '–'} | ${inf !== null ? sci(inf) : '–'} | **${fmt(b.brierLM)}** ± ${fmt(b.brierLMStderr)} | ${b.brier.map((x) => fmt(100 * x, 2)).join(' / ')} |`;
}

function reportMarkdown(r: QuickstartResult): string {
  const minutes = (r.elapsedMs / 60_000).toFixed(1);
  return `# CALM quickstart report

The whole CALM recipe at toy scale on the State of the Union corpus (offline, CPU), in ${minutes} minutes
(budget ${r.budgetMinutes}; seed ${r.seed}; ${r.backend}).

## Results on held-out addresses

BrierLM (×100, higher is better) on ${r.data.evalBlocks} held-out blocks of ${r.data.blockSize} tokens. CALM is scored with the
chunk estimator (two samples per chunk, n-grams starting at chunk boundaries), the AR baseline and the
n-gram reference with the explicit estimator (exact probabilities), as in the paper.

| model | parameters | training tokens | training FLOPs | inference FLOPs/token | BrierLM | Brier-1..4 (×100) |
|---|---|---|---|---|---|---|
${row('CALM (K = 4)', r.calm.params, r.calm.tokens, r.calm.flops, r.calm.inferenceFlopsPerToken, r.calm.brier)}
${row('AR baseline', r.ar.params, r.ar.tokens, r.ar.flops, r.ar.inferenceFlopsPerToken, r.ar.brier)}
${row(`${r.ngram.order}-gram reference`, 0, 0, 0, null, r.ngram.brier)}

CALM ${r.calmBeatsNgram ? '**beats**' : '**does not beat**'} the ${r.ngram.order}-gram reference generator on the same held-out text.

Autoencoder (stage 1): ${(r.autoencoder.params / 1e6).toFixed(2)}M parameters, ${r.autoencoder.steps} steps, token reconstruction
**${(100 * r.autoencoder.tokenAccuracy).toFixed(2)} %** (whole chunks ${(100 * r.autoencoder.chunkAccuracy).toFixed(2)} %) on held-out text with a sampled latent.

## Sample (CALM, T = 1/2, batch approximation with 200 draws)

> **${r.sample.prompt}**${r.sample.text.replace(/\n/g, ' ')}

## Plots

![training curves](plots/training-curves.png)

![BrierLM vs training FLOPs](plots/brierlm-vs-flops.png)

## Setup

- Tokenizer: byte-level BPE with ${r.data.vocabSize} ids trained on the training addresses (${r.data.trainTokens} tokens; held-out: ${r.data.heldOutTokens}).
- Autoencoder: hidden 64, latent 32, K = 4, the official loss (token masking, latent dropout, clamped KL) with dropout 0.05 (the paper's value for l = 32); initial log σ bias −2.
- CALM: Llama backbone (hidden 128, 4 layers, 4 heads), energy head with 2 blocks, N = 4 samples and M = 32
  posterior samples (official: 8 and 100), autoencoder frozen.
- AR baseline: the same backbone over tokens with an untied output layer.
- AdamW (β 0.9/0.95, weight decay 0.1 not on norms and biases), 20 warm-up steps, clipping at 1.0,
  blocks of 256 tokens (8 per step for the autoencoder and CALM, 16 for the AR baseline); each stage trains for a
  fixed share of the time budget with a cosine decay of the learning rate over that time.
- Files: ${r.files.join(', ')}.
`;
}
