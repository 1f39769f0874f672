// The quickstart's AR baseline, trained in a worker thread while the main thread trains the
// autoencoder and CALM: each thread runs its own single-threaded tfjs backend, so a 2-core machine
// trains both models at full speed and the baseline gets the same wall-clock time as CALM.
// Also callable in-thread (one core, or when workers are unavailable).

import { parentPort, workerData } from 'node:worker_threads';
import { createRng } from '@calm/core';
import type { BrierLMResult } from '@calm/brierlm';
import { loadSotuCorpus, loadTokenizer } from '@calm/data-pile/node';
import { initBackend } from '@calm/nn';
import { ArModel, type ArConfig, evaluateAr, arInferenceFlops, brierSummary } from '@calm/model';
import { cachedEncoder, trainStage, type StageEvent } from './internal/quickstart-stage.js';
import { arTrainTask, type TrainResult } from '@calm/trainer';

/** What the AR stage needs (structured-cloneable, so it can cross to a worker). */
export interface ArStageInput {
  outDir: string;
  seed: number;
  blockSize: number;
  tokenizerPath: string;
  /** Token ids of the training texts (in corpus order), so the stage does not tokenise again. */
  trainIds: Int32Array[];
  config: ArConfig;
  lr: number;
  batchSize: number;
  timeMs: number;
  evalBlocks: Int32Array[];
  curveBlocks: Int32Array[];
  /** Select a backend in this thread first (a worker always does). */
  initBackend: boolean;
}

/** What the AR stage reports back. */
export interface ArStageOutput {
  params: number;
  run: TrainResult;
  brier: Pick<BrierLMResult, 'brierLM' | 'brierLMStderr' | 'brier' | 'numPositions'>;
  inferenceFlopsPerToken: number;
  backend: string;
}

/** What the AR stage reports while it trains and evaluates. */
export type ArStageEvent = StageEvent | { type: 'eval'; blocksDone: number };

/** Messages from the worker. */
export type ArWorkerMessage =
  | { type: 'event'; event: ArStageEvent }
  | { type: 'done'; output: ArStageOutput }
  | { type: 'error'; message: string; code?: string; stack?: string };

/**
 * Trains and evaluates the AR baseline (train for `timeMs`, then BrierLM on the eval blocks).
 * @returns Parameters, the training result and the held-out BrierLM.
 */
export async function runArStage(
  input: ArStageInput,
  onEvent: (e: ArStageEvent) => void,
  signal?: AbortSignal,
): Promise<ArStageOutput> {
  const backend = input.initBackend ? (await initBackend()).detail : 'caller-selected';
  const train = loadSotuCorpus({ split: 'train' });
  const tokenizer = await loadTokenizer(input.tokenizerPath);
  const ar = new ArModel(input.config, { rng: createRng(`${input.seed}/init/ar`) });
  try {
    const curve = async ({ step }: { step: number }) =>
      brierSummary(await evaluateAr(ar, input.curveBlocks, { seed: `${input.seed}/curve/${step}` }));
    const run = await trainStage(
      {
        outDir: input.outDir,
        seed: input.seed,
        blockSize: input.blockSize,
        source: train.source,
        tokenizer,
        encoder: cachedEncoder(tokenizer, { texts: train.texts, ids: input.trainIds }),
        onEvent,
        ...(signal ? { signal } : {}),
      },
      {
        phase: 'AR baseline',
        dir: 'ar',
        task: arTrainTask(ar, { blockSize: input.blockSize }),
        layout: 'lm',
        lr: input.lr,
        timeMs: input.timeMs,
        batchSize: input.batchSize,
        evaluate: curve,
      },
    );
    const r = await evaluateAr(ar, input.evalBlocks, {
      seed: `${input.seed}/final`,
      onProgress: (p) => onEvent({ type: 'eval', blocksDone: p.blocksDone }),
      ...(signal ? { signal } : {}),
    });
    return {
      params: ar.numParams(),
      run,
      brier: { brierLM: r.brierLM, brierLMStderr: r.brierLMStderr, brier: [...r.brier], numPositions: r.numPositions },
      inferenceFlopsPerToken: arInferenceFlops(ar.config, { context: input.blockSize }).perToken,
      backend,
    };
  } finally {
    ar.dispose();
  }
}

// Worker entry: runs when this module is a worker started by the quickstart.
if (parentPort && (workerData as { calmQuickstartAr?: ArStageInput } | null)?.calmQuickstartAr) {
  const port = parentPort;
  const input = (workerData as { calmQuickstartAr: ArStageInput }).calmQuickstartAr;
  runArStage({ ...input, initBackend: true }, (event) =>
    port.postMessage({ type: 'event', event } satisfies ArWorkerMessage),
  ).then(
    (output) => port.postMessage({ type: 'done', output } satisfies ArWorkerMessage),
    (e: unknown) => {
      const err = e as { message?: string; code?: string; stack?: string };
      port.postMessage({
        type: 'error',
        message: String(err?.message ?? e),
        ...(err?.code ? { code: err.code } : {}),
        ...(err?.stack ? { stack: err.stack } : {}),
      } satisfies ArWorkerMessage);
    },
  );
}
