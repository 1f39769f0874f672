// Running a training stage from a validated `RunConfig` (Node only): loads the tokenizer and the
// corpus, builds the model (the frozen autoencoder for stage 2), the data stream in the stage's
// layout, the schedule and the periodic evaluation, and hands everything to `runTraining`.

import { createHash } from 'node:crypto';
import { createRng } from '@calm/core';
import {
  autoencoderConfig,
  createAutoencoderParams,
  evaluateReconstruction,
  evaluateRobustness,
  type AutoencoderConfig,
} from '@calm/autoencoder';
import { loadAutoencoder } from '@calm/autoencoder/node';
import { createBlockStream, packEvalBlocks, type DocumentSource, type Tokenizer } from '@calm/data-pile';
import { jsonlSource, loadSotuCorpus, loadTokenizer, readJsonlTexts } from '@calm/data-pile/node';
import {
  constantSchedule,
  initBackend,
  warmupConstantSchedule,
  warmupCosineSchedule,
  type LrSchedule,
  type ParamRecord,
} from '@calm/nn';
import {
  ArModel,
  CalmModel,
  arConfig,
  brierSummary,
  calmConfig,
  calmEnergyBounds,
  evaluateAr,
  evaluateCalm,
} from '@calm/model';
import { fail } from './internal/errors.js';
import type { RunConfig } from './run-config.js';
import { runTraining, type MetricRecord, type TrainProgress, type TrainResult, type TrainTask } from './train-loop.js';
import { arTrainTask, autoencoderTrainTask, calmTrainTask } from './train-tasks.js';

/**
 * Builds the learning-rate schedule of a run configuration.
 * @param train - The `train` section.
 * @returns The schedule.
 * @throws `CalmError` `INVALID_CONFIG` for inconsistent settings.
 * @example
 * {@includeCode ../test/examples.test.ts#run-config}
 * @category Run config
 */
export function scheduleOf(train: RunConfig['train']): LrSchedule {
  if (train.schedule === 'constant') return constantSchedule(train.lr);
  if (train.schedule === 'constant_with_warmup') return warmupConstantSchedule(train.lr, train.warmupSteps);
  return warmupCosineSchedule({
    lr: train.lr,
    warmupSteps: train.warmupSteps,
    totalSteps: train.steps,
    minLr: train.minLr,
  });
}

/**
 * The training source of a run: the embedded SOTU train split or JSON-lines files.
 * @param data - The `data` section.
 * @returns A document source for `createBlockStream`.
 * @throws `CalmError` `MISSING_DEPENDENCY`, `IO_ERROR`.
 * @see {@link trainFromConfig}
 * @category Run config
 */
export function trainingSource(data: RunConfig['data']): DocumentSource {
  if (data.corpus === 'jsonl') return jsonlSource(data.files);
  return loadSotuCorpus({ split: 'train', ...(data.maxChars !== null ? { maxChars: data.maxChars } : {}) }).source;
}

/**
 * The held-out evaluation blocks of a run (the SOTU held-out split, JSON-lines files or the
 * WikiText-103 document-level test file), blocked as the official evaluation.
 * @param evalCfg - The `eval` section.
 * @param tokenizer - The run's tokenizer.
 * @returns At most `evalCfg.blocks` blocks of `evalCfg.blockSize` tokens.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`.
 * @see {@link trainFromConfig}
 * @category Run config
 */
export async function heldOutBlocks(evalCfg: RunConfig['eval'], tokenizer: Tokenizer): Promise<Int32Array[]> {
  if (evalCfg.blocks === 0) return [];
  let texts: string[];
  if (evalCfg.corpus === 'sotu') texts = loadSotuCorpus({ split: 'test' }).texts;
  else {
    texts = [];
    for (const f of evalCfg.files) texts.push(...(await readJsonlTexts(f)));
  }
  const { blocks } = await packEvalBlocks(texts, tokenizer, { blockSize: evalCfg.blockSize });
  return blocks.slice(0, evalCfg.blocks);
}

function fingerprintOf(config: RunConfig, tokenizer: Tokenizer): string {
  const { stage, seed, model, data, train, autoencoder } = config;
  const stable = {
    stage,
    seed,
    model,
    data,
    autoencoder,
    tokenizer: tokenizer.fingerprint,
    // The worker count may change across a resume: the run is the same to float32 tolerance.
    train: { ...train, steps: undefined, maxMinutes: undefined, workers: undefined },
  };
  return createHash('sha256').update(JSON.stringify(stable)).digest('hex').slice(0, 16);
}

/**
 * Options of {@link trainFromConfig}.
 * @category Run config
 */
export interface TrainFromConfigOptions {
  /** Receives every metrics record. */
  onLog?: (record: MetricRecord) => void;
  /** Receives progress after every step. */
  onProgress?: (progress: TrainProgress) => void;
  /** Receives one-line notes about setup (backend, data, model size). */
  onInfo?: (line: string) => void;
  /** Stops after the current step. */
  signal?: AbortSignal;
  /** Select the backend (`initBackend`); disable when the caller already did. @defaultValue true */
  initBackend?: boolean;
}

/**
 * Runs one training stage from a validated configuration, resuming from the run folder's last
 * checkpoint when there is one.
 * @param config - A configuration from `resolveRunConfig`.
 * @param options - Logging, progress, abort.
 * @returns The training result.
 * @throws `CalmError` `INVALID_CONFIG` (model hyper-parameters), `IO_ERROR`, and the errors
 *   of `runTraining`.
 * @example
 * {@includeCode ../test/examples.test.ts#run-config}
 * @category Run config
 */
export async function trainFromConfig(config: RunConfig, options: TrainFromConfigOptions = {}): Promise<TrainResult> {
  const info = options.onInfo ?? (() => undefined);
  if (options.initBackend ?? true) {
    const b = await initBackend(config.backend !== null ? { backend: config.backend } : {});
    info(`backend: ${b.detail}`);
  }
  const tokenizer = await loadTokenizer(config.tokenizer);
  info(`tokenizer: ${tokenizer.name}, ${tokenizer.vocabSize} ids`);
  const special = {
    vocabSize: tokenizer.vocabSize,
    padTokenId: tokenizer.pad,
    bosTokenId: tokenizer.bos,
    eosTokenId: tokenizer.eos,
  };
  const rng = createRng(`${config.seed}/init`);
  const evalBlocks = await heldOutBlocks(config.eval, tokenizer);
  let task: TrainTask;
  let k = 1;
  let evaluate: ((c: { step: number }) => Promise<Record<string, unknown>>) | undefined;
  if (config.stage === 'ae') {
    let aeCfg: AutoencoderConfig;
    try {
      aeCfg = autoencoderConfig({ ...(config.model as Partial<AutoencoderConfig>), ...special });
    } catch (e) {
      return fail('INVALID_CONFIG', `model: ${(e as Error).message}`, { cause: e });
    }
    const params: ParamRecord = createAutoencoderParams(aeCfg, rng);
    task = autoencoderTrainTask(params, aeCfg);
    k = aeCfg.patchSize;
    const stream = Int32Array.from(evalBlocks.flatMap((b) => Array.from(b)));
    if (stream.length >= k) {
      const usable = stream.subarray(0, stream.length - (stream.length % k));
      // Reconstruction with a sampled latent, and its robustness to latent noise (μ + s·σ⊙ε).
      evaluate = async ({ step }) => {
        const r = await evaluateReconstruction(params, aeCfg, usable, {
          latent: 'sample',
          rng: createRng(`${config.seed}/eval/${step}`),
        });
        const robustness = await evaluateRobustness(params, aeCfg, usable, {
          rng: createRng(`${config.seed}/robust/${step}`),
        });
        return { accuracy: r.tokenAccuracy, chunkAccuracy: r.chunkAccuracy, robustness };
      };
    }
    info(`autoencoder: ${Object.values(params).reduce((a, v) => a + v.size, 0)} parameters`);
  } else if (config.stage === 'calm') {
    const ae = await loadAutoencoder(config.autoencoder!);
    let model: CalmModel;
    try {
      const cfg = calmConfig({
        ...(config.model as object),
        ...special,
        latentSize: ae.config.latentSize,
        patchSize: ae.config.patchSize,
        aePath: config.autoencoder!,
      });
      model = new CalmModel(cfg, ae.config, { rng, aeParams: ae.params });
    } catch (e) {
      return fail('INVALID_CONFIG', `model: ${(e as Error).message}`, { cause: e });
    }
    task = calmTrainTask(model, { blockSize: config.data.blockSize, aePath: config.autoencoder! });
    k = model.chunkSize;
    // BrierLM, and the held-out energy loss between its oracle and unconditional bounds.
    if (evalBlocks.length)
      evaluate = async ({ step }) => ({
        ...brierSummary(await evaluateCalm(model, evalBlocks, { seed: `${config.seed}/${step}` })),
        energy: await calmEnergyBounds(model, evalBlocks, { seed: `${config.seed}/${step}` }),
      });
    info(
      `CALM (${model.head.kind} head): ${model.numParams()} LM parameters (autoencoder frozen, ${Object.values(ae.params).reduce((a, v) => a + v.size, 0)})`,
    );
  } else {
    let model: ArModel;
    try {
      model = new ArModel(arConfig({ ...(config.model as object), ...special }), { rng });
    } catch (e) {
      return fail('INVALID_CONFIG', `model: ${(e as Error).message}`, { cause: e });
    }
    task = arTrainTask(model, { blockSize: config.data.blockSize });
    if (evalBlocks.length)
      evaluate = async ({ step }) =>
        brierSummary(await evaluateAr(model, evalBlocks, { seed: `${config.seed}/${step}` }));
    info(`AR baseline: ${model.numParams()} parameters`);
  }
  const source = trainingSource(config.data);
  const layout = config.stage === 'ae' ? 'ae' : 'lm';
  return runTraining(task, {
    outDir: config.outDir,
    steps: config.train.steps,
    batchSize: config.train.batchSize,
    gradAccum: config.train.gradAccum,
    ...(config.train.workers !== null ? { workers: config.train.workers } : {}),
    optimizer: {
      lr: config.train.lr,
      beta1: config.train.beta1,
      beta2: config.train.beta2,
      eps: config.train.eps,
      weightDecay: config.train.weightDecay,
    },
    schedule: scheduleOf(config.train),
    maxGradNorm: config.train.maxGradNorm,
    seed: config.seed,
    logEvery: config.log.every,
    checkpointEvery: config.checkpoint.every,
    keepCheckpoints: config.checkpoint.keep,
    evalEvery: config.eval.every,
    fingerprint: fingerprintOf(config, tokenizer),
    ...(config.train.maxMinutes !== null ? { maxTimeMs: config.train.maxMinutes * 60_000 } : {}),
    ...(evaluate ? { evaluate } : {}),
    ...(options.onLog ? { onLog: options.onLog } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    data: (cursor) =>
      createBlockStream(source, tokenizer, {
        blockSize: config.data.blockSize,
        layout,
        ...(layout === 'ae' ? { chunkSize: k } : {}),
        groupSize: config.data.groupSize,
        shuffleBuffer: config.data.shuffleBuffer,
        epochs: Infinity,
        rng: createRng(`${config.seed}/data`),
        ...(cursor ? { cursor } : {}),
      }),
  });
}
