// Learning-rate schedules as pure functions of the optimiser step, matching HF transformers'
// constant, constant-with-warmup and cosine-with-min-lr schedulers.

import { collectConfigProblems, throwConfigProblems, type ConfigField } from '@calm/core';
import { fail } from './internal/errors.js';

/**
 * A learning-rate schedule: the learning rate to use for the update that follows `step` updates.
 * @param step - Updates already applied (0 for the first update), an integer ≥ 0.
 * @returns The learning rate.
 * @see {@link warmupCosineSchedule}
 * @category Schedules
 */
export type LrSchedule = (step: number) => number;

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0)
    fail('INVALID_ARGUMENT', `schedule: step must be an integer >= 0, got ${step}.`);
}

// The rules of the schedules' settings; each schedule checks those it takes, all at once.
const SETTING_FIELDS: ReadonlyArray<ConfigField> = [
  ['lr', 'lr', 'nonNeg'],
  ['minLr', 'minLr', 'nonNeg'],
  ['warmupSteps', 'warmupSteps', 'nonNegInt'],
  ['totalSteps', 'totalSteps', 'nonNegInt'],
];

/**
 * Throws one `INVALID_CONFIG` listing every problem of a schedule's settings, then of the checks
 * between them (`cross`, run once every setting is valid).
 */
function checkSettings(fn: string, settings: Record<string, number>, cross: () => string[] = () => []): void {
  const problems = collectConfigProblems(
    settings,
    SETTING_FIELDS.filter(([key]) => key in settings),
  );
  throwConfigProblems(problems.length > 0 ? problems : cross(), fn, '@calm/nn');
}

/**
 * A constant learning rate (HF `constant`, which ignores `warmup_steps`, as the official scripts
 * run).
 * @param lr - The learning rate.
 * @returns The schedule.
 * @throws `CalmError` `INVALID_CONFIG` for a negative or non-finite lr.
 * @example
 * {@includeCode ../test/examples.test.ts#schedules}
 * @category Schedules
 */
export function constantSchedule(lr: number): LrSchedule {
  checkSettings('constantSchedule', { lr });
  return (step) => {
    checkStep(step);
    return lr;
  };
}

/**
 * Linear warm-up from 0 to `lr` over `warmupSteps` updates, then constant (HF
 * `constant_with_warmup`): `lr · step / warmupSteps` while `step < warmupSteps`.
 * @param lr - The peak learning rate.
 * @param warmupSteps - Updates of warm-up (0: none).
 * @returns The schedule (0 at step 0 when warming up, `lr` from `warmupSteps` on).
 * @throws `CalmError` `INVALID_CONFIG` for bad arguments.
 * @example
 * {@includeCode ../test/examples.test.ts#schedules}
 * @category Schedules
 */
export function warmupConstantSchedule(lr: number, warmupSteps: number): LrSchedule {
  checkSettings('warmupConstantSchedule', { lr, warmupSteps });
  return (step) => {
    checkStep(step);
    return step < warmupSteps ? (lr * step) / warmupSteps : lr;
  };
}

/**
 * Options of {@link warmupCosineSchedule}.
 * @see {@link warmupCosineSchedule}
 * @category Schedules
 */
export interface WarmupCosineOptions {
  /** Peak learning rate, reached at the end of warm-up. */
  lr: number;
  /** Updates of linear warm-up from 0. */
  warmupSteps: number;
  /** Update index at which the cosine reaches `minLr` (> `warmupSteps`). */
  totalSteps: number;
  /** Final learning rate, in `[0, lr]`. @defaultValue 0 */
  minLr?: number;
}

/**
 * Linear warm-up, then a half cosine from `lr` down to `minLr` at `totalSteps`, then `minLr`
 * (HF `cosine_with_min_lr`).
 * @param options - Peak lr, warm-up and total steps, final lr.
 * @returns The schedule: `lr·step/warmupSteps` during warm-up, `minLr + (lr − minLr)·½(1 + cos(π·p))`
 *   with `p = (step − warmupSteps)/(totalSteps − warmupSteps)` after, `minLr` from `totalSteps` on.
 * @throws `CalmError` `INVALID_CONFIG` listing every bad option.
 * @example
 * {@includeCode ../test/examples.test.ts#schedules}
 * @category Schedules
 */
export function warmupCosineSchedule(options: WarmupCosineOptions): LrSchedule {
  const { lr, warmupSteps, totalSteps, minLr = 0 } = options;
  checkSettings('warmupCosineSchedule', { lr, minLr, warmupSteps, totalSteps }, () => [
    ...(totalSteps <= warmupSteps ? [`totalSteps (${totalSteps}) must exceed warmupSteps (${warmupSteps})`] : []),
    ...(minLr > lr ? [`minLr (${minLr}) must not exceed lr (${lr})`] : []),
  ]);
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return (lr * step) / warmupSteps;
    if (step >= totalSteps) return minLr;
    const progress = (step - warmupSteps) / (totalSteps - warmupSteps);
    return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
