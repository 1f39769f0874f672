/**
 * `@calm/model/node`: checkpoint folders on disk (Node only) — official `EnergyTransformer` and
 * `LlamaForCausalLM` folders (`pytorch_model.bin` through an allow-listed unpickler, or
 * safetensors), loading, saving in the Hugging Face layout, and `.bin` → safetensors conversion.
 *
 * Quick start:
 * ```ts
 * import { initBackend } from '@calm/nn';
 * import { loadCalm, saveCalm } from '@calm/model/node';
 *
 * await initBackend();
 * const { model, report } = await loadCalm('./CALM-M', { aePath: './CALM-Autoencoder' });
 * await saveCalm('./CALM-M-safetensors', model);
 * ```
 *
 * @packageDocumentation
 */
export {
  MODEL_WEIGHT_FILES,
  resolveModelFiles,
  detectCheckpointKind,
  readCalmCheckpoint,
  loadCalm,
  saveCalm,
  loadAr,
  saveAr,
  convertCheckpoint,
  type CalmCheckpointReport,
  type ReadCalmOptions,
  type ConvertCheckpointReport,
} from './checkpoint.js';
