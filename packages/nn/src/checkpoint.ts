// Named tensors to and from checkpoints (safetensors, sharded indexes, PyTorch .bin through
// @calm/core's formats), with key mapping and all-at-once missing/unexpected reports.

import * as tf from '@tensorflow/tfjs';
import type { NamedArray, SafetensorsDtype, TensorArray, TensorToWrite } from '@calm/core';
import { platform } from '#platform';
import { fail, sizeOf } from './internal/errors.js';

/**
 * How floats and integers are stored by {@link paramsToNamedArrays} and {@link saveParams}.
 * @category Checkpoints
 */
export interface StoreDtypeOptions {
  /** Storage dtype of float32 tensors (F16/BF16 round to nearest even). @defaultValue 'F32' */
  floatDtype?: 'F32' | 'F16' | 'BF16';
  /** Storage dtype of int32 tensors (I64 is what PyTorch uses for ids). @defaultValue 'I32' */
  intDtype?: 'I32' | 'I64';
}

/**
 * Reads tensors back to the host as named arrays for `@calm/core`'s safetensors writer.
 * @param tensors - Named tensors, any shape, float32, int32 or bool.
 * @param options - Storage dtypes.
 * @returns Arrays by name, in the record's order.
 * @throws `CalmError` `DTYPE_UNSUPPORTED` for string or complex tensors.
 * @example
 * {@includeCode ../test/examples.test.ts#named-arrays}
 * @category Checkpoints
 */
export async function paramsToNamedArrays(
  tensors: Record<string, tf.Tensor>,
  options: StoreDtypeOptions = {},
): Promise<Record<string, TensorToWrite>> {
  const out: Record<string, TensorToWrite> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const data = await t.data();
    const shape = [...t.shape];
    if (t.dtype === 'float32') out[name] = { shape, data: data as Float32Array, dtype: options.floatDtype ?? 'F32' };
    else if (t.dtype === 'int32') out[name] = { shape, data: data as Int32Array, dtype: options.intDtype ?? 'I32' };
    else if (t.dtype === 'bool') out[name] = { shape, data: Uint8Array.from(data as Uint8Array), dtype: 'BOOL' };
    else
      fail(
        'DTYPE_UNSUPPORTED',
        `paramsToNamedArrays: "${name}" has dtype ${t.dtype}; only float32, int32 and bool tensors can be saved.`,
      );
  }
  return out;
}

function toTensor(
  name: string,
  a: { shape: readonly number[]; data: TensorArray; dtype?: SafetensorsDtype },
): tf.Tensor {
  const shape = [...a.shape];
  if (a.data.length !== sizeOf(shape))
    fail('SHAPE_MISMATCH', `"${name}" has ${a.data.length} values for shape [${shape.join(', ')}].`);
  const d = a.data;
  if (d instanceof Float32Array) return tf.tensor(d, shape, 'float32');
  if (d instanceof Float64Array) return tf.tensor(Float32Array.from(d), shape, 'float32');
  if (d instanceof Int32Array) return tf.tensor(d, shape, 'int32');
  if (a.dtype === 'BOOL') return tf.tensor(d, shape, 'bool');
  return tf.tensor(Int32Array.from(d), shape, 'int32'); // U8
}

/**
 * Turns named arrays (as `parseSafetensors` / `readSafetensorsFile` return them) into tensors:
 * floats (F32, F16, BF16 widened; F64 narrowed) become float32, integers (I64 narrowed, I32, I16,
 * I8, U8) int32, BOOL bool.
 * @param arrays - Arrays by name.
 * @returns Tensors by name, each of its array's shape (any shape), float32, int32 or bool as above.
 *   Caller owns the returned tensors and must dispose them. Inputs are not disposed.
 * @throws `CalmError` `SHAPE_MISMATCH` when data length and shape disagree.
 * @example
 * {@includeCode ../test/examples.test.ts#named-arrays}
 * @category Checkpoints
 */
export function namedArraysToTensors(
  arrays: Map<string, NamedArray | TensorToWrite> | Record<string, NamedArray | TensorToWrite>,
): Record<string, tf.Tensor> {
  const entries = arrays instanceof Map ? [...arrays.entries()] : Object.entries(arrays);
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [name, a] of entries) out[name] = toTensor(name, a);
  } catch (e) {
    tf.dispose(Object.values(out));
    throw e;
  }
  return out;
}

/**
 * Options of {@link saveParams}.
 * @category Checkpoints
 */
export interface SaveParamsOptions extends StoreDtypeOptions {
  /**
   * Split into shards of at most about this many bytes (a tensor is never split), written as
   * `<base>-00001-of-0000N.safetensors` beside an index `<path>.index.json`, as HF does.
   * @defaultValue no sharding
   */
  maxShardBytes?: number;
}

const nodeIo = (): Promise<typeof import('@calm/core/node')> => platform.checkpointFiles();

/**
 * Saves named tensors (e.g. a parameter record) to a safetensors file, atomically.
 * @param path - Destination, ending in `.safetensors`.
 * @param params - Named tensors, any shape, float32, int32 or bool.
 * @param metadata - Optional `__metadata__` strings (e.g. `{ format: 'pt' }`).
 * @param options - Storage dtypes and sharding.
 * @returns The files written (the index last when sharded).
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad path or shard size, `IO_ERROR`,
 *   `DTYPE_UNSUPPORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoint}
 * @category Checkpoints
 */
export async function saveParams(
  path: string,
  params: Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
  options: SaveParamsOptions = {},
): Promise<string[]> {
  if (!path.endsWith('.safetensors'))
    fail('INVALID_ARGUMENT', `saveParams: the path must end in ".safetensors", got "${path}".`);
  const io = await nodeIo();
  const arrays = await paramsToNamedArrays(params, options);
  if (options.maxShardBytes === undefined) {
    await io.writeSafetensorsFile(path, arrays, metadata);
    return [path];
  }
  if (!(options.maxShardBytes > 0))
    fail('INVALID_ARGUMENT', `saveParams: maxShardBytes must be > 0, got ${options.maxShardBytes}.`);
  const bytesPer: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, BOOL: 1 };
  const shards: Array<Record<string, TensorToWrite>> = [];
  let current: Record<string, TensorToWrite> = {};
  let size = 0;
  for (const [name, a] of Object.entries(arrays)) {
    const n = a.data.length * (bytesPer[a.dtype ?? 'F32'] ?? 4);
    if (size > 0 && size + n > options.maxShardBytes) {
      shards.push(current);
      current = {};
      size = 0;
    }
    current[name] = a;
    size += n;
  }
  shards.push(current);
  const slash = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  const dir = path.slice(0, slash + 1);
  const base = path.slice(slash + 1, -'.safetensors'.length);
  const total = shards.length;
  const pad = (i: number): string => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  let totalSize = 0;
  for (let i = 0; i < total; i++) {
    const file = `${base}-${pad(i + 1)}-of-${pad(total)}.safetensors`;
    for (const name of Object.keys(shards[i]!)) weightMap[name] = file;
    await io.writeSafetensorsFile(dir + file, shards[i]!, metadata);
    files.push(dir + file);
  }
  for (const a of Object.values(arrays)) totalSize += a.data.length * (bytesPer[a.dtype ?? 'F32'] ?? 4);
  const indexPath = `${path}.index.json`;
  await io.writeTextAtomic(
    indexPath,
    `${JSON.stringify({ metadata: { total_size: totalSize, ...(metadata ?? {}) }, weight_map: weightMap }, null, 2)}\n`,
  );
  files.push(indexPath);
  return files;
}

const isTorchBin = (file: string): boolean => file.endsWith('.bin') || file.endsWith('.bin.index.json');

async function resolveCheckpoint(pathOrDir: string): Promise<string> {
  const { stat, readdir } = await platform.fileSystem();
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(pathOrDir);
  } catch (e) {
    return fail('IO_ERROR', `no checkpoint at "${pathOrDir}": ${(e as Error).message}`, { cause: e });
  }
  if (!st.isDirectory()) return pathOrDir;
  const names = await readdir(pathOrDir);
  const join = (n: string): string => `${pathOrDir.replace(/[/\\]$/, '')}/${n}`;
  for (const preferred of [
    'model.safetensors.index.json',
    'model.safetensors',
    'pytorch_model.bin.index.json',
    'pytorch_model.bin',
  ])
    if (names.includes(preferred)) return join(preferred);
  const indexes = names.filter((n) => n.endsWith('.safetensors.index.json') || n.endsWith('.bin.index.json'));
  if (indexes.length === 1) return join(indexes[0]!);
  const files = names.filter((n) => n.endsWith('.safetensors') || n.endsWith('.bin'));
  if (files.length === 1 && indexes.length === 0) return join(files[0]!);
  return fail(
    'INVALID_ARGUMENT',
    `"${pathOrDir}" holds ${files.length} checkpoint files and ${indexes.length} index files but no model.safetensors[.index.json] or pytorch_model.bin[.index.json]; pass the file or index path.`,
  );
}

// Reads a safetensors file/index or a PyTorch .bin file/index (safe unpickler of @calm/core).
async function readCheckpoint(
  file: string,
  filter: (name: string) => boolean,
): Promise<{ metadata: Record<string, string>; tensors: Map<string, NamedArray> }> {
  const io = await nodeIo();
  if (isTorchBin(file)) {
    const { tensors } = await io.readTorchBinFile(file, { filter });
    return { metadata: {}, tensors };
  }
  return io.readSafetensorsFile(file, { filter });
}

/**
 * Options of {@link loadParams} and {@link loadTensors}.
 * @see {@link loadParams}
 * @category Checkpoints
 */
export interface LoadParamsOptions {
  /**
   * Fail when the checkpoint lacks a parameter or has keys the record does not (after renaming,
   * aliases and `ignore`). Non-strict loading reports them instead. @defaultValue true
   */
  strict?: boolean;
  /**
   * Checkpoint keys to read as other parameter keys: exact keys, or prefixes when both sides end
   * in `.` (e.g. `{ 'generative_head.': 'mlp_generator.' }`). When two checkpoint keys land on the
   * same parameter (tied/aliased tensors), the first is loaded and the other listed in `duplicates`.
   */
  aliases?: Record<string, string>;
  /** Renames a checkpoint key before aliases apply; `null` skips it (listed in `ignored`). */
  rename?: (key: string) => string | null;
  /** Checkpoint keys to skip (listed in `ignored`), e.g. `[/\.rotary_emb\.inv_freq$/]`. */
  ignore?: Array<RegExp | string>;
}

/**
 * What {@link loadParams} did.
 * @see {@link loadParams}
 * @category Checkpoints
 */
export interface LoadReport {
  /** Parameter keys assigned from the checkpoint. */
  loaded: string[];
  /** Parameter keys the checkpoint did not provide (empty under `strict`). */
  missing: string[];
  /** Checkpoint keys (after mapping) with no parameter (empty under `strict`). */
  unexpected: string[];
  /** Checkpoint keys skipped by `ignore` or `rename`. */
  ignored: string[];
  /** Checkpoint keys not read because another key already provided the same parameter. */
  duplicates: string[];
  /** The checkpoint's `__metadata__` (of its first shard). */
  metadata: Record<string, string>;
  /** The file or index that was read. */
  file: string;
}

function mapKey(key: string, options: LoadParamsOptions): string | null {
  if (options.ignore?.some((p) => (typeof p === 'string' ? p === key : p.test(key)))) return null;
  let k: string | null = options.rename ? options.rename(key) : key;
  if (k === null) return null;
  const aliases = options.aliases ?? {};
  if (aliases[k] !== undefined) return aliases[k]!;
  let best = '';
  for (const from of Object.keys(aliases))
    if (from.endsWith('.') && aliases[from]!.endsWith('.') && k.startsWith(from) && from.length > best.length)
      best = from;
  if (best) k = aliases[best]! + k.slice(best.length);
  return k;
}

/**
 * Loads a checkpoint into an existing parameter record (assigning the variables).
 *
 * @remarks
 * Accepts a `.safetensors` file, a sharded index (`*.safetensors.index.json`), a PyTorch
 * `pytorch_model.bin` (or its `*.bin.index.json`; read by `@calm/core`'s allow-listed unpickler,
 * which executes no code), or a folder holding one of them. F16/BF16 widen to float32, I64
 * narrows to int32. Only the tensors that map onto parameters are read. Every problem —
 * missing or unexpected keys (strict), wrong shapes, float data for an int32 parameter — is
 * collected and reported in one error, and then nothing is assigned.
 * @param pathOrDir - File, index or folder.
 * @param params - The record to fill (variables of any shape, float32 or int32); its variables are
 *   assigned in place.
 * @param options - Strictness, aliases, renaming, ignored keys.
 * @returns What was loaded, missing, unexpected, ignored, duplicated, and the metadata.
 * @throws `CalmError` `MISSING_PARAMETER` / `UNEXPECTED_PARAMETER` (strict; one error
 *   listing all keys), `SHAPE_MISMATCH`, `DTYPE_UNSUPPORTED`, `IO_ERROR`, `FORMAT_ERROR`,
 *   `UNSAFE_PICKLE` (a `.bin` asking for anything beyond tensors).
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoint}
 * @category Checkpoints
 */
export async function loadParams(
  pathOrDir: string,
  params: Record<string, tf.Variable>,
  options: LoadParamsOptions = {},
): Promise<LoadReport> {
  const strict = options.strict ?? true;
  const file = await resolveCheckpoint(pathOrDir);
  const ignored: string[] = [];
  const duplicates: string[] = [];
  const unexpected: string[] = [];
  const target = new Map<string, string>(); // checkpoint key -> parameter key
  const taken = new Set<string>();
  const { metadata, tensors } = await readCheckpoint(file, (key) => {
    const k = mapKey(key, options);
    if (k === null) ignored.push(key);
    else if (!(k in params)) unexpected.push(key === k ? key : `${key} (as ${k})`);
    else if (taken.has(k)) duplicates.push(key);
    else {
      taken.add(k);
      target.set(key, k);
      return true;
    }
    return false;
  });
  const missing = Object.keys(params).filter((k) => !taken.has(k));
  const problems: string[] = [];
  for (const [key, arr] of tensors) {
    const name = target.get(key)!;
    const p = params[name]!;
    if (!tf.util.arraysEqual(p.shape, arr.shape))
      problems.push(`"${key}" has shape [${arr.shape.join(', ')}] but parameter "${name}" is [${p.shape.join(', ')}]`);
    if (p.dtype === 'int32' && !(arr.data instanceof Int32Array))
      problems.push(`"${key}" is ${arr.dtype} but parameter "${name}" is int32`);
  }
  if (strict && (missing.length || unexpected.length)) {
    fail(
      missing.length ? 'MISSING_PARAMETER' : 'UNEXPECTED_PARAMETER',
      `loadParams(${file}): ${missing.length ? `${missing.length} missing parameter(s): ${missing.join(', ')}. ` : ''}${unexpected.length ? `${unexpected.length} unexpected key(s): ${unexpected.join(', ')}. ` : ''}${problems.length ? `Also: ${problems.join('; ')}. ` : ''}Map names with aliases/rename, skip keys with ignore, or pass strict: false.`,
      { details: { missing, unexpected, problems } },
    );
  }
  if (problems.length) {
    fail(
      problems.some((x) => x.includes('shape')) ? 'SHAPE_MISMATCH' : 'DTYPE_UNSUPPORTED',
      `loadParams(${file}): ${problems.join('; ')}.`,
      { details: { problems } },
    );
  }
  const loaded: string[] = [];
  for (const [key, arr] of tensors) {
    const name = target.get(key)!;
    const p = params[name]!;
    tf.tidy(() => {
      const t = toTensor(key, arr);
      p.assign(t.dtype === p.dtype ? t : tf.cast(t, p.dtype));
    });
    loaded.push(name);
  }
  return { loaded, missing, unexpected, ignored, duplicates, metadata, file };
}

/**
 * Reads every tensor of a checkpoint (file, sharded index or folder) into new tensors.
 * @param pathOrDir - Safetensors or PyTorch `.bin` file, index or folder (as for {@link loadParams}).
 * @param options - `rename`, `aliases` and `ignore` as for {@link loadParams} (keys are mapped; `strict` is unused).
 * @returns Tensors by (mapped) name, each of its stored shape (any shape), float32, int32 or bool
 *   (as {@link namedArraysToTensors} converts them), and the metadata. Caller owns the returned tensors and must dispose them.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`, `DTYPE_UNSUPPORTED`, `INVALID_ARGUMENT` when two keys map to one name.
 * @example
 * {@includeCode ../test/examples.test.ts#checkpoint}
 * @category Checkpoints
 */
export async function loadTensors(
  pathOrDir: string,
  options: Omit<LoadParamsOptions, 'strict'> = {},
): Promise<{ tensors: Record<string, tf.Tensor>; metadata: Record<string, string> }> {
  const file = await resolveCheckpoint(pathOrDir);
  const { metadata, tensors } = await readCheckpoint(file, (key) => mapKey(key, options) !== null);
  const mapped = new Map<string, NamedArray>();
  for (const [key, arr] of tensors) {
    const k = mapKey(key, options)!;
    if (mapped.has(k))
      fail('INVALID_ARGUMENT', `loadTensors(${file}): keys map onto "${k}" twice; adjust rename/aliases.`);
    mapped.set(k, arr);
  }
  return { tensors: namedArraysToTensors(mapped), metadata };
}
