// Training checkpoints on disk (Node only): the one place that writes and reads them. A checkpoint
// folder `checkpoints/step-NNNNNNN/` holds the model (HF layout, by the task), the optimiser state
// and `trainer_state.json`; it is written under a temporary name and renamed into place, then
// `latest.json` is replaced atomically, so a crash at any moment leaves the previous one intact.

import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathExists, readJsonFile, readSafetensorsFile, writeSafetensorsFile, writeTextAtomic } from '@calm/core/node';
import type { BlockCursor } from '@calm/data-pile';
import { namedArraysToOptimizerState, optimizerStateToNamedArrays, type AdamW } from '@calm/nn';
import { fail } from './internal/errors.js';
import type { ResolvedLoopOptions } from './loop-options.js';
import type { TrainTask } from './train-loop.js';

const STATE_FILE = 'trainer_state.json';
const OPTIM_FILE = 'optimizer.safetensors';
const DAMAGED =
  'the checkpoint is damaged: delete it (and latest.json) to restart, or point latest.json at an older checkpoint';

/** Where a run stands: what a checkpoint stores besides the model and the optimiser. */
export interface RunState {
  /** Optimiser steps done. */
  step: number;
  /** Training tokens so far. */
  tokens: number;
  /** Training FLOPs so far. */
  flops: number;
  /** Wall-clock milliseconds of training so far. */
  elapsedMs: number;
  /** The data stream's position (absent before the first step of a fresh run). */
  cursor: BlockCursor | undefined;
  /** The step a resumed run started from, or `null` for a fresh run. */
  resumedFrom: number | null;
}

/** The JSON state file of a checkpoint (version 2: training draws are keyed by step, no RNG state). */
interface TrainerStateFile {
  version: 2;
  kind: string;
  step: number;
  tokens: number;
  flops: number;
  elapsedMs: number;
  data: BlockCursor;
  fingerprint: string;
}

/**
 * Finds the checkpoint a run would resume from.
 * @param outDir - The run folder.
 * @returns The checkpoint folder and its step, or `null` when the run has none.
 * @throws `CalmError` `FORMAT_ERROR` for a damaged `latest.json`.
 * @example
 * {@includeCode ../test/examples.test.ts#run-training}
 * @category Training
 */
export async function latestCheckpoint(outDir: string): Promise<{ dir: string; step: number } | null> {
  const latest = join(outDir, 'latest.json');
  if (!(await pathExists(latest))) return null;
  const { checkpoint, step } = (await readJsonFile(latest, DAMAGED)) as { checkpoint: string; step: number };
  return { dir: join(outDir, checkpoint), step };
}

/**
 * Restores the model, the optimiser and the run state from the run folder's latest checkpoint,
 * or starts a fresh run (as `resume` allows).
 */
export async function restoreCheckpoint(task: TrainTask, optimizer: AdamW, o: ResolvedLoopOptions): Promise<RunState> {
  await mkdir(join(o.outDir, 'checkpoints'), { recursive: true });
  const found = await latestCheckpoint(o.outDir);
  if (found && o.resume === 'never')
    fail(
      'INVALID_ARGUMENT',
      `${o.outDir} already holds a run (checkpoint at step ${found.step}); choose another outDir, delete it, or resume.`,
    );
  if (!found && o.resume === 'require')
    fail('INVALID_ARGUMENT', `${o.outDir} holds no checkpoint to resume from (no latest.json).`);
  if (!found) return { step: 0, tokens: 0, flops: 0, elapsedMs: 0, cursor: undefined, resumedFrom: null };
  const state = (await readJsonFile(join(found.dir, STATE_FILE), DAMAGED)) as TrainerStateFile;
  if (state.version !== 2)
    fail(
      'CHECKPOINT_VERSION',
      `${found.dir}: trainer state version ${state.version} is not supported (expected 2); start a new run in another outDir.`,
    );
  if (state.kind !== task.kind)
    fail('CHECKPOINT_VERSION', `${found.dir} is a "${state.kind}" run, not "${task.kind}"; use another outDir.`);
  if (state.fingerprint !== o.fingerprint)
    fail(
      'CHECKPOINT_VERSION',
      `${found.dir} was written with other settings (fingerprint ${state.fingerprint} vs ${o.fingerprint}); resume with the original config, or use another outDir.`,
    );
  await task.loadModel(found.dir);
  optimizer.setState(namedArraysToOptimizerState((await readSafetensorsFile(join(found.dir, OPTIM_FILE))).tensors));
  const { step, tokens, flops, elapsedMs, data } = state;
  return { step, tokens, flops, elapsedMs, cursor: data, resumedFrom: step };
}

/** Writes `checkpoints/step-NNNNNNN/` atomically, points `latest.json` at it and prunes old ones. */
export async function writeCheckpoint(
  task: TrainTask,
  optimizer: AdamW,
  o: ResolvedLoopOptions,
  run: RunState & { cursor: BlockCursor },
): Promise<void> {
  const root = join(o.outDir, 'checkpoints');
  const name = `step-${String(run.step).padStart(7, '0')}`;
  const tmp = join(root, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(tmp, { recursive: true });
  await task.saveModel(tmp);
  await writeSafetensorsFile(join(tmp, OPTIM_FILE), optimizerStateToNamedArrays(optimizer.getState(), task.params));
  const { step, tokens, flops, elapsedMs, cursor: data } = run;
  const state: TrainerStateFile = {
    version: 2,
    kind: task.kind,
    step,
    tokens,
    flops,
    elapsedMs,
    data,
    fingerprint: o.fingerprint,
  };
  await writeTextAtomic(join(tmp, STATE_FILE), `${JSON.stringify(state, null, 1)}\n`);
  await rm(join(root, name), { recursive: true, force: true });
  await rename(tmp, join(root, name));
  await writeTextAtomic(
    join(o.outDir, 'latest.json'),
    `${JSON.stringify({ checkpoint: `checkpoints/${name}`, step })}\n`,
  );
  const all = (await readdir(root)).filter((n) => /^step-\d+$/.test(n)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - o.keepCheckpoints)))
    await rm(join(root, old), { recursive: true, force: true });
  for (const t of (await readdir(root)).filter((n) => n.endsWith('.tmp')))
    await rm(join(root, t), { recursive: true, force: true });
}

/** Writes the model alone to `<outDir>/final` (atomically replaced). */
export async function writeFinalModel(task: TrainTask, outDir: string): Promise<void> {
  const tmp = join(outDir, `.final.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(tmp, { recursive: true });
  await task.saveModel(tmp);
  await rm(join(outDir, 'final'), { recursive: true, force: true });
  await rename(tmp, join(outDir, 'final'));
}
