/**
 * `@calm/trainer/node`: the Node-only parts of the trainer — checkpoint folders (official
 * `pytorch_model.bin` and safetensors) and their conversion, the training loop with checkpoints,
 * metrics logs and exact resume, JSON run configs, the quickstart, and plots.
 *
 * Quick start:
 * ```ts
 * import { createRng } from '@calm/core';
 * import { initBackend } from '@calm/nn';
 * import { loadCalm, runTraining, calmTrainTask } from '@calm/trainer/node';
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
  MODEL_WEIGHT_FILES,
  resolveModelFiles,
  detectCheckpointKind,
  readCalmCheckpoint,
  loadCalm,
  saveCalm,
  loadAr,
  saveAr,
  convertCheckpoint,
  type CalmCheckpointReport,
  type ReadCalmOptions,
  type ConvertCheckpointReport,
} from './checkpoint.js';
export {
  runTraining,
  latestCheckpoint,
  readMetrics,
  type TrainTask,
  type TrainLoopOptions,
  type TrainResult,
  type TrainProgress,
  type MetricRecord,
} from './train-loop.js';
export { calmTrainTask, autoencoderTrainTask, arTrainTask } from './train-tasks.js';
export { defaultRunConfig, resolveRunConfig, type RunConfig, type CorpusName } from './run-config.js';
export {
  trainFromConfig,
  scheduleOf,
  trainingSource,
  heldOutBlocks,
  summary,
  type TrainFromConfigOptions,
} from './run.js';
export { renderVegaLite, writePlot, trainingCurvesSpec, brierVsFlopsSpec, type VegaLiteSpec } from './plots.js';
export {
  runQuickstart,
  type QuickstartOptions,
  type QuickstartEvent,
  type QuickstartResult,
  type QuickstartBrier,
} from './quickstart.js';
