// Data-parallel training: W workers equal one worker over the same micro-batches (float32
// tolerance), a run with the same worker count is bit-reproducible, every worker holds the same
// weights, a failing worker fails the run cleanly, and no tensor leaks on this thread.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, isCalmError } from '@calm/core';
import { createAutoencoderParams } from '@calm/autoencoder';
import { AdamW } from '@calm/nn';
import { CalmModel } from '@calm/model';
import { GaussianHead } from '../../model/test/gaussian-head.js';
import { tinyAeConfig, tinyAr, tinyCalm } from '@calm/testing/models';
import { expectClose, useWasm } from '@calm/testing/tfjs';
import { startStepEngine, type MicroBatch } from '../src/data-parallel.js';
import { resolveLoopOptions } from '../src/loop-options.js';
import {
  arTrainTask,
  autoencoderTrainTask,
  calmTrainTask,
  readMetrics,
  runTraining,
  type MetricRecord,
  type TrainTask,
} from '../src/index.js';
import { tinyLoopOptions } from './train-helpers.js';

beforeAll(useWasm);
const tmp = mkdtempSync(join(tmpdir(), 'calm-data-parallel-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const losses = (records: MetricRecord[]) =>
  records.filter((r) => r.type === 'train').map((r) => (r as { loss: number }).loss);
const values = (task: TrainTask) =>
  Object.fromEntries(Object.entries(task.params).map(([k, v]) => [k, v.dataSync().slice()]));

describe('data-parallel training', () => {
  it.each([
    ['calm', () => calmTrainTask(tinyCalm(3), { blockSize: 64 }), 'lm'],
    ['ar', () => arTrainTask(tinyAr(3), { blockSize: 64 }), 'lm'],
    ['ae', () => autoencoderTrainTask(createAutoencoderParams(tinyAeConfig(), createRng(3)), tinyAeConfig()), 'ae'],
  ] as const)(
    '%s: 2 workers × batch 4 equal 1 worker × batch 2 × 2 micro-batches, to float32 tolerance',
    async (name, make, layout) => {
      const one = make();
      const two = make();
      const a = await runTraining(one, {
        ...tinyLoopOptions(join(tmp, `${name}-1`), 4, layout, 1),
        batchSize: 2,
        gradAccum: 2,
      });
      const b = await runTraining(two, {
        ...tinyLoopOptions(join(tmp, `${name}-2`), 4, layout, 2),
        batchSize: 4,
        gradAccum: 1,
      });
      expect([a.workers, b.workers]).toEqual([1, 2]);
      expect(b.tokens).toBe(a.tokens);
      expectClose(
        losses(await readMetrics(join(tmp, `${name}-2`))),
        losses(await readMetrics(join(tmp, `${name}-1`))),
        {
          rtol: 1e-5,
          atol: 1e-6,
          label: 'losses',
        },
      );
      const [v1, v2] = [values(one), values(two)];
      for (const k of Object.keys(v1)) expectClose(v2[k]!, v1[k]!, { atol: 2e-6, rtol: 1e-4, label: k });
    },
  );

  it('is bit-reproducible for a given worker count, and every worker holds the same weights', async () => {
    const runOnce = async (dir: string) => {
      const task = calmTrainTask(tinyCalm(5), { blockSize: 64 });
      await runTraining(task, { ...tinyLoopOptions(join(tmp, dir), 3, 'lm', 2), batchSize: 4, gradAccum: 2 });
      return { losses: losses(await readMetrics(join(tmp, dir))), params: values(task) };
    };
    const [x, y] = [await runOnce('repro-a'), await runOnce('repro-b')];
    expect(y.losses).toEqual(x.losses);
    for (const k of Object.keys(x.params)) expect(Array.from(y.params[k]!)).toEqual(Array.from(x.params[k]!));

    const task = arTrainTask(tinyAr(8), { blockSize: 16 });
    const optimizer = new AdamW(task.params, { lr: 1e-2 });
    const o = resolveLoopOptions(task, { ...tinyLoopOptions(join(tmp, 'engine'), 1), workers: 2, batchSize: 2 });
    const engine = await startStepEngine(task, optimizer, o);
    try {
      const rng = createRng(1);
      const micro: MicroBatch[] = [0, 1].map(() => ({
        ids: Int32Array.from({ length: 16 }, () => rng.int(259)),
        shape: [1, 16],
      }));
      for (let step = 0; step < 3; step++) await engine.step(micro, { step, lr: 1e-2, scale: 0.5 });
      const [r0, r1] = await engine.replicaParams();
      for (const k of Object.keys(r0!)) expect(Array.from(r1![k]!)).toEqual(Array.from(r0![k]!));
      await engine.sync();
      for (const [k, v] of Object.entries(task.params)) expect(Array.from(v.dataSync())).toEqual(Array.from(r0![k]!));
      expect(optimizer.stepCount).toBe(3);
    } finally {
      await engine.close();
      optimizer.dispose();
    }
  });

  it('fails with WORKER_FAILED, without hanging, when a worker fails mid-run', async () => {
    const task = arTrainTask(tinyAr(2), { blockSize: 64 });
    const failing: TrainTask = {
      ...task,
      replica: () => ({
        module: pathToFileURL(join(import.meta.dirname, 'failing-task.ts')).href,
        exportName: 'failingTask',
        args: task.replica!().args,
      }),
    };
    const error = await runTraining(failing, {
      ...tinyLoopOptions(join(tmp, 'failing'), 6, 'lm', 2),
      batchSize: 2,
    }).catch((e: unknown) => e);
    expect(isCalmError(error, 'WORKER_FAILED')).toBe(true);
    expect(String((error as Error).message)).toMatch(/worker [01] failed: the loss of call 3 throws/);
  });

  it('trains a custom-head CALM on one thread (no replica), and refuses workers for it', async () => {
    const base = tinyCalm(7);
    const model = new CalmModel(base.config, base.aeConfig, {
      rng: createRng(8),
      aeParams: base.aeParams,
      head: new GaussianHead(base.config.hiddenSize, base.config.latentSize, createRng(9)),
    });
    const task = calmTrainTask(model, { blockSize: 64 });
    expect(task.replica).toBeUndefined();
    const { workers: _defaulted, ...options } = tinyLoopOptions(join(tmp, 'custom-head'), 2, 'lm', 1);
    const r = await runTraining(task, options); // workers defaulted: one thread without a replica
    expect(r.workers).toBe(1);
    await expect(runTraining(task, { ...tinyLoopOptions(join(tmp, 'custom-head-2'), 2, 'lm', 2) })).rejects.toThrow(
      /has no replica/,
    );
  });

  it('leaks no tensor on this thread, with workers and without, and across 200 steps', async () => {
    for (const workers of [1, 2]) {
      const task = arTrainTask(tinyAr(4), { blockSize: 64 });
      const before = tf.memory().numTensors;
      await runTraining(task, { ...tinyLoopOptions(join(tmp, `leak-${workers}`), 3, 'lm', workers), batchSize: 2 });
      expect(tf.memory().numTensors).toBe(before);
    }
    const counts: number[] = [];
    const task = arTrainTask(tinyAr(6), { blockSize: 64 });
    await runTraining(task, {
      ...tinyLoopOptions(join(tmp, 'leak-200'), 200, 'lm', 1),
      gradAccum: 1,
      batchSize: 1,
      logEvery: 1,
      checkpointEvery: 0,
      onProgress: () => counts.push(tf.memory().numTensors),
    });
    expect(counts.length).toBe(200);
    // After the first step (which creates the optimiser's moments) the count never moves.
    expect(new Set(counts.slice(1)).size).toBe(1);
  });
});
