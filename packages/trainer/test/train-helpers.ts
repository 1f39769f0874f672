// Loop options of the tiny training runs shared by the loop tests and the child process of the
// SIGKILL test (the models and corpus come from @calm/testing/models).
import { createRng } from '@calm/core';
import { arraySource, createBlockStream } from '@calm/data-pile';
import { warmupConstantSchedule } from '@calm/nn';
import { byteTokenizer, syntheticTexts } from '@calm/testing/models';
import type { TrainLoopOptions } from '../src/index.js';

/** Loop options of the tiny runs (steps, batch, data stream with a shuffle buffer). */
export function tinyLoopOptions(
  outDir: string,
  steps: number,
  layout: 'lm' | 'ae' = 'lm',
  workers = 1,
): TrainLoopOptions {
  const tok = byteTokenizer();
  const source = arraySource(syntheticTexts());
  return {
    outDir,
    steps,
    batchSize: 2,
    gradAccum: 2,
    workers,
    seed: 7,
    optimizer: { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
    schedule: warmupConstantSchedule(3e-3, 3),
    logEvery: 1,
    checkpointEvery: 2,
    data: (cursor) =>
      createBlockStream(source, tok, {
        blockSize: 64,
        layout,
        chunkSize: 4,
        epochs: Infinity,
        shuffleBuffer: 4,
        rng: createRng('7/data'),
        ...(cursor ? { cursor } : {}),
      }),
  };
}
