// State dicts of the autoencoder as named arrays (framework-free): checking a checkpoint against a
// configuration (missing, unexpected, mis-shaped keys all reported at once; the tied alias
// `decoder.lm_head_weight` tolerated present or absent) and inferring a configuration from shapes.
// Tensor conversion lives in checkpoint.ts, file access in the `/node` entry.

import type { NamedArray, SafetensorsDtype } from '@calm/core';
import { autoencoderConfig, type AutoencoderConfig } from './config.js';
import { fail } from './internal/errors.js';
import { EMBEDDING_KEY, TIED_ALIAS_KEY, autoencoderParamShapes } from './shapes.js';

function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * What {@link checkAutoencoderStateDict} found.
 * @see {@link checkAutoencoderStateDict}
 * @category Checkpoints
 */
export interface AutoencoderStateDictReport {
  /** Parameter keys provided by the checkpoint, in the official order. */
  loaded: string[];
  /**
   * Alias keys present in the checkpoint and verified equal to the parameter they alias
   * (`decoder.lm_head_weight` → `encoder.embed_tokens.weight`). When only the alias held the
   * embedding, it is listed here too and was used as the embedding.
   */
  aliases: string[];
  /** The stored dtypes seen (e.g. `['BF16']`); values were widened to float32. */
  dtypes: SafetensorsDtype[];
}

const FLOAT_DTYPES = new Set<SafetensorsDtype>(['F32', 'F16', 'BF16', 'F64']);

function sameValues(a: NamedArray, b: NamedArray): boolean {
  if (a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++)
    if (a.data[i] !== b.data[i] && !(Number.isNaN(a.data[i]) && Number.isNaN(b.data[i]))) return false;
  return true;
}

/**
 * Checks a checkpoint's named arrays against a configuration and returns exactly the
 * autoencoder's parameters, as float32, in the official order.
 *
 * @remarks
 * Every problem is collected before throwing: missing keys, unexpected keys, wrong shapes,
 * non-float dtypes. The tied alias `decoder.lm_head_weight` may be present or absent; when present
 * it must equal `encoder.embed_tokens.weight` (the official model holds one tensor under both
 * names), and when the embedding itself is absent the alias provides it.
 * @param config - The configuration the checkpoint should match.
 * @param tensors - Arrays by state_dict name (from `readSafetensorsFile`, `readTorchBinFile`, …).
 * @param fileName - For error messages.
 * @returns The parameters' arrays (Float32Array data) and a report.
 * @throws `CalmError` `MISSING_PARAMETER` / `UNEXPECTED_PARAMETER` (listing every key, plus
 *   any shape or dtype problem), `SHAPE_MISMATCH`, `DTYPE_UNSUPPORTED`, `FORMAT_ERROR` when the
 *   alias differs from the embedding.
 * @example
 * {@includeCode ../test/examples.test.ts#state-dict}
 * @category Checkpoints
 */
export function checkAutoencoderStateDict(
  config: AutoencoderConfig,
  tensors: ReadonlyMap<string, NamedArray>,
  fileName = 'state dict',
): { tensors: Map<string, NamedArray>; report: AutoencoderStateDictReport } {
  const shapes = autoencoderParamShapes(config);
  const problems: string[] = [];
  const missing: string[] = [];
  const unexpected: string[] = [];
  const aliases: string[] = [];
  const dtypes = new Set<SafetensorsDtype>();
  const out = new Map<string, NamedArray>();
  const source = new Map<string, string>(); // parameter key -> checkpoint key
  for (const name of Object.keys(shapes)) {
    if (tensors.has(name)) source.set(name, name);
    else if (name === EMBEDDING_KEY && tensors.has(TIED_ALIAS_KEY)) {
      source.set(name, TIED_ALIAS_KEY);
      aliases.push(TIED_ALIAS_KEY);
    } else missing.push(name);
  }
  for (const key of tensors.keys()) if (!(key in shapes) && key !== TIED_ALIAS_KEY) unexpected.push(key);
  for (const [name, key] of source) {
    const arr = tensors.get(key)!;
    dtypes.add(arr.dtype);
    const want = shapes[name]!;
    if (!FLOAT_DTYPES.has(arr.dtype))
      problems.push(`"${key}" is ${arr.dtype}; the autoencoder's parameters are floating point (F32, F16, BF16)`);
    else if (!shapesEqual(arr.shape, want))
      problems.push(`"${key}" has shape [${arr.shape.join(', ')}], the config needs [${want.join(', ')}]`);
    else
      out.set(name, {
        dtype: arr.dtype,
        shape: [...arr.shape],
        data: arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data),
      });
  }
  const alias = tensors.get(TIED_ALIAS_KEY);
  if (alias !== undefined && source.get(EMBEDDING_KEY) === EMBEDDING_KEY) {
    const emb = tensors.get(EMBEDDING_KEY)!;
    if (!shapesEqual(alias.shape, emb.shape) || !sameValues(alias, emb)) {
      problems.push(
        `"${TIED_ALIAS_KEY}" differs from "${EMBEDDING_KEY}" (shape [${alias.shape.join(', ')}] vs [${emb.shape.join(', ')}]); the official model ties them, so this checkpoint is inconsistent — drop one of the two keys`,
      );
    } else aliases.push(TIED_ALIAS_KEY);
  }
  const details = { missing, unexpected, problems };
  if (missing.length || unexpected.length) {
    fail(
      missing.length ? 'MISSING_PARAMETER' : 'UNEXPECTED_PARAMETER',
      `${fileName} does not match the autoencoder config: ${missing.length ? `${missing.length} missing key(s): ${missing.join(', ')}. ` : ''}${unexpected.length ? `${unexpected.length} unexpected key(s): ${unexpected.join(', ')}. ` : ''}${problems.length ? `Also: ${problems.join('; ')}. ` : ''}Check that config.json belongs to these weights (layer counts, K), or infer the config from the weights (inferAutoencoderConfig).`,
      { details },
    );
  }
  if (problems.length) {
    const code = problems.some((p) => p.includes('differs from'))
      ? 'FORMAT_ERROR'
      : problems.some((p) => p.includes('shape'))
        ? 'SHAPE_MISMATCH'
        : 'DTYPE_UNSUPPORTED';
    fail(code, `${fileName}: ${problems.join('; ')}.`, { details });
  }
  return { tensors: out, report: { loaded: [...out.keys()], aliases, dtypes: [...dtypes] } };
}

/**
 * Infers an autoencoder configuration from a state dict's shapes (vocabulary, hidden,
 * intermediate and latent sizes, K, layer counts); every other field takes the released AE's
 * value (spec §1.1). Use it when a checkpoint comes without its `config.json`.
 *
 * @param shapes - Shapes by state_dict name (e.g. the arrays of a checkpoint; only `shape` is read).
 * @param fileName - For error messages.
 * @param fix - What to do when a key the inference needs is absent, ending that message.
 *   @defaultValue `'is this an autoencoder state dict?'`
 * @returns A validated configuration.
 * @throws `CalmError` `MISSING_PARAMETER` when a key the inference needs is absent,
 *   `SHAPE_MISMATCH` when shapes are inconsistent, `INVALID_CONFIG` when the result is invalid.
 * @example
 * {@includeCode ../test/examples.test.ts#state-dict}
 * @category Checkpoints
 */
export function inferAutoencoderConfig(
  shapes: ReadonlyMap<string, { shape: readonly number[] }>,
  fileName = 'state dict',
  fix = 'is this an autoencoder state dict?',
): AutoencoderConfig {
  const get = (key: string, rank: number): number[] => {
    const s = shapes.get(key)?.shape;
    if (s === undefined)
      fail('MISSING_PARAMETER', `${fileName}: cannot infer the autoencoder config without "${key}"; ${fix}`);
    if (s.length !== rank)
      fail('SHAPE_MISMATCH', `${fileName}: "${key}" has shape [${s.join(', ')}], expected ${rank} dimensions.`);
    return [...s];
  };
  const emb = shapes.has(EMBEDDING_KEY) ? get(EMBEDDING_KEY, 2) : get(TIED_ALIAS_KEY, 2);
  const [vocabSize, hiddenSize] = emb as [number, number];
  const [twoL] = get('encoder.hidden_to_latent.weight', 2) as [number, number];
  const [, kh] = get('encoder.squeeze_layer.weight', 2) as [number, number];
  if (twoL % 2 !== 0 || kh % hiddenSize !== 0) {
    fail(
      'SHAPE_MISMATCH',
      `${fileName}: hidden_to_latent has ${twoL} outputs (must be even) and squeeze_layer ${kh} inputs (must be a multiple of hidden ${hiddenSize}).`,
    );
  }
  const count = (prefix: string): number => {
    let n = 0;
    while (shapes.has(`${prefix}.${n}.mlp.gate_proj.weight`)) n++;
    return n;
  };
  const numEncoderLayers = count('encoder.encoder_layers');
  const numDecoderLayers = count('decoder.decoder_layers');
  const gate =
    numEncoderLayers > 0
      ? 'encoder.encoder_layers.0.mlp.gate_proj.weight'
      : numDecoderLayers > 0
        ? 'decoder.decoder_layers.0.mlp.gate_proj.weight'
        : undefined;
  const intermediateSize = gate ? get(gate, 2)[0]! : 1280;
  return autoencoderConfig({
    vocabSize,
    hiddenSize,
    intermediateSize,
    latentSize: twoL / 2,
    patchSize: kh / hiddenSize,
    numEncoderLayers,
    numDecoderLayers,
  });
}
