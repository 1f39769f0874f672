/**
 * `@calm/core`: the framework-free contracts every `@calm/*` package shares.
 *
 * @remarks
 * No runtime dependencies and no tensors: token and chunk types (`Int32Array`), the black-box
 * sampler contracts ({@link ChunkSampler}, {@link TokenSampler}, {@link NextTokenModel}) that
 * `@calm/brierlm` and `@calm/temperature-sampler` consume, a seedable {@link Rng} with a
 * serialisable state, {@link CalmError}, safetensors as typed arrays, the one config validator
 * ({@link collectConfigProblems}) and JSON-lines parser ({@link parseJsonlTexts}). Node-only file helpers
 * live in the `@calm/core/node` subpath.
 *
 * Quick start:
 * ```ts
 * import { createRng, toChunks, type ChunkSampler } from '@calm/core';
 * const rng = createRng(1);
 * const chunks = toChunks(Int32Array.from([5, 6, 7, 8]), 2); // [[5, 6], [7, 8]]
 * const k = rng.categorical([0.1, 0.9]);
 * ```
 *
 * @packageDocumentation
 */

export { CalmError, isCalmError, errorFactory, type CalmErrorCode, type CalmErrorOptions } from './errors.js';
export {
  LLAMA3_SPECIAL_TOKENS,
  toChunks,
  padToMultiple,
  chunksEqual,
  chunkKey,
  toTokenIds,
  type TokenIds,
  type Chunk,
} from './tokens.js';
export {
  NO_TOKEN,
  type ChunkSampler,
  type TokenSampler,
  type NextTokenModel,
  type SampleCallOptions,
} from './sampler.js';
export { createRng, restoreRng, type Rng, type RngState } from './rng.js';
export { float16BitsToFloat32, float32ToFloat16Bits, bfloat16BitsToFloat32, float32ToBfloat16Bits } from './dtype.js';
export {
  SAFETENSORS_DTYPE_BYTES,
  readSafetensorsHeaderLength,
  parseSafetensorsHeader,
  decodeSafetensorsTensor,
  parseSafetensors,
  serializeSafetensors,
  parseShardIndex,
  type SafetensorsDtype,
  type TensorArray,
  type NamedArray,
  type SafetensorsEntry,
  type SafetensorsHeader,
  type SafetensorsReadOptions,
  type TensorToWrite,
  type ShardIndex,
} from './safetensors.js';
export { bytesSource, readZipDirectory, zipEntryDataOffset, type ByteSource, type ZipEntry } from './zip.js';
export {
  unpickleStateDict,
  openTorchStateDict,
  parseTorchStateDict,
  type TorchTensorRef,
  type TorchStateDictReader,
} from './torch-bin.js';
export {
  jsonlLineText,
  parseJsonl,
  parseJsonlTexts,
  type JsonlLineIssue,
  type JsonlLineProblem,
} from './jsonl.js';
export {
  checkConfigValue,
  collectConfigProblems,
  configFieldNamer,
  configIntAtLeast,
  configOneOf,
  configOptional,
  configOrNull,
  configRule,
  throwConfigProblems,
  type ConfigValueKind,
  type ConfigValueRule,
  type ConfigField,
  type DescribedConfigRule,
} from './config-validation.js';
