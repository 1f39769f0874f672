// The project's training step as the bench times it (used by train-vs-pytorch.ts).
//
// `projectStep` is one optimiser step of `runTraining` (packages/trainer/src/train-loop.ts) with
// gradAccum 1: ids to a tensor, `paramGrads` of the task's loss, `clipByGlobalNorm`, dispose the
// raw gradients, `AdamW.step` at the schedule's lr, dispose the clipped gradients. The loop does
// not expose its step, so this mirrors it line for line (keep the two in sync); the only addition
// is reading the loss back at the end of the step, which on wasm (synchronous kernels) costs
// nothing and makes the wall time of a step complete on any backend.
//
// `projectStepAllCores` is the step for the rows that may use every core. The project has no
// data-parallel training yet: today it runs `projectStep` on this thread and says so
// (`dataParallel: false`). When the multi-worker trainer lands (workers computing gradients of
// slices of the batch, summed in shared memory), replace its body; `ProjectRun.spec` carries what a
// worker needs to rebuild the model (model kind, configs, the initial weights file).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { type AdamW, clipByGlobalNorm, paramGrads } from '@calm/nn';
import type { TrainTask } from '@calm/trainer/node';

/** Everything one bench row trains. */
export interface ProjectRun {
  /** The task whose loss the loop differentiates (`calmTrainTask`, `autoencoderTrainTask`, `arTrainTask`). */
  task: TrainTask;
  /** The optimiser over `task.params`. */
  optimizer: AdamW;
  /** The training RNG (every draw of the loss comes from it, as in the loop). */
  rng: Rng;
  /** The batch: B·T token ids, row-major, and its shape [B, T]. */
  batch: { ids: Int32Array; shape: [number, number] };
  /** Learning rate of every step (a constant schedule). */
  lr: number;
  /** Global-norm clipping threshold. */
  maxGradNorm: number;
  /** What a data-parallel implementation needs to rebuild the model in a worker. */
  spec: { model: 'ae' | 'calm' | 'ar'; shape: string; weightsFile: string; configs: Record<string, unknown> };
}

/**
 * One optimiser step on this thread, as `runTraining` does it (gradAccum 1).
 * @returns The step's loss.
 */
export async function projectStep(run: ProjectRun): Promise<number> {
  const ids = tf.tensor2d(run.batch.ids, run.batch.shape, 'int32');
  const { value, grads } = paramGrads(() => run.task.loss(ids, run.rng), run.task.params);
  ids.dispose();
  const clipped = clipByGlobalNorm(grads, run.maxGradNorm);
  tf.dispose(Object.values(grads));
  run.optimizer.step(clipped.grads, run.lr);
  tf.dispose(Object.values(clipped.grads));
  clipped.norm.dispose(); // the loop keeps it until its next log record
  const loss = (await value.data())[0]!; // the loop reads it at its next log record
  value.dispose();
  return loss;
}

/** What {@link projectStepAllCores} did. */
export interface AllCoresStep {
  /** The step's loss. */
  loss: number;
  /** Whether the step was split over workers (false until the data-parallel trainer lands). */
  dataParallel: boolean;
  /** Threads that computed it. */
  workers: number;
}

/**
 * One optimiser step of the whole batch using up to `cores` cores. Today: {@link projectStep} on
 * this thread (the project has no data-parallel training yet). The batch, and so the tokens per
 * step, stay the same whatever the implementation.
 * @param run - The row's run.
 * @param cores - Cores the step may use.
 */
export async function projectStepAllCores(run: ProjectRun, cores: number): Promise<AllCoresStep> {
  void cores;
  return { loss: await projectStep(run), dataParallel: false, workers: 1 };
}
