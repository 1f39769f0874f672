// One time-boxed training stage of the quickstart on the embedded corpus (data-parallel on every
// core; AdamW, warm-up, cosine over the stage's time, clipping), and the per-text token cache that
// lets the stages tokenise the corpus once.

import { join } from 'node:path';
import { createRng } from '@calm/core';
import { createBlockStream, type BatchEncoder, type DocumentSource, type Tokenizer } from '@calm/data-pile';
import type { LrSchedule } from '@calm/nn';
import { runTraining, type TrainResult, type TrainTask } from '@calm/trainer';

/**
 * Caches token ids per text so the training streams tokenise the corpus once; `known` pre-fills
 * the cache (ids already computed, e.g. by another thread).
 */
export function cachedEncoder(
  tokenizer: Tokenizer,
  known?: { texts: readonly string[]; ids: readonly Int32Array[] },
): BatchEncoder {
  const cache = new Map<string, Int32Array>();
  known?.texts.forEach((t, i) => cache.set(t, known.ids[i]!));
  return {
    async encodeBatch(texts: readonly string[]) {
      const missing = texts.filter((t) => !cache.has(t));
      if (missing.length) (await tokenizer.encodeBatch(missing)).forEach((ids, i) => cache.set(missing[i]!, ids));
      return texts.map((t) => cache.get(t)!);
    },
  };
}

/**
 * A learning-rate schedule for runs bounded by time: linear warm-up over `warmup` steps, then a
 * half cosine over the elapsed fraction of `timeMs` down to `floor`·lr. Depends on the clock, so
 * it is for the quickstart's time-boxed runs only (not for resumable runs).
 */
export function timeCosineSchedule(lr: number, warmup: number, timeMs: number, floor = 0.1): LrSchedule {
  let start: number | undefined;
  return (step) => {
    start ??= performance.now();
    const w = step < warmup ? step / warmup : 1;
    const p = Math.min(1, (performance.now() - start) / timeMs);
    return lr * w * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * p)));
  };
}

/** What a stage reports while it runs (the quickstart turns these into its events). */
export type StageEvent =
  | { type: 'progress'; seconds: number; rate: number; note: string }
  | { type: 'log'; message: string };

/** One time-boxed training stage. */
export interface StageSpec {
  /** Phase name used in log lines. */
  phase: string;
  /** Sub-folder of the quickstart folder for the run. */
  dir: string;
  task: TrainTask;
  layout: 'lm' | 'ae';
  chunkSize?: number;
  lr: number;
  timeMs: number;
  batchSize: number;
  evaluate?: (c: { step: number }) => Promise<Record<string, unknown>>;
}

/** The data and settings every stage shares. */
export interface StageContext {
  outDir: string;
  seed: number;
  blockSize: number;
  /** Data-parallel worker threads. */
  workers: number;
  /** AdamW's settings, clipping, warm-up and the schedule's floor (a fraction of lr). */
  optimizer: {
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    maxGradNorm: number;
    warmupSteps: number;
    lrFloor: number;
  };
  source: DocumentSource;
  tokenizer: Tokenizer;
  encoder: BatchEncoder;
  signal?: AbortSignal;
  onEvent: (event: StageEvent) => void;
}

/** The largest divisor of `n` that is at most `max` (the workers that split a batch of `n` evenly). */
function largestDivisor(n: number, max: number): number {
  let w = Math.max(1, Math.min(n, max));
  while (n % w !== 0) w--;
  return w;
}

/**
 * Trains one stage until its share of time is spent (evaluations not counted).
 * @returns The training result.
 */
export async function trainStage(ctx: StageContext, s: StageSpec): Promise<TrainResult> {
  const started = performance.now();
  const o = ctx.optimizer;
  let lastLoss = '';
  return runTraining(s.task, {
    outDir: join(ctx.outDir, s.dir),
    steps: 1_000_000,
    batchSize: s.batchSize,
    workers: Math.min(ctx.workers, largestDivisor(s.batchSize, ctx.workers)),
    seed: ctx.seed,
    optimizer: { lr: s.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay },
    schedule: timeCosineSchedule(s.lr, o.warmupSteps, s.timeMs, o.lrFloor),
    maxGradNorm: o.maxGradNorm,
    logEvery: 5,
    checkpointEvery: 0,
    resume: 'never',
    maxTimeMs: s.timeMs,
    ...(s.evaluate ? { evaluate: s.evaluate, evalIntervalMs: s.timeMs / 4 } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onLog: (r) => {
      if (r.type === 'train') lastLoss = `loss ${r.loss.toFixed(3)}`;
      else
        ctx.onEvent({
          type: 'log',
          message: `${s.phase} step ${r.step}: ${Object.entries(r.metrics)
            .filter(([, v]) => typeof v === 'number')
            .map(([k, v]) => `${k} ${(v as number).toFixed(4)}`)
            .join(', ')}`,
        });
    },
    onProgress: (p) =>
      ctx.onEvent({
        type: 'progress',
        seconds: Math.min(Math.round((performance.now() - started) / 1000), Math.round(s.timeMs / 1000)),
        rate: p.tokensPerSecond,
        note: `step ${p.step} ${lastLoss}`,
      }),
    data: (cursor) =>
      createBlockStream(ctx.source, ctx.tokenizer, {
        blockSize: ctx.blockSize,
        layout: s.layout,
        ...(s.layout === 'ae' ? { chunkSize: s.chunkSize ?? 4 } : {}),
        encoder: ctx.encoder,
        shuffleBuffer: 64,
        epochs: Infinity,
        rng: createRng(`${ctx.seed}/data/${s.dir}`),
        ...(cursor ? { cursor } : {}),
      }),
  });
}
