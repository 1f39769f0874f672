// A data-parallel training worker (its own thread and backend): rebuilds the task from its
// replica, takes the main thread's weights and optimiser state, and for every step computes the
// summed gradients of its micro-batches, reduces its share of the shared gradient buffer over all
// workers in a fixed order, and applies the same clipped AdamW update as every other worker.

import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { AdamW, applyGradients, initBackend } from '@calm/nn';
import type { FromWorker, ToWorker, WorkerInit } from './data-parallel.js';
import { gradientsOf } from './data-parallel.js';
import type { TrainTask } from './train-loop.js';

const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;

/** Waits until all workers arrive (a reusable barrier on the shared control array). */
function barrier(control: Int32Array, workers: number): void {
  const generation = Atomics.load(control, GENERATION);
  if (Atomics.add(control, ARRIVED, 1) === workers - 1) {
    Atomics.store(control, ARRIVED, 0);
    Atomics.add(control, GENERATION, 1);
    Atomics.notify(control, GENERATION);
    return;
  }
  while (Atomics.load(control, GENERATION) === generation) {
    if (Atomics.load(control, ABORTED)) throw new Error('another worker failed');
    Atomics.wait(control, GENERATION, generation, 1000);
  }
}

async function main(init: WorkerInit, port: NonNullable<typeof parentPort>): Promise<void> {
  await initBackend({ backend: 'wasm', threads: 1 });
  const mod = (await import(init.replica.module)) as Record<string, (args: unknown) => TrainTask | Promise<TrainTask>>;
  const factory = mod[init.replica.exportName];
  if (typeof factory !== 'function')
    throw new Error(`${init.replica.module} exports no function "${init.replica.exportName}"`);
  const task = await factory(init.replica.args);
  tf.tidy(() => {
    for (const [k, v] of Object.entries(task.params)) {
      const values = init.params[k];
      if (!values) throw new Error(`the replica has a parameter "${k}" that the main thread's task has not`);
      v.assign(tf.tensor(values, v.shape, 'float32'));
    }
  });
  const optimizer = new AdamW(task.params, init.optimizer);
  optimizer.setState(init.optimizerState);
  const { rank, workers, names, offsets } = init;
  const total = new Float32Array(init.sum).length;
  const slots = new Float32Array(init.grads); // [W, P]
  const sum = new Float32Array(init.sum); // [P]
  const control = new Int32Array(init.control);
  // This worker reduces the parameter range [from, to) of the flat gradient.
  const share = Math.ceil(total / workers);
  const [from, to] = [Math.min(total, rank * share), Math.min(total, (rank + 1) * share)];
  port.postMessage({ type: 'ready' } satisfies FromWorker);

  port.on('message', (msg: ToWorker) => {
    try {
      if (msg.type === 'state') {
        const params = Object.fromEntries(
          Object.entries(task.params).map(([k, v]) => [k, v.dataSync() as Float32Array]),
        );
        port.postMessage({ type: 'state', params, optimizerState: optimizer.getState() } satisfies FromWorker);
        return;
      }
      const { lossSum, gradSum } = gradientsOf(task, msg.micro, msg.at, init.seed, (i) => msg.micro[i]!.m);
      const loss = lossSum.dataSync()[0]!;
      lossSum.dispose();
      const mine = slots.subarray(rank * total, (rank + 1) * total);
      names.forEach((n, i) => mine.set(gradSum[n]!.dataSync(), offsets[i]!));
      tf.dispose(Object.values(gradSum));
      barrier(control, workers); // every slot written
      // This worker's range of the sum, over the slots in the fixed order 0..W−1 (bit-reproducible).
      const out = sum.subarray(from, to);
      out.set(slots.subarray(from, to));
      for (let w = 1; w < workers; w++) {
        const part = slots.subarray(w * total + from, w * total + to);
        for (let j = 0; j < part.length; j++) out[j]! += part[j]!;
      }
      barrier(control, workers); // the whole sum reduced
      const grads = tf.tidy(() =>
        Object.fromEntries(
          names.map((n, i) => [
            n,
            tf.tensor(sum.slice(offsets[i]!, offsets[i]! + task.params[n]!.size), task.params[n]!.shape, 'float32'),
          ]),
        ),
      );
      const norm = applyGradients(optimizer, grads, { lr: msg.at.lr, maxGradNorm: init.maxGradNorm });
      tf.dispose(Object.values(grads));
      const gradNorm = norm.dataSync()[0]!;
      norm.dispose();
      port.postMessage({ type: 'stepped', lossSum: loss, gradNorm } satisfies FromWorker);
    } catch (e) {
      const flags = control;
      Atomics.store(flags, ABORTED, 1);
      Atomics.notify(flags, GENERATION);
      postError(port, e);
    }
  });
}

/** Sends an error to the main thread with its message, code (a CalmError's) and stack. */
function postError(port: MessagePort, e: unknown): void {
  const err = e as { message?: string; code?: string; stack?: string };
  port.postMessage({
    type: 'error',
    message: String(err?.message ?? e),
    ...(err?.code ? { code: err.code } : {}),
    ...(err?.stack ? { stack: err.stack } : {}),
  } satisfies FromWorker);
}

const init = (workerData as { calmDataParallel?: WorkerInit } | null)?.calmDataParallel;
if (parentPort && init) {
  const port = parentPort;
  main(init, port).catch((e: unknown) => postError(port, e));
}
