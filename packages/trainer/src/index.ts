/**
 * `@calm/trainer`: CALM's two-stage training (Node only) — the training loop with gradient
 * accumulation, clipping, AdamW, metrics logs, periodic evaluation and atomic checkpoints from
 * which a run resumes exactly; the training tasks of the official recipe (stage 1 the
 * autoencoder, stage 2 CALM with the autoencoder frozen, the AR baseline); and JSON run configs.
 * Models come from `@calm/model`, data from `@calm/data-pile`.
 *
 * Quick start:
 * ```ts
 * import { initBackend } from '@calm/nn';
 * import { loadCalm } from '@calm/model/node';
 * import { runTraining, calmTrainTask } from '@calm/trainer';
 *
 * await initBackend();
 * const { model } = await loadCalm('./CALM-M', { aePath: './CALM-Autoencoder' });
 * await runTraining(calmTrainTask(model, { blockSize: 8192 }), { outDir: 'runs/ft', steps: 100, batchSize: 1, seed: 1,
 *   optimizer: { lr: 1e-5, beta1: 0.9, beta2: 0.95, weightDecay: 0.1 }, schedule: () => 1e-5, data: (cursor) => makeStream(cursor) });
 * ```
 *
 * @packageDocumentation
 */
export {
  runTraining,
  latestCheckpoint,
  readMetrics,
  type TrainTask,
  type TaskReplica,
  type TrainLoopOptions,
  type TrainResult,
  type TrainProgress,
  type MetricRecord,
} from './train-loop.js';
export { createTrainStepper, type TrainStepper, type MicroBatch } from './data-parallel.js';
export { calmTrainTask, autoencoderTrainTask, arTrainTask, replicateTrainTask, type TaskArgs } from './train-tasks.js';
export { defaultRunConfig, resolveRunConfig, type RunConfig, type CorpusName } from './run-config.js';
export {
  trainFromConfig,
  scheduleOf,
  trainingSource,
  heldOutBlocks,
  type TrainFromConfigOptions,
} from './run.js';
