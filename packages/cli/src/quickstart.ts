// `calm quickstart` (Node only): the whole CALM recipe at toy scale on the embedded State of the
// Union corpus, offline, in a fixed wall-clock budget — a small BPE tokenizer, stage 1 (the
// autoencoder), stage 2 (CALM with the autoencoder frozen), a matching AR baseline, BrierLM of
// both and of the n-gram reference on held-out text, a sample at T = 1/2, plots and a report.

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { CalmError, createRng, type CalmErrorCode } from '@calm/core';
import { pathExists, writeTextAtomic } from '@calm/core/node';
import { autoencoderConfig, createAutoencoderParams, evaluateReconstruction } from '@calm/autoencoder';
import { NGramModel, evaluateBrierLM, type BrierLMResult } from '@calm/brierlm';
import { packEvalBlocks } from '@calm/data-pile';
import { loadSotuCorpus, trainBpeTokenizer } from '@calm/data-pile/node';
import { countParams, initBackend } from '@calm/nn';
import {
  CalmModel,
  arConfig,
  calmConfig,
  evaluateCalm,
  calmInferenceFlops,
  generateCalm,
  brierSummary,
} from '@calm/model';
import { fail } from './internal/errors.js';
import { cachedEncoder, trainStage, type StageContext, type StageSpec } from './internal/quickstart-stage.js';
import { brierVsFlopsSpec, trainingCurvesSpec, writePlot } from './plots.js';
import {
  runArStage,
  type ArStageEvent,
  type ArStageInput,
  type ArStageOutput,
  type ArWorkerMessage,
} from './quickstart-ar-worker.js';
import { readMetrics, type MetricRecord, type TrainResult, autoencoderTrainTask, calmTrainTask } from '@calm/trainer';

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
  /**
   * Train the AR baseline in a worker thread beside the autoencoder and CALM (each thread runs
   * its own single-threaded backend), so both get the same wall-clock time. The worker always
   * selects its backend with `initBackend()`. @defaultValue true when the machine has 2+ cores
   */
  parallel?: boolean;
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
 * The BrierLM numbers of one generator in the quickstart report.
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
  /** Whether the AR baseline trained in a worker thread beside stages 1 and 2. */
  arInWorker: boolean;
  /** Tokenizer and data sizes. */
  data: { vocabSize: number; trainTokens: number; heldOutTokens: number; evalBlocks: number; blockSize: number };
  /** Stage 1. */
  autoencoder: {
    params: number;
    steps: number;
    tokens: number;
    flops: number;
    tokenAccuracy: number;
    chunkAccuracy: number;
  };
  /** Stage 2. */
  calm: {
    params: number;
    steps: number;
    tokens: number;
    flops: number;
    inferenceFlopsPerToken: number;
    brier: QuickstartBrier;
  };
  /** The AR baseline. */
  ar: {
    params: number;
    steps: number;
    tokens: number;
    flops: number;
    inferenceFlopsPerToken: number;
    brier: QuickstartBrier;
  };
  /** The n-gram reference generator of `@calm/brierlm` (explicit probabilities). */
  ngram: { order: number; brier: QuickstartBrier };
  /** Whether CALM's BrierLM exceeds the n-gram reference's on the same held-out text. */
  calmBeatsNgram: boolean;
  /** A CALM sample at temperature 1/2 (batch approximation, pool 200). */
  sample: { prompt: string; text: string; temperature: number };
  /** Files written, relative to `outDir`. */
  files: string[];
}

function brierOf(r: Pick<BrierLMResult, 'brierLM' | 'brierLMStderr' | 'brier' | 'numPositions'>): QuickstartBrier {
  return { brierLM: r.brierLM, brierLMStderr: r.brierLMStderr, brier: [...r.brier], positions: r.numPositions };
}

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const sci = (x: number) => x.toExponential(2);

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

/**
 * Runs the quickstart: tokenizer, autoencoder, CALM and AR baseline on the embedded SOTU corpus
 * within a wall-clock budget, then BrierLM on held-out addresses, a sample, plots and a report.
 *
 * @remarks
 * Budget split: with 2+ cores the AR baseline trains in a worker thread for the time the
 * autoencoder (15 % of the budget) and CALM (65 %) take together; on one core the stages run in
 * turn (autoencoder 15 %, CALM 55 %, AR baseline 15 %). Each stage trains until its share of time is
 * spent (evaluations not counted); the rest is data preparation, evaluation and reporting.
 * Models are tiny (hidden 128, 4 layers) and the corpus is 10 MB, so the numbers illustrate the
 * pipeline, not the paper's results. Writes `report.md`, `metrics.json`, `plots/*.svg|png`, the
 * tokenizer and each stage's run folder (`ae/`, `calm/`, `ar/`, each with `metrics.jsonl` and
 * `final/`).
 * @param options - Output folder, budget, seed, progress events.
 * @returns The measured numbers (also in `metrics.json`).
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad option or a non-empty foreign `outDir`,
 *   `MISSING_DEPENDENCY` when the corpus or the tokenizer library is missing, `ABORTED`.
 * @example
 * {@includeCode ../test/quickstart.test.ts#quickstart}
 * @category Quickstart
 */
export async function runQuickstart(options: QuickstartOptions): Promise<QuickstartResult> {
  const budgetMinutes = options.budgetMinutes ?? 10;
  const seed = options.seed ?? 1;
  const ngramOrder = options.ngramOrder ?? 2;
  if (!(budgetMinutes > 0) || !Number.isFinite(budgetMinutes))
    fail('INVALID_ARGUMENT', `budgetMinutes must be a positive number, got ${budgetMinutes}.`);
  if (!Number.isSafeInteger(seed)) fail('INVALID_ARGUMENT', `seed must be an integer, got ${seed}.`);
  if (options.evalBlocks !== undefined && (!Number.isInteger(options.evalBlocks) || options.evalBlocks < 1))
    fail('INVALID_ARGUMENT', `evalBlocks must be an integer >= 1, got ${options.evalBlocks}.`);
  if (!Number.isInteger(ngramOrder) || ngramOrder < 1)
    fail('INVALID_ARGUMENT', `ngramOrder must be an integer >= 1, got ${ngramOrder}.`);
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
  const { tokenizer } = await trainBpeTokenizer({
    texts: train.texts,
    vocabSize: 512,
    outPath: join(outDir, 'tokenizer.json'),
  });
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
  const evalBlocks = order
    .slice(0, options.evalBlocks ?? 48)
    .sort((a, b) => a - b)
    .map((i) => held.blocks[i]!);
  const curveBlocks = evalBlocks.slice(0, 4);
  emit({ type: 'progress', phase: 'tokenizer', value: 1 });
  emit({ type: 'phaseEnd', phase: 'tokenizer' });
  log(
    `tokenizer: BPE ${tokenizer.vocabSize} ids; ${train.documents.length} training addresses (${trainTokens} tokens), ${test.documents.length} held-out (${held.tokens} tokens, ${evalBlocks.length} eval blocks of ${blockSize})`,
  );
  const special = {
    vocabSize: tokenizer.vocabSize,
    padTokenId: tokenizer.pad,
    bosTokenId: tokenizer.bos,
    eosTokenId: tokenizer.eos,
  };
  const remaining = () => budgetMs - (performance.now() - t0);
  const stageMs = (fraction: number) => Math.max(5_000, Math.min(fraction * budgetMs, remaining() - 0.12 * budgetMs));

  const stageCtx: StageContext = {
    outDir,
    seed,
    blockSize,
    source: train.source,
    tokenizer,
    encoder,
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent: () => undefined,
  };
  const train0 = async (spec: StageSpec): Promise<TrainResult> => {
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
    return result;
  };

  // ---- the AR baseline (same backbone): in a worker thread beside stages 1 and 2 when the
  // machine has a second core, else in this thread after them ----
  const backboneCfg = {
    hiddenSize: 128,
    intermediateSize: 320,
    numHiddenLayers: 4,
    numAttentionHeads: 4,
    numKeyValueHeads: 4,
  };
  const parallel = options.parallel ?? availableParallelism() >= 2;
  const arInput: ArStageInput = {
    outDir,
    seed,
    blockSize,
    tokenizerPath: join(outDir, 'tokenizer.json'),
    trainIds,
    config: arConfig({ ...special, ...backboneCfg }),
    lr: 3e-3,
    batchSize: 16,
    timeMs: 0,
    evalBlocks,
    curveBlocks: curveBlocks.slice(0, 2),
    initBackend: false,
  };
  let arWorker: ArWorkerHandle | undefined;
  if (parallel) {
    // The worker trains for the time stages 1 and 2 take together and evaluates while this
    // thread evaluates CALM.
    arWorker = startArWorker({ ...arInput, timeMs: stageMs(AE_SHARE) + stageMs(CALM_SHARE_PARALLEL) }, log);
    log(`AR baseline: training in a worker thread beside the autoencoder and CALM (${availableParallelism()} cores)`);
  }
  try {
    // ---- stage 1: autoencoder ----
    // aeDropout 0.05: the paper scales dropout with the latent size (0.05 for l = 32, Fig. 7).
    // klWeight 0.01 (official 0.001) and an initial σ of e^-1.2 ≈ 0.3 (the paper's converged σ): in a
    // few hundred steps they give the smoother latent space stage 2 needs (σ ≈ 0.12 rather than 0.07
    // with the official values) at the same reconstruction accuracy.
    const aeCfg = autoencoderConfig({
      ...special,
      hiddenSize: 64,
      intermediateSize: 128,
      latentSize: 32,
      patchSize: 4,
      aeDropout: 0.05,
      klWeight: 0.01,
    });
    const aeParams = createAutoencoderParams(aeCfg, createRng(`${seed}/init/ae`));
    aeParams['encoder.hidden_to_latent.bias']!.assign(
      tf.tensor1d(new Float32Array(2 * aeCfg.latentSize).fill(-1.2, aeCfg.latentSize)),
    );
    const heldStream = Int32Array.from(evalBlocks.slice(0, 16).flatMap((b) => Array.from(b)));
    const aeEval = async ({ step }: { step: number }) => {
      const r = await evaluateReconstruction(aeParams, aeCfg, heldStream, {
        latent: 'sample',
        rng: createRng(`${seed}/ae-eval/${step}`),
      });
      const m = await evaluateReconstruction(aeParams, aeCfg, heldStream, { latent: 'mean' });
      return { accuracy: r.tokenAccuracy, chunkAccuracy: r.chunkAccuracy, meanLatentAccuracy: m.tokenAccuracy };
    };
    const aeRun = await train0({
      phase: 'autoencoder',
      dir: 'ae',
      task: autoencoderTrainTask(aeParams, aeCfg),
      layout: 'ae',
      chunkSize: 4,
      lr: 1e-2,
      timeMs: stageMs(AE_SHARE),
      batchSize: 8,
      evaluate: aeEval,
    });
    const aeFinal = await aeEval({ step: aeRun.steps });
    log(
      `autoencoder: ${aeRun.steps} steps, reconstruction ${(100 * (aeFinal.accuracy as number)).toFixed(2)} % of held-out tokens (sampled latent)`,
    );

    // ---- stage 2: CALM with the autoencoder frozen ----
    const calm = new CalmModel(
      calmConfig({
        ...special,
        ...backboneCfg,
        patchSize: 4,
        latentSize: 32,
        noiseSize: 32,
        numMlpLayers: 2,
        numSamples: 4,
        numTargetSamples: 32,
        aePath: '../ae/final',
      }),
      aeCfg,
      { rng: createRng(`${seed}/init/calm`), aeParams },
    );
    const calmCurve = async ({ step }: { step: number }) =>
      brierSummary(await evaluateCalm(calm, curveBlocks, { seed: `${seed}/curve/${step}` }));
    // lr 1e-3: at 3e-3 the energy loss stalls at the unconditional level within the budget.
    const calmRun = await train0({
      phase: 'CALM',
      dir: 'calm',
      task: calmTrainTask(calm, { blockSize, aePath: '../ae/final' }),
      layout: 'lm',
      lr: 1e-3,
      timeMs: stageMs(parallel ? CALM_SHARE_PARALLEL : CALM_SHARE),
      batchSize: 8,
      evaluate: calmCurve,
    });

    // ---- evaluation of CALM and the n-gram reference on the held-out blocks ----
    emit({ type: 'phase', phase: 'evaluation', total: 2 * evalBlocks.length, unit: 'pos/s' });
    let done = 0;
    const progress = (p: { blocksDone: number }) =>
      emit({ type: 'progress', phase: 'evaluation', value: done + p.blocksDone });
    const calmBrier = await evaluateCalm(calm, evalBlocks, { seed: `${seed}/final`, onProgress: progress });
    done += evalBlocks.length;
    const ngram = NGramModel.fit(
      trainIds.map((ids) => Int32Array.from([tokenizer.bos, ...ids])),
      { order: ngramOrder, vocabSize: tokenizer.vocabSize },
    );
    const ngramBrier = await evaluateBrierLM({ kind: 'explicit', model: ngram }, evalBlocks, {
      seed: `${seed}/final/ngram`,
      onProgress: progress,
    });
    emit({ type: 'phaseEnd', phase: 'evaluation' });

    // ---- a sample at T = 1/2 ----
    const prompt = 'The state of the Union is';
    const promptIds = Int32Array.from([tokenizer.bos, ...(await tokenizer.encode(prompt))]);
    const gen = await generateCalm(calm, [promptIds], {
      rng: createRng(`${seed}/sample`),
      maxNewTokens: 48,
      temperature: 0.5,
      poolSize: 200,
    });
    const sampleText = await tokenizer.decode(gen.generated[0]!.filter((t) => t !== tokenizer.eos));
    const calmParams = calm.numParams();
    const calmInference = calmInferenceFlops(calm.config, aeCfg, { context: blockSize / 4 }).perToken;
    calm.dispose();

    // ---- the AR baseline: collect the worker's result, or train and score it here ----
    const arTotal = arWorker ? evalBlocks.length : Math.round(stageMs(AR_SHARE) / 1000);
    emit({ type: 'phase', phase: 'AR baseline', total: arTotal, unit: arWorker ? 'blocks' : 'tok/s' });
    const arEvent = (e: ArStageEvent) => {
      if (e.type === 'log') log(e.message);
      else if (e.type === 'progress' && !arWorker)
        emit({ type: 'progress', phase: 'AR baseline', value: e.seconds, rate: e.rate, note: e.note });
      else if (e.type === 'eval' && arWorker) emit({ type: 'progress', phase: 'AR baseline', value: e.blocksDone });
    };
    let arOut: ArStageOutput;
    if (arWorker) {
      arWorker.onEvent = arEvent;
      arOut = await arWorker.result;
    } else {
      arOut = await runArStage({ ...arInput, timeMs: stageMs(AR_SHARE) }, arEvent, options.signal);
    }
    emit({ type: 'phaseEnd', phase: 'AR baseline' });

    // ---- plots, metrics, report ----
    const [aeRecs, calmRecs, arRecs] = await Promise.all([
      readMetrics(join(outDir, 'ae')),
      readMetrics(join(outDir, 'calm')),
      readMetrics(join(outDir, 'ar')),
    ]);
    await mkdir(join(outDir, 'plots'), { recursive: true });
    const finalEval = (run: TrainResult, r: { brierLM: number }): MetricRecord => ({
      type: 'eval',
      step: run.steps,
      tokens: run.tokens,
      flops: run.flops,
      metrics: { brierLM: r.brierLM },
    });
    await writePlot(
      join(outDir, 'plots', 'training-curves'),
      trainingCurvesSpec({ autoencoder: aeRecs, CALM: calmRecs, 'AR baseline': arRecs }),
    );
    await writePlot(
      join(outDir, 'plots', 'brierlm-vs-flops'),
      brierVsFlopsSpec(
        {
          CALM: [...calmRecs.filter((r) => r.type === 'eval'), finalEval(calmRun, calmBrier)],
          'AR baseline': [...arRecs.filter((r) => r.type === 'eval'), finalEval(arOut.run, arOut.brier)],
        },
        { [`${ngramOrder}-gram reference`]: ngramBrier.brierLM },
      ),
    );
    const result: QuickstartResult = {
      outDir,
      seed,
      budgetMinutes,
      elapsedMs: 0,
      backend,
      arInWorker: arWorker !== undefined,
      data: {
        vocabSize: tokenizer.vocabSize,
        trainTokens,
        heldOutTokens: held.tokens,
        evalBlocks: evalBlocks.length,
        blockSize,
      },
      autoencoder: {
        params: countParams(aeParams),
        steps: aeRun.steps,
        tokens: aeRun.tokens,
        flops: aeRun.flops,
        tokenAccuracy: aeFinal.accuracy as number,
        chunkAccuracy: aeFinal.chunkAccuracy as number,
      },
      calm: {
        params: calmParams,
        steps: calmRun.steps,
        tokens: calmRun.tokens,
        flops: calmRun.flops,
        inferenceFlopsPerToken: calmInference,
        brier: brierOf(calmBrier),
      },
      ar: {
        params: arOut.params,
        steps: arOut.run.steps,
        tokens: arOut.run.tokens,
        flops: arOut.run.flops,
        inferenceFlopsPerToken: arOut.inferenceFlopsPerToken,
        brier: brierOf(arOut.brier),
      },
      ngram: { order: ngramOrder, brier: brierOf(ngramBrier) },
      calmBeatsNgram: calmBrier.brierLM > ngramBrier.brierLM,
      sample: { prompt, text: sampleText, temperature: 0.5 },
      files: [
        'report.md',
        'metrics.json',
        'tokenizer.json',
        'plots/training-curves.svg',
        'plots/training-curves.png',
        'plots/brierlm-vs-flops.svg',
        'plots/brierlm-vs-flops.png',
        'ae/',
        'calm/',
        'ar/',
      ],
    };
    result.elapsedMs = performance.now() - t0;
    await writeTextAtomic(join(outDir, 'metrics.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeTextAtomic(join(outDir, 'report.md'), reportMarkdown(result));
    return result;
  } finally {
    await arWorker?.terminate();
  }
}

/** Budget shares of the stages (of `budgetMinutes`); the rest is data preparation, evaluation and the report. */
const AE_SHARE = 0.15;
/** CALM's share when the AR baseline trains in this thread after it. */
const CALM_SHARE = 0.55;
/** The AR baseline's share when it trains in this thread. */
const AR_SHARE = 0.15;
/** CALM's share when the AR baseline trains in a worker thread beside stages 1 and 2. */
const CALM_SHARE_PARALLEL = 0.65;

/** A running AR-baseline worker. */
interface ArWorkerHandle {
  result: Promise<ArStageOutput>;
  onEvent: (e: ArStageEvent) => void;
  terminate: () => Promise<void>;
}

/** The file URL of tsx's ESM API (`tsx/esm/api`, import condition), resolved from this module. */
function tsxEsmApi(): string {
  const req = createRequire(import.meta.url);
  const pkgFile = req.resolve('tsx/package.json');
  const entry = (
    JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import: { default: string } }> }
  ).exports['./esm/api']!.import.default;
  return pathToFileURL(join(dirname(pkgFile), entry)).href;
}

/**
 * Starts the AR stage in a worker thread. From the TypeScript sources (tests, `--conditions=@calm/source`)
 * the worker loads the `.ts` module through tsx with the same condition; from `dist/` it loads the
 * built `.js` module.
 */
function startArWorker(input: ArStageInput, log: (m: string) => void): ArWorkerHandle {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`./quickstart-ar-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  const workerData = { calmQuickstartAr: input };
  let worker: Worker;
  if (fromSource) {
    // A worker's entry does not get the parent's TypeScript loader: register tsx (a dev
    // dependency of the repository) inside the worker, then import the module.
    const boot = `import(${JSON.stringify(tsxEsmApi())}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
    worker = new Worker(boot, { eval: true, workerData, execArgv: ['--conditions=@calm/source'] });
  } else {
    worker = new Worker(url, { workerData });
  }
  const error = (code: CalmErrorCode, message: string, cause?: unknown) =>
    new CalmError(code, message, { source: '@calm/trainer', ...(cause !== undefined ? { cause } : {}) });
  const handle: ArWorkerHandle = {
    onEvent: (e) => {
      if (e.type === 'log') log(e.message);
    },
    result: new Promise<ArStageOutput>((resolve, reject) => {
      worker.on('message', (m: ArWorkerMessage) => {
        if (m.type === 'event') handle.onEvent(m.event);
        else if (m.type === 'done') resolve(m.output);
        else
          reject(
            error((m.code as CalmErrorCode | undefined) ?? 'INTERNAL', `the AR baseline worker failed: ${m.message}`),
          );
      });
      worker.on('error', (e) => reject(error('INTERNAL', `the AR baseline worker failed: ${e.message}`, e)));
      worker.on('exit', (code) =>
        reject(error('INTERNAL', `the AR baseline worker exited (code ${code}) before reporting a result.`)),
      );
    }),
    terminate: async () => {
      await worker.terminate();
    },
  };
  // Until someone awaits it, a failure must not surface as an unhandled rejection.
  handle.result.catch(() => undefined);
  return handle;
}

function row(
  name: string,
  params: number,
  tokens: number,
  flops: number,
  inf: number | null,
  b: QuickstartBrier,
): string {
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
- Autoencoder: hidden 64, latent 32, K = 4, the official loss (token masking, latent dropout, clamped KL) with dropout 0.05 (the paper's value for l = 32), KL weight 0.01 (official 0.001) and initial log σ bias −1.2.
- CALM: Llama backbone (hidden 128, 4 layers, 4 heads), energy head with 2 blocks, N = 4 samples and M = 32
  posterior samples (official: 8 and 100), autoencoder frozen.
- AR baseline: the same backbone over tokens with an untied output layer${r.arInWorker ? ', trained in a worker thread beside the autoencoder and CALM (same wall-clock time as both together)' : ', trained after CALM'}.
- AdamW (β 0.9/0.95, weight decay 0.1 not on norms and biases; lr 1e-2 autoencoder, 1e-3 CALM, 3e-3 AR), 20 warm-up steps, clipping at 1.0,
  blocks of 256 tokens (8 per step for the autoencoder and CALM, 16 for the AR baseline); each stage trains for a
  fixed share of the time budget with a cosine decay of the learning rate over that time.
- Files: ${r.files.join(', ')}.
`;
}
