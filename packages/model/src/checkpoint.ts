// Model checkpoints on disk (Node only): official Hugging Face folders of CALM (`EnergyTransformer`,
// `FlowTransformer`, `DiffusionTransformer`, or a custom head's; `pytorch_model.bin` or safetensors,
// with the `ae_model.*` copy of the frozen autoencoder and the energy head's `generative_head.*`
// aliases) and of the AR baseline (`LlamaForCausalLM`), loading, saving in the HF safetensors layout
// (config.json + model.safetensors), and conversion of `.bin` files.

import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { NamedArray, SafetensorsDtype, TensorToWrite } from '@calm/core';
import {
  pathExists,
  readJsonFile,
  readSafetensorsFile,
  readTorchBinFile,
  writeSafetensorsFile,
  writeTextAtomic,
} from '@calm/core/node';
import { autoencoderParamShapes, type AutoencoderConfig } from '@calm/autoencoder';
import {
  convertAutoencoderCheckpoint,
  readAutoencoderCheckpoint,
  readAutoencoderConfigFile,
  type ConvertDtype,
} from '@calm/autoencoder/node';
import type { GenerativeHead } from '@calm/energy-head';
import { paramsToNamedArrays } from '@calm/nn';
import { ArModel, arParamSpecs } from './ar-model.js';
import type { CalmModel } from './calm-model.js';
import {
  AE_PREFIX,
  IGNORED,
  LM_MODULES,
  assembleCalmCheckpoint,
  calmModelFromCheckpoint,
  hasEmbeddedAutoencoder,
  toVariables,
  type AutoencoderSource,
  type CalmCheckpointContents,
  type CalmCheckpointReport,
} from './checkpoint-bytes.js';
import { arConfigFromJson, arConfigToJson, calmConfigFromJson, calmConfigToJson, type ArConfig } from './config.js';
import { CUSTOM_HEAD_ARCHITECTURE, HEAD_KINDS } from './heads.js';
import { fail } from './internal/errors.js';

export type { CalmCheckpointReport };

/**
 * Weight files looked for in a checkpoint folder, in order of preference (as Hugging Face).
 * @see {@link resolveModelFiles}
 * @category Checkpoints
 */
export const MODEL_WEIGHT_FILES: readonly string[] = Object.freeze([
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
]);

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (e) {
    return fail(
      'IO_ERROR',
      `cannot read "${path}": ${(e as Error).message}. Pass a checkpoint folder or a weights file.`,
      { cause: e },
    );
  }
}

/**
 * Finds the weights file and `config.json` of a checkpoint folder (or beside a weights file).
 * @param path - Folder or weights file.
 * @returns The weights file (or index), its format, and the config file when present.
 * @throws `CalmError` `IO_ERROR` when nothing usable is there.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoints}
 * @category Checkpoints
 */
export async function resolveModelFiles(
  path: string,
): Promise<{ weightsFile: string; configFile: string | undefined; format: 'safetensors' | 'pytorch-bin' }> {
  let weightsFile: string | undefined;
  let dir: string;
  if (await isDir(path)) {
    dir = path;
    for (const f of MODEL_WEIGHT_FILES) {
      if (await pathExists(join(path, f))) {
        weightsFile = join(path, f);
        break;
      }
    }
    if (!weightsFile) {
      const listing = (await readdir(path)).slice(0, 20);
      fail(
        'IO_ERROR',
        `"${path}" holds none of ${MODEL_WEIGHT_FILES.join(', ')} (found: ${listing.join(', ') || 'nothing'}); pass a Hugging Face checkpoint folder or the weights file.`,
      );
    }
  } else {
    weightsFile = path;
    dir = dirname(path);
  }
  const cfg = join(dir, 'config.json');
  const name = basename(weightsFile);
  const format =
    name.endsWith('.safetensors') || name.endsWith('.safetensors.index.json') ? 'safetensors' : 'pytorch-bin';
  return { weightsFile, configFile: (await pathExists(cfg)) ? cfg : undefined, format };
}

// What to do about a checkpoint's config.json that cannot be read or parsed.
const CONFIG_FIX = "the checkpoint's config.json is damaged or missing; save or download the checkpoint again";

async function readWeights(file: string, format: 'safetensors' | 'pytorch-bin'): Promise<Map<string, NamedArray>> {
  return format === 'safetensors' ? (await readSafetensorsFile(file)).tensors : (await readTorchBinFile(file)).tensors;
}

/**
 * Reads the `architectures` entry of a checkpoint's `config.json`.
 * @param path - Folder or weights file.
 * @returns `'calm'` (`EnergyTransformer`, `FlowTransformer`, `DiffusionTransformer`, or `CALM` for a
 *   custom head), `'autoencoder'`, `'ar'` (`LlamaForCausalLM`) or `'unknown'`.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoints}
 * @category Checkpoints
 */
export async function detectCheckpointKind(path: string): Promise<'calm' | 'autoencoder' | 'ar' | 'unknown'> {
  const { configFile } = await resolveModelFiles(path);
  if (!configFile) return 'unknown';
  const json = (await readJsonFile(configFile, CONFIG_FIX)) as { architectures?: unknown };
  const arch = Array.isArray(json?.architectures) ? (json.architectures as unknown[]) : [];
  const calmArchitectures = [...Object.values(HEAD_KINDS).map((e) => e.architecture), CUSTOM_HEAD_ARCHITECTURE];
  if (calmArchitectures.some((a) => arch.includes(a))) return 'calm';
  if (arch.includes('Autoencoder')) return 'autoencoder';
  if (arch.includes('LlamaForCausalLM')) return 'ar';
  return 'unknown';
}

/**
 * Options of {@link readCalmCheckpoint} and {@link loadCalm}.
 * @category Checkpoints
 */
export interface ReadCalmOptions {
  /**
   * The autoencoder checkpoint folder (overrides the server path `ae_path` of the released
   * configs). Its `config.json` is used; its weights only when the LM checkpoint has no `ae_model.*`
   * copy (the official code lets the LM checkpoint overwrite them).
   */
  aePath?: string;
  /**
   * The head instance of a checkpoint saved with a custom head (`model_type` names its kind;
   * `architectures` is `["CALM"]`), whose `kind` must match: its parameter names and shapes are
   * checked against the file, and {@link loadCalm} writes the stored values into its variables.
   * Without it, {@link readCalmCheckpoint} returns a custom head's keys unchecked and
   * {@link loadCalm} refuses. A built-in head of the checkpoint's kind may be passed too (e.g. a
   * `FlowMatchingHead` with other solver settings).
   */
  head?: GenerativeHead;
}

/**
 * Reads a CALM checkpoint (official `EnergyTransformer`, `FlowTransformer` or
 * `DiffusionTransformer` folder, or our safetensors layout) into checked named arrays, without tfjs.
 *
 * @remarks
 * Accepts `model.safetensors[.index.json]` or `pytorch_model.bin[.index.json]` (F32/F16/BF16,
 * widened to float32). The head comes from `config.json` (`model_type`, else `architectures`; see
 * `calmConfigFromJson`): the energy head's parameters are `mlp_generator.*`, the flow and diffusion
 * heads' `generative_head.net.*`. `generative_head.*` (energy) and `ae_model.decoder.lm_head_weight`
 * are aliases: when present they must equal `mlp_generator.*` / `ae_model.encoder.embed_tokens.weight`
 * (either side may be missing); `*.rotary_emb.inv_freq` is ignored. Every missing, unexpected or
 * mis-shaped key is reported in one error. A custom head's keys are checked against `options.head`
 * when given, else returned unchecked (`report.headKeys`).
 * @param path - Folder or weights file.
 * @param options - `aePath` for the autoencoder; `head` for a custom head's checkpoint.
 * @returns LM and AE configurations, LM arrays (official names) and AE arrays (the autoencoder's
 *   own names, without `ae_model.`), and a report.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`, `UNSAFE_PICKLE`, `INVALID_CONFIG`,
 *   `MISSING_PARAMETER`, `UNEXPECTED_PARAMETER`, `SHAPE_MISMATCH`; `INVALID_ARGUMENT` when
 *   `options.head` is of another kind than the checkpoint's.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoints}
 * @category Checkpoints
 */
export async function readCalmCheckpoint(path: string, options: ReadCalmOptions = {}): Promise<CalmCheckpointContents> {
  const { weightsFile, configFile, format } = await resolveModelFiles(path);
  if (!configFile)
    fail(
      'IO_ERROR',
      `no config.json beside ${weightsFile}; a CALM checkpoint needs its config.json (architectures ["EnergyTransformer"]).`,
    );
  const config = calmConfigFromJson(await readJsonFile(configFile, CONFIG_FIX), configFile);
  const raw = await readWeights(weightsFile, format);
  const embedded = hasEmbeddedAutoencoder(raw);
  let aePath = options.aePath;
  // Without a copy in the checkpoint, the autoencoder comes from ae_path when that exists here.
  if (aePath === undefined && !embedded && config.aePath && (await pathExists(config.aePath))) aePath = config.aePath;
  let ae: AutoencoderSource | undefined;
  if (aePath !== undefined) {
    if (embedded) {
      const aeFiles = await resolveModelFiles(aePath);
      if (aeFiles.configFile) ae = { config: await readAutoencoderConfigFile(aeFiles.configFile), label: aePath };
    } else {
      const read = await readAutoencoderCheckpoint(aePath);
      ae = {
        config: read.config,
        configInferred: read.report.configSource === 'inferred',
        tensors: read.tensors,
        label: aePath,
      };
    }
  }
  return assembleCalmCheckpoint({
    config,
    raw,
    weightsFile,
    format,
    ae,
    missingAeHint: `ae_path ${JSON.stringify(config.aePath)} does not exist here (the released configs point at the authors' server); pass aePath: a local copy of the autoencoder (e.g. cccczshao/CALM-Autoencoder).`,
    head: options.head,
  });
}

/**
 * Loads a CALM checkpoint as a ready {@link CalmModel}, e.g. a local copy of `cccczshao/CALM-M`, or
 * an official-layout flow or diffusion checkpoint (the head comes from `config.json`).
 *
 * @remarks
 * A checkpoint saved with a custom head (`model_type` = its kind) needs that head: pass a fresh
 * instance as `options.head` (built with the same sizes; any initial values) and the stored values
 * are written into its variables; the returned model owns it.
 * @param path - Folder or weights file (see {@link readCalmCheckpoint}).
 * @param options - `aePath` for the autoencoder (overrides `ae_path`); `head` for custom heads.
 * @returns The model and how it was read. Caller owns the model and must dispose it.
 * @throws `CalmError` as {@link readCalmCheckpoint}; `INVALID_ARGUMENT` for a custom head's
 *   checkpoint without `options.head`.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoints}
 * @example A custom head's checkpoint:
 * {@includeCode ../test/examples.test.ts#custom-head}
 * @category Checkpoints
 */
export async function loadCalm(
  path: string,
  options: ReadCalmOptions = {},
): Promise<{ model: CalmModel; report: CalmCheckpointReport }> {
  const read = await readCalmCheckpoint(path, options);
  return { model: calmModelFromCheckpoint(read, options.head ? { head: options.head } : {}), report: read.report };
}

const TORCH_DTYPE: Partial<Record<SafetensorsDtype, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

async function writeModelFolder(
  outDir: string,
  configJson: Record<string, unknown>,
  arrays: Record<string, TensorToWrite>,
  dtype: SafetensorsDtype,
): Promise<{ configFile: string; weightsFile: string }> {
  const weightsFile = join(outDir, 'model.safetensors');
  const configFile = join(outDir, 'config.json');
  await writeSafetensorsFile(weightsFile, arrays, { format: 'pt' });
  await writeTextAtomic(
    configFile,
    `${JSON.stringify({ ...configJson, torch_dtype: TORCH_DTYPE[dtype] ?? 'float32' }, null, 2)}\n`,
  );
  return { configFile, weightsFile };
}

/** The arrays of a CALM checkpoint in the official order: `ae_model.*`, `transformer.*`, the head, `embed_proj.*`. */
function calmArrays(
  aeConfig: AutoencoderConfig,
  lm: Record<string, TensorToWrite>,
  ae: Record<string, TensorToWrite>,
): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const k of Object.keys(autoencoderParamShapes(aeConfig))) out[AE_PREFIX + k] = ae[k]!;
  const [backbone, proj] = LM_MODULES;
  for (const k of Object.keys(lm)) if (k.startsWith(backbone!)) out[k] = lm[k]!;
  for (const k of Object.keys(lm)) if (!LM_MODULES.some((m) => k.startsWith(m))) out[k] = lm[k]!;
  for (const k of Object.keys(lm)) if (k.startsWith(proj!)) out[k] = lm[k]!;
  return out;
}

/**
 * Saves a CALM model in the Hugging Face layout, atomically: `config.json` (official fields;
 * `architectures` names the head's class — `EnergyTransformer`, `FlowTransformer`,
 * `DiffusionTransformer`, or `CALM` with `model_type` = the kind of a custom head) and
 * `model.safetensors` with every unique key (`ae_model.*`, `transformer.*`, the head's —
 * `mlp_generator.*`, `generative_head.net.*` or a custom head's own names under its prefix —,
 * `embed_proj.*`; no aliases). Reload a custom head's checkpoint with {@link loadCalm} and a head
 * instance.
 * @param outDir - Destination folder (created if needed).
 * @param model - The model.
 * @param options - `aePath` recorded as `ae_path`; `floatDtype` of the stored weights. @defaultValue F32
 * @returns The files written.
 * @throws `CalmError` `IO_ERROR`, `INVALID_CONFIG`.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoints}
 * @category Checkpoints
 */
export async function saveCalm(
  outDir: string,
  model: CalmModel,
  options: { aePath?: string; floatDtype?: 'F32' | 'F16' | 'BF16' } = {},
): Promise<{ configFile: string; weightsFile: string }> {
  const dtype = options.floatDtype ?? 'F32';
  const lm = await paramsToNamedArrays(model.params, { floatDtype: dtype });
  const ae = await paramsToNamedArrays(model.aeParams, { floatDtype: dtype });
  const config = { ...model.config, aePath: options.aePath ?? model.config.aePath };
  return writeModelFolder(outDir, calmConfigToJson(config), calmArrays(model.aeConfig, lm, ae), dtype);
}

/**
 * Loads an AR-baseline checkpoint (`LlamaForCausalLM` folder, safetensors or `.bin`).
 * @param path - Folder or weights file.
 * @returns The model and the weights file read. Caller owns the model and must dispose it.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`, `INVALID_CONFIG`, `MISSING_PARAMETER`,
 *   `UNEXPECTED_PARAMETER`, `SHAPE_MISMATCH`.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-checkpoints}
 * @category Checkpoints
 */
export async function loadAr(path: string): Promise<{ model: ArModel; weightsFile: string }> {
  const { weightsFile, configFile, format } = await resolveModelFiles(path);
  if (!configFile)
    fail(
      'IO_ERROR',
      `no config.json beside ${weightsFile}; an AR checkpoint needs its config.json (architectures ["LlamaForCausalLM"]).`,
    );
  const config: ArConfig = arConfigFromJson(await readJsonFile(configFile, CONFIG_FIX), configFile);
  const raw = await readWeights(weightsFile, format);
  const specs = arParamSpecs(config);
  const keep = new Map<string, NamedArray>();
  const unexpected: string[] = [];
  for (const [k, a] of raw) {
    if (IGNORED.test(k)) continue;
    if (k === 'lm_head.weight' && config.tieWordEmbeddings) continue;
    if (k in specs) keep.set(k, a);
    else unexpected.push(k);
  }
  const missing = Object.keys(specs).filter((k) => !keep.has(k));
  const shapes = Object.entries(specs)
    .filter(([k, s]) => keep.has(k) && !tf.util.arraysEqual(keep.get(k)!.shape, s.shape))
    .map(([k]) => k);
  if (missing.length || unexpected.length || shapes.length) {
    fail(
      missing.length ? 'MISSING_PARAMETER' : unexpected.length ? 'UNEXPECTED_PARAMETER' : 'SHAPE_MISMATCH',
      `${weightsFile} does not match its config: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}], wrong shapes [${shapes.join(', ')}].`,
      {
        details: { missing, unexpected, shapes },
      },
    );
  }
  return { model: new ArModel(config, { params: toVariables(keep) }), weightsFile };
}

/**
 * Saves an AR-baseline model as `config.json` + `model.safetensors`, atomically.
 * @param outDir - Destination folder.
 * @param model - The model.
 * @param options - `floatDtype` of the stored weights. @defaultValue F32
 * @returns The files written.
 * @throws `CalmError` `IO_ERROR`, `INVALID_CONFIG`.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-checkpoints}
 * @category Checkpoints
 */
export async function saveAr(
  outDir: string,
  model: ArModel,
  options: { floatDtype?: 'F32' | 'F16' | 'BF16' } = {},
): Promise<{ configFile: string; weightsFile: string }> {
  const dtype = options.floatDtype ?? 'F32';
  const arrays = await paramsToNamedArrays(model.params, { floatDtype: dtype });
  return writeModelFolder(outDir, arConfigToJson(model.config), arrays, dtype);
}

/**
 * What {@link convertCheckpoint} did.
 * @category Checkpoints
 */
export interface ConvertCheckpointReport {
  /** The kind of model converted. */
  kind: 'calm' | 'autoencoder' | 'ar';
  /** The weights file read. */
  source: string;
  /** The files written. */
  files: { configFile: string; weightsFile: string };
  /** Tensors written (aliases dropped). */
  tensorCount: number;
  /** The stored dtype. */
  storedDtype: SafetensorsDtype;
}

/**
 * Converts an official checkpoint (typically `pytorch_model.bin`) to the Hugging Face safetensors
 * layout (`config.json` + `model.safetensors`), without tfjs. The kind (CALM LM, autoencoder, AR
 * baseline) comes from `architectures` in its `config.json`.
 * @param src - Folder or weights file.
 * @param outDir - Destination folder.
 * @param options - `aePath` (CALM checkpoints without `ae_model.*`), `dtype`: keep 16-bit storage or force one. @defaultValue dtype 'keep'
 * @returns What was converted.
 * @throws `CalmError` `INVALID_ARGUMENT` for an unknown architecture or dtype, and the
 *   errors of the readers.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoints}
 * @category Checkpoints
 */
export async function convertCheckpoint(
  src: string,
  outDir: string,
  options: { aePath?: string; dtype?: ConvertDtype } = {},
): Promise<ConvertCheckpointReport> {
  const dtype = options.dtype ?? 'keep';
  if (!['keep', 'F32', 'F16', 'BF16'].includes(dtype))
    fail('INVALID_ARGUMENT', `convert: dtype must be keep, F32, F16 or BF16, got ${JSON.stringify(dtype)}.`);
  const kind = await detectCheckpointKind(src);
  const pick = (seen: readonly SafetensorsDtype[]): SafetensorsDtype =>
    dtype !== 'keep' ? dtype : seen.length === 1 && (seen[0] === 'F16' || seen[0] === 'BF16') ? seen[0] : 'F32';
  if (kind === 'autoencoder') {
    const r = await convertAutoencoderCheckpoint(src, outDir, { dtype });
    return { kind, source: r.weightsFile, files: r.files, tensorCount: r.tensorCount, storedDtype: r.storedDtype };
  }
  if (kind === 'calm') {
    const read = await readCalmCheckpoint(src, options.aePath !== undefined ? { aePath: options.aePath } : {});
    const storedDtype = pick(read.report.dtypes);
    const asWrite = (m: Map<string, NamedArray>): Record<string, TensorToWrite> =>
      Object.fromEntries([...m].map(([k, a]) => [k, { shape: a.shape, data: a.data, dtype: storedDtype }]));
    const arrays = calmArrays(read.aeConfig, asWrite(read.lm), asWrite(read.ae));
    const config = { ...read.config, aePath: options.aePath ?? read.config.aePath };
    const files = await writeModelFolder(outDir, calmConfigToJson(config), arrays, storedDtype);
    return { kind, source: read.report.weightsFile, files, tensorCount: Object.keys(arrays).length, storedDtype };
  }
  if (kind === 'ar') {
    const { weightsFile, configFile, format } = await resolveModelFiles(src);
    const config = arConfigFromJson(await readJsonFile(configFile!, CONFIG_FIX), configFile);
    const raw = await readWeights(weightsFile, format);
    const seen = [...new Set([...raw.values()].map((a) => a.dtype))];
    const storedDtype = pick(seen);
    const arrays: Record<string, TensorToWrite> = {};
    for (const k of Object.keys(arParamSpecs(config))) {
      const a = raw.get(k);
      if (!a) fail('MISSING_PARAMETER', `${weightsFile}: missing "${k}".`);
      arrays[k] = { shape: a.shape, data: a.data, dtype: storedDtype };
    }
    const files = await writeModelFolder(outDir, arConfigToJson(config), arrays, storedDtype);
    return { kind, source: weightsFile, files, tensorCount: Object.keys(arrays).length, storedDtype };
  }
  return fail(
    'INVALID_ARGUMENT',
    `convert: ${src} has no config.json naming EnergyTransformer, Autoencoder or LlamaForCausalLM; pass an official checkpoint folder.`,
  );
}
