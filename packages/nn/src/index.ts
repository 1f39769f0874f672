/**
 * `@calm/nn`: the tfjs-bound shared layer of CALM.
 *
 * @remarks
 * Everything the model packages (`@calm/autoencoder`, `@calm/energy-head`) and the trainer share:
 * backend selection ({@link initBackend}: `tensorflow`, `webgpu`, `wasm` (default), `cpu`), the
 * kernels that make the wasm backend fit for training ({@link registerWasmKernels}), parameter
 * records keyed by the official PyTorch `state_dict` names ({@link createParams}), layers as pure
 * functions over them ({@link linear}, {@link embedding}, {@link rmsNorm}, {@link layerNorm},
 * {@link swiGluMlp}), {@link AdamW}, {@link clipByGlobalNorm}, learning-rate schedules, and
 * safetensors checkpoints as tensors ({@link saveParams}, {@link loadParams}). Importing the
 * package registers nothing (`sideEffects: false`); `initBackend` does the work. Peer:
 * `@tensorflow/tfjs` 4.22.0 (the union package, which registers gradients).
 *
 * Browsers: bundlers that set the `browser` condition (Vite, esbuild, webpack) get a build of this
 * entry without any Node built-in — the two-thread shim and the checkpoint *file* functions
 * (`saveParams`, `loadParams`, `loadTensors`) then fail with `NOT_SUPPORTED`; pass
 * `initBackend({ wasmPaths })` the URLs of the `.wasm` binaries, and import
 * `@tensorflow/tfjs-backend-webgpu` yourself before `initBackend({ backend: 'webgpu' })`.
 *
 * Quick start:
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import { createRng } from '@calm/core';
 * import { initBackend, createParams, normalInit, zerosInit, linear, paramGrads, AdamW } from '@calm/nn';
 *
 * const info = await initBackend();                      // wasm + training kernels unless CALM_BACKEND says otherwise
 * const params = createParams({ 'proj.weight': { shape: [4, 8], init: normalInit(0.02) },
 *                               'proj.bias': { shape: [4], init: zerosInit() } }, createRng(1));
 * const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0.1 });
 * const x = tf.randomNormal([16, 8]);
 * const { value, grads } = paramGrads(() => tf.mean(tf.square(linear(params, 'proj', x))), params);
 * opt.step(grads);
 * ```
 *
 * @packageDocumentation
 */

export {
  initBackend,
  type BackendName,
  type BackendInfo,
  type InitBackendOptions,
  type WasmBinaryUrls,
} from './backend.js';
export {
  registerWasmKernels,
  unregisterWasmKernels,
  wasmKernelsRegistered,
  registerCpuKernels,
  WASM_KERNEL_OVERRIDES,
  type WasmKernelName,
} from './wasm-kernels.js';
export { PINNED_TFJS_VERSION } from './version.js';
export {
  createParams,
  normalInit,
  zerosInit,
  onesInit,
  constantInit,
  disposeParams,
  countParams,
  trainableVariables,
  adoptParams,
  type AdoptParamsOptions,
  type ParamRecord,
  type ParamSpec,
  type Initializer,
} from './params.js';
export { linear, embedding, rmsNorm, layerNorm, swiGluMlp, silu } from './layers.js';
export { swiGlu, pairwiseDistanceMeans, fusedKernelsActive } from './fused.js';
export {
  causalSelfAttention,
  cachedSelfAttention,
  type CausalSelfAttentionOptions,
  type AttentionKvBuffers,
} from './attention.js';
export { paramGrads } from './grads.js';
export { crossEntropy } from './losses.js';
export {
  accumulateGradients,
  applyGradients,
  trainStep,
  type GradientSum,
  type ApplyGradientsOptions,
} from './train-step.js';
export {
  AdamW,
  defaultDecayPredicate,
  optimizerStateToNamedArrays,
  namedArraysToOptimizerState,
  type AdamWOptions,
  type OptimizerState,
  type DecayPredicate,
} from './adamw.js';
export { clipByGlobalNorm, globalNorm } from './clip.js';
export {
  constantSchedule,
  warmupConstantSchedule,
  warmupCosineSchedule,
  type LrSchedule,
  type WarmupCosineOptions,
} from './schedules.js';
export {
  saveParams,
  loadParams,
  loadTensors,
  paramsToNamedArrays,
  namedArraysToTensors,
  type SaveParamsOptions,
  type LoadParamsOptions,
  type LoadReport,
  type StoreDtypeOptions,
} from './checkpoint.js';
