// CALM checkpoints from bytes (browser-safe): `config.json` objects and `model.safetensors` bytes,
// e.g. fetched by a page or picked with a file input, become checked named arrays and a CalmModel,
// for every head kind (the head comes from the config; a custom head from the caller). The Node
// loader (`@calm/model/node`, checkpoint.ts) reads files and calls the same functions, so there is
// one implementation of the key checks, the aliases and the autoencoder resolution.

import * as tf from '@tensorflow/tfjs';
import { parseSafetensors, type NamedArray, type SafetensorsDtype } from '@calm/core';
import {
  autoencoderConfig,
  autoencoderConfigFromJson,
  checkAutoencoderStateDict,
  inferAutoencoderConfig,
  type AutoencoderConfig,
} from '@calm/autoencoder';
import type { GenerativeHead } from '@calm/energy-head';
import type { ParamRecord, ParamSpec } from '@calm/nn';
import { CalmModel, calmModuleSpecs, calmParamSpecs } from './calm-model.js';
import { calmConfigFromJson, type CalmConfig } from './config.js';
import { HEAD_KINDS, isBuiltinHead } from './heads.js';
import { fail } from './internal/errors.js';

/** Prefix of the frozen autoencoder inside a CALM checkpoint. */
export const AE_PREFIX = 'ae_model.';
/** The LM's own modules besides the head. */
export const LM_MODULES: readonly string[] = ['transformer.', 'embed_proj.'];
/** Keys every loader skips. */
export const IGNORED = /\.rotary_emb\.inv_freq$/;

/**
 * How a CALM checkpoint was read.
 * @see {@link readCalmCheckpointBytes}
 * @category Checkpoints
 */
export interface CalmCheckpointReport {
  /** The weights file (or index) read; for bytes, the `fileName` given. */
  weightsFile: string;
  /** Its format (`.bin` files go through `@calm/core`'s allow-listed unpickler; no code runs). */
  format: 'safetensors' | 'pytorch-bin';
  /** Where the autoencoder's weights came from: the `ae_model.*` copy in the checkpoint, or the autoencoder's own checkpoint. */
  aeWeights: 'checkpoint' | 'aePath';
  /** Where the autoencoder's configuration came from: the autoencoder's `config.json`, or the weights' shapes. */
  aeConfigSource: 'aePath' | 'inferred';
  /** Alias keys found and verified equal to their target (e.g. `generative_head.*`, `ae_model.decoder.lm_head_weight`). */
  aliases: string[];
  /** The head's parameter keys (under its prefix: `mlp_generator.*`, `generative_head.net.*`, a custom head's). */
  headKeys: string[];
  /** Keys skipped (`*.rotary_emb.inv_freq`). */
  ignored: string[];
  /** Stored dtypes seen; 16-bit values were widened to float32. */
  dtypes: SafetensorsDtype[];
}

/**
 * A CALM checkpoint read into checked typed arrays: what {@link calmModelFromCheckpoint} builds a
 * model from.
 * @see {@link readCalmCheckpointBytes}
 * @category Checkpoints
 */
export interface CalmCheckpointContents {
  /** The LM configuration. */
  config: CalmConfig;
  /** The frozen autoencoder's configuration. */
  aeConfig: AutoencoderConfig;
  /** LM arrays by official name (`transformer.*`, the head's, `embed_proj.*`), float32. */
  lm: Map<string, NamedArray>;
  /** Autoencoder arrays by the autoencoder's own names (without `ae_model.`), float32. */
  ae: Map<string, NamedArray>;
  /** How it was read. */
  report: CalmCheckpointReport;
}

/** The autoencoder as a loader found it beside the LM checkpoint (its config, and its weights when the LM has no copy). */
export interface AutoencoderSource {
  /** Its configuration, when a `config.json` was found. */
  config?: AutoencoderConfig;
  /** Its weights by state-dict name; used only when the LM checkpoint has no `ae_model.*` copy. */
  tensors?: ReadonlyMap<string, NamedArray>;
  /** Whether `config` was inferred from the weights' shapes rather than read. */
  configInferred?: boolean;
  /** Where it came from, for messages (a path, or a file name). */
  label: string;
}

/** Whether a state dict holds the frozen autoencoder's `ae_model.*` copy. */
export function hasEmbeddedAutoencoder(raw: ReadonlyMap<string, NamedArray>): boolean {
  for (const key of raw.keys()) if (key.startsWith(AE_PREFIX)) return true;
  return false;
}

function sameValues(a: NamedArray, b: NamedArray): boolean {
  if (a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

/** The frozen autoencoder's config inferred from its weights, with the LM's norm epsilon and special ids. */
function aeConfigFromShapes(tensors: ReadonlyMap<string, NamedArray>, lm: CalmConfig, file: string): AutoencoderConfig {
  const inferred = inferAutoencoderConfig(tensors, file, "pass aePath (a folder with the autoencoder's config.json)");
  return autoencoderConfig({
    ...inferred,
    rmsNormEps: lm.rmsNormEps,
    padTokenId: lm.padTokenId,
    bosTokenId: lm.bosTokenId,
    eosTokenId: lm.eosTokenId,
  });
}

/**
 * Checks a CALM state dict against its configuration and resolves the autoencoder — the one
 * implementation behind {@link readCalmCheckpointBytes} and `readCalmCheckpoint` of
 * `@calm/model/node`.
 * @internal
 */
export function assembleCalmCheckpoint(input: {
  config: CalmConfig;
  raw: ReadonlyMap<string, NamedArray>;
  weightsFile: string;
  format: CalmCheckpointReport['format'];
  ae: AutoencoderSource | undefined;
  /** What to tell the caller when there is no autoencoder at all. */
  missingAeHint: string;
  /** A head instance (custom heads); its kind must be the config's. */
  head?: GenerativeHead | undefined;
}): CalmCheckpointContents {
  const { config, raw, weightsFile, format, head } = input;
  if (head !== undefined && head.kind !== config.head)
    fail(
      'INVALID_ARGUMENT',
      `${weightsFile} holds a "${config.head}" head (model_type / architectures of its config.json) but options.head is a "${head.kind}" head; pass a head of that kind, or omit options.head for a built-in head.`,
    );
  const builtin = isBuiltinHead(config.head);
  const lm = new Map<string, NamedArray>();
  const aeRaw = new Map<string, NamedArray>();
  const aliases: string[] = [];
  const ignored: string[] = [];
  const unexpected: string[] = [];
  const problems: string[] = [];
  const dtypes = new Set<SafetensorsDtype>();
  // A custom head read without its instance: its keys (everything outside the LM's own modules)
  // are returned unchecked.
  const specs: Record<string, ParamSpec> =
    builtin || head ? calmParamSpecs(config, head ? { head } : {}) : lmModuleSpecs(config);
  const entry = builtin ? HEAD_KINDS[config.head as keyof typeof HEAD_KINDS] : undefined;
  const aliasOf = (key: string): string | undefined => {
    const a = entry?.aliases.find((x) => key.startsWith(`${x}.`));
    return a === undefined ? undefined : `${entry!.prefix}.${key.slice(a.length + 1)}`;
  };
  for (const [key, arr] of raw) {
    dtypes.add(arr.dtype);
    const target = aliasOf(key);
    if (IGNORED.test(key)) ignored.push(key);
    else if (key.startsWith(AE_PREFIX)) aeRaw.set(key.slice(AE_PREFIX.length), arr);
    else if (target !== undefined && key !== target) {
      // e.g. generative_head.* for mlp_generator.*: one module saved under two names.
      const other = raw.get(target);
      if (other === undefined) lm.set(target, arr);
      else if (!sameValues(other, arr))
        problems.push(`alias "${key}" differs from "${target}" (they are one module in the official code)`);
      aliases.push(key);
    } else if (key in specs || (!builtin && !head && !LM_MODULES.some((m) => key.startsWith(m)))) lm.set(key, arr);
    else unexpected.push(key);
  }
  const missing = Object.keys(specs).filter((k) => !lm.has(k));
  for (const [k, spec] of Object.entries(specs)) {
    const a = lm.get(k);
    if (a && !tf.util.arraysEqual(a.shape, spec.shape))
      problems.push(`"${k}" has shape [${a.shape.join(', ')}], the config needs [${spec.shape.join(', ')}]`);
  }
  if (missing.length || unexpected.length || problems.length) {
    fail(
      missing.length
        ? 'MISSING_PARAMETER'
        : unexpected.length
          ? 'UNEXPECTED_PARAMETER'
          : problems.some((p) => p.includes('alias'))
            ? 'FORMAT_ERROR'
            : 'SHAPE_MISMATCH',
      `${weightsFile} does not match its config: ${missing.length ? `${missing.length} missing key(s): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}. ` : ''}${unexpected.length ? `${unexpected.length} unexpected key(s): ${unexpected.slice(0, 8).join(', ')}. ` : ''}${problems.length ? `${problems.join('; ')}. ` : ''}Check that config.json belongs to these weights.`,
      { details: { missing, unexpected, problems } },
    );
  }
  const source = input.ae;
  let aeConfig: AutoencoderConfig;
  let aeConfigSource: CalmCheckpointReport['aeConfigSource'];
  let aeWeights: CalmCheckpointReport['aeWeights'];
  let ae: ReadonlyMap<string, NamedArray>;
  if (aeRaw.size > 0) {
    // The official code lets the LM checkpoint's copy overwrite the autoencoder's own weights.
    aeConfig = source?.config ?? aeConfigFromShapes(aeRaw, config, weightsFile);
    aeConfigSource = source?.config && !source.configInferred ? 'aePath' : 'inferred';
    aeWeights = 'checkpoint';
    ae = aeRaw;
  } else if (source?.tensors) {
    aeConfig = source.config ?? aeConfigFromShapes(source.tensors, config, source.label);
    aeConfigSource = source.config && !source.configInferred ? 'aePath' : 'inferred';
    aeWeights = 'aePath';
    ae = source.tensors;
  } else {
    return fail('MISSING_PARAMETER', `${weightsFile} has no ae_model.* weights and ${input.missingAeHint}`);
  }
  const checked = checkAutoencoderStateDict(
    aeConfig,
    ae,
    `${weightsFile} (${aeWeights === 'checkpoint' ? 'ae_model.*' : source!.label})`,
  );
  for (const a of checked.report.aliases) aliases.push(aeWeights === 'checkpoint' ? AE_PREFIX + a : a);
  for (const d of checked.report.dtypes) dtypes.add(d);
  return {
    config,
    aeConfig,
    lm,
    ae: checked.tensors,
    report: {
      weightsFile,
      format,
      aeWeights,
      aeConfigSource,
      aliases,
      headKeys: [...lm.keys()].filter((k) => !LM_MODULES.some((m) => k.startsWith(m))),
      ignored,
      dtypes: [...dtypes],
    },
  };
}

/** The specs of the LM's own modules (backbone and `embed_proj`), for a custom head read without its instance. */
function lmModuleSpecs(config: CalmConfig): Record<string, ParamSpec> {
  const { backbone, embedProj } = calmModuleSpecs(config);
  return { ...backbone, ...embedProj };
}

/**
 * A CALM checkpoint held in memory, for {@link readCalmCheckpointBytes} and
 * {@link loadCalmFromBytes}: parsed `config.json` objects and `model.safetensors` bytes.
 * @category Checkpoints
 */
export interface CalmCheckpointBytes {
  /** The CALM checkpoint's parsed `config.json` (official fields; `architectures` names the head's class, e.g. `["EnergyTransformer"]`). */
  config: unknown;
  /** Its `model.safetensors` bytes (F32, F16 or BF16; 16-bit values are widened to float32). */
  weights: Uint8Array;
  /**
   * The autoencoder's parsed `config.json` (the folder `ae_path` names). Without it the
   * autoencoder's configuration is inferred from the weights' shapes.
   */
  aeConfig?: unknown;
  /**
   * The autoencoder's `model.safetensors` bytes; needed only when the CALM weights hold no
   * `ae_model.*` copy (our `saveCalm` and the quickstart always write one).
   */
  aeWeights?: Uint8Array;
  /** Name of the CALM weights for messages and the report. @defaultValue `'model.safetensors'` */
  fileName?: string;
  /** Name of the autoencoder's files for messages. @defaultValue `'autoencoder'` */
  aeFileName?: string;
  /**
   * The head instance of a checkpoint saved with a custom head (`model_type` = its kind), as for
   * `loadCalm` of `@calm/model/node`: its names and shapes are checked against the weights, and
   * {@link loadCalmFromBytes} writes the stored values into it.
   */
  head?: GenerativeHead;
}

/**
 * Reads a CALM checkpoint from bytes into checked typed arrays — the browser-safe counterpart of
 * `readCalmCheckpoint` of `@calm/model/node`, with the same checks (every head kind; every missing,
 * unexpected or mis-shaped key in one error; `generative_head.*` and
 * `ae_model.decoder.lm_head_weight` aliases verified; `*.rotary_emb.inv_freq` ignored).
 *
 * @param input - The configs (parsed JSON) and safetensors bytes; see {@link CalmCheckpointBytes}.
 * @returns LM and autoencoder configurations, LM arrays (official names), autoencoder arrays (its
 *   own names) and a report. No tensors are created.
 * @throws `CalmError` `FORMAT_ERROR` (not safetensors, a differing alias), `DTYPE_UNSUPPORTED`,
 *   `INVALID_CONFIG` (either config.json), `MISSING_PARAMETER`, `UNEXPECTED_PARAMETER`,
 *   `SHAPE_MISMATCH`; `INVALID_ARGUMENT` when `head` is of another kind than the checkpoint's.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoint-bytes}
 * @category Checkpoints
 */
export function readCalmCheckpointBytes(input: CalmCheckpointBytes): CalmCheckpointContents {
  const fileName = input.fileName ?? 'model.safetensors';
  const aeLabel = input.aeFileName ?? 'autoencoder';
  const config = calmConfigFromJson(input.config, `${fileName} (config.json)`);
  const raw = parseSafetensors(input.weights, { fileName }).tensors;
  const embedded = hasEmbeddedAutoencoder(raw);
  let ae: AutoencoderSource | undefined;
  if (input.aeConfig !== undefined || input.aeWeights !== undefined) {
    ae = { label: aeLabel };
    if (input.aeConfig !== undefined) ae.config = autoencoderConfigFromJson(input.aeConfig, `${aeLabel} config.json`);
    if (!embedded && input.aeWeights !== undefined)
      ae.tensors = parseSafetensors(input.aeWeights, { fileName: aeLabel }).tensors;
  }
  return assembleCalmCheckpoint({
    config,
    raw,
    weightsFile: fileName,
    format: 'safetensors',
    ae,
    missingAeHint: `no autoencoder weights were given (ae_path ${JSON.stringify(config.aePath)}); pass aeWeights, the bytes of the autoencoder's model.safetensors.`,
    head: input.head,
  });
}

/**
 * New trainable float32 variables from named arrays (shared with the AR loader).
 * @internal
 */
export function toVariables(arrays: ReadonlyMap<string, NamedArray>): ParamRecord {
  const out: ParamRecord = {};
  for (const [name, a] of arrays)
    out[name] = tf.tidy(() => tf.variable(tf.tensor(toFloat32(a), a.shape, 'float32'), true));
  return out;
}

function toFloat32(a: NamedArray): Float32Array {
  return a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as ArrayLike<number>);
}

/**
 * Options of {@link calmModelFromCheckpoint}.
 * @category Checkpoints
 */
export interface CalmModelFromCheckpointOptions {
  /**
   * The head instance of a checkpoint saved with a custom head (required then): the stored values
   * are written into its variables, and the model takes ownership of it.
   */
  head?: GenerativeHead;
}

/**
 * Builds a {@link CalmModel} from a checkpoint read into typed arrays — the one place every loader
 * (bytes in a browser, folders in Node) turns checkpoint contents into a model.
 *
 * @param contents - What {@link readCalmCheckpointBytes} (or `readCalmCheckpoint` of
 *   `@calm/model/node`) returned.
 * @param options - `head` for a custom head's checkpoint.
 * @returns The model, its parameters as new tfjs variables (float32, the shapes of the config) on
 *   the current backend (a custom head's: its own variables, overwritten). Caller owns the model and
 *   must dispose it (`model.dispose()`).
 * @throws `CalmError` `INVALID_CONFIG` when the configurations do not fit together;
 *   `INVALID_ARGUMENT` for a custom head's checkpoint without `options.head`.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoint-bytes}
 * @category Checkpoints
 */
export function calmModelFromCheckpoint(
  contents: CalmCheckpointContents,
  options: CalmModelFromCheckpointOptions = {},
): CalmModel {
  const head = options.head;
  if (head === undefined && !isBuiltinHead(contents.config.head))
    fail(
      'INVALID_ARGUMENT',
      `${contents.report.weightsFile} was saved with a custom head "${contents.config.head}"; pass options.head, an instance of that head (its parameters are loaded from the checkpoint).`,
    );
  const own = new Map<string, NamedArray>();
  for (const [k, a] of contents.lm) {
    const v = head?.params[k];
    if (v === undefined) own.set(k, a);
    else tf.tidy(() => v.assign(tf.tensor(toFloat32(a), a.shape, 'float32'))); // shapes were checked by the reader
  }
  return new CalmModel(contents.config, contents.aeConfig, {
    params: toVariables(own),
    aeParams: toVariables(contents.ae),
    ...(head ? { head } : {}),
  });
}

/**
 * Loads a CALM checkpoint held in memory as a ready {@link CalmModel}: {@link readCalmCheckpointBytes}
 * then {@link calmModelFromCheckpoint}. In a page, fetch or pick `config.json` and
 * `model.safetensors` of a folder that `calm quickstart` wrote (`calm/final/`).
 *
 * @param input - The configs (parsed JSON) and safetensors bytes, and `head` for a custom head; see {@link CalmCheckpointBytes}.
 * @returns The model and how it was read. Caller owns the model and must dispose it.
 * @throws `CalmError` as {@link readCalmCheckpointBytes} and {@link calmModelFromCheckpoint}.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoint-bytes}
 * @category Checkpoints
 */
export function loadCalmFromBytes(input: CalmCheckpointBytes): { model: CalmModel; report: CalmCheckpointReport } {
  const contents = readCalmCheckpointBytes(input);
  return {
    model: calmModelFromCheckpoint(contents, input.head ? { head: input.head } : {}),
    report: contents.report,
  };
}
