// The API examples of @calm/trainer: every region below is included in the TSDoc of the export it
// shows (`{@includeCode ../test/examples.test.ts#name}`), so the documented code is the code CI
// runs. Models are tiny and training runs a few steps, so the file stays fast on one core.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arraySource, createBlockStream, type BlockCursor } from '@calm/data-pile';
import { trainBpeTokenizer } from '@calm/data-pile/node';
import { createRng } from '@calm/core';
import { initBackend, warmupConstantSchedule } from '@calm/nn';
import { ArModel, arConfig } from '@calm/model';
import { byteTokenizer, syntheticTexts, tinyAr } from '@calm/testing/models';
import { useWasm } from '@calm/testing/tfjs';
import {
  arTrainTask,
  createTrainStepper,
  defaultRunConfig,
  latestCheckpoint,
  readMetrics,
  resolveRunConfig,
  runTraining,
  scheduleOf,
  trainFromConfig,
} from '../src/index.js';

const out = mkdtempSync(join(tmpdir(), 'calm-trainer-examples-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

let ar: ArModel;
beforeAll(async () => {
  await useWasm();
  ar = tinyAr(1);
});
afterAll(() => ar.dispose());

describe('@calm/trainer examples', () => {
  it('README quick start: trains the AR baseline data-parallel, resumes, reads the metrics', async () => {
    const tokenizer = byteTokenizer();
    const texts = syntheticTexts(10);
    const outDir = join(out, 'readme-run');
    // #region readme
    // import { createRng } from '@calm/core';
    // import { arraySource, createBlockStream, type BlockCursor } from '@calm/data-pile';
    // import { ArModel, arConfig } from '@calm/model';
    // import { initBackend, warmupConstantSchedule } from '@calm/nn';
    // import { arTrainTask, readMetrics, runTraining } from '@calm/trainer';
    await initBackend(); // wasm with @calm/nn's training kernels
    // tokenizer: a @calm/data-pile Tokenizer (here: bytes); texts: the training documents; outDir: the run folder
    const special = { bosTokenId: tokenizer.bos, eosTokenId: tokenizer.eos, padTokenId: tokenizer.pad };
    const sizes = { hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 2 }; // 16 attention heads by default
    const config = arConfig({ vocabSize: tokenizer.vocabSize, ...sizes, ...special }); // LlamaForCausalLM
    const model = new ArModel(config, { rng: createRng(1) });
    const source = arraySource(texts);
    const options = {
      outDir, // metrics.jsonl, checkpoints/, final/
      steps: 4,
      batchSize: 4, // blocks per step, split over the workers (default: one per core, data-parallel threads)
      seed: 1,
      optimizer: { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
      schedule: warmupConstantSchedule(3e-3, 2),
      data: (cursor?: BlockCursor) =>
        createBlockStream(source, tokenizer, { blockSize: 32, epochs: Infinity, ...(cursor ? { cursor } : {}) }),
    };
    const first = await runTraining(arTrainTask(model, { blockSize: 32 }), options); // 4 steps, then a checkpoint
    const more = await runTraining(arTrainTask(model, { blockSize: 32 }), { ...options, steps: 8 }); // resumes at 4
    const records = await readMetrics(outDir); // { type: 'train', step, loss, lr, tokens, flops, … }
    model.dispose();
    // #endregion readme
    expect(first.steps).toBe(4);
    expect(more.resumedFrom).toBe(4);
    expect(records.filter((r) => r.type === 'train').at(-1)?.step).toBe(8);
  });

  it('trains with exact resume and reads the metrics', async () => {
    const tokenizer = byteTokenizer();
    const texts = syntheticTexts(10);
    const outDir = join(out, 'ar-run');
    // #region run-training
    // import { arraySource, createBlockStream, type BlockCursor } from '@calm/data-pile';
    // import { initBackend, warmupConstantSchedule } from '@calm/nn';
    // import { arTrainTask, latestCheckpoint, readMetrics, runTraining } from '@calm/trainer';
    // ar: an ArModel; tokenizer: a Tokenizer of its vocabulary; texts: the training documents
    const source = arraySource(texts);
    const options = {
      outDir,
      steps: 4,
      batchSize: 2,
      seed: 1,
      logEvery: 1,
      checkpointEvery: 2,
      optimizer: { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
      schedule: warmupConstantSchedule(3e-3, 2),
      data: (cursor?: BlockCursor) =>
        createBlockStream(source, tokenizer, { blockSize: 32, epochs: Infinity, ...(cursor ? { cursor } : {}) }),
    };
    const result = await runTraining(arTrainTask(ar, { blockSize: 32 }), options); // result.steps 4, result.finalDir
    const more = await runTraining(arTrainTask(ar, { blockSize: 32 }), { ...options, steps: 6 }); // resumes at step 4, exactly
    const records = await readMetrics(outDir); // metrics.jsonl: { type: 'train', step, loss, lr, … }
    const latest = await latestCheckpoint(outDir); // { dir: …/checkpoints/step-0000006, step: 6 }
    // #endregion run-training
    expect(result.steps).toBe(4);
    expect(more.resumedFrom).toBe(4);
    expect(records.filter((r) => r.type === 'train')).toHaveLength(6);
    expect(latest?.step).toBe(6);
  });

  it('steps a task by hand, on this thread or on workers', async () => {
    const rng = createRng(5);
    const block = () => Int32Array.from({ length: 2 * 32 }, () => rng.int(259));
    // #region train-stepper
    // import { arTrainTask, createTrainStepper } from '@calm/trainer';
    // ar: an ArModel; block(): 2 × 32 token ids
    const stepper = await createTrainStepper(arTrainTask(ar, { blockSize: 32 }), {
      optimizer: { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
      seed: 1,
      workers: 2, // data-parallel: micro-batch m goes to worker m mod 2
    });
    const micro = [block(), block()].map((ids) => ({ ids, shape: [2, 32] as [number, number] }));
    const { loss, gradNorm } = await stepper.step(micro, 0, 1e-3); // the mean loss of the 4 blocks
    await stepper.sync(); // ar.params now hold the workers' weights
    await stepper.close();
    // #endregion train-stepper
    expect(stepper.workers).toBe(2);
    expect(Number.isFinite(loss) && gradNorm > 0).toBe(true);
  });

  it('trains a stage from a JSON run configuration', async () => {
    const { json } = await trainBpeTokenizer({ texts: syntheticTexts(20), vocabSize: 300 });
    const tokenizerPath = join(out, 'tokenizer.json');
    writeFileSync(tokenizerPath, json);
    const outDir = join(out, 'ae-run');
    // #region run-config
    // import { defaultRunConfig, resolveRunConfig, scheduleOf, trainFromConfig } from '@calm/trainer';
    // The JSON of `calm train-ae --config ae.json`: only what differs from defaultRunConfig('ae').
    const defaults = defaultRunConfig('ae'); // a CPU-sized model and the official optimiser settings
    const config = resolveRunConfig(
      {
        outDir,
        tokenizer: tokenizerPath,
        model: { hiddenSize: 16, intermediateSize: 32, latentSize: 8 },
        data: { maxChars: 20_000, blockSize: 16, groupSize: 8 },
        train: { steps: 2, batchSize: 2, warmupSteps: 1 },
        checkpoint: { every: 0 },
        eval: { blocks: 0 },
      },
      { stage: 'ae', source: 'ae.json' },
    ); // throws INVALID_CONFIG listing every problem of the file
    const lr = scheduleOf(config.train)(1); // the learning rate of step 1
    const result = await trainFromConfig(config, { initBackend: false }); // trains (or resumes) into outDir
    // #endregion run-config
    expect(defaults.stage).toBe('ae');
    expect(lr).toBeGreaterThan(0);
    expect(result.steps).toBe(2);
    expect(JSON.parse(readFileSync(join(result.finalDir, 'config.json'), 'utf8')).architectures).toEqual([
      'Autoencoder',
    ]);
  });
});
