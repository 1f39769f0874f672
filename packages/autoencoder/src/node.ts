/**
 * Node-only checkpoint files of `@calm/autoencoder`: the Hugging Face layout (`config.json` +
 * `model.safetensors`), sharded indexes, and PyTorch `.bin` files read by the safe, allow-listed
 * unpickler of `@calm/core` (no code from a file is ever executed). Import from
 * `@calm/autoencoder/node`; the main entry stays browser-safe.
 *
 * @example
 * ```ts
 * import { loadAutoencoder, saveAutoencoder } from '@calm/autoencoder/node';
 * const { config, params, report } = await loadAutoencoder('./CALM-Autoencoder'); // .bin or safetensors
 * await saveAutoencoder('./converted', params, config);
 * ```
 *
 * @packageDocumentation
 */

import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { NamedArray, SafetensorsDtype, TensorToWrite } from '@calm/core';
import {
  pathExists,
  readJsonFile,
  readSafetensorsFile,
  readTorchBinFile,
  writeSafetensorsFile,
  writeTextAtomic,
} from '@calm/core/node';
import type { ParamRecord } from '@calm/nn';
import { autoencoderConfigFromJson, autoencoderConfigToJson, type AutoencoderConfig } from './config.js';
import { checkAutoencoderStateDict, inferAutoencoderConfig, type AutoencoderStateDictReport } from './state-dict.js';
import { fail } from './internal/errors.js';

/**
 * Weight files looked for in a checkpoint folder, in order of preference (as Hugging Face).
 * @see {@link readAutoencoderCheckpoint}
 * @category Checkpoint files
 */
export const WEIGHT_FILES: readonly string[] = Object.freeze([
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
]);

/**
 * How a checkpoint was read.
 * @see {@link readAutoencoderCheckpoint}
 * @category Checkpoint files
 */
export interface CheckpointReadReport extends AutoencoderStateDictReport {
  /** The weights file (or index) that was read. */
  weightsFile: string;
  /** `safetensors`, or `pytorch-bin` (read by the allow-listed unpickler; no code runs). */
  format: 'safetensors' | 'pytorch-bin';
  /** Where the configuration came from: the `config` option, `config.json`, or the weights' shapes. */
  configSource: 'option' | 'config.json' | 'inferred';
  /** The `config.json` read, when there was one. */
  configFile?: string;
}

/**
 * Options of {@link readAutoencoderCheckpoint}, {@link loadAutoencoder} and
 * {@link convertAutoencoderCheckpoint}.
 * @category Checkpoint files
 */
export interface ReadCheckpointOptions {
  /**
   * Use this configuration instead of the checkpoint's `config.json`. Without it and without a
   * `config.json` beside the weights, the configuration is inferred from the shapes
   * (`inferAutoencoderConfig`).
   */
  config?: AutoencoderConfig;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (e) {
    return fail(
      'IO_ERROR',
      `cannot read "${path}": ${(e as Error).message}. Pass a checkpoint folder or a .safetensors/.bin file.`,
      { cause: e },
    );
  }
}

async function resolveCheckpoint(path: string): Promise<{ weightsFile: string; configFile: string | undefined }> {
  if (await isDirectory(path)) {
    const cfg = join(path, 'config.json');
    const configFile = (await pathExists(cfg)) ? cfg : undefined;
    for (const f of WEIGHT_FILES) {
      const full = join(path, f);
      if (await pathExists(full)) return { weightsFile: full, configFile };
    }
    const listing = (await readdir(path)).slice(0, 20);
    return fail(
      'IO_ERROR',
      `"${path}" holds none of ${WEIGHT_FILES.join(', ')} (found: ${listing.join(', ') || 'nothing'}); pass the weights file itself or a Hugging Face checkpoint folder.`,
    );
  }
  const cfg = join(dirname(path), 'config.json');
  return { weightsFile: path, configFile: (await pathExists(cfg)) ? cfg : undefined };
}

function weightsFormat(path: string): 'safetensors' | 'pytorch-bin' {
  const name = basename(path);
  return name.endsWith('.safetensors') || name.endsWith('.safetensors.index.json') ? 'safetensors' : 'pytorch-bin';
}

/**
 * Reads an official `config.json` file.
 * @param path - The file.
 * @returns The validated configuration.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR` (not JSON), `INVALID_CONFIG` (every problem listed).
 * @example
 * {@includeCode ../test/examples.test.ts#save-load}
 * @category Checkpoint files
 */
export async function readAutoencoderConfigFile(path: string): Promise<AutoencoderConfig> {
  return autoencoderConfigFromJson(await readJsonFile(path), path);
}

/**
 * Reads an autoencoder checkpoint into checked named arrays, without tfjs.
 *
 * @remarks
 * `path` may be a Hugging Face folder (`config.json` + the first of {@link WEIGHT_FILES}), a
 * `.safetensors` file or index, or a PyTorch `.bin` file or index. Anything not named
 * `*.safetensors[.index.json]` goes through `@calm/core`'s `.bin` reader, which interprets only
 * an allow-list of pickle globals (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
 * the torch storage types) and refuses everything else. F16/BF16 weights are widened to float32.
 * @param path - Folder or weights file.
 * @param options - An explicit configuration.
 * @returns The configuration, the parameters' arrays (official names, no alias) and a report.
 * @throws `CalmError` `UNSAFE_PICKLE` (a `.bin` asking for anything beyond a state dict),
 *   `FORMAT_ERROR`, `IO_ERROR`, `INVALID_CONFIG`, `MISSING_PARAMETER`, `UNEXPECTED_PARAMETER`,
 *   `SHAPE_MISMATCH`, `DTYPE_UNSUPPORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#save-load}
 * @category Checkpoint files
 */
export async function readAutoencoderCheckpoint(
  path: string,
  options: ReadCheckpointOptions = {},
): Promise<{ config: AutoencoderConfig; tensors: Map<string, NamedArray>; report: CheckpointReadReport }> {
  const { weightsFile, configFile } = await resolveCheckpoint(path);
  const format = weightsFormat(weightsFile);
  const raw =
    format === 'safetensors'
      ? (await readSafetensorsFile(weightsFile)).tensors
      : (await readTorchBinFile(weightsFile)).tensors;
  let config: AutoencoderConfig;
  let configSource: CheckpointReadReport['configSource'];
  if (options.config !== undefined) {
    config = options.config;
    configSource = 'option';
  } else if (configFile !== undefined) {
    config = await readAutoencoderConfigFile(configFile);
    configSource = 'config.json';
  } else {
    config = inferAutoencoderConfig(raw, weightsFile);
    configSource = 'inferred';
  }
  const checked = checkAutoencoderStateDict(config, raw, weightsFile);
  const report: CheckpointReadReport = { ...checked.report, weightsFile, format, configSource };
  if (configSource === 'config.json') report.configFile = configFile!;
  return { config, tensors: checked.tensors, report };
}

const TORCH_DTYPE_NAMES: Partial<Record<SafetensorsDtype, string>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
};

async function writeAutoencoderFiles(
  outDir: string,
  config: AutoencoderConfig,
  tensors: Record<string, TensorToWrite>,
  storedDtype: SafetensorsDtype,
): Promise<{ configFile: string; weightsFile: string }> {
  const configFile = join(outDir, 'config.json');
  const weightsFile = join(outDir, 'model.safetensors');
  const withDtype: AutoencoderConfig = {
    ...config,
    extra: { ...config.extra, torch_dtype: TORCH_DTYPE_NAMES[storedDtype] ?? 'float32' },
  };
  await writeSafetensorsFile(weightsFile, tensors, { format: 'pt' });
  await writeTextAtomic(configFile, `${JSON.stringify(autoencoderConfigToJson(withDtype), null, 2)}\n`);
  return { configFile, weightsFile };
}

/**
 * Storage choice of {@link convertAutoencoderCheckpoint}: keep the source's 16-bit dtype (F32
 * otherwise), or force one.
 * @category Checkpoint files
 */
export type ConvertDtype = 'keep' | 'F32' | 'F16' | 'BF16';

/**
 * What {@link convertAutoencoderCheckpoint} did.
 * @category Checkpoint files
 */
export interface ConvertReport extends CheckpointReadReport {
  /** The folder written. */
  outDir: string;
  /** The files written. */
  files: { configFile: string; weightsFile: string };
  /** Tensors written (the alias `decoder.lm_head_weight` is not written, as in HF's safetensors save). */
  tensorCount: number;
  /** Scalar parameters written. */
  parameterCount: number;
  /** The dtype the weights were stored as. */
  storedDtype: SafetensorsDtype;
}

/**
 * Converts an autoencoder checkpoint (typically the official `pytorch_model.bin`) into the
 * Hugging Face safetensors layout: `config.json` + `model.safetensors`. Needs no tfjs.
 *
 * @param src - Folder or weights file (see {@link readAutoencoderCheckpoint}).
 * @param outDir - Destination folder (created if needed; files are written atomically).
 * @param options - An explicit configuration; `dtype` of the stored weights. @defaultValue dtype 'keep'
 * @returns What was read and written.
 * @throws `CalmError` as {@link readAutoencoderCheckpoint}, plus `INVALID_ARGUMENT` for a bad dtype.
 * @example
 * {@includeCode ../test/examples.test.ts#convert}
 * @category Checkpoint files
 */
export async function convertAutoencoderCheckpoint(
  src: string,
  outDir: string,
  options: ReadCheckpointOptions & { dtype?: ConvertDtype } = {},
): Promise<ConvertReport> {
  const dtype = options.dtype ?? 'keep';
  if (!['keep', 'F32', 'F16', 'BF16'].includes(dtype))
    fail('INVALID_ARGUMENT', `convert: dtype must be keep, F32, F16 or BF16, got ${JSON.stringify(dtype)}.`);
  const { config, tensors, report } = await readAutoencoderCheckpoint(
    src,
    options.config ? { config: options.config } : {},
  );
  const stored = report.dtypes;
  const storedDtype: SafetensorsDtype =
    dtype !== 'keep' ? dtype : stored.length === 1 && (stored[0] === 'F16' || stored[0] === 'BF16') ? stored[0] : 'F32';
  const out: Record<string, TensorToWrite> = {};
  let parameterCount = 0;
  for (const [name, arr] of tensors) {
    out[name] = { shape: arr.shape, data: arr.data, dtype: storedDtype };
    parameterCount += arr.data.length;
  }
  const files = await writeAutoencoderFiles(outDir, config, out, storedDtype);
  return { ...report, outDir, files, tensorCount: tensors.size, parameterCount, storedDtype };
}

/**
 * Loads an autoencoder checkpoint as tfjs variables.
 *
 * @param path - Folder or weights file (see {@link readAutoencoderCheckpoint}), e.g. a local copy
 *   of `cccczshao/CALM-Autoencoder`.
 * @param options - An explicit configuration.
 * @returns The configuration, the parameters (official names) and a report. Caller owns the
 *   returned variables and must dispose them (`disposeParams` of `@calm/nn`).
 * @throws `CalmError` as {@link readAutoencoderCheckpoint}.
 * @example
 * {@includeCode ../test/examples.test.ts#save-load}
 * @category Checkpoint files
 */
export async function loadAutoencoder(
  path: string,
  options: ReadCheckpointOptions = {},
): Promise<{ config: AutoencoderConfig; params: ParamRecord; report: CheckpointReadReport }> {
  const { config, tensors, report } = await readAutoencoderCheckpoint(path, options);
  const { autoencoderParamsFromStateDict } = await import('./checkpoint.js');
  const { params } = autoencoderParamsFromStateDict(config, tensors, report.weightsFile);
  return { config, params, report };
}

/**
 * Saves an autoencoder in the Hugging Face layout: `config.json` (official field names,
 * `architectures: ["Autoencoder"]`) and `model.safetensors` (official names, without the alias
 * `decoder.lm_head_weight`), both written atomically.
 *
 * @param outDir - Destination folder (created if needed).
 * @param params - Autoencoder parameters.
 * @param config - Their configuration.
 * @param options - `floatDtype` of the stored weights. @defaultValue 'F32'
 * @returns The files written.
 * @throws `CalmError` `MISSING_PARAMETER`, `SHAPE_MISMATCH`, `INVALID_CONFIG`, `IO_ERROR`.
 * @example
 * {@includeCode ../test/examples.test.ts#save-load}
 * @category Checkpoint files
 */
export async function saveAutoencoder(
  outDir: string,
  params: ParamRecord,
  config: AutoencoderConfig,
  options: { floatDtype?: 'F32' | 'F16' | 'BF16' } = {},
): Promise<{ configFile: string; weightsFile: string }> {
  const { autoencoderStateDict } = await import('./checkpoint.js');
  const floatDtype = options.floatDtype ?? 'F32';
  const arrays = await autoencoderStateDict(params, config, { floatDtype });
  return writeAutoencoderFiles(outDir, config, arrays, floatDtype);
}
