// The training loop: losses fall on a learnable corpus for the three tasks; the AdamW warm-up
// really happens; a run killed with SIGKILL in a child process resumes from its last checkpoint
// and continues with exactly the losses of an uninterrupted run (bit-exact, same backend).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import { createAutoencoderParams } from '@calm/autoencoder';
import {
  arTrainTask,
  autoencoderTrainTask,
  calmTrainTask,
  latestCheckpoint,
  readMetrics,
  runTraining,
  type MetricRecord,
} from '../src/index.js';
import { tinyAeConfig, tinyAr, tinyCalm } from '@calm/testing/models';
import { useWasm } from '@calm/testing/tfjs';
import { tinyLoopOptions } from './train-helpers.js';

beforeAll(useWasm);
const tmp = mkdtempSync(join(tmpdir(), 'calm-trainer-loop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const trainLosses = (records: MetricRecord[]) =>
  records.filter((r) => r.type === 'train').map((r) => (r as { loss: number }).loss);

describe('runTraining', () => {
  it('trains the autoencoder (AE layout): loss falls, warm-up starts at lr 0', async () => {
    const config = tinyAeConfig();
    const params = createAutoencoderParams(config, createRng(3));
    const out = join(tmp, 'ae');
    const r = await runTraining(autoencoderTrainTask(params, config), {
      ...tinyLoopOptions(out, 12, 'ae'),
      checkpointEvery: 0,
    });
    const recs = await readMetrics(out);
    const train = recs.filter((x) => x.type === 'train') as Extract<MetricRecord, { type: 'train' }>[];
    expect(train.length).toBe(12);
    expect(train[0]!.lr).toBe(0);
    expect(train[1]!.lr).toBeCloseTo(1e-3, 12);
    expect(train[5]!.lr).toBe(3e-3);
    expect(train[11]!.loss).toBeLessThan(train[0]!.loss * 0.9);
    expect(r.tokens).toBe(12 * 2 * 2 * 64);
    expect(r.flops).toBeGreaterThan(0);
    expect(existsSync(join(r.finalDir, 'model.safetensors'))).toBe(true);
  });

  it('trains the AR baseline and resumes exactly after an in-process stop', async () => {
    const full = join(tmp, 'ar-full');
    await runTraining(arTrainTask(tinyAr(), { blockSize: 64 }), tinyLoopOptions(full, 6));
    const ref = trainLosses(await readMetrics(full));
    expect(ref[5]!).toBeLessThan(ref[0]!);
    const split = join(tmp, 'ar-split');
    const ctrl = new AbortController();
    await runTraining(arTrainTask(tinyAr(), { blockSize: 64 }), {
      ...tinyLoopOptions(split, 6),
      onProgress: (p) => {
        if (p.step === 3) ctrl.abort();
      },
      signal: ctrl.signal,
    });
    expect((await latestCheckpoint(split))!.step).toBe(3);
    const r = await runTraining(arTrainTask(tinyAr(99), { blockSize: 64 }), tinyLoopOptions(split, 6));
    expect(r.resumedFrom).toBe(3);
    expect(trainLosses(await readMetrics(split))).toEqual(ref);
  });

  it.each([1, 2])(
    'CALM on %i worker(s): a run killed with SIGKILL resumes from its last checkpoint with bit-identical losses',
    async (workers) => {
      const steps = 8;
      const ref = join(tmp, `calm-ref-${workers}`);
      await runTraining(calmTrainTask(tinyCalm(), { blockSize: 64 }), tinyLoopOptions(ref, steps, 'lm', workers));
      const refLosses = trainLosses(await readMetrics(ref));
      expect(refLosses.length).toBe(steps);

      const run = join(tmp, `calm-killed-${workers}`);
      const child = spawn(
        process.execPath,
        [
          '--conditions=@calm/source',
          '--import',
          'tsx',
          new URL('./child-train.ts', import.meta.url).pathname,
          run,
          String(steps),
          '5',
          String(workers),
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
        child.on('exit', (code, signal) => resolve(signal ?? code)),
      );
      const deadline = Date.now() + 90_000;
      while (!existsSync(join(run, 'paused'))) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`child did not reach step 5: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      expect(readFileSync(join(run, 'paused'), 'utf8')).toBe('5');
      const last = await latestCheckpoint(run);
      expect(last!.step).toBe(4);
      // The killed run logged step 5 after its last checkpoint; resuming drops it and redoes it.
      expect(trainLosses(await readMetrics(run)).length).toBe(5);
      const r = await runTraining(
        calmTrainTask(tinyCalm(42), { blockSize: 64 }),
        tinyLoopOptions(run, steps, 'lm', workers),
      );
      expect(r.resumedFrom).toBe(4);
      expect(r.workers).toBe(workers);
      expect(trainLosses(await readMetrics(run))).toEqual(refLosses);
      expect(refLosses[steps - 1]!).toBeLessThan(refLosses[0]!);
    },
  );

  it('refuses to resume with other settings', async () => {
    const out = join(tmp, 'calm-ref-1');
    await expect(
      runTraining(calmTrainTask(tinyCalm(), { blockSize: 64 }), { ...tinyLoopOptions(out, 10), fingerprint: 'other' }),
    ).rejects.toThrow(/other settings/);
  });
});
