// A safe reader for PyTorch `.bin` state dicts (`torch.save(model.state_dict())`): a zip holding
// `data.pkl` plus one raw storage file per tensor storage. The pickle is interpreted by a small
// virtual machine that knows only the opcodes and globals a state dict needs — OrderedDict,
// `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` and the storage types — and refuses
// everything else with a CalmError (code UNSAFE_PICKLE). It never calls anything named by the file.

import { CalmError } from './errors.js';
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from './dtype.js';
import type { NamedArray, SafetensorsDtype, TensorArray } from './safetensors.js';
import { bytesSource, readZipDirectory, zipEntryDataOffset, type ByteSource, type ZipEntry } from './zip.js';

const SRC = '@calm/core';

/** Storage classes we accept, with the safetensors-style dtype and element size. */
const STORAGE_TYPES: Record<string, { dtype: SafetensorsDtype; bytes: number }> = {
  FloatStorage: { dtype: 'F32', bytes: 4 },
  DoubleStorage: { dtype: 'F64', bytes: 8 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  LongStorage: { dtype: 'I64', bytes: 8 },
  IntStorage: { dtype: 'I32', bytes: 4 },
  ShortStorage: { dtype: 'I16', bytes: 2 },
  CharStorage: { dtype: 'I8', bytes: 1 },
  ByteStorage: { dtype: 'U8', bytes: 1 },
  BoolStorage: { dtype: 'BOOL', bytes: 1 },
};

/** Globals the unpickler resolves; anything else is refused. */
const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`),
]);

class Global {
  constructor(readonly name: string) {}
}
class Mark {}
const MARK = new Mark();
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: SafetensorsDtype,
    readonly elementBytes: number,
    readonly numel: number,
  ) {}
}

/**
 * A tensor described by a `.bin` state dict before its data is read.
 * @see {@link openTorchStateDict}
 * @category Checkpoints
 */
export interface TorchTensorRef {
  /** Storage file key inside the archive (`<prefix>/data/<key>`). */
  storageKey: string;
  /** Element dtype. */
  dtype: SafetensorsDtype;
  /** Offset into the storage, in elements. */
  storageOffset: number;
  /** Shape. */
  shape: number[];
  /** Strides, in elements. */
  stride: number[];
}

/** An OrderedDict built by the VM. */
class PyDict {
  readonly map = new Map<unknown, unknown>();
}

function unsafe(what: string, fileName: string): never {
  throw new CalmError(
    'UNSAFE_PICKLE',
    `${fileName}: the pickle asks for ${what}, which a state dict never needs; refusing to load it (we never execute code from a file). If this is a full pickled model rather than a state dict, re-save it with torch.save(model.state_dict(), path).`,
    { source: SRC },
  );
}

function malformed(msg: string, fileName: string): never {
  throw new CalmError('FORMAT_ERROR', `${fileName}: malformed pickle: ${msg}`, { source: SRC });
}

function asIntTuple(v: unknown, what: string, fileName: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x)))
    malformed(`${what} must be a tuple of ints`, fileName);
  return v as number[];
}

/**
 * Interprets the `data.pkl` of a PyTorch state dict with an allow-listed pickle machine.
 *
 * @param pkl - The bytes of `data.pkl`.
 * @param fileName - For error messages.
 * @returns Tensor references by parameter name, in the file's order.
 * @throws {@link CalmError} `UNSAFE_PICKLE` for any global or opcode outside the allow-list;
 *   `FORMAT_ERROR` for a malformed pickle or a top-level object that is not a dict of tensors.
 * @see {@link openTorchStateDict}
 * @category Checkpoints
 */
export function unpickleStateDict(pkl: Uint8Array, fileName = 'data.pkl'): Map<string, TorchTensorRef> {
  const dv = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const td = new TextDecoder();
  let pos = 0;
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const need = (n: number) => {
    if (pos + n > pkl.length) malformed('unexpected end of data', fileName);
  };
  // Each reader checks the length, advances `pos` and returns what it passed over.
  const take = (n: number): number => {
    need(n);
    pos += n;
    return pos - n;
  };
  const u8 = () => pkl[take(1)]!;
  const u16 = () => dv.getUint16(take(2), true);
  const u32 = () => dv.getUint32(take(4), true);
  const i32 = () => dv.getInt32(take(4), true);
  const bytes = (n: number) => {
    const at = take(n);
    return pkl.subarray(at, at + n);
  };
  const line = () => {
    const end = pkl.indexOf(0x0a, pos);
    if (end < 0) malformed('unterminated text line', fileName);
    const s = td.decode(pkl.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) malformed('stack underflow', fileName);
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) malformed('MARK not found', fileName);
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const global = (module: string, name: string) => {
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full)) unsafe(`the global ${full}`, fileName);
    return new Global(full);
  };
  const setItem = (d: unknown, k: unknown, v: unknown) => {
    if (!(d instanceof PyDict)) malformed('SETITEM on a non-dict', fileName);
    d.map.set(k, v);
  };
  const persistentLoad = (pid: unknown): StorageRef => {
    // ('storage', storage_type, key, location, numel)
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
      malformed('unexpected persistent id (expected a storage tuple)', fileName);
    const [, type, key, , numel] = pid as [string, unknown, unknown, unknown, unknown];
    if (!(type instanceof Global)) malformed('storage type must be a storage class', fileName);
    const info = STORAGE_TYPES[type.name.replace(/^torch\./, '')];
    if (!info) unsafe(`storage type ${type.name}`, fileName);
    if (typeof key !== 'string' || !/^[\w.-]+$/.test(key) || typeof numel !== 'number')
      malformed('bad storage key or size', fileName);
    return new StorageRef(key, info.dtype, info.bytes, numel);
  };
  const reduce = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof Global)) unsafe('a call of a non-global object', fileName);
    if (!Array.isArray(args)) malformed('REDUCE arguments must be a tuple', fileName);
    switch (fn.name) {
      case 'collections.OrderedDict': {
        const d = new PyDict();
        if (args.length > 0) {
          const items = args[0];
          if (!Array.isArray(items)) malformed('OrderedDict argument must be a list of pairs', fileName);
          for (const pair of items) {
            if (!Array.isArray(pair) || pair.length !== 2) malformed('OrderedDict item must be a pair', fileName);
            d.map.set(pair[0], pair[1]);
          }
        }
        return d;
      }
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (!(storage instanceof StorageRef) || typeof offset !== 'number')
          malformed('_rebuild_tensor_v2 expects (storage, offset, size, stride, ...)', fileName);
        const ref: TorchTensorRef = {
          storageKey: storage.key,
          dtype: storage.dtype,
          storageOffset: offset,
          shape: asIntTuple(size, 'size', fileName),
          stride: asIntTuple(stride, 'stride', fileName),
        };
        return ref;
      }
      case 'torch._utils._rebuild_parameter': {
        const [data] = args;
        if (!isTensorRef(data)) malformed('_rebuild_parameter expects a tensor', fileName);
        return data;
      }
      default:
        return unsafe(`a call of ${fn.name}`, fileName);
    }
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        bytes(8);
        break;
      case 0x2e: {
        // STOP
        const top = pop();
        return toStateDict(top, fileName);
      }
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(stack[stack.length - 1]);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x49: {
        // INT (text): also encodes booleans 01/00
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x8a: {
        // LONG1
        const n = u8();
        const b = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(td.decode(bytes(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(td.decode(bytes(u8())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(td.decode(bytes(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(td.decode(bytes(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        const l = stack[stack.length - 1];
        if (!Array.isArray(l)) malformed('APPEND on a non-list', fileName);
        l.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = stack[stack.length - 1];
        if (!Array.isArray(l)) malformed('APPENDS on a non-list', fileName);
        l.push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new PyDict();
        for (let i = 0; i + 1 < items.length; i += 2) d.map.set(items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItem(stack[stack.length - 1], k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = stack[stack.length - 1];
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          malformed('STACK_GLOBAL needs two strings', fileName);
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args));
        break;
      }
      case 0x62: {
        // BUILD: state for OrderedDict (`_metadata`) or tensors; data only, ignored.
        const state = pop();
        const obj = stack[stack.length - 1];
        if (!(obj instanceof PyDict) && !isTensorRef(obj))
          unsafe('BUILD on an object that is neither a dict nor a tensor', fileName);
        void state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), stack[stack.length - 1]);
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), stack[stack.length - 1]);
        break;
      case 0x70: // PUT
        memo.set(Number.parseInt(line(), 10), stack[stack.length - 1]);
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET
        const idx = op === 0x68 ? u8() : op === 0x6a ? u32() : Number.parseInt(line(), 10);
        if (!memo.has(idx)) malformed(`memo key ${idx} missing`, fileName);
        stack.push(memo.get(idx));
        break;
      }
      case 0x69: // INST
        return unsafe('the INST opcode (instantiates an arbitrary class)', fileName);
      case 0x6f: // OBJ
        return unsafe('the OBJ opcode (instantiates an arbitrary class)', fileName);
      case 0x81: // NEWOBJ
      case 0x92: // NEWOBJ_EX
        return unsafe('NEWOBJ (instantiates an arbitrary class)', fileName);
      default:
        unsafe(`the opcode 0x${op.toString(16)}`, fileName);
    }
  }
}

function isTensorRef(v: unknown): v is TorchTensorRef {
  return typeof v === 'object' && v !== null && 'storageKey' in v && 'stride' in v;
}

function toStateDict(top: unknown, fileName: string): Map<string, TorchTensorRef> {
  if (!(top instanceof PyDict)) {
    throw new CalmError(
      'FORMAT_ERROR',
      `${fileName}: the pickle's top-level object is not a dict; expected a state dict saved with torch.save(model.state_dict(), path).`,
      { source: SRC },
    );
  }
  const out = new Map<string, TorchTensorRef>();
  for (const [k, v] of top.map) {
    if (typeof k !== 'string') malformed('state-dict keys must be strings', fileName);
    if (!isTensorRef(v)) {
      throw new CalmError('FORMAT_ERROR', `${fileName}: state-dict entry "${k}" is not a tensor.`, { source: SRC });
    }
    out.set(k, v);
  }
  return out;
}

function decodeStorage(raw: Uint8Array, dtype: SafetensorsDtype, name: string): TensorArray {
  const buf = raw.slice().buffer;
  const numel = raw.length;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf, 0, numel / 4);
    case 'F64':
      return new Float64Array(buf, 0, numel / 8);
    case 'F16':
      return float16BitsToFloat32(new Uint16Array(buf, 0, numel / 2));
    case 'BF16':
      return bfloat16BitsToFloat32(new Uint16Array(buf, 0, numel / 2));
    case 'I32':
      return new Int32Array(buf, 0, numel / 4);
    case 'I16':
      return Int32Array.from(new Int16Array(buf, 0, numel / 2));
    case 'I8':
      return Int32Array.from(new Int8Array(buf, 0, numel));
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf, 0, numel);
    case 'I64': {
      const src = new BigInt64Array(buf, 0, numel / 8);
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new CalmError(
            'DTYPE_UNSUPPORTED',
            `tensor "${name}" (int64) holds ${v}, outside int32; tfjs has no int64, so it cannot be loaded.`,
            { source: SRC },
          );
        }
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/** Copies the strided view described by `ref` out of a decoded storage. */
function gatherStrided(storage: TensorArray, ref: TorchTensorRef, name: string, fileName: string): TensorArray {
  const { shape, stride, storageOffset } = ref;
  const numel = shape.reduce((a, b) => a * b, 1);
  const Ctor = storage.constructor as new (n: number) => TensorArray;
  const out = new Ctor(numel);
  if (numel === 0) return out;
  let maxIndex = storageOffset;
  for (let d = 0; d < shape.length; d++) maxIndex += (shape[d]! - 1) * stride[d]!;
  if (storageOffset < 0 || maxIndex >= storage.length || stride.some((s) => s < 0)) {
    throw new CalmError(
      'FORMAT_ERROR',
      `${fileName}: tensor "${name}" views elements outside its storage (offset ${storageOffset}, shape ${JSON.stringify(shape)}, stride ${JSON.stringify(stride)}, storage ${storage.length}).`,
      { source: SRC },
    );
  }
  // Contiguous fast path.
  let contiguous = true;
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d]!;
  }
  if (contiguous) {
    out.set(storage.subarray(storageOffset, storageOffset + numel) as never);
    return out;
  }
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < numel; i++) {
    let off = storageOffset;
    for (let d = 0; d < shape.length; d++) off += idx[d]! * stride[d]!;
    out[i] = storage[off]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * A PyTorch `.bin` state dict opened for reading.
 * @see {@link openTorchStateDict}
 * @category Checkpoints
 */
export interface TorchStateDictReader {
  /** Tensor references by name, in file order. */
  readonly refs: Map<string, TorchTensorRef>;
  /**
   * Reads one tensor (F16/BF16 widened to float32, int64 narrowed to int32 with a range check).
   * @param name - The state-dict key.
   * @returns The decoded array with the stored dtype, shape and row-major data.
   */
  read(name: string): Promise<NamedArray>;
  /**
   * Names that share one storage with an earlier name and the same view (tied weights such as
   * `decoder.lm_head_weight` = `encoder.embed_tokens.weight`).
   * @returns Alias name → the first name with that view.
   */
  aliases(): Map<string, string>;
}

/**
 * Opens a PyTorch `.bin` state dict (zip format) from any {@link ByteSource}.
 *
 * @param src - The archive bytes (in memory via {@link bytesSource}, or a file via `@calm/core/node`).
 * @param fileName - For error messages.
 * @returns A reader; tensors are read on demand.
 * @throws {@link CalmError} `UNSAFE_PICKLE` when the pickle needs anything beyond a state dict;
 *   `FORMAT_ERROR` when the archive or pickle is malformed.
 * @example
 * {@includeCode ../test/examples.test.ts#torch-bin}
 * @category Checkpoints
 */
export async function openTorchStateDict(
  src: ByteSource,
  fileName = 'pytorch_model.bin',
): Promise<TorchStateDictReader> {
  const entries = await readZipDirectory(src, fileName);
  const pklEntry = [...entries.values()].find((e) => e.name.endsWith('/data.pkl') || e.name === 'data.pkl');
  if (!pklEntry) {
    throw new CalmError(
      'FORMAT_ERROR',
      `${fileName}: no data.pkl in the archive; this is not a torch.save checkpoint.`,
      { source: SRC },
    );
  }
  const prefix = pklEntry.name.slice(0, pklEntry.name.length - 'data.pkl'.length);
  const pkl = await src.read(await zipEntryDataOffset(src, pklEntry, fileName), pklEntry.size);
  const refs = unpickleStateDict(pkl, fileName);
  const storageCache = new Map<string, TensorArray>();
  const storageEntry = (key: string): ZipEntry => {
    const e = entries.get(`${prefix}data/${key}`);
    if (!e)
      throw new CalmError(
        'FORMAT_ERROR',
        `${fileName}: storage "${key}" is missing from the archive; the file is truncated or corrupt.`,
        { source: SRC },
      );
    return e;
  };
  return {
    refs,
    async read(name) {
      const ref = refs.get(name);
      if (!ref) throw new CalmError('MISSING_PARAMETER', `${fileName} has no tensor "${name}".`, { source: SRC });
      let storage = storageCache.get(ref.storageKey);
      if (!storage) {
        const e = storageEntry(ref.storageKey);
        const raw = await src.read(await zipEntryDataOffset(src, e, fileName), e.size);
        storage = decodeStorage(raw, ref.dtype, name);
        // Keep shared storages (tied weights) only while they may be reused.
        const sharers = [...refs.values()].filter((r) => r.storageKey === ref.storageKey).length;
        if (sharers > 1) storageCache.set(ref.storageKey, storage);
      }
      return { dtype: ref.dtype, shape: [...ref.shape], data: gatherStrided(storage, ref, name, fileName) };
    },
    aliases() {
      const seen = new Map<string, string>();
      const out = new Map<string, string>();
      for (const [name, r] of refs) {
        const sig = `${r.storageKey}|${r.storageOffset}|${r.shape.join(',')}|${r.stride.join(',')}`;
        const first = seen.get(sig);
        if (first === undefined) seen.set(sig, name);
        else out.set(name, first);
      }
      return out;
    },
  };
}

/**
 * Reads every tensor of an in-memory PyTorch `.bin` state dict.
 * @param bytes - The whole file.
 * @param fileName - For error messages.
 * @returns Tensors by name (aliases included, each as its own array).
 * @throws {@link CalmError} `UNSAFE_PICKLE`, `FORMAT_ERROR`, `DTYPE_UNSUPPORTED`.
 * @see {@link openTorchStateDict}
 * @category Checkpoints
 */
export async function parseTorchStateDict(
  bytes: Uint8Array,
  fileName = 'pytorch_model.bin',
): Promise<Map<string, NamedArray>> {
  const reader = await openTorchStateDict(bytesSource(bytes), fileName);
  const out = new Map<string, NamedArray>();
  for (const name of reader.refs.keys()) out.set(name, await reader.read(name));
  return out;
}
