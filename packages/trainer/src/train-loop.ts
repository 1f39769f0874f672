// The training loop shared by both stages and the AR baseline (Node only): micro-batches from a
// resumable block stream, gradient accumulation, global-norm clipping, AdamW with a learning-rate
// schedule, JSONL metric logs, periodic evaluation, and atomic checkpoints (model in the HF layout,
// optimizer state, RNG state, data cursor) from which a run resumes exactly.

import { appendFile, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng, restoreRng, type Rng, type RngState } from '@calm/core';
import { pathExists, readSafetensorsFile, writeSafetensorsFile, writeTextAtomic } from '@calm/core/node';
import type { BlockCursor, BlockStream } from '@calm/data-pile';
import {
  AdamW,
  clipByGlobalNorm,
  namedArraysToOptimizerState,
  optimizerStateToNamedArrays,
  paramGrads,
  type AdamWOptions,
  type LrSchedule,
  type ParamRecord,
} from '@calm/nn';
import { fail } from './internal/errors.js';

/**
 * What the loop trains: a parameter record, a loss on a batch of token blocks, and how to save
 * and restore the model. {@link calmTrainTask}, {@link autoencoderTrainTask} and
 * {@link arTrainTask} build the three official ones.
 * @see {@link runTraining}
 * @category Training
 */
export interface TrainTask {
  /** `'ae'` (stage 1), `'calm'` (stage 2) or `'ar'` (the baseline). */
  readonly kind: 'ae' | 'calm' | 'ar';
  /** The parameters the optimiser updates (frozen parts are not in it, or are non-trainable). */
  readonly params: ParamRecord;
  /** Training FLOPs per token (for the logs and FLOPs-vs-quality plots). */
  readonly flopsPerToken: number;
  /**
   * The training loss of one micro-batch (synchronous tensor code).
   * @param ids - Token blocks, shape [B, T], int32.
   * @param rng - The run's training RNG (every random draw of the step comes from it).
   * @returns The loss, a float32 scalar. Caller owns the returned tensor.
   */
  loss(ids: tf.Tensor2D, rng: Rng): tf.Scalar;
  /**
   * Writes the model in the Hugging Face layout (`config.json` + `model.safetensors`).
   * @param dir - Destination folder (exists).
   */
  saveModel(dir: string): Promise<void>;
  /**
   * Restores the trainable parameters from a folder written by `saveModel`.
   * @param dir - The folder.
   */
  loadModel(dir: string): Promise<void>;
}

/**
 * One line of the metrics log (`metrics.jsonl`).
 * @see {@link runTraining}
 * @category Training
 */
export type MetricRecord =
  | {
      /** A training record, written every `logEvery` steps. */
      type: 'train';
      /** Optimiser steps done. */
      step: number;
      /** Mean training loss over the steps since the previous record. */
      loss: number;
      /** Learning rate of the last step. */
      lr: number;
      /** Global gradient norm before clipping, at the last step. */
      gradNorm: number;
      /** Training tokens processed so far. */
      tokens: number;
      /** Training FLOPs so far. */
      flops: number;
      /** Tokens per second over the steps since the previous record. */
      tokensPerSecond: number;
      /** Wall-clock milliseconds of training so far (across resumes). */
      elapsedMs: number;
    }
  | {
      /** An evaluation record. */
      type: 'eval';
      /** Optimiser steps done. */
      step: number;
      /** Training tokens processed so far. */
      tokens: number;
      /** Training FLOPs so far. */
      flops: number;
      /** What the evaluation returned (e.g. `brierLM`, `accuracy`). */
      metrics: Record<string, unknown>;
    };

/**
 * Progress of a run, reported after every optimiser step.
 * @see {@link runTraining}
 * @category Training
 */
export interface TrainProgress {
  /** Steps done. */
  step: number;
  /** Steps planned. */
  steps: number;
  /** Tokens processed so far. */
  tokens: number;
  /** Throughput of the last step, tokens per second. */
  tokensPerSecond: number;
  /** Estimated milliseconds to finish. */
  etaMs: number;
  /** Learning rate of the last step. */
  lr: number;
}

/**
 * Options of {@link runTraining}.
 * @category Training
 */
export interface TrainLoopOptions {
  /** Run folder: `metrics.jsonl`, `checkpoints/`, `latest.json`, `final/`. */
  outDir: string;
  /** Optimiser steps to reach (counting steps done before a resume). */
  steps: number;
  /** Blocks per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimiser step (gradients are averaged). @defaultValue 1 */
  gradAccum?: number;
  /** AdamW settings (the schedule overrides `lr` per step). */
  optimizer: AdamWOptions;
  /** Learning rate per step. */
  schedule: LrSchedule;
  /** Global-norm clipping threshold, `null` to disable. @defaultValue 1.0 */
  maxGradNorm?: number | null;
  /** Seed of the training RNG (the data stream seeds its own shuffle). */
  seed: number | string;
  /** Creates the data stream, resuming from `cursor` when given. */
  data: (cursor: BlockCursor | undefined) => BlockStream | Promise<BlockStream>;
  /** Evaluation run every `evalEvery` steps and at the end; gets a fresh RNG per evaluation. */
  evaluate?: (context: { step: number; rng: Rng }) => Promise<Record<string, unknown>>;
  /** Steps between training log records. @defaultValue 10 */
  logEvery?: number;
  /** Steps between checkpoints (0: only at the end). @defaultValue 100 */
  checkpointEvery?: number;
  /** Checkpoints kept (older ones are deleted). @defaultValue 2 */
  keepCheckpoints?: number;
  /** Steps between evaluations (0: only at the end). @defaultValue 0 */
  evalEvery?: number;
  /**
   * Also evaluate whenever this many milliseconds of training passed since the previous
   * evaluation (for runs bounded by time rather than steps). @defaultValue none
   */
  evalIntervalMs?: number;
  /**
   * Stop after the step during which this invocation's training time (wall clock minus the time
   * spent in evaluations) reached this many milliseconds; a checkpoint and the final model are
   * written as usual. @defaultValue none
   */
  maxTimeMs?: number;
  /** `'auto'`: resume from `latest.json` when present; `'never'`: refuse an existing run; `'require'`: fail without one. @defaultValue 'auto' */
  resume?: 'auto' | 'never' | 'require';
  /** Identifies the run's settings; a resume with a different fingerprint is refused. */
  fingerprint?: string;
  /** Receives every metrics record (also written to `metrics.jsonl`). */
  onLog?: (record: MetricRecord) => void;
  /** Receives progress after every step. */
  onProgress?: (progress: TrainProgress) => void;
  /** Stops the run after the current step (a checkpoint is written). */
  signal?: AbortSignal;
}

/**
 * The result of {@link runTraining}.
 * @category Training
 */
export interface TrainResult {
  /** Steps done (including those before a resume). */
  steps: number;
  /** Training tokens processed. */
  tokens: number;
  /** Training FLOPs. */
  flops: number;
  /** Mean loss of the last logged interval (NaN when nothing was logged). */
  lastLoss: number;
  /** Why the run ended. */
  stoppedBy: 'steps' | 'data' | 'signal' | 'time';
  /** The step the run resumed from, or `null`. */
  resumedFrom: number | null;
  /** The model folder written at the end (`<outDir>/final`). */
  finalDir: string;
  /** The metrics log. */
  metricsFile: string;
  /** The last evaluation's metrics, when an evaluation ran. */
  lastEval?: Record<string, unknown>;
  /** Wall-clock milliseconds of training (across resumes). */
  elapsedMs: number;
}

/** The JSON state of a checkpoint besides the model and optimiser tensors. */
interface TrainerState {
  version: 1;
  kind: string;
  step: number;
  tokens: number;
  flops: number;
  elapsedMs: number;
  rng: RngState;
  data: BlockCursor;
  fingerprint: string;
}

const STATE_FILE = 'trainer_state.json';
const OPTIM_FILE = 'optimizer.safetensors';

function checkOptions(o: TrainLoopOptions): void {
  const problems: string[] = [];
  const int = (v: unknown, name: string, min: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
      problems.push(`${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  int(o.steps, 'steps', 0);
  int(o.batchSize, 'batchSize', 1);
  int(o.gradAccum ?? 1, 'gradAccum', 1);
  int(o.logEvery ?? 10, 'logEvery', 1);
  int(o.checkpointEvery ?? 100, 'checkpointEvery', 0);
  int(o.keepCheckpoints ?? 2, 'keepCheckpoints', 1);
  int(o.evalEvery ?? 0, 'evalEvery', 0);
  if (o.maxGradNorm !== undefined && o.maxGradNorm !== null && !(o.maxGradNorm > 0))
    problems.push(`maxGradNorm must be > 0 or null, got ${o.maxGradNorm}`);
  for (const [name, v] of [
    ['evalIntervalMs', o.evalIntervalMs],
    ['maxTimeMs', o.maxTimeMs],
  ] as const) {
    if (v !== undefined && !(v > 0)) problems.push(`${name} must be a number > 0, got ${String(v)}`);
  }
  if (!['auto', 'never', 'require'].includes(o.resume ?? 'auto'))
    problems.push(`resume must be 'auto', 'never' or 'require', got ${String(o.resume)}`);
  if (typeof o.outDir !== 'string' || o.outDir === '') problems.push('outDir must be a non-empty path');
  if (typeof o.data !== 'function') problems.push('data must be a function returning a BlockStream');
  if (problems.length)
    fail('INVALID_CONFIG', `runTraining options have ${problems.length} problem(s):\n- ${problems.join('\n- ')}`, {
      details: { problems },
    });
}

function stepDir(step: number): string {
  return `step-${String(step).padStart(7, '0')}`;
}

async function readJsonFile<T>(path: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    return fail(
      'FORMAT_ERROR',
      `cannot read ${path}: ${(e as Error).message}; the checkpoint is damaged — delete it (and latest.json) to restart, or point latest.json at an older checkpoint.`,
      { cause: e },
    );
  }
}

/**
 * Finds the checkpoint a run would resume from.
 * @param outDir - The run folder.
 * @returns The checkpoint folder and its step, or `null` when the run has none.
 * @throws `CalmError` `FORMAT_ERROR` for a damaged `latest.json`.
 * @example
 * {@includeCode ../test/examples.test.ts#run-training}
 * @category Training
 */
export async function latestCheckpoint(outDir: string): Promise<{ dir: string; step: number } | null> {
  const latest = join(outDir, 'latest.json');
  if (!(await pathExists(latest))) return null;
  const { checkpoint, step } = await readJsonFile<{ checkpoint: string; step: number }>(latest);
  return { dir: join(outDir, checkpoint), step };
}

async function trimMetrics(file: string, step: number): Promise<void> {
  if (!(await pathExists(file))) return;
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false;
    }
  });
  await writeTextAtomic(file, kept.length ? `${kept.join('\n')}\n` : '');
}

/**
 * Trains a task: the official recipe's optimisation loop with exact resume.
 *
 * @remarks
 * Each optimiser step averages the gradients of `gradAccum` micro-batches of `batchSize` blocks,
 * clips them to `maxGradNorm` (global norm), and applies AdamW with `schedule(step)`. Every
 * random draw of the loss comes from one training RNG. A checkpoint folder
 * `checkpoints/step-NNNNNNN/` holds the model (HF layout), `optimizer.safetensors` (moments and
 * step counts) and `trainer_state.json` (step, tokens, FLOPs, RNG state, data cursor); it is
 * written under a temporary name and renamed into place, then `latest.json` is replaced
 * atomically, so a crash at any moment leaves the previous checkpoint intact. Resuming restores
 * all of it, so the continued loss trajectory equals an uninterrupted run's bit for bit on the
 * same backend. Device scalars are read only when a record is logged.
 * @param task - What to train.
 * @param options - Steps, batch, optimiser, schedule, data, evaluation, logging, checkpoints.
 * @returns Steps, tokens, FLOPs, the last loss and where the model was written.
 * @throws `CalmError` `INVALID_CONFIG` for bad options (all listed), `CHECKPOINT_VERSION`
 *   when resuming a run with other settings, `INVALID_ARGUMENT` when a run exists and `resume` is
 *   `'never'` (or none exists and it is `'require'`), `FORMAT_ERROR` for a damaged checkpoint.
 * @example
 * {@includeCode ../test/examples.test.ts#run-training}
 * @category Training
 */
export async function runTraining(task: TrainTask, options: TrainLoopOptions): Promise<TrainResult> {
  checkOptions(options);
  const outDir = options.outDir;
  const accum = options.gradAccum ?? 1;
  const logEvery = options.logEvery ?? 10;
  const ckptEvery = options.checkpointEvery ?? 100;
  const keep = options.keepCheckpoints ?? 2;
  const evalEvery = options.evalEvery ?? 0;
  const maxGradNorm = options.maxGradNorm === undefined ? 1.0 : options.maxGradNorm;
  const fingerprint = options.fingerprint ?? '';
  const metricsFile = join(outDir, 'metrics.jsonl');
  await mkdir(join(outDir, 'checkpoints'), { recursive: true });

  const optimizer = new AdamW(task.params, options.optimizer);
  let rng: Rng = createRng(`${options.seed}/train`);
  let step = 0;
  let tokens = 0;
  let flops = 0;
  let elapsedBefore = 0;
  let cursor: BlockCursor | undefined;
  let resumedFrom: number | null = null;

  const found = await latestCheckpoint(outDir);
  const mode = options.resume ?? 'auto';
  if (found && mode === 'never')
    fail(
      'INVALID_ARGUMENT',
      `${outDir} already holds a run (checkpoint at step ${found.step}); choose another outDir, delete it, or resume.`,
    );
  if (!found && mode === 'require')
    fail('INVALID_ARGUMENT', `${outDir} holds no checkpoint to resume from (no latest.json).`);
  if (found) {
    const state = await readJsonFile<TrainerState>(join(found.dir, STATE_FILE));
    if (state.version !== 1)
      fail('CHECKPOINT_VERSION', `${found.dir}: trainer state version ${state.version} is not supported (expected 1).`);
    if (state.kind !== task.kind)
      fail('CHECKPOINT_VERSION', `${found.dir} is a "${state.kind}" run, not "${task.kind}"; use another outDir.`);
    if (state.fingerprint !== fingerprint) {
      fail(
        'CHECKPOINT_VERSION',
        `${found.dir} was written with other settings (fingerprint ${state.fingerprint} vs ${fingerprint}); resume with the original config, or use another outDir.`,
      );
    }
    await task.loadModel(found.dir);
    const { tensors } = await readSafetensorsFile(join(found.dir, OPTIM_FILE));
    optimizer.setState(namedArraysToOptimizerState(tensors));
    rng = restoreRng(state.rng);
    step = state.step;
    tokens = state.tokens;
    flops = state.flops;
    elapsedBefore = state.elapsedMs;
    cursor = state.data;
    resumedFrom = step;
    await trimMetrics(metricsFile, step);
  } else {
    await writeFile(metricsFile, '');
  }

  const log = async (record: MetricRecord): Promise<void> => {
    await appendFile(metricsFile, `${JSON.stringify(record)}\n`);
    options.onLog?.(record);
  };

  const stream = await options.data(cursor);
  const start = performance.now();
  const elapsed = (): number => elapsedBefore + (performance.now() - start);
  let pending: tf.Scalar[] = [];
  let lastGradNorm: tf.Scalar | null = null;
  let lastLr = 0;
  let lastLoss = Number.NaN;
  let intervalTokens = 0;
  let intervalStart = performance.now();
  let stoppedBy: TrainResult['stoppedBy'] = 'steps';
  let lastEval: Record<string, unknown> | undefined;
  let lastEvalAt = performance.now();
  let lastEvalStep = -1;
  let evalMs = 0;

  const flushLog = async (): Promise<void> => {
    if (pending.length === 0) return;
    let sum = 0;
    for (const l of pending) sum += (await l.data())[0]!;
    const gradNorm = lastGradNorm ? (await lastGradNorm.data())[0]! : Number.NaN;
    lastLoss = sum / pending.length;
    tf.dispose(pending);
    pending = [];
    const secs = (performance.now() - intervalStart) / 1000;
    await log({
      type: 'train',
      step,
      loss: lastLoss,
      lr: lastLr,
      gradNorm,
      tokens,
      flops,
      tokensPerSecond: secs > 0 ? intervalTokens / secs : 0,
      elapsedMs: elapsed(),
    });
    intervalTokens = 0;
    intervalStart = performance.now();
  };

  let checkpointedStep = resumedFrom ?? -1;
  const checkpoint = async (): Promise<void> => {
    if (checkpointedStep === step) return; // this step's checkpoint exists already (same state)
    checkpointedStep = step;
    const ckRoot = join(outDir, 'checkpoints');
    const name = stepDir(step);
    const tmp = join(ckRoot, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
    await mkdir(tmp, { recursive: true });
    await task.saveModel(tmp);
    await writeSafetensorsFile(join(tmp, OPTIM_FILE), optimizerStateToNamedArrays(optimizer.getState(), task.params));
    const state: TrainerState = {
      version: 1,
      kind: task.kind,
      step,
      tokens,
      flops,
      elapsedMs: elapsed(),
      rng: rng.getState(),
      data: stream.cursor(),
      fingerprint,
    };
    await writeTextAtomic(join(tmp, STATE_FILE), `${JSON.stringify(state, null, 1)}\n`);
    const final = join(ckRoot, name);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    await writeTextAtomic(
      join(outDir, 'latest.json'),
      `${JSON.stringify({ checkpoint: `checkpoints/${name}`, step })}\n`,
    );
    const all = (await readdir(ckRoot)).filter((n) => /^step-\d+$/.test(n)).sort();
    for (const old of all.slice(0, Math.max(0, all.length - keep)))
      await rm(join(ckRoot, old), { recursive: true, force: true });
    for (const t of (await readdir(ckRoot)).filter((n) => n.endsWith('.tmp')))
      await rm(join(ckRoot, t), { recursive: true, force: true });
  };

  const runEval = async (): Promise<void> => {
    if (!options.evaluate) return;
    const t = performance.now();
    const metrics = await options.evaluate({ step, rng: createRng(`${options.seed}/eval/${step}`) });
    evalMs += performance.now() - t;
    lastEval = metrics;
    lastEvalStep = step;
    await log({ type: 'eval', step, tokens, flops, metrics });
    lastEvalAt = performance.now();
  };

  try {
    while (step < options.steps) {
      if (options.signal?.aborted) {
        stoppedBy = 'signal';
        break;
      }
      const t0 = performance.now();
      let grads: Record<string, tf.Tensor> | null = null;
      let stepLoss: tf.Scalar | null = null;
      let stepTokens = 0;
      let exhausted = false;
      for (let micro = 0; micro < accum; micro++) {
        const batch = await stream.nextBatch(options.batchSize);
        if (!batch) {
          exhausted = true;
          break;
        }
        stepTokens += batch.ids.length;
        const ids = tf.tensor2d(batch.ids, batch.shape, 'int32');
        const { value, grads: g } = paramGrads(() => task.loss(ids, rng), task.params);
        ids.dispose();
        if (grads === null) {
          grads = g;
          stepLoss = value;
        } else {
          const prev: Record<string, tf.Tensor> = grads;
          grads = tf.tidy(
            () =>
              Object.fromEntries(Object.entries(prev).map(([k, v]) => [k, tf.add(v, g[k]!)])) as Record<
                string,
                tf.Tensor
              >,
          );
          const prevLoss: tf.Scalar = stepLoss!;
          stepLoss = tf.add(prevLoss, value) as tf.Scalar;
          tf.dispose([...Object.values(prev), ...Object.values(g), prevLoss, value]);
        }
      }
      if (exhausted) {
        if (grads) tf.dispose([...Object.values(grads), stepLoss!]);
        stoppedBy = 'data';
        break;
      }
      const averaged =
        accum === 1
          ? grads!
          : tf.tidy(() => Object.fromEntries(Object.entries(grads!).map(([k, v]) => [k, tf.div(v, accum)])));
      const meanLoss = accum === 1 ? stepLoss! : tf.tidy(() => tf.div(stepLoss!, accum) as tf.Scalar);
      if (accum !== 1) tf.dispose([...Object.values(grads!), stepLoss!]);
      let update = averaged;
      if (lastGradNorm) lastGradNorm.dispose();
      if (maxGradNorm !== null) {
        const clipped = clipByGlobalNorm(averaged, maxGradNorm);
        update = clipped.grads;
        lastGradNorm = clipped.norm;
        tf.dispose(Object.values(averaged));
      } else {
        lastGradNorm = tf.tidy(
          () => tf.sqrt(tf.addN(Object.values(averaged).map((g) => tf.sum(tf.square(g))))) as tf.Scalar,
        );
      }
      lastLr = options.schedule(optimizer.stepCount);
      optimizer.step(update, lastLr);
      tf.dispose(Object.values(update));
      pending.push(meanLoss);
      step++;
      tokens += stepTokens;
      flops += stepTokens * task.flopsPerToken;
      intervalTokens += stepTokens;
      const dt = (performance.now() - t0) / 1000;
      options.onProgress?.({
        step,
        steps: options.steps,
        tokens,
        tokensPerSecond: dt > 0 ? stepTokens / dt : 0,
        etaMs: (options.steps - step) * dt * 1000,
        lr: lastLr,
      });
      if (step % logEvery === 0) await flushLog();
      const timeUp = options.maxTimeMs !== undefined && performance.now() - start - evalMs >= options.maxTimeMs;
      const evalDue =
        (evalEvery > 0 && step % evalEvery === 0) ||
        (options.evalIntervalMs !== undefined && performance.now() - lastEvalAt >= options.evalIntervalMs);
      if (evalDue && step < options.steps && !timeUp) await runEval();
      if (ckptEvery > 0 && step % ckptEvery === 0 && step < options.steps) {
        await flushLog();
        await checkpoint();
      }
      if (timeUp) {
        stoppedBy = 'time';
        break;
      }
    }
    await flushLog();
    if (lastEvalStep !== step) await runEval();
    await checkpoint();
    const finalDir = join(outDir, 'final');
    const tmpFinal = join(outDir, `.final.${randomBytes(4).toString('hex')}.tmp`);
    await mkdir(tmpFinal, { recursive: true });
    await task.saveModel(tmpFinal);
    await rm(finalDir, { recursive: true, force: true });
    await rename(tmpFinal, finalDir);
    const result: TrainResult = {
      steps: step,
      tokens,
      flops,
      lastLoss,
      stoppedBy,
      resumedFrom,
      finalDir,
      metricsFile,
      elapsedMs: elapsed(),
    };
    if (lastEval) result.lastEval = lastEval;
    return result;
  } finally {
    tf.dispose(pending);
    if (lastGradNorm) lastGradNorm.dispose();
    optimizer.dispose();
    await stream.close();
  }
}

/**
 * Reads a run's metrics log.
 * @param outDir - The run folder (or the `metrics.jsonl` file itself).
 * @returns The records in order.
 * @throws `CalmError` `IO_ERROR` when the log is missing, `FORMAT_ERROR` for a bad line.
 * @example
 * {@includeCode ../test/examples.test.ts#run-training}
 * @category Training
 */
export async function readMetrics(outDir: string): Promise<MetricRecord[]> {
  const file = outDir.endsWith('.jsonl') ? outDir : join(outDir, 'metrics.jsonl');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return fail('IO_ERROR', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as MetricRecord;
      } catch (e) {
        return fail('FORMAT_ERROR', `${file}:${i + 1} is not JSON: ${(e as Error).message}`, { cause: e });
      }
    });
}
