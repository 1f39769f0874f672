// A task replica whose loss throws on its third call (the data-parallel failure test's worker side).
import type { Rng } from '@calm/core';
import type * as tf from '@tensorflow/tfjs';
import { replicateTrainTask, type TaskArgs, type TrainTask } from '../src/index.js';

export function failingTask(args: TaskArgs): TrainTask {
  const task = replicateTrainTask(args);
  let calls = 0;
  return {
    ...task,
    loss(ids: tf.Tensor2D, rng: Rng) {
      calls += 1;
      if (calls === 3) throw new Error(`the loss of call ${calls} throws`);
      return task.loss(ids, rng);
    },
  };
}
