/**
 * `@calm/model`: the CALM language model and its AR baseline on TensorFlow.js — the Llama
 * backbone with a KV cache, the CALM LM (input compression, a generative head, the frozen
 * autoencoder) with the official parameter names and sequence alignment, the samplers BrierLM and
 * temperature sampling use, generation, evaluation and FLOPs accounting. Checkpoints held in memory
 * (`config.json` objects and `model.safetensors` bytes, e.g. fetched by a page) load with
 * {@link loadCalmFromBytes}; checkpoint folders (official `pytorch_model.bin` and safetensors) live
 * in `@calm/model/node`, which reads the files and shares the same checks. This entry is
 * browser-safe. Training lives in `@calm/trainer`, the `calm` command line in `@calm/cli`.
 *
 * Quick start:
 * ```ts
 * import { createRng } from '@calm/core';
 * import { initBackend } from '@calm/nn';
 * import { generateCalm, evaluateCalm } from '@calm/model';
 * import { loadCalm } from '@calm/model/node';
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
export {
  readCalmCheckpointBytes,
  calmModelFromCheckpoint,
  loadCalmFromBytes,
  type CalmCheckpointBytes,
  type CalmCheckpointContents,
  type CalmCheckpointReport,
} from './checkpoint-bytes.js';
export { ArModel, arParamSpecs } from './ar-model.js';
export { calmChunkSampler, arNextTokenModel, type CalmSamplerOptions, type ArModelAdapterOptions } from './samplers.js';
export {
  generateCalm,
  generateAr,
  type CalmGenerateOptions,
  type ArGenerateOptions,
  type GenerateResult,
} from './generate.js';
export { evaluateCalm, evaluateAr, brierSummary, type ModelEvalOptions } from './evaluate.js';
export { arChunkSampler, type ArChunkSamplerOptions } from './ar-chunk-sampler.js';
export { calmEnergyBounds, type EnergyBounds, type EnergyBoundsOptions } from './energy-bounds.js';
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
