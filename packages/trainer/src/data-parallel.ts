// How the loop takes one optimiser step: on this thread, or data-parallel on worker threads. Each
// worker holds a replica of the task on its own backend, computes the summed (scaled) gradients of
// its micro-batches, and writes them into its slot of a shared buffer [W, P]; after a barrier,
// worker w sums parameter range w over all slots in the fixed order 0..W−1 (reduce-scatter), and
// after a second barrier every worker applies the same clipped AdamW update from the same summed
// buffer, so the weights stay identical in every worker. This thread only hands out micro-batches
// and copies the weights back from worker 0 when it evaluates or writes a checkpoint.

import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { CalmError, createRng, type Rng } from '@calm/core';
import { AdamW, accumulateGradients, applyGradients, type OptimizerState } from '@calm/nn';
import { fail } from './internal/errors.js';
import { startPackageWorker } from './internal/workers.js';
import { resolveLoopOptions, type ResolvedLoopOptions } from './loop-options.js';
import type { TaskReplica, TrainTask } from './train-loop.js';

/**
 * One micro-batch of token blocks.
 * @see {@link createTrainStepper}
 * @category Training
 */
export interface MicroBatch {
  /** Token ids, row-major, shape [rows, T], int32. */
  ids: Int32Array;
  /** [rows, T]. */
  shape: [number, number];
}

/** Where a step stands: its index, learning rate and the scale of every micro-batch loss. */
export interface StepAt {
  step: number;
  lr: number;
  /** 1 / (micro-batches in the step), so the summed gradient is the mean. */
  scale: number;
}

/** A loss or gradient norm: a device scalar (this thread) or a number (workers). */
type Scalar = tf.Scalar | number;

/** Takes optimiser steps for the loop. */
export interface StepEngine {
  /** One step over the micro-batches (micro-batch m draws from `microBatchRng(seed, step, m)`). */
  step(micro: MicroBatch[], at: StepAt): Promise<{ loss: Scalar; gradNorm: Scalar }>;
  /** Reads a scalar (a device sync on this thread). */
  read(x: Scalar): Promise<number>;
  /** Frees what a step returned. */
  dispose(x: { loss: Scalar; gradNorm: Scalar }): void;
  /** Brings this thread's parameters and optimiser state up to date (before evaluating or saving). */
  sync(): Promise<void>;
  /** Stops the workers. */
  close(): Promise<void>;
  /** Every worker's parameters (for tests: they must be identical); this thread's when there are none. */
  replicaParams(): Promise<Array<Record<string, Float32Array>>>;
}

/**
 * The RNG of micro-batch `m` of step `step`: every draw of its loss comes from it, so the draws do
 * not depend on which thread computes it, nor on the micro-batches before it.
 */
export function microBatchRng(seed: number | string, step: number, m: number): Rng {
  return createRng(`${seed}/train/${step}/${m}`);
}

/** The summed, scaled losses and gradients of some micro-batches (global indices `first + i·stride`). */
export function gradientsOf(
  task: TrainTask,
  micro: MicroBatch[],
  at: StepAt,
  seed: number | string,
  index: (i: number) => number,
) {
  const ids = micro.map((b) => tf.tensor2d(b.ids, b.shape, 'int32'));
  try {
    const losses = ids.map(
      (x, i) => () =>
        tf.tidy(() => tf.mul(task.loss(x, microBatchRng(seed, at.step, index(i))), at.scale) as tf.Scalar),
    );
    return accumulateGradients(losses, task.params);
  } finally {
    tf.dispose(ids);
  }
}

/** Steps on this thread. */
function localEngine(task: TrainTask, optimizer: AdamW, o: ResolvedLoopOptions): StepEngine {
  return {
    async step(micro, at) {
      const { lossSum, gradSum } = gradientsOf(task, micro, at, o.seed, (i) => i);
      try {
        return {
          loss: lossSum,
          gradNorm: applyGradients(optimizer, gradSum, { lr: at.lr, maxGradNorm: o.maxGradNorm }),
        };
      } catch (e) {
        lossSum.dispose();
        throw e;
      } finally {
        tf.dispose(Object.values(gradSum));
      }
    },
    read: async (x) => (typeof x === 'number' ? x : (await x.data())[0]!),
    dispose: (x) => tf.dispose([x.loss, x.gradNorm].filter((t): t is tf.Scalar => typeof t !== 'number')),
    sync: async () => undefined,
    close: async () => undefined,
    replicaParams: async () => [
      Object.fromEntries(Object.entries(task.params).map(([k, v]) => [k, v.dataSync() as Float32Array])),
    ],
  };
}

/** What a worker needs to start (structured-cloneable). */
export interface WorkerInit {
  replica: TaskReplica;
  rank: number;
  workers: number;
  seed: number | string;
  maxGradNorm: number | null;
  optimizer: ResolvedLoopOptions['optimizer'];
  /** Trainable parameter names in buffer order, and their offsets (floats) in a gradient slot. */
  names: string[];
  offsets: number[];
  /** Float32 [W, P]: worker w's summed gradients in slot w. */
  grads: SharedArrayBuffer;
  /** Float32 [P]: the reduced gradient. */
  sum: SharedArrayBuffer;
  /** Int32 [arrived, generation, aborted]: the barrier. */
  control: SharedArrayBuffer;
  /** Every parameter's value and the optimiser state, from this thread. */
  params: Record<string, Float32Array>;
  optimizerState: OptimizerState;
}

/** Messages between this thread and the workers. */
export type ToWorker = { type: 'step'; micro: Array<MicroBatch & { m: number }>; at: StepAt } | { type: 'state' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'stepped'; lossSum: number; gradNorm: number }
  | { type: 'state'; params: Record<string, Float32Array>; optimizerState: OptimizerState }
  | { type: 'error'; message: string; code?: string; stack?: string };

/** Starts `o.workers` workers and returns the engine that drives them. */
async function workerEngine(task: TrainTask, optimizer: AdamW, o: ResolvedLoopOptions): Promise<StepEngine> {
  const w = o.workers;
  const names = Object.keys(task.params).filter((n) => task.params[n]!.trainable);
  const offsets: number[] = [];
  let total = 0;
  for (const n of names) {
    offsets.push(total);
    total += task.params[n]!.size;
  }
  const control = new SharedArrayBuffer(3 * 4);
  const shared = { grads: new SharedArrayBuffer(w * total * 4), sum: new SharedArrayBuffer(total * 4), control };
  const params = Object.fromEntries(Object.entries(task.params).map(([k, v]) => [k, v.dataSync() as Float32Array]));
  const base = {
    replica: task.replica!(),
    workers: w,
    seed: o.seed,
    maxGradNorm: o.maxGradNorm,
    optimizer: o.optimizer,
    names,
    offsets,
    ...shared,
  };
  const optimizerState = optimizer.getState();
  const threads: Worker[] = [];
  const waiting = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  let failure: Error | null = null;
  let closing = false;
  const fatal = (rank: number, e: Error) => {
    if (closing) return;
    failure ??= new CalmError('WORKER_FAILED', `data-parallel worker ${rank} failed: ${e.message}`, {
      source: '@calm/trainer',
      cause: e,
    });
    const flags = new Int32Array(control);
    Atomics.store(flags, 2, 1); // wakes the others out of their barrier
    Atomics.notify(flags, 1);
    for (const p of waiting.values()) p.reject(failure);
    waiting.clear();
  };
  for (let rank = 0; rank < w; rank++) {
    const init: WorkerInit = { ...base, rank, params, optimizerState };
    const thread = startPackageWorker(new URL('./data-parallel-worker', import.meta.url), { calmDataParallel: init });
    thread.on('message', (m: FromWorker) => {
      if (m.type === 'error') return fatal(rank, Object.assign(new Error(m.message), { code: m.code, stack: m.stack }));
      const p = waiting.get(rank);
      waiting.delete(rank);
      p?.resolve(m);
    });
    thread.on('error', (e) => fatal(rank, e));
    thread.on('exit', (code) => {
      if (waiting.has(rank) || code !== 0) fatal(rank, new Error(`exited with code ${code}`));
    });
    threads.push(thread);
  }
  const ask = (rank: number, msg?: ToWorker): Promise<FromWorker> =>
    new Promise((resolve, reject) => {
      if (failure) return reject(failure);
      waiting.set(rank, { resolve, reject });
      if (msg) threads[rank]!.postMessage(msg);
    });
  try {
    await Promise.all(threads.map((_, rank) => ask(rank)));
  } catch (e) {
    await Promise.all(threads.map((t) => t.terminate()));
    throw e;
  }
  return {
    async step(micro, at) {
      // Micro-batch m goes to worker m mod W; each keeps its global index for its RNG.
      const replies = await Promise.all(
        threads.map((_, rank) =>
          ask(rank, { type: 'step', at, micro: micro.flatMap((b, m) => (m % w === rank ? [{ ...b, m }] : [])) }),
        ),
      );
      let loss = 0;
      for (const r of replies) loss += (r as Extract<FromWorker, { type: 'stepped' }>).lossSum;
      return { loss, gradNorm: (replies[0] as Extract<FromWorker, { type: 'stepped' }>).gradNorm };
    },
    read: async (x) => (typeof x === 'number' ? x : (await x.data())[0]!),
    dispose: () => undefined,
    async sync() {
      const state = (await ask(0, { type: 'state' })) as Extract<FromWorker, { type: 'state' }>;
      tf.tidy(() => {
        for (const [k, v] of Object.entries(task.params)) v.assign(tf.tensor(state.params[k]!, v.shape, 'float32'));
      });
      optimizer.setState(state.optimizerState);
    },
    async replicaParams() {
      const states = await Promise.all(threads.map((_, rank) => ask(rank, { type: 'state' })));
      return states.map((st) => (st as Extract<FromWorker, { type: 'state' }>).params);
    },
    async close() {
      closing = true;
      await Promise.all(threads.map((t) => t.terminate()));
    },
  };
}

/**
 * The step engine of a run: this thread when `workers` is 1, else data-parallel worker threads
 * started from the task's replica with this thread's weights and optimiser state.
 */
export async function startStepEngine(task: TrainTask, optimizer: AdamW, o: ResolvedLoopOptions): Promise<StepEngine> {
  return o.workers === 1 ? localEngine(task, optimizer, o) : workerEngine(task, optimizer, o);
}

/**
 * A training step you drive yourself (the loop's own step engine): one optimiser step over the
 * micro-batches you pass, on this thread or on data-parallel worker threads.
 * @see {@link createTrainStepper}
 * @category Training
 */
export interface TrainStepper {
  /** Worker threads computing gradients (1: this thread). */
  readonly workers: number;
  /** The optimiser over the task's parameters (its state is this thread's copy; see `sync`). */
  readonly optimizer: AdamW;
  /**
   * One optimiser step: each micro-batch's loss is scaled by 1/(their number), gradients summed,
   * clipped and applied by AdamW. Micro-batch m goes to worker m mod W.
   * @param microBatches - Token blocks, each `{ ids, shape: [rows, T] }` int32 row-major.
   * @param step - The step index (keys the micro-batches' RNGs).
   * @param lr - The learning rate of this step.
   * @returns The mean loss and the gradient norm before clipping.
   */
  step(microBatches: MicroBatch[], step: number, lr: number): Promise<{ loss: number; gradNorm: number }>;
  /** Copies the workers' weights and optimiser state to this thread's task and optimiser. */
  sync(): Promise<void>;
  /** Stops the workers and frees the optimiser. */
  close(): Promise<void>;
}

/**
 * Starts the step engine `runTraining` uses, for callers that drive their own loop (benchmarks,
 * custom schedules): this thread when `workers` is 1, else data-parallel workers rebuilt from the
 * task's `replica`.
 * @param task - What to train.
 * @param options - AdamW settings, clipping, the seed of the training draws, workers.
 * @returns The stepper. Call `close` when done.
 * @throws `CalmError` `INVALID_CONFIG` for bad options, `WORKER_FAILED` when a worker fails.
 * @example
 * {@includeCode ../test/examples.test.ts#train-stepper}
 * @category Training
 */
export async function createTrainStepper(
  task: TrainTask,
  options: {
    optimizer: ResolvedLoopOptions['optimizer'];
    seed: number | string;
    workers?: number;
    maxGradNorm?: number | null;
  },
): Promise<TrainStepper> {
  const o = resolveLoopOptions(task, {
    ...options,
    outDir: '-',
    steps: 0,
    batchSize: options.workers ?? 1,
    workers: options.workers ?? 1,
    schedule: () => 0,
    data: () => fail('INTERNAL', 'createTrainStepper: no data stream'),
  });
  const optimizer = new AdamW(task.params, o.optimizer);
  const engine = await startStepEngine(task, optimizer, o).catch((e: unknown) => {
    optimizer.dispose();
    throw e;
  });
  return {
    workers: o.workers,
    optimizer,
    async step(microBatches, step, lr) {
      const r = await engine.step(microBatches, { step, lr, scale: 1 / microBatches.length });
      const out = { loss: await engine.read(r.loss), gradNorm: await engine.read(r.gradNorm) };
      engine.dispose(r);
      return out;
    },
    sync: () => engine.sync(),
    async close() {
      await engine.close();
      optimizer.dispose();
    },
  };
}
