// The options of `runTraining` with every default filled in one place and every problem of a call
// reported at once (one INVALID_CONFIG error listing them), including how many worker threads the
// run uses.

import { availableParallelism } from 'node:os';
import { throwConfigProblems } from '@calm/core';
import type { TrainLoopOptions, TrainTask } from './train-loop.js';

/** {@link TrainLoopOptions} with the defaults applied. */
export interface ResolvedLoopOptions
  extends Required<
      Pick<
        TrainLoopOptions,
        | 'gradAccum'
        | 'workers'
        | 'maxGradNorm'
        | 'logEvery'
        | 'checkpointEvery'
        | 'keepCheckpoints'
        | 'evalEvery'
        | 'resume'
        | 'fingerprint'
      >
    >,
    Omit<
      TrainLoopOptions,
      | 'gradAccum'
      | 'workers'
      | 'maxGradNorm'
      | 'logEvery'
      | 'checkpointEvery'
      | 'keepCheckpoints'
      | 'evalEvery'
      | 'resume'
      | 'fingerprint'
    > {}

/** The default worker count: the available cores, at most the largest divisor of the batch size. */
function defaultWorkers(task: TrainTask, batchSize: number): number {
  if (!task.replica || !Number.isInteger(batchSize) || batchSize < 1) return 1;
  let w = Math.min(availableParallelism(), batchSize);
  while (batchSize % w !== 0) w--;
  return w;
}

/**
 * Validates the options of a run and fills in the defaults.
 * @param task - The task (its `replica` decides whether workers are possible).
 * @param o - The caller's options.
 * @returns The resolved options.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 */
export function resolveLoopOptions(task: TrainTask, o: TrainLoopOptions): ResolvedLoopOptions {
  const problems: string[] = [];
  const int = (v: unknown, name: string, min: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
      problems.push(`${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  const r: ResolvedLoopOptions = {
    ...o,
    gradAccum: o.gradAccum ?? 1,
    workers: o.workers ?? defaultWorkers(task, o.batchSize),
    maxGradNorm: o.maxGradNorm === undefined ? 1.0 : o.maxGradNorm,
    logEvery: o.logEvery ?? 10,
    checkpointEvery: o.checkpointEvery ?? 100,
    keepCheckpoints: o.keepCheckpoints ?? 2,
    evalEvery: o.evalEvery ?? 0,
    resume: o.resume ?? 'auto',
    fingerprint: o.fingerprint ?? '',
  };
  int(r.steps, 'steps', 0);
  int(r.batchSize, 'batchSize', 1);
  int(r.gradAccum, 'gradAccum', 1);
  int(r.workers, 'workers', 1);
  int(r.logEvery, 'logEvery', 1);
  int(r.checkpointEvery, 'checkpointEvery', 0);
  int(r.keepCheckpoints, 'keepCheckpoints', 1);
  int(r.evalEvery, 'evalEvery', 0);
  if (Number.isInteger(r.workers) && Number.isInteger(r.batchSize) && r.batchSize % r.workers !== 0)
    problems.push(
      `batchSize (${r.batchSize}) must be a multiple of workers (${r.workers}): each worker takes an equal share`,
    );
  if (r.workers > 1 && !task.replica)
    problems.push(
      `workers is ${r.workers} but the "${task.kind}" task has no replica (how worker threads rebuild it); pass workers: 1 or give the task a replica`,
    );
  if (r.maxGradNorm !== null && !(r.maxGradNorm > 0))
    problems.push(`maxGradNorm must be > 0 or null, got ${r.maxGradNorm}`);
  for (const [name, v] of [
    ['evalIntervalMs', r.evalIntervalMs],
    ['maxTimeMs', r.maxTimeMs],
  ] as const) {
    if (v !== undefined && !(v > 0)) problems.push(`${name} must be a number > 0, got ${String(v)}`);
  }
  if (!['auto', 'never', 'require'].includes(r.resume))
    problems.push(`resume must be 'auto', 'never' or 'require', got ${String(r.resume)}`);
  if (typeof r.outDir !== 'string' || r.outDir === '') problems.push('outDir must be a non-empty path');
  if (typeof r.data !== 'function') problems.push('data must be a function returning a BlockStream');
  if (typeof r.schedule !== 'function')
    problems.push('schedule must be a function of the step returning the learning rate');
  throwConfigProblems(problems, 'runTraining options', '@calm/trainer');
  return r;
}
