// The API examples of @calm/autoencoder: every region below is included in the TSDoc of the
// export it shows (`{@includeCode ../test/examples.test.ts#name}`), so the documented code is the
// code CI runs. The models are tiny (V = 259 bytes + specials, H = 32, L = 8) so the whole file
// runs in a few seconds on one core.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng, isCalmError } from '@calm/core';
import { AdamW, disposeParams, initBackend, paramGrads, type ParamRecord } from '@calm/nn';
import {
  EMBEDDING_KEY,
  OFFICIAL_AE_ADAMW,
  RELEASED_AUTOENCODER_CONFIG,
  autoencoderConfig,
  autoencoderConfigFromJson,
  autoencoderConfigToJson,
  autoencoderLoss,
  autoencoderLossParts,
  autoencoderParamShapes,
  autoencoderParamSpecs,
  autoencoderParamsFromStateDict,
  autoencoderStateDict,
  autoencoderTrainStep,
  checkAutoencoderStateDict,
  createAutoencoderParams,
  decode,
  decodeTokens,
  encode,
  evaluateReconstruction,
  evaluateRobustness,
  inferAutoencoderConfig,
  sampleAutoencoderNoise,
  sampleLatent,
  validateAutoencoderConfig,
  type AutoencoderConfig,
} from '../src/index.js';
import {
  convertAutoencoderCheckpoint,
  loadAutoencoder,
  readAutoencoderCheckpoint,
  readAutoencoderConfigFile,
  saveAutoencoder,
} from '../src/node.js';
import { fixturePath, useWasm } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'calm-ae-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Shared by the examples that need "a model": the tiny configuration and parameters of the
// create-params example.
const config: AutoencoderConfig = autoencoderConfig({
  vocabSize: 259,
  hiddenSize: 32,
  intermediateSize: 64,
  latentSize: 8,
  patchSize: 4,
});
let params: ParamRecord;
beforeAll(async () => {
  await useWasm();
  params = createAutoencoderParams(config, createRng(1));
});
afterAll(() => disposeParams(params));

describe('@calm/autoencoder examples', () => {
  it('README quick start: trains a tiny autoencoder and measures reconstruction', async () => {
    // #region readme
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { AdamW, initBackend } from '@calm/nn';
    // import { OFFICIAL_AE_ADAMW, autoencoderConfig, autoencoderTrainStep, createAutoencoderParams, evaluateReconstruction } from '@calm/autoencoder';
    await initBackend(); // wasm with @calm/nn's training kernels
    const config = autoencoderConfig({ vocabSize: 16, hiddenSize: 64, intermediateSize: 128, latentSize: 16 }); // K = 4
    const params = createAutoencoderParams(config, createRng(1)); // official names and initialisation, seeded
    const optimizer = new AdamW(params, { ...OFFICIAL_AE_ADAMW, lr: 1e-2 });
    const rng = createRng(2);
    for (let step = 0; step < 300; step++) {
      const tokens = Int32Array.from({ length: 8 * 16 }, () => rng.int(16)); // 8 rows of 4 chunks
      const ids = tf.tensor2d(tokens, [8, 16], 'int32'); // [B, T] int32
      const { loss, gradNorm } = autoencoderTrainStep(params, config, optimizer, ids, { rng }); // official loss, AdamW
      tf.dispose([ids, loss, gradNorm]);
    }
    const heldOut = Int32Array.from({ length: 256 }, () => rng.int(16)); // token ids, a multiple of K
    const { tokenAccuracy, chunkAccuracy } = await evaluateReconstruction(params, config, heldOut); // decodes μ
    // #endregion readme
    expect(tokenAccuracy).toBeGreaterThan(0.6); // chance: 1/16
    expect(chunkAccuracy).toBeGreaterThan(0);
    optimizer.dispose();
    disposeParams(params);
  });

  it('builds, validates and round-trips configurations', () => {
    // #region config
    // import { RELEASED_AUTOENCODER_CONFIG, autoencoderConfig, autoencoderConfigFromJson, autoencoderConfigToJson, validateAutoencoderConfig } from '@calm/autoencoder';
    const small = autoencoderConfig({ vocabSize: 259, hiddenSize: 32, intermediateSize: 64, latentSize: 8 });
    // K = 4 and the other fields come from RELEASED_AUTOENCODER_CONFIG; the Llama 3 special ids become null
    const json = autoencoderConfigToJson(small); // { architectures: ['Autoencoder'], vocab_size: 259, patch_size: 4, … }
    const back = autoencoderConfigFromJson(json); // equal to `small`
    let problems: string[] = [];
    try {
      validateAutoencoderConfig({ ...RELEASED_AUTOENCODER_CONFIG, patchSize: 0, numEncoderLayers: 3 });
    } catch (e) {
      problems = (e as { details: { problems: string[] } }).details.problems; // every problem at once
    }
    // ['patchSize must be a positive integer, got 0', 'numEncoderLayers must be even, got 3: …']
    // #endregion config
    expect(small.padTokenId).toBeNull();
    expect(json.architectures).toEqual(['Autoencoder']);
    expect(back).toEqual(small);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toBe('patchSize must be a positive integer, got 0');
  });

  it('creates parameters under the official names', () => {
    // #region create-params
    // import { createRng } from '@calm/core';
    // import { initBackend, disposeParams } from '@calm/nn';
    // import { EMBEDDING_KEY, autoencoderConfig, autoencoderParamShapes, autoencoderParamSpecs, createAutoencoderParams } from '@calm/autoencoder';
    // await initBackend(); // once, before any tensor work (wasm with @calm/nn's kernels)
    const config = autoencoderConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      latentSize: 8,
      patchSize: 4,
    });
    const shapes = autoencoderParamShapes(config); // { 'encoder.embed_tokens.weight': [259, 32], … } (PyTorch layout)
    const specs = autoencoderParamSpecs(config); // the same names with the official initialisers
    const params = createAutoencoderParams(config, createRng(1)); // tf.Variables by name
    const embedding = params[EMBEDDING_KEY]!; // [V, H] float32, tied with the decoder's output layer
    disposeParams(params);
    // #endregion create-params
    expect(shapes[EMBEDDING_KEY]).toEqual([259, 32]);
    expect(Object.keys(specs)).toEqual(Object.keys(shapes));
    expect(embedding.isDisposed).toBe(true);
  });

  it('encodes chunks, samples latents and decodes them', async () => {
    // #region encode-decode
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { decode, decodeTokens, encode, sampleLatent } from '@calm/autoencoder';
    const ids = tf.tensor2d([[72, 101, 108, 108, 111, 32, 33, 33]], [1, 8], 'int32'); // [B = 1, T = 2·K]
    const posterior = encode(params, config, ids); // mean, logStd: [1, 2, L] float32 (one Gaussian per chunk)
    const z = sampleLatent(posterior, createRng(7)); // [1, 2, L] float32
    const logits = decode(params, config, z); // [1, 8, V] float32
    const tokens = decodeTokens(params, config, posterior.mean); // [1, 8] int32 (argmax per position)
    tf.dispose([ids, posterior.mean, posterior.logStd, z, logits, tokens]);
    // #endregion encode-decode
    expect(posterior.mean.shape).toEqual([1, 2, 8]);
    expect(logits.shape).toEqual([1, 8, 259]);
    expect(tokens.shape).toEqual([1, 8]);
    expect(tokens.dtype).toBe('int32');
  });

  it('computes the training loss with injected noise and its gradients', () => {
    // #region loss
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { paramGrads } from '@calm/nn';
    // import { autoencoderLoss, autoencoderLossParts, sampleAutoencoderNoise } from '@calm/autoencoder';
    const ids = tf.tensor2d(
      Int32Array.from({ length: 16 }, (_, i) => 97 + i),
      [2, 8],
      'int32',
    ); // [B, T] int32
    const noise = sampleAutoencoderNoise(config, 2, 8, createRng(3)); // tokenMask [2, 8], eps and latentKeep [2, 2, L]
    const parts = autoencoderLossParts(params, config, ids, { noise }); // loss = K·ce + klWeight·kl, float32 scalars
    const { value, grads } = paramGrads(() => autoencoderLoss(params, config, ids, { noise }), params);
    // value: the same loss; grads: one float32 tensor per parameter name
    tf.dispose([ids, ...Object.values(parts), value, ...Object.values(grads)]);
    // #endregion loss
    expect(parts.loss.shape).toEqual([]);
    expect(Object.keys(grads)).toEqual(Object.keys(params));
  });

  it('trains for a few steps with the official optimiser settings', () => {
    const rng = createRng(5);
    const losses: number[] = [];
    // #region train-step
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { AdamW } from '@calm/nn';
    // import { OFFICIAL_AE_ADAMW, autoencoderTrainStep } from '@calm/autoencoder';
    const optimizer = new AdamW(params, { ...OFFICIAL_AE_ADAMW, lr: 1e-2 });
    for (let step = 0; step < 5; step++) {
      const batch = tf.tensor2d(
        Int32Array.from({ length: 32 }, () => 97 + rng.int(26)),
        [8, 4],
        'int32',
      ); // 8 chunks of K = 4
      const { loss, gradNorm } = autoencoderTrainStep(params, config, optimizer, batch, { rng }); // float32 scalars
      losses.push(loss.dataSync()[0]!);
      tf.dispose([batch, loss, gradNorm]);
    }
    optimizer.dispose();
    // #endregion train-step
    expect(losses).toHaveLength(5);
    expect(losses.every(Number.isFinite)).toBe(true);
  });

  it('measures reconstruction accuracy', async () => {
    // #region evaluate
    // import { createRng } from '@calm/core';
    // import { evaluateReconstruction } from '@calm/autoencoder';
    const heldOut = Int32Array.from({ length: 64 }, (_, i) => 97 + (i % 26)); // a token stream, length a multiple of K
    const clean = await evaluateReconstruction(params, config, heldOut); // decodes the posterior mean
    const noisy = await evaluateReconstruction(params, config, heldOut, {
      latent: 'sample',
      noiseStd: 0.3,
      rng: createRng(7),
    });
    // clean.tokenAccuracy, clean.chunkAccuracy in [0, 1]; noisy: the same under latent noise
    // #endregion evaluate
    expect(clean.tokens).toBe(64);
    expect(clean.chunks).toBe(16);
    expect(noisy.noiseStd).toBe(0.3);

    // #region robustness
    // import { createRng } from '@calm/core';
    // import { evaluateRobustness } from '@calm/autoencoder';
    const points = await evaluateRobustness(params, config, heldOut, { rng: createRng(8) }); // s = 0, 0.1, 0.25, 0.5, 1
    // points[i]: { scale, tokenAccuracy, chunkAccuracy } decoding μ + s·σ⊙ε
    // #endregion robustness
    expect(points.map((p) => p.scale)).toEqual([0, 0.1, 0.25, 0.5, 1]);
    expect(points[0]!.tokenAccuracy).toBe(clean.tokenAccuracy);
  });

  it('round-trips a state dict and infers the configuration from its shapes', async () => {
    // #region state-dict
    // import { autoencoderParamsFromStateDict, autoencoderStateDict, checkAutoencoderStateDict, inferAutoencoderConfig } from '@calm/autoencoder';
    const arrays = await autoencoderStateDict(params, config); // { name: { shape, data: Float32Array, dtype: 'F32' } }
    // A checkpoint as the file readers return it: name → { dtype, shape, data }
    const tensors = new Map(
      Object.entries(arrays).map(([name, a]) => [name, { dtype: a.dtype ?? 'F32', shape: [...a.shape], data: a.data }]),
    );
    const inferred = inferAutoencoderConfig(tensors); // V, H, I, L, K and layer counts from the shapes
    const { report } = checkAutoencoderStateDict(inferred, tensors); // report.loaded, report.aliases, report.dtypes
    const { params: copy } = autoencoderParamsFromStateDict(inferred, tensors); // new tf.Variables
    // #endregion state-dict
    expect([inferred.vocabSize, inferred.hiddenSize, inferred.latentSize, inferred.patchSize]).toEqual([259, 32, 8, 4]);
    expect(report.dtypes).toEqual(['F32']);
    expect(Array.from(copy[EMBEDDING_KEY]!.dataSync())).toEqual(Array.from(params[EMBEDDING_KEY]!.dataSync()));
    disposeParams(copy);
  });
});

describe('@calm/autoencoder/node examples', () => {
  it('saves and loads a checkpoint folder', async () => {
    const out = join(dir, 'tiny-ae');
    // #region save-load
    // import { loadAutoencoder, readAutoencoderCheckpoint, readAutoencoderConfigFile, saveAutoencoder } from '@calm/autoencoder/node';
    await saveAutoencoder(out, params, config); // out/config.json + out/model.safetensors
    const sameConfig = await readAutoencoderConfigFile(join(out, 'config.json'));
    const { tensors, report } = await readAutoencoderCheckpoint(out); // typed arrays, no tfjs
    const loaded = await loadAutoencoder(out); // { config, params: tf.Variables, report }
    // #endregion save-load
    expect(sameConfig).toEqual({ ...config, extra: { torch_dtype: 'float32' } });
    expect(report).toMatchObject({ format: 'safetensors', configSource: 'config.json' });
    expect(tensors.size).toBe(Object.keys(params).length);
    expect(Array.from(loaded.params[EMBEDDING_KEY]!.dataSync())).toEqual(Array.from(params[EMBEDDING_KEY]!.dataSync()));
    disposeParams(loaded.params);
  });

  it('converts an official pytorch_model.bin to safetensors', async () => {
    const bin = fixturePath('ae-tiny-statedict.bin');
    // #region convert
    // import { convertAutoencoderCheckpoint } from '@calm/autoencoder/node';
    // bin: e.g. CALM-Autoencoder/pytorch_model.bin (read by an allow-listed unpickler; no code runs)
    const result = await convertAutoencoderCheckpoint(bin, join(dir, 'converted'));
    // result.files.weightsFile is model.safetensors; result.tensorCount, result.storedDtype ('F32' here)
    // #endregion convert
    expect(result.format).toBe('pytorch-bin');
    expect(result.storedDtype).toBe('F32');
    expect(result.tensorCount).toBeGreaterThan(10);
    await expect(readAutoencoderCheckpoint(join(dir, 'missing'))).rejects.toSatisfy((e) => isCalmError(e, 'IO_ERROR'));
  });
});
