// Child process of the SIGKILL resume test: trains the tiny CALM run in `outDir` (on `workers`
// threads) and, when it has logged step `pauseAt` (after the checkpoint of the step before), writes
// `paused` and waits to be killed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '@calm/nn';
import { calmTrainTask, runTraining } from '../src/index.js';
import { tinyCalm } from '@calm/testing/models';
import { tinyLoopOptions } from './train-helpers.js';

const [outDir, steps, pauseAt, workers] = [
  process.argv[2]!,
  Number(process.argv[3]),
  Number(process.argv[4]),
  Number(process.argv[5] ?? 1),
];
await initBackend({ backend: 'wasm', threads: 1 });
const model = tinyCalm();
await runTraining(calmTrainTask(model, { blockSize: 64 }), {
  ...tinyLoopOptions(outDir, steps, 'lm', workers),
  onLog: (record) => {
    if (record.type === 'train' && record.step === pauseAt) {
      writeFileSync(join(outDir, 'paused'), String(record.step));
      // Block here (synchronously) until the parent kills the process.
      const until = Date.now() + 60_000;
      while (Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  },
});
