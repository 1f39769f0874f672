// The options of `runTraining` with every default filled in one place and every problem of a call
// reported at once (one INVALID_CONFIG error listing them), including how many worker threads the
// run uses.

import { availableParallelism } from 'node:os';
import {
  collectConfigProblems,
  configOneOf,
  configOptional,
  configOrNull,
  configRule,
  throwConfigProblems,
  type ConfigField,
} from '@calm/core';
import type { TrainLoopOptions, TrainTask } from './train-loop.js';

/** The options that {@link resolveLoopOptions} gives a default. */
type DefaultedOption =
  | 'gradAccum'
  | 'workers'
  | 'maxGradNorm'
  | 'logEvery'
  | 'checkpointEvery'
  | 'keepCheckpoints'
  | 'evalEvery'
  | 'resume'
  | 'fingerprint';

/** {@link TrainLoopOptions} with the defaults applied. */
export interface ResolvedLoopOptions
  extends Required<Pick<TrainLoopOptions, DefaultedOption>>,
    Omit<TrainLoopOptions, DefaultedOption> {}

// The rules of each option (after the defaults). A clipping threshold and the time limits
// (milliseconds) may be any number > 0, Infinity included.
const positive = configRule('a number > 0', (v) => typeof v === 'number' && v > 0);
const FIELDS: ReadonlyArray<ConfigField<keyof ResolvedLoopOptions & string>> = [
  ['steps', 'steps', 'nonNegInt'],
  ['batchSize', 'batchSize', 'posInt'],
  ['gradAccum', 'gradAccum', 'posInt'],
  ['workers', 'workers', 'posInt'],
  ['logEvery', 'logEvery', 'posInt'],
  ['checkpointEvery', 'checkpointEvery', 'nonNegInt'],
  ['keepCheckpoints', 'keepCheckpoints', 'posInt'],
  ['evalEvery', 'evalEvery', 'nonNegInt'],
  ['maxGradNorm', 'maxGradNorm', configOrNull(positive)],
  ['evalIntervalMs', 'evalIntervalMs', configOptional(positive)],
  ['maxTimeMs', 'maxTimeMs', configOptional(positive)],
  ['resume', 'resume', configOneOf('auto', 'never', 'require')],
  ['outDir', 'outDir', configRule('a non-empty path', (v) => typeof v === 'string' && v !== '')],
  ['data', 'data', configRule('a function returning a BlockStream', (v) => typeof v === 'function')],
  [
    'schedule',
    'schedule',
    configRule('a function of the step returning the learning rate', (v) => typeof v === 'function'),
  ],
];

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
  const problems = collectConfigProblems(r as unknown as Record<string, unknown>, FIELDS);
  if (Number.isInteger(r.workers) && r.workers >= 1 && Number.isInteger(r.batchSize) && r.batchSize % r.workers !== 0)
    problems.push(
      `batchSize (${r.batchSize}) must be a multiple of workers (${r.workers}): each worker takes an equal share`,
    );
  if (r.workers > 1 && !task.replica)
    problems.push(
      `workers is ${r.workers} but the "${task.kind}" task has no replica (how worker threads rebuild it); pass workers: 1 or give the task a replica`,
    );
  throwConfigProblems(problems, 'runTraining options', '@calm/trainer');
  return r;
}
