// The training loop shared by both stages and the AR baseline (Node only), in the spirit of
// nanoGPT's train.py: read a step's micro-batches, one optimiser step over them (on this thread or
// on data-parallel workers), log, evaluate, checkpoint. Options, checkpoints and the step engines
// live in their own modules; this file is the loop.

import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '@calm/core';
import { readJsonl } from '@calm/core/node';
import type { BlockCursor, BlockStream } from '@calm/data-pile';
import { AdamW, type AdamWOptions, type LrSchedule, type ParamRecord } from '@calm/nn';
import { restoreCheckpoint, writeCheckpoint, writeFinalModel } from './checkpoints.js';
import { startStepEngine, type MicroBatch } from './data-parallel.js';
import { resolveLoopOptions } from './loop-options.js';

export { latestCheckpoint } from './checkpoints.js';

/**
 * How a worker thread rebuilds a task for data-parallel training: `import(module)[exportName](args)`
 * must return the same task (same parameter names and shapes; its values are then overwritten
 * with the main thread's).
 * @see {@link TrainTask}, {@link runTraining}
 * @category Training
 */
export interface TaskReplica {
  /** URL (`file:` or package specifier) of the module that exports the factory. */
  module: string;
  /** Name of the exported factory, `(args) => TrainTask | Promise<TrainTask>`. */
  exportName: string;
  /** Its argument: structured-cloneable (configs, typed arrays of frozen weights). */
  args: unknown;
}

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
   * @param rng - This micro-batch's RNG (every random draw of its loss comes from it).
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
  /**
   * How worker threads rebuild this task, read when the workers start (after a resume restored
   * the model); without it the task trains on one thread.
   */
  replica?(): TaskReplica;
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
  /** Blocks per micro-batch, over all workers (each worker takes `batchSize / workers`). */
  batchSize: number;
  /** Micro-batches per optimiser step (gradients are averaged). @defaultValue 1 */
  gradAccum?: number;
  /**
   * Worker threads computing gradients data-parallel, each with its own backend; gradients are
   * summed in shared memory in a fixed order and every worker applies the same update. Needs the
   * task's `replica` and must divide `batchSize`. @defaultValue the available cores (at most the
   * largest divisor of `batchSize`), or 1 when the task has no `replica`
   */
  workers?: number;
  /** AdamW settings (the schedule overrides `lr` per step). */
  optimizer: AdamWOptions;
  /** Learning rate per step. */
  schedule: LrSchedule;
  /** Global-norm clipping threshold, `null` to disable. @defaultValue 1.0 */
  maxGradNorm?: number | null;
  /** Seed of the training draws (micro-batch m of step s draws from `createRng(`${seed}/train/${s}/${m}`)`). */
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
  /** Worker threads that computed gradients (1: this thread). */
  workers: number;
  /** The model folder written at the end (`<outDir>/final`). */
  finalDir: string;
  /** The metrics log. */
  metricsFile: string;
  /** The last evaluation's metrics, when an evaluation ran. */
  lastEval?: Record<string, unknown>;
  /** Wall-clock milliseconds of training (across resumes). */
  elapsedMs: number;
  /**
   * Milliseconds this invocation spent in optimiser steps (reading data included; evaluations,
   * logs and checkpoints excluded): `tokens` of this invocation / `stepMs` is its training speed.
   */
  stepMs: number;
  /** Training tokens processed by this invocation (after a resume: since it). */
  stepTokens: number;
}

/** Reads `count` micro-batches of `rows` blocks; `null` when the stream ends first. */
async function readMicroBatches(stream: BlockStream, rows: number, count: number): Promise<MicroBatch[] | null> {
  const out: MicroBatch[] = [];
  for (let m = 0; m < count; m++) {
    const batch = await stream.nextBatch(rows);
    if (!batch) return null;
    out.push({ ids: batch.ids, shape: batch.shape });
  }
  return out;
}

/** Appends records to `metrics.jsonl` (trimmed to the resumed step) and forwards them. */
async function openMetricsLog(file: string, resumedAt: number | null, onLog?: (r: MetricRecord) => void) {
  if (resumedAt === null) await writeFile(file, '');
  else {
    // Records after the checkpoint were written by the interrupted run (the last one possibly cut
    // short by a kill): they are redone.
    const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '');
    const stepOf = (l: string) => {
      try {
        return (JSON.parse(l) as MetricRecord).step;
      } catch {
        return Number.POSITIVE_INFINITY;
      }
    };
    const kept = lines.filter((l) => stepOf(l) <= resumedAt);
    await writeFile(file, kept.length ? `${kept.join('\n')}\n` : '');
  }
  return async (record: MetricRecord): Promise<void> => {
    await appendFile(file, `${JSON.stringify(record)}\n`);
    onLog?.(record);
  };
}

/**
 * Trains a task: the official recipe's optimisation loop with exact resume, on one thread or on
 * data-parallel worker threads.
 *
 * @remarks
 * Each optimiser step reads `gradAccum · workers` micro-batches of `batchSize / workers` blocks,
 * scales each micro-batch loss by 1/(their number) so that the summed gradient is the mean, clips
 * it to `maxGradNorm` (global norm) and applies AdamW with `schedule(step)` (`trainStep` of
 * `@calm/nn`). Micro-batch m of step s draws its randomness from its own RNG, so a run with W
 * workers equals a one-worker run with `batchSize / W` and `gradAccum · W` to float32 tolerance,
 * and a run is bit-reproducible for a given worker count. A checkpoint folder
 * `checkpoints/step-NNNNNNN/` holds the model (HF layout), `optimizer.safetensors` and
 * `trainer_state.json` (step, tokens, FLOPs, data cursor); it is written under a temporary name
 * and renamed into place, then `latest.json` is replaced atomically, so a crash at any moment
 * leaves the previous checkpoint intact, and a resumed run continues bit for bit. Device scalars
 * are read only when a record is logged.
 * @param task - What to train.
 * @param options - Steps, batch, workers, optimiser, schedule, data, evaluation, logging, checkpoints.
 * @returns Steps, tokens, FLOPs, the last loss and where the model was written.
 * @throws `CalmError` `INVALID_CONFIG` for bad options (all listed), `CHECKPOINT_VERSION`
 *   when resuming a run with other settings, `INVALID_ARGUMENT` when a run exists and `resume` is
 *   `'never'` (or none exists and it is `'require'`), `FORMAT_ERROR` for a damaged checkpoint,
 *   `WORKER_FAILED` when a worker thread fails.
 * @example
 * {@includeCode ../test/examples.test.ts#run-training}
 * @category Training
 */
export async function runTraining(task: TrainTask, options: TrainLoopOptions): Promise<TrainResult> {
  const o = resolveLoopOptions(task, options);
  const metricsFile = join(o.outDir, 'metrics.jsonl');
  const optimizer = new AdamW(task.params, o.optimizer);
  const run = await restoreCheckpoint(task, optimizer, o); // step, tokens, flops, cursor (zeros when fresh)
  const log = await openMetricsLog(metricsFile, run.resumedFrom, o.onLog);
  const stream = await o.data(run.cursor);
  const engine = await startStepEngine(task, optimizer, o).catch(async (e: unknown) => {
    optimizer.dispose();
    await stream.close();
    throw e;
  });
  const started = performance.now();
  const elapsed = () => run.elapsedMs + (performance.now() - started);
  const result: TrainResult = {
    steps: run.step,
    tokens: run.tokens,
    flops: run.flops,
    lastLoss: Number.NaN,
    stoppedBy: 'steps',
    resumedFrom: run.resumedFrom,
    workers: o.workers,
    finalDir: join(o.outDir, 'final'),
    metricsFile,
    elapsedMs: 0,
    stepMs: 0,
    stepTokens: 0,
  };
  let pending: Array<{ loss: tf.Scalar | number; gradNorm: tf.Scalar | number; lr: number }> = [];
  let interval = { tokens: 0, start: performance.now() };
  let evalMs = 0;
  let lastEvalAt = performance.now();
  let lastEvalStep = -1;
  let savedStep = run.resumedFrom ?? -1;

  const flushLog = async (): Promise<void> => {
    if (pending.length === 0) return;
    let sum = 0;
    for (const p of pending) sum += await engine.read(p.loss);
    const last = pending[pending.length - 1]!;
    const gradNorm = await engine.read(last.gradNorm);
    for (const p of pending) engine.dispose(p);
    result.lastLoss = sum / pending.length;
    pending = [];
    const secs = (performance.now() - interval.start) / 1000;
    const { step, tokens, flops } = run;
    await log({
      type: 'train',
      step,
      loss: result.lastLoss,
      lr: last.lr,
      gradNorm,
      tokens,
      flops,
      elapsedMs: elapsed(),
      tokensPerSecond: secs > 0 ? interval.tokens / secs : 0,
    });
    interval = { tokens: 0, start: performance.now() };
  };
  const evaluate = async (): Promise<void> => {
    if (!o.evaluate) return;
    const t = performance.now();
    await engine.sync(); // the evaluation reads this thread's parameters
    const metrics = await o.evaluate({ step: run.step, rng: createRng(`${o.seed}/eval/${run.step}`) });
    evalMs += performance.now() - t;
    result.lastEval = metrics;
    lastEvalStep = run.step;
    lastEvalAt = performance.now();
    await log({ type: 'eval', step: run.step, tokens: run.tokens, flops: run.flops, metrics });
  };
  const checkpoint = async (): Promise<void> => {
    if (savedStep === run.step) return; // this step's checkpoint exists already
    await flushLog();
    await engine.sync();
    await writeCheckpoint(task, optimizer, o, { ...run, elapsedMs: elapsed(), cursor: stream.cursor() });
    savedStep = run.step;
  };

  try {
    while (run.step < o.steps) {
      if (o.signal?.aborted) {
        result.stoppedBy = 'signal';
        break;
      }
      const t0 = performance.now();
      const micro = await readMicroBatches(stream, o.batchSize / o.workers, o.gradAccum * o.workers);
      if (!micro) {
        result.stoppedBy = 'data';
        break;
      }
      const lr = o.schedule(run.step);
      // One step: every micro-batch loss scaled by 1/micro.length (so the summed gradient is the
      // mean, nanoGPT's `loss / gradient_accumulation_steps`), clipped, AdamW.
      const { loss, gradNorm } = await engine.step(micro, { step: run.step, lr, scale: 1 / micro.length });
      pending.push({ loss, gradNorm, lr });
      const stepTokens = micro.reduce((n, b) => n + b.ids.length, 0);
      run.step += 1;
      run.tokens += stepTokens;
      run.flops += stepTokens * task.flopsPerToken;
      interval.tokens += stepTokens;
      const dt = (performance.now() - t0) / 1000;
      result.stepMs += dt * 1000;
      result.stepTokens += stepTokens;
      o.onProgress?.({
        step: run.step,
        steps: o.steps,
        tokens: run.tokens,
        lr,
        tokensPerSecond: stepTokens / dt,
        etaMs: (o.steps - run.step) * dt * 1000,
      });

      if (run.step % o.logEvery === 0) await flushLog();
      const timeUp = o.maxTimeMs !== undefined && performance.now() - started - evalMs >= o.maxTimeMs;
      const evalDue =
        (o.evalEvery > 0 && run.step % o.evalEvery === 0) ||
        (o.evalIntervalMs !== undefined && performance.now() - lastEvalAt >= o.evalIntervalMs);
      if (evalDue && run.step < o.steps && !timeUp) await evaluate();
      if (o.checkpointEvery > 0 && run.step % o.checkpointEvery === 0 && run.step < o.steps) await checkpoint();
      if (timeUp) {
        result.stoppedBy = 'time';
        break;
      }
    }
    await flushLog();
    if (lastEvalStep !== run.step) await evaluate();
    await checkpoint();
    await writeFinalModel(task, o.outDir);
    return { ...result, steps: run.step, tokens: run.tokens, flops: run.flops, elapsedMs: elapsed() };
  } finally {
    for (const p of pending) engine.dispose(p);
    await engine.close();
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
  return (await readJsonl(outDir.endsWith('.jsonl') ? outDir : join(outDir, 'metrics.jsonl'))) as MetricRecord[];
}
