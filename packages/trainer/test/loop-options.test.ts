// runTraining's options: defaults in one place, and every problem of a call reported at once.
import { describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { resolveLoopOptions } from '../src/loop-options.js';
import type { TrainLoopOptions, TrainTask } from '../src/train-loop.js';

const task = { kind: 'lm' } as unknown as TrainTask; // no replica: one thread
const valid: TrainLoopOptions = {
  outDir: 'run',
  optimizer: { lr: 1e-3 },
  seed: 1,
  steps: 10,
  batchSize: 4,
  data: () => {
    throw new Error('not read');
  },
  schedule: () => 1e-3,
};

describe('resolveLoopOptions', () => {
  it('fills the defaults', () => {
    expect(resolveLoopOptions(task, valid)).toMatchObject({
      gradAccum: 1,
      workers: 1,
      maxGradNorm: 1,
      logEvery: 10,
      checkpointEvery: 100,
      keepCheckpoints: 2,
      evalEvery: 0,
      resume: 'auto',
    });
  });

  it('reports every problem at once, naming the option, what it expects and the value', () => {
    let caught: unknown;
    try {
      resolveLoopOptions(task, {
        ...valid,
        outDir: '',
        steps: -1,
        batchSize: 3,
        workers: 2,
        maxGradNorm: 0,
        maxTimeMs: 0,
        resume: 'always' as 'auto',
      });
    } catch (e) {
      caught = e;
    }
    expect(isCalmError(caught, 'INVALID_CONFIG')).toBe(true);
    expect((caught as { details: { problems: string[] } }).details.problems).toEqual([
      'steps must be a non-negative integer, got -1',
      'maxGradNorm must be a number > 0 or null, got 0',
      'maxTimeMs must be a number > 0 or absent, got 0',
      'resume must be one of "auto", "never", "require", got "always"',
      'outDir must be a non-empty path, got ""',
      'batchSize (3) must be a multiple of workers (2): each worker takes an equal share',
      'workers is 2 but the "lm" task has no replica (how worker threads rebuild it); pass workers: 1 or give the task a replica',
    ]);
  });

  it('accepts no clipping and unbounded time limits', () => {
    const r = resolveLoopOptions(task, { ...valid, maxGradNorm: null, maxTimeMs: Number.POSITIVE_INFINITY });
    expect(r.maxGradNorm).toBeNull();
  });
});
