// Reading and writing the safetensors format as typed arrays, with the checks of the reference
// implementation: 8-byte little-endian header length, a JSON header of {name: {dtype, shape,
// data_offsets}} plus optional "__metadata__", then raw little-endian data. Offsets must be
// in range, consistent with dtype × shape, non-overlapping and contiguous.
// Framework-free; @calm/nn turns the arrays into tensors, @calm/core/node reads files lazily.

import { CalmError } from './errors.js';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from './dtype.js';

/**
 * Dtypes understood in safetensors files.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/**
 * The in-memory array types a decoded tensor can have: floats widen to Float32Array (F64 stays
 * Float64Array), integers of 32 bits or fewer and I64 become Int32Array, U8/BOOL stay Uint8Array.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export type TensorArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/**
 * One named array: stored dtype, shape and decoded data.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export interface NamedArray {
  /** The dtype stored in the file (before widening). */
  dtype: SafetensorsDtype;
  /** Shape, row-major. */
  shape: number[];
  /** Decoded values, length = product of the shape. */
  data: TensorArray;
}

/**
 * One entry of a safetensors header.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export interface SafetensorsEntry {
  /** Stored dtype. */
  dtype: SafetensorsDtype;
  /** Shape, row-major. */
  shape: number[];
  /** Byte range `[begin, end)` relative to the start of the data section. */
  dataOffsets: [number, number];
}

/**
 * A parsed safetensors header.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export interface SafetensorsHeader {
  /** `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
  /** Entries by tensor name, in file order. */
  entries: Map<string, SafetensorsEntry>;
  /** Byte offset of the data section from the start of the file (8 + header length). */
  dataStart: number;
  /** Size in bytes of the data section. */
  dataLength: number;
}

/**
 * Options for {@link parseSafetensorsHeader} and {@link parseSafetensors}.
 * @category Checkpoints
 */
export interface SafetensorsReadOptions {
  /** Largest header accepted, in bytes. @defaultValue 100000000 (the reference library's limit) */
  maxHeaderBytes?: number;
  /** A file name for error messages. */
  fileName?: string;
}

/**
 * Bytes per element of each dtype.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

const DEFAULT_MAX_HEADER = 100_000_000;

function fail(message: string, fileName?: string): never {
  throw new CalmError('FORMAT_ERROR', `${fileName ? `${fileName}: ` : ''}${message}`, { source: '@calm/core' });
}

/**
 * Reads the header length (first 8 bytes) of a safetensors file.
 * @param prefix - At least the first 8 bytes of the file.
 * @param options - Header size limit and file name for messages.
 * @returns The JSON header length in bytes.
 * @throws {@link CalmError} `FORMAT_ERROR` when fewer than 8 bytes are given or the header is oversized.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export function readSafetensorsHeaderLength(prefix: Uint8Array, options: SafetensorsReadOptions = {}): number {
  if (prefix.length < 8)
    fail(
      `truncated safetensors file: ${prefix.length} bytes, need at least 8 for the header length.`,
      options.fileName,
    );
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = Number(view.getBigUint64(0, true));
  const max = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER;
  if (n > max) {
    fail(
      `safetensors header of ${n} bytes exceeds the limit of ${max} bytes; the file is corrupt or not safetensors (raise maxHeaderBytes only if you trust it).`,
      options.fileName,
    );
  }
  return n;
}

/**
 * Parses and validates a safetensors header.
 *
 * @param bytes - The file's first `8 + headerLength` bytes (or the whole file).
 * @param fileLength - Total file length in bytes, to check offsets against.
 * @param options - Header size limit and file name for messages.
 * @returns The validated header.
 * @throws {@link CalmError} `FORMAT_ERROR` for a truncated file, bad JSON, unknown dtype,
 *   inconsistent shape/offsets, out-of-range, overlapping or non-contiguous tensors.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  fileLength: number,
  options: SafetensorsReadOptions = {},
): SafetensorsHeader {
  const { fileName } = options;
  const n = readSafetensorsHeaderLength(bytes, options);
  if (8 + n > fileLength || 8 + n > bytes.length)
    fail(
      `truncated safetensors file: header says ${n} bytes but the file has ${fileLength - 8} after the length field.`,
      fileName,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`safetensors header is not valid UTF-8 JSON (${(e as Error).message}).`, fileName);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    fail('safetensors header must be a JSON object.', fileName);
  const dataStart = 8 + n;
  const dataLength = fileLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        fail('__metadata__ must be an object of strings.', fileName);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} must be a string.`, fileName);
        metadata[k] = v;
      }
      continue;
    }
    const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object')
      fail(`entry "${name}" must be an object with dtype, shape and data_offsets.`, fileName);
    if (typeof e.dtype !== 'string' || !(e.dtype in SAFETENSORS_DTYPE_BYTES)) {
      throw new CalmError(
        'DTYPE_UNSUPPORTED',
        `${fileName ? `${fileName}: ` : ''}tensor "${name}" has dtype ${String(e.dtype)}; supported: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}.`,
        { source: '@calm/core' },
      );
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(e.shape)}.`, fileName);
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      off[0] > off[1]
    ) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}.`, fileName);
    }
    const dtype = e.dtype as SafetensorsDtype;
    const shape = e.shape as number[];
    const [begin, end] = off as [number, number];
    const numel = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== numel * SAFETENSORS_DTYPE_BYTES[dtype]) {
      fail(
        `tensor "${name}": data_offsets span ${end - begin} bytes but ${dtype}${JSON.stringify(shape)} needs ${numel * SAFETENSORS_DTYPE_BYTES[dtype]}.`,
        fileName,
      );
    }
    if (end > dataLength)
      fail(
        `tensor "${name}": data_offsets [${begin}, ${end}) run past the end of the data section (${dataLength} bytes); the file is truncated or corrupt.`,
        fileName,
      );
    entries.set(name, { dtype, shape, dataOffsets: [begin, end] });
  }
  // Overlap and contiguity, as the reference implementation checks them.
  const sorted = [...entries.entries()].sort(
    (a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1],
  );
  let cursor = 0;
  let prevName = '';
  for (const [
    name,
    {
      dataOffsets: [begin, end],
    },
  ] of sorted) {
    if (begin < cursor)
      fail(`tensors "${prevName}" and "${name}" overlap (byte ${begin} < ${cursor}); the file is corrupt.`, fileName);
    if (begin > cursor)
      fail(
        `gap in the data section before tensor "${name}" (bytes ${cursor}..${begin} belong to no tensor); the file is corrupt.`,
        fileName,
      );
    cursor = end;
    prevName = name;
  }
  if (cursor !== dataLength)
    fail(
      `the data section has ${dataLength} bytes but the tensors cover ${cursor}; the file is truncated or has trailing bytes.`,
      fileName,
    );
  return { metadata, entries, dataStart, dataLength };
}

/**
 * Decodes the raw little-endian bytes of one tensor.
 * @param entry - The tensor's header entry.
 * @param raw - Exactly the tensor's bytes.
 * @param name - The tensor name, for error messages.
 * @returns A new {@link NamedArray} (F16/BF16 widened to float32, I64 narrowed to int32).
 * @throws {@link CalmError} `DTYPE_UNSUPPORTED` when an I64 value does not fit in int32.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export function decodeSafetensorsTensor(entry: SafetensorsEntry, raw: Uint8Array, name = 'tensor'): NamedArray {
  // Copy into an aligned buffer first: offsets in the file need not be aligned.
  const buf = raw.slice().buffer;
  const numel = entry.shape.reduce((a, b) => a * b, 1);
  let data: TensorArray;
  switch (entry.dtype) {
    case 'F32':
      data = new Float32Array(buf, 0, numel);
      break;
    case 'F64':
      data = new Float64Array(buf, 0, numel);
      break;
    case 'F16':
      data = float16BitsToFloat32(new Uint16Array(buf, 0, numel));
      break;
    case 'BF16':
      data = bfloat16BitsToFloat32(new Uint16Array(buf, 0, numel));
      break;
    case 'I32':
      data = new Int32Array(buf, 0, numel);
      break;
    case 'I16':
      data = Int32Array.from(new Int16Array(buf, 0, numel));
      break;
    case 'I8':
      data = Int32Array.from(new Int8Array(buf, 0, numel));
      break;
    case 'U8':
    case 'BOOL':
      data = new Uint8Array(buf, 0, numel);
      break;
    case 'I64': {
      const src = new BigInt64Array(buf, 0, numel);
      const out = new Int32Array(numel);
      for (let i = 0; i < numel; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new CalmError(
            'DTYPE_UNSUPPORTED',
            `tensor "${name}" (I64) holds ${v} at index ${i}, outside int32; tfjs has no int64, so such values cannot be loaded.`,
            { source: '@calm/core' },
          );
        }
        out[i] = Number(v);
      }
      data = out;
      break;
    }
  }
  return { dtype: entry.dtype, shape: [...entry.shape], data };
}

/**
 * Parses a whole safetensors file held in memory.
 *
 * @param bytes - The file contents.
 * @param options - Header size limit and file name for messages.
 * @returns Metadata and the decoded tensors by name (file order).
 * @throws {@link CalmError} `FORMAT_ERROR` or `DTYPE_UNSUPPORTED`; see {@link parseSafetensorsHeader}.
 * @example
 * {@includeCode ../test/examples.test.ts#safetensors}
 * @category Checkpoints
 */
export function parseSafetensors(
  bytes: Uint8Array,
  options: SafetensorsReadOptions = {},
): { metadata: Record<string, string>; tensors: Map<string, NamedArray> } {
  const header = parseSafetensorsHeader(bytes, bytes.length, options);
  const tensors = new Map<string, NamedArray>();
  for (const [name, entry] of header.entries) {
    const [b, e] = entry.dataOffsets;
    tensors.set(name, decodeSafetensorsTensor(entry, bytes.subarray(header.dataStart + b, header.dataStart + e), name));
  }
  return { metadata: header.metadata, tensors };
}

/**
 * A tensor to write: shape, data and optionally the dtype to store it as.
 * @see {@link parseSafetensors}
 * @category Checkpoints
 */
export interface TensorToWrite {
  /** Shape, row-major. */
  shape: readonly number[];
  /** Values, length = product of the shape. */
  data: TensorArray;
  /**
   * Stored dtype. Defaults: Float32Array → F32, Float64Array → F64, Int32Array → I32, Uint8Array → U8.
   * Float32 data may be stored as F16 or BF16 (rounded to nearest even); Int32 data as I64.
   */
  dtype?: SafetensorsDtype;
}

function encodeTensor(name: string, t: TensorToWrite): { dtype: SafetensorsDtype; bytes: Uint8Array } {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== numel) {
    throw new CalmError(
      'SHAPE_MISMATCH',
      `serializeSafetensors: tensor "${name}" has ${t.data.length} values but shape ${JSON.stringify(t.shape)} needs ${numel}.`,
      { source: '@calm/core' },
    );
  }
  const d = t.data;
  const dtype: SafetensorsDtype =
    t.dtype ??
    (d instanceof Float32Array ? 'F32' : d instanceof Float64Array ? 'F64' : d instanceof Int32Array ? 'I32' : 'U8');
  const bad = (): never => {
    throw new CalmError(
      'DTYPE_UNSUPPORTED',
      `serializeSafetensors: cannot store a ${d.constructor.name} as ${dtype} (tensor "${name}").`,
      { source: '@calm/core' },
    );
  };
  const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  // Float data as float32 (what the 16-bit encoders take), converting float64.
  const asF32 = () => (d instanceof Float32Array ? d : d instanceof Float64Array ? Float32Array.from(d) : bad());
  switch (dtype) {
    case 'F32':
      return { dtype, bytes: asBytes(asF32()) };
    case 'F64':
      return {
        dtype,
        bytes: asBytes(d instanceof Float64Array ? d : d instanceof Float32Array ? Float64Array.from(d) : bad()),
      };
    case 'F16':
      return { dtype, bytes: asBytes(float32ToFloat16Bits(asF32())) };
    case 'BF16':
      return { dtype, bytes: asBytes(float32ToBfloat16Bits(asF32())) };
    case 'I32':
      return { dtype, bytes: asBytes(d instanceof Int32Array ? d : bad()) };
    case 'I64':
      return { dtype, bytes: asBytes(d instanceof Int32Array ? BigInt64Array.from(d, (x) => BigInt(x)) : bad()) };
    case 'U8':
    case 'BOOL':
      return { dtype, bytes: asBytes(d instanceof Uint8Array ? d : bad()) };
    default:
      return bad();
  }
}

/**
 * Serialises named arrays into the safetensors format.
 *
 * @remarks
 * Tensors are written in the given order, contiguously; the header is padded with spaces to a
 * multiple of 8 bytes, as the reference writer does, so data offsets stay aligned.
 * @param tensors - Arrays by name (insertion order is kept).
 * @param metadata - Optional `__metadata__` string map (e.g. `{ format: 'pt' }`).
 * @returns The file contents.
 * @throws {@link CalmError} `SHAPE_MISMATCH` or `DTYPE_UNSUPPORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#safetensors}
 * @category Checkpoints
 */
export function serializeSafetensors(
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const encoded: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__')
      throw new CalmError(
        'INVALID_ARGUMENT',
        'serializeSafetensors: "__metadata__" is reserved; pass metadata as the second argument.',
        { source: '@calm/core' },
      );
    const { dtype, bytes } = encodeTensor(name, t);
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    encoded.push(bytes);
    offset += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const b of encoded) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

/**
 * The JSON index of a sharded checkpoint (`model.safetensors.index.json` or
 * `pytorch_model.bin.index.json`).
 * @see {@link parseSafetensors}, which reads one shard; `readSafetensorsFile` in `@calm/core/node`
 *   reads a whole sharded checkpoint through its index.
 * @category Checkpoints
 */
export interface ShardIndex {
  /** Free-form metadata (e.g. `total_size`). */
  metadata: Record<string, unknown>;
  /** Which shard file holds each tensor. */
  weightMap: Map<string, string>;
}

/**
 * Parses and validates a sharded-checkpoint index file.
 * @param json - The index file's text.
 * @param fileName - For error messages.
 * @returns The index.
 * @throws {@link CalmError} `FORMAT_ERROR` when `weight_map` is missing or not a string map.
 * @see {@link parseSafetensors}, which reads one shard.
 * @category Checkpoints
 */
export function parseShardIndex(json: string, fileName = 'index.json'): ShardIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message}).`, fileName);
  }
  const obj = raw as { metadata?: unknown; weight_map?: unknown };
  if (!obj || typeof obj !== 'object' || !obj.weight_map || typeof obj.weight_map !== 'object')
    fail('missing "weight_map" object.', fileName);
  const weightMap = new Map<string, string>();
  for (const [k, v] of Object.entries(obj.weight_map as Record<string, unknown>)) {
    if (typeof v !== 'string' || v.includes('/') || v.includes('\\') || v === '..')
      fail(`weight_map["${k}"] must be a plain file name, got ${JSON.stringify(v)}.`, fileName);
    weightMap.set(k, v);
  }
  return { metadata: (obj.metadata as Record<string, unknown>) ?? {}, weightMap };
}
