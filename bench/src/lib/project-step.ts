// The project's training step as the bench times it (used by train-vs-pytorch.ts): the trainer's
// own step engine (`createTrainStepper` of @calm/trainer, what `runTraining` runs), on one thread
// or data-parallel on every core. The batch (and so the tokens per step) is the same whatever the
// worker count: it is cut into one micro-batch per worker.
import type { TrainStepper } from '@calm/trainer';

/** Everything one bench row trains. */
export interface ProjectRun {
  /** The stepper over the row's task (workers: 1 or all cores). */
  stepper: TrainStepper;
  /** The batch: B·T token ids, row-major, and its shape [B, T]. */
  batch: { ids: Int32Array; shape: [number, number] };
  /** Learning rate of every step (a constant schedule). */
  lr: number;
}

/** What {@link projectStep} did. */
export interface ProjectStep {
  /** The step's loss. */
  loss: number;
  /** Whether the step was split over worker threads. */
  dataParallel: boolean;
  /** Threads that computed it. */
  workers: number;
}

let counter = 0;

/**
 * One optimiser step of the whole batch, cut into one micro-batch per worker.
 * @param run - The row's run.
 * @returns The loss and how the step ran.
 */
export async function projectStep(run: ProjectRun): Promise<ProjectStep> {
  const w = run.stepper.workers;
  const [b, t] = run.batch.shape;
  if (b % w !== 0) throw new Error(`batch ${b} does not split over ${w} workers`);
  const rows = b / w;
  const micro = Array.from({ length: w }, (_, i) => ({
    ids: run.batch.ids.slice(i * rows * t, (i + 1) * rows * t),
    shape: [rows, t] as [number, number],
  }));
  const { loss } = await run.stepper.step(micro, counter++, run.lr);
  return { loss, dataParallel: w > 1, workers: w };
}
