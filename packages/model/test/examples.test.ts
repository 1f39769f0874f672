// The API examples of @calm/model: every region below is included in the TSDoc of the export it
// shows (`{@includeCode ../test/examples.test.ts#name}`), so the documented code is the code CI
// runs. Models are tiny (V = 259: bytes + BOS, EOS, PAD; H = 32; two layers), so the file stays
// fast on one core.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng, type CalmError } from '@calm/core';
import { RELEASED_AUTOENCODER_CONFIG, autoencoderConfig, createAutoencoderParams } from '@calm/autoencoder';
import { evaluateBrierLM } from '@calm/brierlm';
import { AdamW, createParams, crossEntropy, disposeParams, initBackend, trainStep } from '@calm/nn';
import { tinyAr, tinyCalm } from '@calm/testing/models';
import { useWasm } from '@calm/testing/tfjs';
import {
  ArModel,
  CALM_M_CONFIG,
  CalmModel,
  KvCache,
  arConfig,
  arConfigFromJson,
  arChunkSampler,
  arConfigToJson,
  arInferenceFlops,
  arNextTokenModel,
  arParamSpecs,
  arTrainingFlops,
  autoencoderFlopsPerChunk,
  autoencoderTrainingFlops,
  backboneParams,
  calmChunkSampler,
  calmConfig,
  calmConfigFromJson,
  calmConfigToJson,
  calmEnergyBounds,
  calmInferenceFlops,
  calmParamSpecs,
  calmTrainingFlops,
  embedProjParams,
  evaluateAr,
  evaluateCalm,
  generateAr,
  generateCalm,
  headDim,
  headParams,
  llamaForward,
  llamaParamSpecs,
  loadCalmFromBytes,
  readCalmCheckpointBytes,
  calmModelFromCheckpoint,
  ropeCosSin,
  validateArConfig,
  validateCalmConfig,
} from '../src/index.js';
import {
  convertCheckpoint,
  detectCheckpointKind,
  loadAr,
  loadCalm,
  readCalmCheckpoint,
  resolveModelFiles,
  saveAr,
  saveCalm,
} from '../src/node.js';
import { GaussianHead } from './gaussian-head.js';
import { fixturePath } from './helpers.js';

const out = mkdtempSync(join(tmpdir(), 'calm-model-examples-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// Shared by the examples that need "a model": the tiny CALM and AR models of the test helpers
// (the same sizes as the calm-model and ar-model examples).
let calm: CalmModel;
let ar: ArModel;
beforeAll(async () => {
  await useWasm();
  calm = tinyCalm(1);
  ar = tinyAr(1);
});
afterAll(() => {
  calm.dispose();
  ar.dispose();
});

const problemsOf = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    return ((e as CalmError).details?.problems as string[] | undefined) ?? [];
  }
  return [];
};
describe('@calm/model examples', () => {
  it('README quick start: loads an official-format checkpoint, generates, scores BrierLM', async () => {
    const calmDir = fixturePath('tiny-official/CALM-M');
    const aeDir = fixturePath('tiny-official/CALM-Autoencoder');
    // #region readme
    // import { createRng } from '@calm/core';
    // import { initBackend } from '@calm/nn';
    // import { evaluateCalm, generateCalm } from '@calm/model';
    // import { loadCalm } from '@calm/model/node';
    await initBackend(); // wasm with @calm/nn's training kernels
    // calmDir: a CALM folder as released (config.json + pytorch_model.bin) or as saveCalm and `calm train` write it;
    // aeDir: its autoencoder (needed when the folder holds no ae_model.* weights)
    const { model, report } = await loadCalm(calmDir, { aePath: aeDir }); // report: format, aliases, dtypes, …
    const prompt = Int32Array.of(model.config.bosTokenId, 5, 6, 7); // BOS + token ids of the model's tokenizer
    const rng = createRng(0);
    const { generated } = await generateCalm(model, [prompt], { rng, maxNewTokens: 8, temperature: 0.5 });
    const block = Int32Array.from({ length: 32 }, (_, i) => i % 70); // held-out token ids, a multiple of K
    const { brierLM, brier } = await evaluateCalm(model, [block], { seed: 0 }); // BrierLM ×100, Brier-1..4
    model.dispose();
    // #endregion readme
    expect(report.format).toBe('pytorch-bin');
    expect(generated[0]!.length).toBeGreaterThan(0);
    expect(brier).toHaveLength(4);
    expect(Number.isFinite(brierLM)).toBe(true);
  });

  it('builds and round-trips CALM configurations', () => {
    // #region calm-config
    // import { CALM_M_CONFIG, calmConfig, calmConfigFromJson, calmConfigToJson, headDim, validateCalmConfig } from '@calm/model';
    const config = calmConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      patchSize: 4,
      latentSize: 8,
      noiseSize: 8,
      numMlpLayers: 1,
      numSamples: 4,
      numTargetSamples: 8,
      padTokenId: 258,
      bosTokenId: 256,
      eosTokenId: 257,
    }); // every other field from CALM_M_CONFIG (ropeTheta 10000, beta 1, …)
    const d = headDim(config); // 8 = hiddenSize / numAttentionHeads
    const json = calmConfigToJson(config); // the official config.json: architectures ['EnergyTransformer'], hidden_size 32, …
    const back = calmConfigFromJson(json); // the same configuration (HF bookkeeping keys go to `extra`)
    let problems: string[] = [];
    try {
      validateCalmConfig({ ...config, numKeyValueHeads: 3, beta: 3 });
    } catch (e) {
      problems = (e as { details: { problems: string[] } }).details.problems; // every problem at once
    }
    // ['beta must be in (0, 2] …', 'numAttentionHeads (4) must be a multiple of numKeyValueHeads (3) …']
    // #endregion calm-config
    expect(d).toBe(8);
    expect(json.architectures).toEqual(['EnergyTransformer']);
    expect({ ...back, extra: {} }).toEqual({ ...config, extra: {} });
    expect(problems).toHaveLength(2);
    expect(CALM_M_CONFIG.hiddenSize).toBe(1024);
  });

  it('builds and round-trips AR-baseline configurations', () => {
    // #region ar-config
    // import { arConfig, arConfigFromJson, arConfigToJson, validateArConfig } from '@calm/model';
    const config = arConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 4,
      padTokenId: 258,
      bosTokenId: 256,
      eosTokenId: 257,
    }); // other fields: the Transformer-S backbone defaults
    const json = arConfigToJson(config); // a LlamaForCausalLM config.json (model_type 'llama')
    const back = arConfigFromJson(json);
    validateArConfig(back); // throws INVALID_CONFIG listing every problem; returns for a valid one
    // #endregion ar-config
    expect(json.model_type).toBe('llama');
    expect({ ...back, extra: {} }).toEqual({ ...config, extra: {} });
    expect(problemsOf(() => validateArConfig({ ...config, hiddenSize: 30 }))).toHaveLength(1);
  });

  it('computes the CALM loss, hidden states and next-chunk samples', () => {
    // #region calm-model
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { autoencoderConfig, createAutoencoderParams } from '@calm/autoencoder';
    // import { CalmModel, calmConfig, calmParamSpecs } from '@calm/model';
    const special = { padTokenId: 258, bosTokenId: 256, eosTokenId: 257 };
    const config = calmConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      patchSize: 4,
      latentSize: 8,
      noiseSize: 8,
      numMlpLayers: 1,
      numSamples: 4,
      numTargetSamples: 8,
      ...special,
    });
    // The frozen autoencoder shares V, K and the latent size (in practice: a trained one, see loadCalm).
    const aeConfig = autoencoderConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      latentSize: 8,
      patchSize: 4,
      ...special,
    });
    const model = new CalmModel(config, aeConfig, {
      rng: createRng(0),
      aeParams: createAutoencoderParams(aeConfig, createRng(1)),
    });
    const specs = calmParamSpecs(config); // transformer.*, mlp_generator.*, embed_proj.* (official names)
    const ids = tf.tensor2d(
      Int32Array.from({ length: 32 }, (_, i) => 97 + (i % 26)),
      [2, 16],
      'int32',
    ); // [B, S·K] int32, S = 4 chunk steps
    const loss = model.loss(ids, { rng: createRng(2) }); // the head's loss (here the energy loss), float32 scalar
    const hidden = model.hidden(ids); // [B, S, H] float32; step t predicts chunk t + 1
    const last = tf.tidy(() => hidden.slice([0, 3, 0], [2, 1, 32]).reshape([2, 32]) as tf.Tensor2D); // [B, H]
    const next = model.sampleChunks(last, 3, { rng: createRng(3) }); // [B, 3, K] int32: three draws of chunk 5
    tf.dispose([ids, loss, hidden, last, next]);
    model.dispose();
    // #endregion calm-model
    expect(Object.keys(specs).length).toBeGreaterThan(20);
    expect(next.shape).toEqual([2, 3, 4]);
    expect(hidden.shape).toEqual([2, 4, 32]);
  });

  it('builds CALM with the flow or diffusion head from the config', async () => {
    const special = { padTokenId: 258, bosTokenId: 256, eosTokenId: 257 };
    const aeConfig = autoencoderConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      latentSize: 8,
      patchSize: 4,
      ...special,
    });
    const sizes = {
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      patchSize: 4,
      latentSize: 8,
      numMlpLayers: 1,
      numSamples: 4,
      ...special,
    };
    const aeParams = createAutoencoderParams(aeConfig, createRng(1));
    // #region head-kinds
    // import { createRng } from '@calm/core';
    // import { CalmModel, calmConfig, calmConfigToJson, calmParamSpecs, generateCalm } from '@calm/model';
    // sizes: the fields of the calm-model example; aeConfig, aeParams: its (frozen) autoencoder
    const flowConfig = calmConfig({ ...sizes, head: 'flow', flowSolver: 'midpoint', flowSteps: 4 }); // 8 network calls per sample
    const diffusionConfig = calmConfig({ ...sizes, head: 'diffusion', diffusionSamplingSteps: 10 }); // 1000 steps respaced to 10
    const json = calmConfigToJson(flowConfig); // architectures ['FlowTransformer'], model_type 'flow', flow_solver, flow_steps
    const flowKeys = Object.keys(calmParamSpecs(flowConfig)).filter((k) => k.startsWith('generative_head.net.')); // official names
    const model = new CalmModel(flowConfig, aeConfig, { rng: createRng(0), aeParams });
    // model.head is a FlowMatchingHead: model.loss, model.sampleChunks, evaluateCalm, generateCalm, saveCalm work unchanged
    const { generated } = await generateCalm(model, [Int32Array.of(256, 84)], { rng: createRng(1), maxNewTokens: 4 });
    // #endregion head-kinds
    expect(json).toMatchObject({ architectures: ['FlowTransformer'], model_type: 'flow' });
    expect(diffusionConfig.diffusionSteps).toBe(1000);
    expect(flowKeys).toHaveLength(20); // one AdaLN block
    expect(model.head.kind).toBe('flow');
    expect(generated[0]!.length).toBeLessThanOrEqual(4);
    model.dispose();
  });

  it('trains, saves and reloads CALM with a head written outside the repository', async () => {
    const special = { padTokenId: 258, bosTokenId: 256, eosTokenId: 257 };
    const aeConfig = autoencoderConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      latentSize: 8,
      patchSize: 4,
      ...special,
    });
    const config = calmConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      patchSize: 4,
      latentSize: 8,
      ...special,
    });
    const aeParams = createAutoencoderParams(aeConfig, createRng(1));
    const ids = tf.tensor2d(
      Int32Array.from({ length: 32 }, (_, i) => 97 + (i % 26)),
      [2, 16],
      'int32',
    );
    const dir = join(out, 'custom-head');
    // #region custom-head
    // import { createRng } from '@calm/core';
    // import { AdamW, trainStep } from '@calm/nn';
    // import { CalmModel, evaluateCalm } from '@calm/model';
    // import { loadCalm, saveCalm } from '@calm/model/node';
    // GaussianHead: your class implementing GenerativeHead from @calm/energy-head (kind 'gaussian',
    // params named 'gaussian_head.*'; see notebook 4). config, aeConfig, aeParams, ids: as in the calm-model example.
    const head = new GaussianHead(config.hiddenSize, config.latentSize, createRng(2));
    const model = new CalmModel(config, aeConfig, { rng: createRng(0), aeParams, head }); // model.config.head: 'gaussian'
    const optimizer = new AdamW(model.params, { lr: 1e-3 }); // model.params: transformer.*, gaussian_head.*, embed_proj.*
    const rng = createRng(3);
    const { loss, gradNorm } = trainStep(optimizer, model.params, [() => model.loss(ids, { rng })]); // head.loss inside
    await saveCalm(dir, model); // config.json: architectures ['CALM'], model_type 'gaussian'; the head's weights under its names
    const { model: reloaded } = await loadCalm(dir, { head: new GaussianHead(32, 8, createRng(4)) }); // stored values go into the new head
    // #endregion custom-head
    expect(reloaded.config.head).toBe('gaussian');
    expect(Array.from(reloaded.params['gaussian_head.out.bias']!.dataSync())).toEqual(
      Array.from(model.params['gaussian_head.out.bias']!.dataSync()),
    );
    expect(Number.isFinite(loss.dataSync()[0]!)).toBe(true);
    tf.dispose([ids, loss, gradNorm]);
    optimizer.dispose();
    model.dispose();
    reloaded.dispose();
  });

  it('computes AR-baseline logits and losses', () => {
    // #region ar-model
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { crossEntropy } from '@calm/nn';
    // import { ArModel, arConfig, arParamSpecs } from '@calm/model';
    const config = arConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 4,
      padTokenId: 258,
      bosTokenId: 256,
      eosTokenId: 257,
    });
    const model = new ArModel(config, { rng: createRng(0) });
    const specs = arParamSpecs(config); // model.embed_tokens.weight, model.layers.{i}.*, lm_head.weight
    const ids = tf.tensor2d(
      Int32Array.from({ length: 32 }, (_, i) => 97 + (i % 26)),
      [2, 16],
      'int32',
    ); // [B, T] int32
    const logits = model.logits(ids); // [B, T, V] float32; row t scores token t + 1
    const loss = model.loss(ids); // float32 scalar, mean next-token cross-entropy in nats
    const same = tf.tidy(() =>
      crossEntropy(logits.slice([0, 0, 0], [2, 15, 259]).reshape([30, 259]), ids.slice([0, 1], [2, 15]).reshape([30])),
    ); // logits [N, V], labels [N] int32
    // #endregion ar-model
    expect(Object.keys(specs)).toEqual(Object.keys(model.params));
    expect(same.dataSync()[0]).toBeCloseTo(loss.dataSync()[0]!, 4);
    tf.dispose([ids, logits, loss, same]);
    model.dispose();
  });

  it('runs the Llama backbone with and without a KV cache', () => {
    // #region llama-forward
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { AdamW, createParams, crossEntropy, disposeParams, initBackend, trainStep } from '@calm/nn';
    // import { KvCache, arConfig, headDim, llamaForward, llamaParamSpecs, ropeCosSin } from '@calm/model';
    const config = arConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      padTokenId: 258,
      bosTokenId: 256,
      eosTokenId: 257,
    });
    const params = createParams(llamaParamSpecs(config, 'model'), createRng(0)); // model.layers.{i}.*, model.norm.weight
    const inputs = tf.randomNormal([1, 6, 32], 0, 1, 'float32', 1) as tf.Tensor3D; // [B, T, H] input vectors
    const full = llamaForward(params, config, inputs, { prefix: 'model' }).hidden; // [1, 6, H] float32
    const cache = new KvCache();
    const [head, tail] = tf.split(inputs, [5, 1], 1) as [tf.Tensor3D, tf.Tensor3D];
    const first = llamaForward(params, config, head, { prefix: 'model', cache }).hidden; // [1, 5, H]; cache.length is 5
    const step = llamaForward(params, config, tail, { prefix: 'model', cache }).hidden; // [1, 1, H]: full's last row
    const { cos, sin } = ropeCosSin(headDim(config), config.ropeTheta, 0, 6); // [6, headDim] float32 each
    // #endregion llama-forward
    const lastRow = tf.tidy(() => full.slice([0, 5, 0], [1, 1, 32]));
    expect(
      Array.from(step.dataSync())
        .map((v, i) => Math.abs(v - lastRow.dataSync()[i]!) < 1e-4)
        .every(Boolean),
    ).toBe(true);
    expect(cos.shape).toEqual([6, 8]);
    tf.dispose([inputs, full, head, tail, first, step, cos, sin, lastRow]);
    cache.dispose();
    disposeParams(params);
  });

  it('generates with CALM and the AR baseline', async () => {
    // #region generate
    // import { createRng } from '@calm/core';
    // import { generateAr, generateCalm } from '@calm/model';
    // calm, ar: a CalmModel and an ArModel (see their examples); prompts are token ids
    const prompt = Int32Array.from([256, 84, 104, 101]); // BOS 'The'
    const hot = await generateCalm(calm, [prompt], { rng: createRng(0), maxNewTokens: 8 }); // T = 1: one head sample per chunk
    const cold = await generateCalm(calm, [prompt], {
      rng: createRng(1),
      maxNewTokens: 8,
      temperature: 0.5,
      poolSize: 8,
    }); // batch approximation
    const baseline = await generateAr(ar, [prompt], { rng: createRng(2), maxNewTokens: 8, temperature: 0.8 });
    // hot.generated[0], cold.generated[0], baseline.generated[0]: the new tokens, Int32Array
    // #endregion generate
    expect(hot.generated[0]!.length).toBeGreaterThan(0);
    expect(cold.generated[0]!.length).toBeGreaterThan(0);
    expect(baseline.generated[0]!.length).toBeGreaterThan(0);
  });

  it('evaluates BrierLM of both models', async () => {
    // #region evaluate
    // import { createRng } from '@calm/core';
    // import { evaluateBrierLM } from '@calm/brierlm';
    // import { arNextTokenModel, calmChunkSampler, evaluateAr, evaluateCalm } from '@calm/model';
    // Evaluation blocks: int32, multiples of K (real runs: WikiText-103 blocks of 8192 and 2048).
    const blocks = [Int32Array.from({ length: 32 }, (_, i) => 97 + (i % 26))];
    const calmResult = await evaluateCalm(calm, blocks, { seed: 0 }); // { brierLM, brier: [Brier-1..4], … } ×100
    const arResult = await evaluateAr(ar, blocks, { seed: 0 });
    // The same estimators through @calm/brierlm, with the adapters:
    const sampled = await evaluateBrierLM(
      { kind: 'chunk', sampler: calmChunkSampler(calm, { rng: createRng(0) }) },
      blocks,
      { rng: createRng(1) },
    );
    const explicit = await evaluateBrierLM({ kind: 'explicit', model: arNextTokenModel(ar) }, blocks, {
      rng: createRng(1),
    });
    // #endregion evaluate
    for (const r of [calmResult, arResult, sampled, explicit]) expect(Number.isFinite(r.brierLM)).toBe(true);
    expect(explicit.numPositions).toBe(arResult.numPositions);
    expect(sampled.numPositions).toBe(calmResult.numPositions);
  });

  it('samples chunks from the AR baseline for a like-for-like BrierLM', async () => {
    const blocks = [Int32Array.from({ length: 32 }, (_, i) => 97 + (i % 26))];
    // #region ar-chunk-sampler
    // import { createRng } from '@calm/core';
    // import { evaluateBrierLM } from '@calm/brierlm';
    // import { arChunkSampler, calmChunkSampler } from '@calm/model';
    // The same chunk estimator, positions and number of samples for CALM and the AR baseline:
    const options = { samplesPerPosition: 8, seed: 0 };
    const calmScore = await evaluateBrierLM(
      { kind: 'chunk', sampler: calmChunkSampler(calm, { rng: createRng(1) }) },
      blocks,
      options,
    );
    const arScore = await evaluateBrierLM(
      { kind: 'chunk', sampler: arChunkSampler(ar, { chunkSize: 4, rng: createRng(2) }) },
      blocks,
      options,
    );
    // calmScore.brier and arScore.brier: Brier-1..4 at the same chunk-boundary positions, with brierStderr
    // #endregion ar-chunk-sampler
    expect(arScore.numPositions).toBe(calmScore.numPositions);
    expect(arScore.samplesPerPosition).toBe(8);
  });

  it('frames the held-out energy loss with its oracle and unconditional bounds', async () => {
    const blocks = [Int32Array.from({ length: 32 }, (_, i) => 97 + (i % 26))];
    // #region energy-bounds
    // import { calmEnergyBounds } from '@calm/model';
    // blocks: held-out blocks of the same length, multiples of K
    const bounds = await calmEnergyBounds(calm, blocks, { seed: 0 });
    // bounds.model: the model's held-out energy loss; bounds.oracle ≤ it ≤ bounds.unconditional once it learned context
    // #endregion energy-bounds
    expect(bounds.oracle).toBeLessThan(bounds.unconditional);
    expect(bounds.positions).toBe(7);
  });

  it('counts parameters and FLOPs as Table 1 does', () => {
    // #region flops
    // import { RELEASED_AUTOENCODER_CONFIG } from '@calm/autoencoder';
    // import { CALM_M_CONFIG, arConfig, arInferenceFlops, arTrainingFlops, autoencoderFlopsPerChunk, autoencoderTrainingFlops,
    //   backboneParams, calmInferenceFlops, calmTrainingFlops, embedProjParams, headParams } from '@calm/model';
    const calmM = calmInferenceFlops(CALM_M_CONFIG, RELEASED_AUTOENCODER_CONFIG); // calmM.perToken ≈ 2.9e8 (Table 1), calmM.parts
    const calmTrain = calmTrainingFlops(CALM_M_CONFIG, RELEASED_AUTOENCODER_CONFIG, { context: 2048 });
    const transformerS = arInferenceFlops(arConfig()); // ≈ 4.4e8 per token (Table 1)
    const transformerSTrain = arTrainingFlops(arConfig()); // 3 × inference
    const aeTrain = autoencoderTrainingFlops(RELEASED_AUTOENCODER_CONFIG);
    const { encoder, decoder } = autoencoderFlopsPerChunk(RELEASED_AUTOENCODER_CONFIG);
    const lmParams =
      backboneParams(CALM_M_CONFIG) +
      CALM_M_CONFIG.vocabSize * CALM_M_CONFIG.hiddenSize +
      embedProjParams(CALM_M_CONFIG) +
      headParams(CALM_M_CONFIG).total;
    // lmParams = 371,732,608 (CALM-M without its autoencoder)
    // #endregion flops
    expect(Math.round(calmM.perToken / 1e7)).toBe(29);
    expect(calmTrain.perToken).toBeGreaterThan(calmM.perToken);
    expect(Math.round(transformerS.perToken / 1e7)).toBe(44);
    expect(transformerSTrain.perToken).toBeCloseTo(3 * transformerS.perToken, 0);
    expect(aeTrain.perToken).toBeCloseTo((3 * (encoder + decoder)) / 4, 0);
    expect(lmParams).toBe(371_732_608);
  });
});

describe('@calm/model/node examples', () => {
  it('loads, saves and converts checkpoints', async () => {
    const officialDir = fixturePath('tiny-official/CALM-M');
    const aeDir = fixturePath('tiny-official/CALM-Autoencoder');
    // #region checkpoints
    // import { convertCheckpoint, detectCheckpointKind, loadCalm, readCalmCheckpoint, resolveModelFiles, saveCalm } from '@calm/model/node';
    // officialDir: a CALM folder as released (config.json + pytorch_model.bin, e.g. CALM-M); aeDir: its autoencoder
    const kind = await detectCheckpointKind(officialDir); // 'calm'
    const { weightsFile, format } = await resolveModelFiles(officialDir); // …/pytorch_model.bin, 'pytorch-bin'
    const { model, report } = await loadCalm(officialDir, { aePath: aeDir }); // report.aliases, report.aeConfigSource, …
    const arrays = await readCalmCheckpoint(officialDir, { aePath: aeDir }); // typed arrays only, no tfjs
    await saveCalm(join(out, 'calm'), model); // config.json + model.safetensors
    const converted = await convertCheckpoint(officialDir, join(out, 'calm-st'), { aePath: aeDir }); // without tfjs
    model.dispose();
    // #endregion checkpoints
    expect(kind).toBe('calm');
    expect(format).toBe('pytorch-bin');
    expect(weightsFile.endsWith('pytorch_model.bin')).toBe(true);
    expect(report.aeConfigSource).toBe('aePath');
    expect(arrays.config.hiddenSize).toBe(32);
    expect(converted.kind).toBe('calm');
    expect(existsSync(join(out, 'calm', 'model.safetensors'))).toBe(true);
  });

  it('loads a checkpoint held in memory (a page: fetch or a file input)', async () => {
    const saved = tinyCalm(3);
    await saveCalm(join(out, 'calm-bytes'), saved);
    const configJson = readFileSync(join(out, 'calm-bytes', 'config.json'), 'utf8');
    const safetensors = new Uint8Array(readFileSync(join(out, 'calm-bytes', 'model.safetensors')));
    // #region checkpoint-bytes
    // import { calmModelFromCheckpoint, loadCalmFromBytes, readCalmCheckpointBytes } from '@calm/model';
    // In a page: const configJson = await (await fetch('calm-quickstart/calm/final/config.json')).text();
    //            const safetensors = new Uint8Array(await (await fetch('…/model.safetensors')).arrayBuffer());
    const { model, report } = loadCalmFromBytes({ config: JSON.parse(configJson), weights: safetensors });
    // report.aeWeights 'checkpoint': the ae_model.* copy; pass aeConfig / aeWeights for the autoencoder's own files
    const contents = readCalmCheckpointBytes({ config: JSON.parse(configJson), weights: safetensors }); // typed arrays
    const again = calmModelFromCheckpoint(contents); // the same weights as `model`
    // #endregion checkpoint-bytes
    expect(report.aeWeights).toBe('checkpoint');
    expect(model.numParams()).toBe(saved.numParams());
    expect(Array.from(again.params['transformer.norm.weight']!.dataSync())).toEqual(
      Array.from(saved.params['transformer.norm.weight']!.dataSync()),
    );
    for (const m of [model, again, saved]) m.dispose();
  });

  it('saves and loads the AR baseline', async () => {
    // #region ar-checkpoints
    // import { loadAr, saveAr } from '@calm/model/node';
    const { weightsFile } = await saveAr(join(out, 'ar'), ar); // config.json (LlamaForCausalLM) + model.safetensors
    const { model } = await loadAr(join(out, 'ar')); // the same weights
    // #endregion ar-checkpoints
    expect(weightsFile.endsWith('model.safetensors')).toBe(true);
    expect(Array.from(model.params['lm_head.weight']!.dataSync().slice(0, 8))).toEqual(
      Array.from(ar.params['lm_head.weight']!.dataSync().slice(0, 8)),
    );
    model.dispose();
  });
});
