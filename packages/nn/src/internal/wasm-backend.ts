// The parts of tfjs-backend-wasm's `BackendWasm` (4.22.0) our kernels use, and helpers to read and
// write tensors as views of the wasm heap. Internal.
import type { DataType, TensorInfo } from '@tensorflow/tfjs';

/** The parts of tfjs-backend-wasm's `BackendWasm` (4.22.0) these kernels use. */
export interface WasmBackendLike {
  wasm: {
    HEAPU8: Uint8Array;
    /** The module's exports (emscripten `Module.asm`); the single-threaded build exports its memory. */
    asm: { memory?: WebAssembly.Memory };
    /** The memory, set by the threaded build (which creates it in JS and imports it). */
    wasmMemory?: WebAssembly.Memory;
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    _malloc(bytes: number): number;
    tfjs: { disposeData(id: number): void; getThreadsCount(): number };
  };
  dataIdMap: {
    get(dataId: object): { id: number; memoryOffset: number; refCount: number };
    delete(dataId: object): boolean;
  };
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

/** A float32 view of a tensor's data on the wasm heap (valid until the heap grows). */
export function f32View(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId);
  let n = 1;
  for (const d of t.shape) n *= d;
  return new Float32Array(backend.wasm.HEAPU8.buffer, memoryOffset, n);
}

/** An int32 view of a tensor's data on the wasm heap (valid until the heap grows). */
export function i32View(backend: WasmBackendLike, t: TensorInfo): Int32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId);
  let n = 1;
  for (const d of t.shape) n *= d;
  return new Int32Array(backend.wasm.HEAPU8.buffer, memoryOffset, n);
}

/** Byte offset of a tensor's data on the wasm heap. */
export function heapOffset(backend: WasmBackendLike, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** The heap's current buffer (replaced when the heap grows; views of an old one are detached). */
export function heapBuffer(backend: WasmBackendLike): ArrayBuffer {
  return backend.wasm.HEAPU8.buffer as ArrayBuffer;
}

/** The WebAssembly memory of the backend's heap. */
export function heapMemory(backend: WasmBackendLike): WebAssembly.Memory {
  const m = backend.wasm.wasmMemory ?? backend.wasm.asm.memory;
  if (!m) throw new Error('the wasm backend exposes no WebAssembly.Memory (tfjs-backend-wasm 4.22.0 expected)');
  return m;
}
