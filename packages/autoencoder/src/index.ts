/**
 * `@calm/autoencoder`: the robust chunk autoencoder of CALM (Shao et al. 2025, §2), a port of the
 * official `models/modeling_autoencoder.py` to TensorFlow.js.
 *
 * @remarks
 * K tokens ↔ one latent Gaussian (mean, log σ). The architecture, parameter names
 * (`encoder.embed_tokens.weight`, …), training loss (token masking, reparameterisation, latent
 * dropout, clamped KL) and `config.json` fields are the official ones, so the released
 * `cccczshao/CALM-Autoencoder` loads as is (`@calm/autoencoder/node`). Layers come from `@calm/nn`;
 * every random draw is injected (an `Rng` of `@calm/core`, or explicit noise).
 *
 * - Config: {@link autoencoderConfig}, {@link autoencoderConfigFromJson}, {@link autoencoderConfigToJson}.
 * - Model: {@link createAutoencoderParams}, {@link encode}, {@link sampleLatent}, {@link decode}, {@link decodeTokens}.
 * - Training: {@link autoencoderLoss}, {@link autoencoderLossParts}, {@link autoencoderTrainStep}.
 * - Evaluation: {@link evaluateReconstruction} (token and chunk accuracy, with latent noise) and
 *   {@link evaluateRobustness} (accuracy against multiples of the posterior's own scale).
 * - State dicts: {@link checkAutoencoderStateDict}, {@link inferAutoencoderConfig},
 *   {@link autoencoderParamsFromStateDict}, {@link autoencoderStateDict}. Files: `@calm/autoencoder/node`.
 *
 * Quick start:
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import { createRng } from '@calm/core';
 * import { initBackend, AdamW } from '@calm/nn';
 * import { autoencoderConfig, createAutoencoderParams, autoencoderTrainStep, evaluateReconstruction, OFFICIAL_AE_ADAMW } from '@calm/autoencoder';
 *
 * await initBackend({ backend: 'wasm' });
 * const config = autoencoderConfig({ vocabSize: 259, hiddenSize: 128, intermediateSize: 256, latentSize: 32 });
 * const params = createAutoencoderParams(config, createRng(1));
 * const opt = new AdamW(params, { ...OFFICIAL_AE_ADAMW, lr: 1e-3 });
 * const rng = createRng(2);
 * const batch = tf.tensor2d(ids, [64, 4], 'int32'); // 64 chunks of K = 4 tokens
 * const { loss, gradNorm } = autoencoderTrainStep(params, config, opt, batch, { rng });
 * tf.dispose([loss, gradNorm, batch]);
 * const { tokenAccuracy } = await evaluateReconstruction(params, config, heldOutIds, { noiseStd: 0.3, rng });
 * ```
 *
 * @packageDocumentation
 */

export {
  RELEASED_AUTOENCODER_CONFIG,
  autoencoderConfig,
  validateAutoencoderConfig,
  autoencoderConfigFromJson,
  autoencoderConfigToJson,
  type AutoencoderConfig,
  type AutoencoderConfigJson,
} from './config.js';
export { EMBEDDING_KEY, TIED_ALIAS_KEY, autoencoderParamShapes } from './shapes.js';
export { autoencoderParamSpecs, createAutoencoderParams } from './params.js';
export { encode, decode, decodeTokens, sampleLatent, type LatentPosterior } from './model.js';
export {
  autoencoderLoss,
  autoencoderLossParts,
  sampleAutoencoderNoise,
  type AutoencoderNoise,
  type AutoencoderLossOptions,
  type AutoencoderLossParts,
  type SampledAutoencoderNoise,
} from './loss.js';
export {
  autoencoderTrainStep,
  OFFICIAL_AE_ADAMW,
  type AutoencoderTrainStepOptions,
  type AutoencoderTrainStepResult,
} from './train.js';
export {
  evaluateReconstruction,
  evaluateRobustness,
  type ReconstructionOptions,
  type ReconstructionResult,
  type RobustnessPoint,
} from './evaluate.js';
export { checkAutoencoderStateDict, inferAutoencoderConfig, type AutoencoderStateDictReport } from './state-dict.js';
export { autoencoderParamsFromStateDict, autoencoderStateDict } from './checkpoint.js';
