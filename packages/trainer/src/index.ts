/**
 * `@calm/trainer`: the CALM language model and its AR baseline on TensorFlow.js — the Llama
 * backbone with a KV cache, the CALM LM (input compression, energy head, frozen autoencoder)
 * with the official parameter names and sequence alignment, samplers for BrierLM and
 * temperature sampling, generation, and FLOPs accounting. Training runs, checkpoint folders, the
 * quickstart and plots live in `@calm/trainer/node`; the `calm` command line wraps them.
 *
 * Quick start:
 * ```ts
 * import { createRng } from '@calm/core';
 * import { initBackend } from '@calm/nn';
 * import { generateCalm, evaluateCalm } from '@calm/trainer';
 * import { loadCalm } from '@calm/trainer/node';
 *
 * await initBackend();                                            // wasm with @calm/nn's kernels
 * const { model } = await loadCalm('./CALM-M', { aePath: './CALM-Autoencoder' });
 * const { generated } = await generateCalm(model, [promptIds], { rng: createRng(0), maxNewTokens: 64, temperature: 0.5 });
 * const { brierLM } = await evaluateCalm(model, evalBlocks, { seed: 0 });
 * ```
 *
 * @packageDocumentation
 */

export {
  CALM_M_CONFIG,
  calmConfig,
  arConfig,
  validateCalmConfig,
  validateArConfig,
  calmConfigFromJson,
  calmConfigToJson,
  arConfigFromJson,
  arConfigToJson,
  headDim,
  type LlamaConfig,
  type CalmConfig,
  type ArConfig,
} from './config.js';
export {
  llamaParamSpecs,
  ropeCosSin,
  llamaForward,
  KvCache,
  type LlamaForwardOptions,
  type LlamaOutput,
} from './llama.js';
export { CalmModel, calmParamSpecs, type CalmModelOptions, type CalmLossNoise } from './calm-model.js';
export { ArModel, arParamSpecs, crossEntropy } from './ar-model.js';
export { calmChunkSampler, arNextTokenModel, type CalmSamplerOptions, type ArModelAdapterOptions } from './samplers.js';
export {
  generateCalm,
  generateAr,
  type CalmGenerateOptions,
  type ArGenerateOptions,
  type GenerateResult,
} from './generate.js';
export { evaluateCalm, evaluateAr, type ModelEvalOptions } from './evaluate.js';
export {
  calmInferenceFlops,
  calmTrainingFlops,
  arInferenceFlops,
  arTrainingFlops,
  autoencoderTrainingFlops,
  autoencoderFlopsPerChunk,
  backboneParams,
  embedProjParams,
  headParams,
  type FlopsBreakdown,
  type FlopsOptions,
} from './flops.js';
