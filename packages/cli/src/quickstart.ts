// `calm quickstart` (Node only): the whole CALM recipe at toy scale on the embedded State of the
// Union corpus, offline, in a fixed wall-clock budget — a small BPE tokenizer, stage 1 (the
// autoencoder), stage 2 (CALM with the autoencoder frozen) and a matching AR baseline, each trained
// data-parallel on every core; then an honest small-scale evaluation: every model scored with the
// same 8-sample estimator on the same chunk-boundary positions next to the paper's estimators, the
// energy loss between its bounds, the autoencoder's robustness, a sample, plots and a report.

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  collectConfigProblems,
  configIntAtLeast,
  configOptional,
  createRng,
  throwConfigProblems,
  type ChunkSampler,
  type ConfigField,
} from '@calm/core';
import { pathExists, writeTextAtomic } from '@calm/core/node';
import {
  autoencoderConfig,
  createAutoencoderParams,
  evaluateReconstruction,
  evaluateRobustness,
  type RobustnessPoint,
} from '@calm/autoencoder';
import { NGramModel, chunkSamplerFromNextTokenModel, evaluateBrierLM, type BrierLMResult } from '@calm/brierlm';
import { packEvalBlocks } from '@calm/data-pile';
import { loadSotuCorpus, trainBpeTokenizer } from '@calm/data-pile/node';
import { countParams, initBackend } from '@calm/nn';
import {
  ArModel,
  CalmModel,
  arChunkSampler,
  arConfig,
  arInferenceFlops,
  calmChunkSampler,
  calmConfig,
  calmEnergyBounds,
  calmInferenceFlops,
  evaluateAr,
  evaluateCalm,
  generateCalm,
  type EnergyBounds,
} from '@calm/model';
import {
  arTrainTask,
  autoencoderTrainTask,
  calmTrainTask,
  readMetrics,
  type MetricRecord,
  type TrainResult,
} from '@calm/trainer';
import { fail } from './internal/errors.js';
import { cachedEncoder, trainStage, type StageContext, type StageSpec } from './internal/quickstart-stage.js';
import { brierVsFlopsSpec, trainingCurvesSpec, writePlot } from './plots.js';
import { reportMarkdown } from './quickstart-report.js';

const BACKBONE = {
  hiddenSize: 128,
  intermediateSize: 320,
  numHiddenLayers: 4,
  numAttentionHeads: 4,
  numKeyValueHeads: 4,
};

/**
 * Every setting of `calm quickstart` in one place: the run is built from it and the report is
 * rendered from it, so no hyper-parameter is written twice.
 * @see {@link runQuickstart}
 * @category Quickstart
 */
export const QUICKSTART_SETTINGS = {
  /** Byte-level BPE trained on the training addresses. */
  tokenizer: { vocabSize: 512 },
  /** Tokens per training and evaluation block. */
  blockSize: 256,
  /** Shares of the time budget each stage trains for (evaluations not counted); the rest is data, evaluation and the report. */
  shares: { autoencoder: 0.06, calm: 0.58, ar: 0.2 },
  /** AdamW and the schedule of every stage: linear warm-up, then a cosine over the stage's time down to `lrFloor`·lr. */
  optimizer: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1.0, warmupSteps: 20, lrFloor: 0.1 },
  autoencoder: {
    // aeDropout 0.05: the paper scales dropout with the latent size (0.05 for l = 32, Fig. 7). klWeight
    // 0.01 (official 0.001) and an initial σ of e^-1.2 ≈ 0.3 (the paper's converged σ) give in a few
    // hundred steps the smoother latent space stage 2 needs, at the same reconstruction accuracy.
    model: { hiddenSize: 64, intermediateSize: 128, latentSize: 32, patchSize: 4, aeDropout: 0.05, klWeight: 0.01 },
    /** Initial bias of the log σ half of `hidden_to_latent`. */
    initialLogStd: -1.2,
    lr: 1e-2,
    batchSize: 8,
  },
  calm: {
    model: {
      ...BACKBONE,
      patchSize: 4,
      latentSize: 32,
      noiseSize: 32,
      numMlpLayers: 2,
      numSamples: 4,
      numTargetSamples: 32,
    },
    // lr 1e-3: at 3e-3 the energy loss stalls at its unconditional level within the budget.
    lr: 1e-3,
    batchSize: 8,
  },
  ar: { model: BACKBONE, lr: 3e-3, batchSize: 16 },
  evaluation: {
    /** Held-out blocks of the final evaluation (a fixed random subset spread over the addresses). */
    blocks: 160,
    /** Held-out blocks of the evaluations during training (curves). */
    curveBlocks: 8,
    /** Held-out blocks of the paper-estimator table (the first of the evaluation blocks; the AR explicit estimator is slow). */
    paperBlocks: 16,
    /** Samples per position of the like-for-like estimator (every model, the same positions). */
    samplesPerPosition: 8,
    /** Order of the n-gram reference of the paper-estimator table. */
    ngramOrder: 2,
    /** Latent-noise multiples s of the autoencoder's robustness (decoding μ + s·σ⊙ε). */
    robustnessScales: [0, 0.1, 0.25, 0.5, 1],
  },
  sample: { prompt: 'The state of the Union is', maxNewTokens: 48, temperature: 0.5, poolSize: 200 },
} as const;

/**
 * The settings a quickstart ran with (the shape of {@link QUICKSTART_SETTINGS}).
 * @see {@link runQuickstart}, whose result holds them.
 * @category Quickstart
 */
export type QuickstartSettings = typeof QUICKSTART_SETTINGS;

/**
 * Options of {@link runQuickstart}.
 * @category Quickstart
 */
export interface QuickstartOptions {
  /** Output folder (created; a previous quickstart's output there is replaced). */
  outDir: string;
  /** Wall-clock budget for the whole run, in minutes (training phases scale with it). @defaultValue 13 */
  budgetMinutes?: number;
  /** Seed of every random draw. @defaultValue 1 */
  seed?: number;
  /** Order of the n-gram reference in the paper-estimator table. @defaultValue 2 */
  ngramOrder?: number;
  /** Held-out blocks of 256 tokens in the final evaluation. @defaultValue 160 */
  evalBlocks?: number;
  /** Data-parallel worker threads of every stage. @defaultValue the available cores */
  workers?: number;
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
  | {
      /** A phase starts. */ type: 'phase' /** Its name. */;
      phase: string /** Work units (steps or blocks), when known. */;
      total: number /** Unit of `rate`. */;
      unit: string;
    }
  | {
      /** Progress within the current phase. */ type: 'progress' /** Phase name. */;
      phase: string /** Units done. */;
      value: number /** Updated total. */;
      total?: number /** Throughput. */;
      rate?: number /** Short note (loss, ETA). */;
      note?: string;
    }
  | { /** The current phase ended. */ type: 'phaseEnd' /** Phase name. */; phase: string }
  | { /** A log line. */ type: 'log' /** The text. */; message: string };

/**
 * The paper-estimator BrierLM numbers of one generator in the quickstart report.
 * @see {@link runQuickstart}, whose result holds one per model.
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
 * Brier-1..4 of one model under the like-for-like estimator, with standard errors.
 * @see {@link runQuickstart}, whose result holds one per model.
 * @category Quickstart
 */
export interface LikeForLikeScore {
  /** Brier-1..4 (not ×100). */
  brier: number[];
  /** Their standard errors. */
  brierStderr: number[];
}

/**
 * One trained stage in the quickstart's result.
 * @see {@link runQuickstart}
 * @category Quickstart
 */
export interface QuickstartStage {
  /** Trainable parameters. */
  params: number;
  /** Optimiser steps. */
  steps: number;
  /** Training tokens. */
  tokens: number;
  /** Training FLOPs. */
  flops: number;
  /** Training tokens per second (all workers together). */
  tokensPerSecond: number;
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
  /** Data-parallel worker threads of each stage. */
  workers: number;
  /** The settings the run used. */
  settings: QuickstartSettings;
  /** Tokenizer and data sizes. */
  data: { vocabSize: number; trainTokens: number; heldOutTokens: number; evalBlocks: number; blockSize: number };
  /** Stage 1, its held-out reconstruction with a sampled latent, and its robustness to latent noise. */
  autoencoder: QuickstartStage & { tokenAccuracy: number; chunkAccuracy: number; robustness: RobustnessPoint[] };
  /** Stage 2, with the paper's estimator (two samples per chunk position). */
  calm: QuickstartStage & { inferenceFlopsPerToken: number; brier: QuickstartBrier };
  /** The AR baseline, with the paper's estimator (exact probabilities). */
  ar: QuickstartStage & { inferenceFlopsPerToken: number; brier: QuickstartBrier };
  /** The n-gram reference, with the explicit estimator. */
  ngram: { order: number; brier: QuickstartBrier };
  /** Every model with the same estimator, the same chunk-boundary positions and the same number of samples. */
  likeForLike: {
    samplesPerPosition: number;
    positions: number;
    calm: LikeForLikeScore;
    ar: LikeForLikeScore;
    unigram: LikeForLikeScore;
    bigram: LikeForLikeScore;
  };
  /** CALM's held-out energy loss (`final`) between the oracle and the unconditional generator. */
  energyBounds: { unconditional: number; oracle: number; final: number; positions: number };
  /**
   * CALM's like-for-like Brier-1 exceeds the unigram's by 3 standard errors of the (paired)
   * difference, and its held-out energy loss is below the unconditional bound.
   */
  calmLearnedContext: boolean;
  /** The numbers behind `calmLearnedContext`. */
  calmContextEvidence: { brier1Difference: number; differenceStderr: number; energyMargin: number };
  /** A CALM sample (batch temperature sampling). */
  sample: { prompt: string; text: string; temperature: number };
  /** Files written, relative to `outDir`. */
  files: string[];
}

async function prepareOutDir(outDir: string): Promise<void> {
  if (await pathExists(outDir)) {
    const st = await stat(outDir);
    if (!st.isDirectory()) fail('INVALID_ARGUMENT', `--out ${outDir} is a file; pass a folder.`);
    const entries = await readdir(outDir);
    if (entries.length > 0 && !entries.includes('quickstart.json')) {
      fail(
        'INVALID_ARGUMENT',
        `--out ${outDir} is not empty and holds no previous quickstart (quickstart.json); pass an empty or new folder.`,
      );
    }
    for (const e of entries) await rm(join(outDir, e), { recursive: true, force: true });
  }
  await mkdir(outDir, { recursive: true });
  await writeTextAtomic(
    join(outDir, 'quickstart.json'),
    `${JSON.stringify({ startedAt: new Date().toISOString() })}\n`,
  );
}

const brierOf = (r: BrierLMResult): QuickstartBrier => ({
  brierLM: r.brierLM,
  brierLMStderr: r.brierLMStderr,
  brier: [...r.brier],
  positions: r.numPositions,
});

const stageOf = (params: number, run: TrainResult): QuickstartStage => ({
  params,
  steps: run.steps,
  tokens: run.tokens,
  flops: run.flops,
  tokensPerSecond: run.stepTokens / (run.stepMs / 1000),
});

/** An evaluation record at the end of a run holding a final score (for the FLOPs plot). */
const finalPoint = (run: TrainResult, r: BrierLMResult): MetricRecord => ({
  type: 'eval',
  step: run.steps,
  tokens: run.tokens,
  flops: run.flops,
  metrics: { brier: [...r.brier] },
});

/** Brier-1 of `a` minus `b` at the same positions, and the standard error of that paired difference. */
function pairedBrier1(a: BrierLMResult, b: BrierLMResult): { difference: number; stderr: number } {
  const pa = a.positions ?? [];
  const pb = b.positions ?? [];
  if (pa.length !== pb.length || pa.length < 2)
    fail('INTERNAL', 'quickstart: the like-for-like scores do not share their positions.');
  const d = pa.map((p, i) => p.brier[0]! - pb[i]!.brier[0]!);
  const mean = d.reduce((x, y) => x + y, 0) / d.length;
  const variance = d.reduce((x, y) => x + (y - mean) ** 2, 0) / (d.length - 1);
  return { difference: mean, stderr: Math.sqrt(variance / d.length) };
}

// The rules of runQuickstart's options (after the defaults).
const OPTION_FIELDS: ReadonlyArray<ConfigField> = [
  ['budgetMinutes', 'budgetMinutes', 'pos'],
  ['seed', 'seed', 'int'],
  ['evalBlocks', 'evalBlocks', configOptional(configIntAtLeast(2))],
  ['ngramOrder', 'ngramOrder', 'posInt'],
  ['workers', 'workers', 'posInt'],
];

/**
 * Runs the quickstart: tokenizer, autoencoder, CALM and AR baseline on the embedded SOTU corpus
 * within a wall-clock budget, then an evaluation that says in numbers what CALM learned.
 *
 * @remarks
 * Each stage trains data-parallel on every core for its share of the budget
 * ({@link QUICKSTART_SETTINGS}), evaluations not counted. The evaluation scores CALM, the AR
 * baseline and unigram/bigram references with the same 8-sample estimator on the same held-out
 * chunk-boundary positions (like for like), next to the paper's estimators (CALM: two samples per
 * chunk; AR and n-gram: exact probabilities); it frames CALM's held-out energy loss between the
 * oracle and the unconditional generator, and measures the autoencoder's robustness to latent
 * noise. Models are tiny (hidden 128, 4 layers) and the corpus is 10 MB: the numbers show what a
 * small CALM learns in minutes, not the paper's results. Writes `report.md`, `metrics.json`,
 * `plots/*.svg|png`, the tokenizer and each stage's run folder (`ae/`, `calm/`, `ar/`, each with
 * `metrics.jsonl` and `final/`).
 * @param options - Output folder, budget, seed, workers, progress events.
 * @returns The measured numbers (also in `metrics.json`).
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad option or a non-empty foreign `outDir`,
 *   `MISSING_DEPENDENCY` when the corpus or the tokenizer library is missing, `ABORTED`.
 * @example
 * {@includeCode ../test/quickstart.test.ts#quickstart}
 * @category Quickstart
 */
export async function runQuickstart(options: QuickstartOptions): Promise<QuickstartResult> {
  const S = QUICKSTART_SETTINGS;
  const budgetMinutes = options.budgetMinutes ?? 13;
  const seed = options.seed ?? 1;
  const ngramOrder = options.ngramOrder ?? S.evaluation.ngramOrder;
  const workers = options.workers ?? availableParallelism();
  const problems = collectConfigProblems(
    { budgetMinutes, seed, evalBlocks: options.evalBlocks, ngramOrder, workers },
    OPTION_FIELDS,
  );
  throwConfigProblems(problems, 'runQuickstart options', '@calm/cli', 'INVALID_ARGUMENT');
  const emit = options.onEvent ?? (() => undefined);
  const log = (message: string) => emit({ type: 'log', message });
  const t0 = performance.now();
  const budgetMs = budgetMinutes * 60_000;
  const outDir = options.outDir;
  await prepareOutDir(outDir);
  const backend = (options.initBackend ?? true) ? (await initBackend()).detail : 'caller-selected';
  log(`backend: ${backend}; ${workers} data-parallel worker(s) per stage`);

  // ---- data and tokenizer ----
  emit({ type: 'phase', phase: 'tokenizer', total: 1, unit: 'step' });
  const train = loadSotuCorpus({ split: 'train' });
  const test = loadSotuCorpus({ split: 'test' });
  const { tokenizer } = await trainBpeTokenizer({
    texts: train.texts,
    vocabSize: S.tokenizer.vocabSize,
    outPath: join(outDir, 'tokenizer.json'),
  });
  const encoder = cachedEncoder(tokenizer);
  const trainIds = await encoder.encodeBatch(train.texts);
  const trainTokens = trainIds.reduce((a, x) => a + x.length + 1, 0);
  const held = await packEvalBlocks(test.texts, tokenizer, { blockSize: S.blockSize });
  // A fixed random subset of held-out blocks, spread over all addresses; the curves use its first blocks.
  const order = held.blocks.map((_, i) => i);
  const shuffle = createRng(`${seed}/eval-blocks`);
  for (let i = order.length - 1; i > 0; i--) {
    const j = shuffle.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const evalBlocks = order
    .slice(0, options.evalBlocks ?? S.evaluation.blocks)
    .sort((a, b) => a - b)
    .map((i) => held.blocks[i]!);
  const curveBlocks = evalBlocks.slice(0, Math.min(S.evaluation.curveBlocks, evalBlocks.length));
  emit({ type: 'progress', phase: 'tokenizer', value: 1 });
  emit({ type: 'phaseEnd', phase: 'tokenizer' });
  log(
    `tokenizer: BPE ${tokenizer.vocabSize} ids; ${train.documents.length} training addresses (${trainTokens} tokens), ${test.documents.length} held-out (${held.tokens} tokens, ${evalBlocks.length} eval blocks of ${S.blockSize})`,
  );
  const special = {
    vocabSize: tokenizer.vocabSize,
    padTokenId: tokenizer.pad,
    bosTokenId: tokenizer.bos,
    eosTokenId: tokenizer.eos,
  };
  const stageMs = (share: number) => Math.max(5_000, share * budgetMs);
  const stageCtx: StageContext = {
    outDir,
    seed,
    blockSize: S.blockSize,
    workers,
    optimizer: S.optimizer,
    source: train.source,
    tokenizer,
    encoder,
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent: () => undefined,
  };
  const trainPhase = async (spec: StageSpec): Promise<TrainResult> => {
    emit({ type: 'phase', phase: spec.phase, total: Math.round(spec.timeMs / 1000), unit: 'tok/s' });
    const result = await trainStage(
      {
        ...stageCtx,
        onEvent: (e) =>
          e.type === 'log'
            ? log(e.message)
            : emit({ type: 'progress', phase: spec.phase, value: e.seconds, rate: e.rate, note: e.note }),
      },
      spec,
    );
    emit({ type: 'phaseEnd', phase: spec.phase });
    log(
      `${spec.phase}: ${result.steps} steps, ${(result.stepTokens / (result.stepMs / 1000)).toFixed(0)} tokens/s on ${result.workers} worker(s)`,
    );
    return result;
  };
  const likeForLike = (sampler: ChunkSampler, blocks: Int32Array[], name: string, keepPositions = false) =>
    evaluateBrierLM({ kind: 'chunk', sampler }, blocks, {
      samplesPerPosition: S.evaluation.samplesPerPosition,
      seed: `${seed}/like-for-like/${name}`,
      keepPositions,
    });

  // ---- stage 1: the autoencoder ----
  const aeCfg = autoencoderConfig({ ...special, ...S.autoencoder.model });
  const aeParams = createAutoencoderParams(aeCfg, createRng(`${seed}/init/ae`));
  tf.tidy(() =>
    aeParams['encoder.hidden_to_latent.bias']!.assign(
      tf.tensor1d(new Float32Array(2 * aeCfg.latentSize).fill(S.autoencoder.initialLogStd, aeCfg.latentSize)),
    ),
  );
  const heldStream = Int32Array.from(curveBlocks.flatMap((b) => Array.from(b)));
  const aeEval = async ({ step }: { step: number }) => {
    const r = await evaluateReconstruction(aeParams, aeCfg, heldStream, {
      latent: 'sample',
      rng: createRng(`${seed}/ae-eval/${step}`),
    });
    return { accuracy: r.tokenAccuracy, chunkAccuracy: r.chunkAccuracy };
  };
  const aeRun = await trainPhase({
    phase: 'autoencoder',
    dir: 'ae',
    task: autoencoderTrainTask(aeParams, aeCfg),
    layout: 'ae',
    chunkSize: aeCfg.patchSize,
    lr: S.autoencoder.lr,
    timeMs: stageMs(S.shares.autoencoder),
    batchSize: S.autoencoder.batchSize,
    evaluate: aeEval,
  });
  const finalStream = Int32Array.from(evalBlocks.flatMap((b) => Array.from(b)));
  const aeFinal = await evaluateReconstruction(aeParams, aeCfg, finalStream, {
    latent: 'sample',
    rng: createRng(`${seed}/ae-final`),
  });
  const robustness = await evaluateRobustness(aeParams, aeCfg, finalStream, {
    scales: S.evaluation.robustnessScales,
    rng: createRng(`${seed}/ae-robustness`),
  });
  log(`autoencoder: reconstruction ${(100 * aeFinal.tokenAccuracy).toFixed(2)} % of held-out tokens (sampled latent)`);

  // ---- stage 2: CALM with the autoencoder frozen ----
  const calm = new CalmModel(calmConfig({ ...special, ...S.calm.model, aePath: '../ae/final' }), aeCfg, {
    rng: createRng(`${seed}/init/calm`),
    aeParams,
  });
  const calmCurve = async ({ step }: { step: number }) => {
    const r = await likeForLike(
      calmChunkSampler(calm, { rng: createRng(`${seed}/curve/${step}`) }),
      curveBlocks,
      `curve-calm-${step}`,
    );
    return { brier: [...r.brier], energy: await calmEnergyBounds(calm, curveBlocks, { seed: `${seed}/curve` }) };
  };
  const calmRun = await trainPhase({
    phase: 'CALM',
    dir: 'calm',
    task: calmTrainTask(calm, { blockSize: S.blockSize, aePath: '../ae/final' }),
    layout: 'lm',
    lr: S.calm.lr,
    timeMs: stageMs(S.shares.calm),
    batchSize: S.calm.batchSize,
    evaluate: calmCurve,
  });

  // ---- the AR baseline (the same backbone over tokens) ----
  const ar = new ArModel(arConfig({ ...special, ...S.ar.model }), { rng: createRng(`${seed}/init/ar`) });
  const arCurve = async ({ step }: { step: number }) => {
    const r = await likeForLike(
      arChunkSampler(ar, { chunkSize: 4, rng: createRng(`${seed}/curve/${step}`) }),
      curveBlocks,
      `curve-ar-${step}`,
    );
    return { brier: [...r.brier] };
  };
  const arRun = await trainPhase({
    phase: 'AR baseline',
    dir: 'ar',
    task: arTrainTask(ar, { blockSize: S.blockSize }),
    layout: 'lm',
    lr: S.ar.lr,
    timeMs: stageMs(S.shares.ar),
    batchSize: S.ar.batchSize,
    evaluate: arCurve,
  });

  // ---- evaluation on the held-out blocks ----
  emit({ type: 'phase', phase: 'evaluation', total: 7, unit: 'scores' });
  let scored = 0;
  const step = () => emit({ type: 'progress', phase: 'evaluation', value: ++scored });
  const ngramTexts = trainIds.map((ids) => Int32Array.from([tokenizer.bos, ...ids]));
  const unigram = NGramModel.fit(ngramTexts, { order: 1, vocabSize: tokenizer.vocabSize });
  const bigram = NGramModel.fit(ngramTexts, { order: 2, vocabSize: tokenizer.vocabSize });
  const reference =
    ngramOrder === 2 ? bigram : NGramModel.fit(ngramTexts, { order: ngramOrder, vocabSize: tokenizer.vocabSize });
  // The paper's estimators: CALM two samples per chunk position, AR and n-gram exact probabilities.
  const paperBlocks = evalBlocks.slice(0, Math.min(S.evaluation.paperBlocks, evalBlocks.length));
  const calmPaper = await evaluateCalm(calm, paperBlocks, { seed: `${seed}/final` });
  step();
  const arPaper = await evaluateAr(ar, paperBlocks, { seed: `${seed}/final` });
  step();
  const ngramPaper = await evaluateBrierLM({ kind: 'explicit', model: reference }, paperBlocks, {
    seed: `${seed}/final/ngram`,
  });
  step();
  // Like for like: the same 8-sample chunk estimator on the same chunk-boundary positions.
  const fromModel = (m: NGramModel, name: string) =>
    chunkSamplerFromNextTokenModel(m, { chunkSize: 4, seed: `${seed}/like-for-like/${name}/sampler` });
  const lfl = {
    calm: await likeForLike(
      calmChunkSampler(calm, { rng: createRng(`${seed}/like-for-like/calm/sampler`) }),
      evalBlocks,
      'calm',
      true,
    ),
    ar: await likeForLike(
      arChunkSampler(ar, { chunkSize: 4, rng: createRng(`${seed}/like-for-like/ar/sampler`) }),
      evalBlocks,
      'ar',
    ),
    unigram: await likeForLike(fromModel(unigram, 'unigram'), evalBlocks, 'unigram', true),
    bigram: await likeForLike(fromModel(bigram, 'bigram'), evalBlocks, 'bigram'),
  };
  step();
  const bounds: EnergyBounds = await calmEnergyBounds(calm, evalBlocks, { seed: `${seed}/final` });
  step();
  const paired = pairedBrier1(lfl.calm, lfl.unigram);
  const energyMargin = bounds.unconditional - bounds.model;
  const calmLearnedContext = paired.difference > 3 * paired.stderr && energyMargin > 0;
  emit({ type: 'phaseEnd', phase: 'evaluation' });

  // ---- a sample ----
  const promptIds = Int32Array.from([tokenizer.bos, ...(await tokenizer.encode(S.sample.prompt))]);
  const gen = await generateCalm(calm, [promptIds], {
    rng: createRng(`${seed}/sample`),
    maxNewTokens: S.sample.maxNewTokens,
    temperature: S.sample.temperature,
    poolSize: S.sample.poolSize,
  });
  const sampleText = await tokenizer.decode(gen.generated[0]!.filter((t) => t !== tokenizer.eos));
  const calmStage = {
    ...stageOf(calm.numParams(), calmRun),
    inferenceFlopsPerToken: calmInferenceFlops(calm.config, aeCfg, { context: S.blockSize / 4 }).perToken,
    brier: brierOf(calmPaper),
  };
  const arStage = {
    ...stageOf(ar.numParams(), arRun),
    inferenceFlopsPerToken: arInferenceFlops(ar.config, { context: S.blockSize }).perToken,
    brier: brierOf(arPaper),
  };
  calm.dispose();
  ar.dispose();

  // ---- plots, metrics, report ----
  const [aeRecs, calmRecs, arRecs] = await Promise.all(['ae', 'calm', 'ar'].map((d) => readMetrics(join(outDir, d))));
  await mkdir(join(outDir, 'plots'), { recursive: true });
  await writePlot(
    join(outDir, 'plots', 'training-curves'),
    trainingCurvesSpec({ autoencoder: aeRecs!, CALM: calmRecs!, 'AR baseline': arRecs! }),
  );
  await writePlot(
    join(outDir, 'plots', 'brier1-vs-flops'),
    brierVsFlopsSpec(
      // The curve evaluations (few blocks) and, at the end of each run, the final like-for-like score.
      {
        CALM: [...calmRecs!, finalPoint(calmRun, lfl.calm)],
        'AR baseline': [...arRecs!, finalPoint(arRun, lfl.ar)],
      },
      { unigram: 100 * lfl.unigram.brier[0], bigram: 100 * lfl.bigram.brier[0] },
      { metric: 'brier1' },
    ),
  );
  const score = (r: BrierLMResult): LikeForLikeScore => ({ brier: [...r.brier], brierStderr: [...r.brierStderr] });
  const result: QuickstartResult = {
    outDir,
    seed,
    budgetMinutes,
    elapsedMs: 0,
    backend,
    workers,
    settings: S,
    data: {
      vocabSize: tokenizer.vocabSize,
      trainTokens,
      heldOutTokens: held.tokens,
      evalBlocks: evalBlocks.length,
      blockSize: S.blockSize,
    },
    autoencoder: {
      ...stageOf(countParams(aeParams), aeRun),
      tokenAccuracy: aeFinal.tokenAccuracy,
      chunkAccuracy: aeFinal.chunkAccuracy,
      robustness,
    },
    calm: calmStage,
    ar: arStage,
    ngram: { order: ngramOrder, brier: brierOf(ngramPaper) },
    likeForLike: {
      samplesPerPosition: S.evaluation.samplesPerPosition,
      positions: lfl.calm.numPositions,
      calm: score(lfl.calm),
      ar: score(lfl.ar),
      unigram: score(lfl.unigram),
      bigram: score(lfl.bigram),
    },
    energyBounds: {
      unconditional: bounds.unconditional,
      oracle: bounds.oracle,
      final: bounds.model,
      positions: bounds.positions,
    },
    calmLearnedContext,
    calmContextEvidence: { brier1Difference: paired.difference, differenceStderr: paired.stderr, energyMargin },
    sample: { prompt: S.sample.prompt, text: sampleText, temperature: S.sample.temperature },
    files: [
      'report.md',
      'metrics.json',
      'tokenizer.json',
      'plots/training-curves.svg',
      'plots/training-curves.png',
      'plots/brier1-vs-flops.svg',
      'plots/brier1-vs-flops.png',
      'ae/',
      'calm/',
      'ar/',
    ],
  };
  result.elapsedMs = performance.now() - t0;
  await writeTextAtomic(join(outDir, 'metrics.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeTextAtomic(join(outDir, 'report.md'), reportMarkdown(result));
  return result;
}
