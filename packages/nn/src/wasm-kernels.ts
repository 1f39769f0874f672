// Kernels that make tfjs's wasm backend fit for training (the missing UnsortedSegmentSum,
// BatchMatMul/Slice/SplitV/Unpack/GatherV2 kept on XNNPACK's fast path and the heap, Identity/Cast
// that share data instead of copying it, and the fused kernels of fused.ts); registered only by
// explicit calls.

import * as tf from '@tensorflow/tfjs';
import type {
  DataType,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs';
import { fail, sizeOf } from './internal/errors.js';
import { ATTENTION_KERNELS } from './internal/attention-kernels.js';
import { FUSED_KERNELS, gemmOf, simdOf } from './internal/fused-kernels.js';
import { heapOffset, type WasmBackendLike } from './internal/wasm-backend.js';
import { assertPinnedVersion } from './version.js';

/** The parts of tfjs-backend-cpu's `MathBackendCPU` the cpu override uses. */
interface CpuBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: DataType, values: Float32Array | Int32Array): TensorInfo;
}

interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/**
 * Kernel names {@link registerWasmKernels} replaces (or, for `UnsortedSegmentSum`, adds) on the
 * wasm backend.
 * @category Backends
 */
export const WASM_KERNEL_OVERRIDES = [
  'BatchMatMul',
  'Slice',
  'SplitV',
  'Unpack',
  'GatherV2',
  'UnsortedSegmentSum',
  'Identity',
  'Cast',
  'CalmRmsNorm',
  'CalmRmsNormGrad',
  'CalmLayerNorm',
  'CalmLayerNormGrad',
  'CalmSilu',
  'CalmSiluGrad',
  'CalmSwiGlu',
  'CalmSwiGluGrad',
  'CalmCrossEntropy',
  'CalmCrossEntropyGrad',
  'CalmPairwiseDistanceMeans',
  'CalmPairwiseDistanceMeansGrad',
  'CalmAdamW',
  'CalmSumSquares',
  'CalmScaleMany',
  'CalmCausalAttention',
  'CalmCausalAttentionGrad',
  'CalmCachedAttention',
  'Sum',
] as const;

/**
 * One of {@link WASM_KERNEL_OVERRIDES}.
 * @see {@link registerWasmKernels}
 * @category Backends
 */
export type WasmKernelName = (typeof WASM_KERNEL_OVERRIDES)[number];

// The stock kernels we replaced, so that we can fall back to them and restore them.
const stock = new Map<string, KernelConfig>();
const ours = new Set<KernelFunc>();

function stockKernel(name: string): KernelFunc {
  const k = stock.get(name);
  if (!k) fail('INTERNAL', `the stock wasm kernel ${name} was not captured; call registerWasmKernels() again.`);
  return k.kernelFunc;
}

function asTensorInfo(dataId: object, shape: number[], dtype: DataType): TensorInfo {
  return { dataId, shape, dtype };
}

// ---------------------------------------------------------------------------------------------
// BatchMatMul

// Maps each flat index of the broadcast batch shape `outer` to the flat index in `dims`.
function broadcastIndex(outer: number[], dims: number[]): Int32Array {
  const total = sizeOf(outer);
  const map = new Int32Array(total);
  const r = outer.length;
  const padded = [...new Array<number>(r - dims.length).fill(1), ...dims];
  const strides = new Array<number>(r).fill(0);
  let s = 1;
  for (let d = r - 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 ? 0 : s;
    s *= padded[d]!;
  }
  const coord = new Array<number>(r).fill(0);
  for (let i = 0; i < total; i++) {
    let idx = 0;
    for (let d = 0; d < r; d++) idx += coord[d]! * strides[d]!;
    map[i] = idx;
    for (let d = r - 1; d >= 0; d--) {
      if (++coord[d]! < outer[d]!) break;
      coord[d] = 0;
    }
  }
  return map;
}

const cwrapped = new WeakMap<object, (...args: unknown[]) => void>();

function matMulFn(backend: WasmBackendLike): (...args: unknown[]) => void {
  let f = cwrapped.get(backend);
  if (!f) {
    f = backend.wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]);
    cwrapped.set(backend, f);
  }
  return f;
}

const shapeBytes = (shape: number[]): Uint8Array => new Uint8Array(new Int32Array(shape).buffer);

// A tensor registered with the wasm runtime that views `size` floats of existing heap memory.
// It must be released with `releaseAlias`, never with `disposeData` (which would free the heap).
function makeAlias(backend: WasmBackendLike, byteOffset: number, shape: number[]): TensorInfo {
  return backend.makeOutput(shape, 'float32', byteOffset);
}

function releaseAlias(backend: WasmBackendLike, t: TensorInfo): void {
  const { id } = backend.dataIdMap.get(t.dataId);
  backend.wasm.tfjs.disposeData(id); // also drops XNNPACK operators cached on this id
  backend.dataIdMap.delete(t.dataId);
}

function transpose3d(backend: WasmBackendLike, t: TensorInfo): TensorInfo {
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!transpose)
    fail('MISSING_BACKEND', 'the wasm Transpose kernel is not registered; import @tensorflow/tfjs-backend-wasm first.');
  return transpose.kernelFunc({
    inputs: { x: t },
    backend: backend as never,
    attrs: { perm: [0, 2, 1] },
  }) as TensorInfo;
}

// With more than one XNNPACK thread (the opt-in threads shim), XNNPACK's multi-threaded matrix
// product: transposes materialised, batches folded into rows or run slice by slice on heap views.
function batchMatMulXnnpack(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const a = args.inputs['a']!;
  const b = args.inputs['b']!;
  const transposeA = Boolean(args.attrs?.['transposeA']);
  const transposeB = Boolean(args.attrs?.['transposeB']);
  const ar = a.shape.length;
  const br = b.shape.length;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || ar < 2 || br < 2)
    return stockKernel('BatchMatMul')(args as never) as TensorInfo;
  const m = transposeA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const k = transposeA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const kB = transposeB ? b.shape[br - 1]! : b.shape[br - 2]!;
  const n = transposeB ? b.shape[br - 2]! : b.shape[br - 1]!;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  // Mismatched inner dimensions and empty tensors: let the stock kernel raise/handle them.
  if (k !== kB || m * n * k * batchA * batchB === 0) return stockKernel('BatchMatMul')(args as never) as TensorInfo;
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const outShape = [...outer, m, n];
  const batchOut = sizeOf(outer);

  const run = matMulFn(backend);
  if (batchA === 1 && batchB === 1) {
    // A plain matrix product. Materialising a transpose costs a copy of that operand; computing
    // Cᵀ = op(b)ᵀ·op(a)ᵀ instead transposes the other operand(s) and the result. Take the
    // cheaper: for a weight gradient dyᵀ·x with a wide dy this avoids copying dy.
    const direct = (transposeA ? k * m : 0) + (transposeB ? n * k : 0);
    const swapped = (transposeB ? 0 : k * n) + (transposeA ? 0 : m * k) + m * n;
    if (swapped < direct) {
      const temps: TensorInfo[] = [];
      // op(b)ᵀ as [1, n, k] and op(a)ᵀ as [1, k, m].
      let left = asTensorInfo(b.dataId, transposeB ? [1, n, k] : [1, k, n], 'float32');
      if (!transposeB) {
        left = transpose3d(backend, left);
        temps.push(left);
      }
      let right = asTensorInfo(a.dataId, transposeA ? [1, k, m] : [1, m, k], 'float32');
      if (!transposeA) {
        right = transpose3d(backend, right);
        temps.push(right);
      }
      const ct = backend.makeOutput([1, n, m], 'float32');
      temps.push(ct);
      run(
        backend.dataIdMap.get(left.dataId).id,
        shapeBytes([1, n, k]),
        3,
        backend.dataIdMap.get(right.dataId).id,
        shapeBytes([1, k, m]),
        3,
        false,
        false,
        backend.dataIdMap.get(ct.dataId).id,
      );
      const out = transpose3d(backend, ct); // [1, m, n]
      for (const t of temps) backend.disposeData(t.dataId);
      return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
    }
  }

  const temps: TensorInfo[] = [];
  // [batchA, m, k] and [batchB, k, n] in memory order, transposes materialised.
  let a3 = asTensorInfo(a.dataId, transposeA ? [batchA, k, m] : [batchA, m, k], 'float32');
  if (transposeA) {
    a3 = transpose3d(backend, a3);
    temps.push(a3);
  }
  let b3 = asTensorInfo(b.dataId, transposeB ? [batchB, n, k] : [batchB, k, n], 'float32');
  if (transposeB) {
    b3 = transpose3d(backend, b3);
    temps.push(b3);
  }

  let out: TensorInfo;
  if (batchB === 1) {
    // One right operand for every batch: fold the batch into rows, one XNNPACK call.
    out = backend.makeOutput(outShape, 'float32');
    const rows = batchA * m; // batchOut === batchA here
    const aId = backend.dataIdMap.get(a3.dataId).id;
    const bId = backend.dataIdMap.get(b3.dataId).id;
    const outId = backend.dataIdMap.get(out.dataId).id;
    run(aId, shapeBytes([1, rows, k]), 3, bId, shapeBytes([1, k, n]), 3, false, false, outId);
  } else {
    // A batch of right operands: the 2-D fast kernel once per batch slice, on heap views.
    out = backend.makeOutput(outShape, 'float32');
    const aBase = backend.dataIdMap.get(a3.dataId).memoryOffset;
    const bBase = backend.dataIdMap.get(b3.dataId).memoryOffset;
    const oBase = backend.dataIdMap.get(out.dataId).memoryOffset;
    const mapA = broadcastIndex(outer, outerA);
    const mapB = broadcastIndex(outer, outerB);
    const aShape = shapeBytes([1, m, k]);
    const bShape = shapeBytes([1, k, n]);
    for (let i = 0; i < batchOut; i++) {
      const aa = makeAlias(backend, aBase + mapA[i]! * m * k * 4, [1, m, k]);
      const bb = makeAlias(backend, bBase + mapB[i]! * k * n * 4, [1, k, n]);
      const oo = makeAlias(backend, oBase + i * m * n * 4, [1, m, n]);
      try {
        run(
          backend.dataIdMap.get(aa.dataId).id,
          aShape,
          3,
          backend.dataIdMap.get(bb.dataId).id,
          bShape,
          3,
          false,
          false,
          backend.dataIdMap.get(oo.dataId).id,
        );
      } finally {
        releaseAlias(backend, aa);
        releaseAlias(backend, bb);
        releaseAlias(backend, oo);
      }
    }
  }
  for (const t of temps) backend.disposeData(t.dataId);
  return out;
}

/** Up to this many rows, x·Wᵀ runs as dot products (no packing of W). */
const GEMV_ROWS = 16;

const threadCounts = new WeakMap<object, number>();
function threadsOf(backend: WasmBackendLike): number {
  let t = threadCounts.get(backend);
  if (t === undefined) {
    t = backend.wasm.tfjs.getThreadsCount();
    threadCounts.set(backend, t);
  }
  return t;
}

// One thread: our SIMD matrix product (gemm in internal/simd) on the heap, every transpose read by
// its packing, batches folded into rows or run slice by slice — no copies, about 1.5× XNNPACK's
// throughput on training shapes.
function batchMatMul(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const a = args.inputs['a']!;
  const b = args.inputs['b']!;
  const transposeA = Boolean(args.attrs?.['transposeA']);
  const transposeB = Boolean(args.attrs?.['transposeB']);
  const ar = a.shape.length;
  const br = b.shape.length;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || ar < 2 || br < 2)
    return stockKernel('BatchMatMul')(args as never) as TensorInfo;
  if (threadsOf(backend) > 1) return batchMatMulXnnpack(args);
  const m = transposeA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const k = transposeA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const kB = transposeB ? b.shape[br - 1]! : b.shape[br - 2]!;
  const n = transposeB ? b.shape[br - 2]! : b.shape[br - 1]!;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  // Mismatched inner dimensions: let the stock kernel raise its error.
  if (k !== kB) return stockKernel('BatchMatMul')(args as never) as TensorInfo;
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const out = backend.makeOutput([...outer, m, n], 'float32');
  const batchOut = sizeOf(outer);
  if (m * n * batchOut === 0) return out;
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  const g = gemmOf(backend);
  const aOff = heapOffset(backend, a);
  const bOff = heapOffset(backend, b);
  const oOff = heapOffset(backend, out);
  const lda = transposeA ? m : k;
  const ldb = transposeB ? k : n;
  if (batchB === 1 && !transposeA) {
    // One right operand for every batch: the batch folds into rows, one product. A few rows
    // against a transposed weight (a decoding step's x·Wᵀ): dot products without packing.
    if (transposeB && batchA * m <= GEMV_ROWS) g.gemvT(batchA * m, n, k, aOff, lda, bOff, ldb, oOff, n);
    else g.gemm(batchA * m, n, k, aOff, lda, 0, bOff, ldb, transposeB ? 1 : 0, oOff, n, 0, g.work);
    return out;
  }
  const mapA = broadcastIndex(outer, outerA);
  const mapB = broadcastIndex(outer, outerB);
  for (let i = 0; i < batchOut; i++)
    g.gemm(
      m,
      n,
      k,
      aOff + mapA[i]! * m * k * 4,
      lda,
      transposeA ? 1 : 0,
      bOff + mapB[i]! * k * n * 4,
      ldb,
      transposeB ? 1 : 0,
      oOff + i * m * n * 4,
      n,
      0,
      g.work,
    );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Slice, SplitV, Unpack

// Copies the box [begin, begin + size) of `src` (shape `shape`) into `dst`, contiguous runs at a time.
function copyBox(
  src: ArrayLike<number> & { subarray(a: number, b: number): unknown },
  dst: { set(v: never, offset: number): void },
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): void {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1]! * shape[d + 1]!;
  if (rank === 0) {
    dst.set(src.subarray(0, 1) as never, 0);
    return;
  }
  // Dimensions after `inner` are taken whole, so each run covers size[inner] * strides[inner] values.
  let inner = rank - 1;
  while (inner > 0 && size[inner] === shape[inner]) inner--;
  const run = size[inner]! * strides[inner]!;
  const coord = new Array<number>(inner).fill(0);
  const runs = sizeOf(size.slice(0, inner));
  let outOffset = 0;
  for (let r = 0; r < runs; r++) {
    let off = begin[inner]! * strides[inner]!;
    for (let d = 0; d < inner; d++) off += (begin[d]! + coord[d]!) * strides[d]!;
    dst.set(src.subarray(off, off + run) as never, outOffset);
    outOffset += run;
    for (let d = inner - 1; d >= 0; d--) {
      if (++coord[d]! < size[d]!) break;
      coord[d] = 0;
    }
  }
}

function sliceImpl(backend: WasmBackendLike, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  if (sizeOf(size) === 0) return out;
  // Views are taken after makeOutput: allocating may grow (and so replace) the heap buffer.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  copyBox(src, dst, x.shape, begin, size);
  return out;
}

function slice(args: KernelArgs): TensorInfo {
  const x = args.inputs['x']!;
  if (x.dtype === 'string' || x.dtype === 'complex64') return stockKernel('Slice')(args as never) as TensorInfo;
  const [begin, size] = tf.slice_util.parseSliceParams(
    x as never,
    args.attrs?.['begin'] as number[],
    args.attrs?.['size'] as number[],
  ) as [number[], number[]];
  return sliceImpl(args.backend as WasmBackendLike, x, begin, size);
}

function splitV(args: KernelArgs): TensorInfo[] {
  const x = args.inputs['x']!;
  if (x.dtype === 'string' || x.dtype === 'complex64') return stockKernel('SplitV')(args as never) as TensorInfo[];
  const axis = tf.util.parseAxisParam(args.attrs?.['axis'] as number, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(
    x as never,
    args.attrs?.['numOrSizeSplits'] as number | number[],
    axis,
  );
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const part = sliceImpl(args.backend as WasmBackendLike, x, begin, size);
    begin[axis] = begin[axis]! + s;
    return part;
  });
}

function unpack(args: KernelArgs): TensorInfo[] {
  const value = args.inputs['value']!;
  if (value.dtype === 'string' || value.dtype === 'complex64')
    return stockKernel('Unpack')(args as never) as TensorInfo[];
  let axis = args.attrs?.['axis'] as number;
  if (axis < 0) axis += value.shape.length;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const begin = new Array<number>(value.shape.length).fill(0);
  const size = [...value.shape];
  size[axis] = 1;
  const outs: TensorInfo[] = [];
  for (let i = 0; i < value.shape[axis]!; i++) {
    begin[axis] = i;
    const part = sliceImpl(args.backend as WasmBackendLike, value, begin, size);
    outs.push({ dataId: part.dataId, dtype: part.dtype, shape: outShape });
  }
  return outs;
}

// ---------------------------------------------------------------------------------------------
// GatherV2

function gatherV2(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs['x']!;
  const indices = args.inputs['indices']!;
  if (x.dtype === 'string' || x.dtype === 'complex64' || indices.dtype !== 'int32')
    return stockKernel('GatherV2')(args as never) as TensorInfo;
  const axis = tf.util.parseAxisParam(args.attrs?.['axis'] as number, x.shape)[0]!;
  const batchDims = (args.attrs?.['batchDims'] as number | undefined) ?? 0;
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as never, indices as never, axis, batchDims);
  const out = backend.makeOutput(info.outputShape, x.dtype);
  const total = sizeOf(info.outputShape);
  if (total === 0 || sizeOf(x.shape) === 0) return out;
  const idx = backend.typedArrayFromHeap(indices) as Int32Array;
  const dim = info.dimSize;
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= dim) {
      backend.disposeData(out.dataId);
      fail(
        'INVALID_ARGUMENT',
        `GatherV2: the index value ${v} is not in [0, ${dim - 1}]; every index must address a row of the gathered axis.`,
      );
    }
  }
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const { batchSize, outerSize, sliceSize } = info;
  const perBatch = idx.length / batchSize;
  let o = 0;
  for (let bi = 0; bi < batchSize; bi++) {
    for (let oi = 0; oi < outerSize; oi++) {
      const base = (bi * outerSize + oi) * dim;
      for (let i = 0; i < perBatch; i++) {
        const s = (base + idx[bi * perBatch + i]!) * sliceSize;
        if (sliceSize === 1) dst[o] = src[s]!;
        else dst.set(src.subarray(s, s + sliceSize) as never, o);
        o += sliceSize;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// UnsortedSegmentSum

function segmentSumInto(
  out: Float32Array | Int32Array,
  x: ArrayLike<number>,
  ids: ArrayLike<number>,
  numSegments: number,
  inner: number,
): void {
  for (let r = 0; r < ids.length; r++) {
    const s = ids[r]!;
    if (s < 0 || s >= numSegments) continue; // as the reference kernels: out-of-range ids are dropped
    const so = s * inner;
    const xo = r * inner;
    for (let j = 0; j < inner; j++) out[so + j]! += x[xo + j]!;
  }
}

function segmentShapes(args: KernelArgs): {
  x: TensorInfo;
  ids: TensorInfo;
  numSegments: number;
  inner: number;
  outShape: number[];
} {
  const x = args.inputs['x']!;
  const ids = args.inputs['segmentIds']!;
  const numSegments = args.attrs?.['numSegments'] as number;
  const rows = sizeOf(ids.shape);
  const inner = rows === 0 ? 0 : sizeOf(x.shape) / rows;
  return { x, ids, numSegments, inner, outShape: [numSegments, ...x.shape.slice(ids.shape.length)] };
}

function unsortedSegmentSumWasm(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { x, ids, numSegments, inner, outShape } = segmentShapes(args);
  if (x.dtype !== 'float32' && x.dtype !== 'int32')
    fail(
      'DTYPE_UNSUPPORTED',
      `UnsortedSegmentSum on wasm supports float32 and int32, got ${x.dtype}; cast the input first.`,
    );
  const out = backend.makeOutput(outShape, x.dtype);
  if (sizeOf(outShape) === 0) return out;
  const dst = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  dst.fill(0); // malloc'd memory is not zeroed
  if (inner > 0)
    segmentSumInto(dst, backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(ids), numSegments, inner);
  return out;
}

function unsortedSegmentSumCpu(args: KernelArgs): TensorInfo {
  const backend = args.backend as CpuBackendLike;
  const { x, ids, numSegments, inner, outShape } = segmentShapes(args);
  if (x.dtype !== 'float32' && x.dtype !== 'int32')
    fail('DTYPE_UNSUPPORTED', `UnsortedSegmentSum supports float32 and int32, got ${x.dtype}; cast the input first.`);
  const values = x.dtype === 'int32' ? new Int32Array(sizeOf(outShape)) : new Float32Array(sizeOf(outShape));
  if (inner > 0) segmentSumInto(values, backend.readSync(x.dataId), backend.readSync(ids.dataId), numSegments, inner);
  return backend.makeTensorInfo(outShape, x.dtype, values);
}

// ---------------------------------------------------------------------------------------------
// Identity and Cast to the same dtype: share the input's data (reference counted, as Reshape
// does) instead of copying it. Tensors are immutable, so a copy is never needed; the engine
// clones every tensor it saves for a gradient, so the stock copies cost a pass over each.

function identity(args: KernelArgs): TensorInfo {
  const x = args.inputs['x']!;
  if (x.dtype === 'string') return stockKernel('Identity')(args as never) as TensorInfo;
  (args.backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

function cast(args: KernelArgs): TensorInfo {
  const x = args.inputs['x']!;
  if (x.dtype === 'string' || args.attrs?.['dtype'] !== x.dtype)
    return stockKernel('Cast')(args as never) as TensorInfo;
  (args.backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

// ---------------------------------------------------------------------------------------------
// Sum over leading axes (the gradient of every broadcast bias add): column sums in one SIMD pass.
// The stock kernel transposes the reduced axes to the end first.

function sum(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs['x']!;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(args.attrs?.['axis'] as number | number[], x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) return stockKernel('Sum')(args as never) as TensorInfo;
  const kept = x.shape.slice(axes.length);
  const keepDims = Boolean(args.attrs?.['keepDims']);
  const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
  const n = sizeOf(kept);
  simdOf(backend).columnSum(heapOffset(backend, x), heapOffset(backend, out), sizeOf(x.shape) / n, n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Registration

const wasmImpls = {
  BatchMatMul: batchMatMul as unknown as KernelFunc,
  Slice: slice as unknown as KernelFunc,
  SplitV: splitV as unknown as KernelFunc,
  Unpack: unpack as unknown as KernelFunc,
  GatherV2: gatherV2 as unknown as KernelFunc,
  UnsortedSegmentSum: unsortedSegmentSumWasm as unknown as KernelFunc,
  Identity: identity as unknown as KernelFunc,
  Cast: cast as unknown as KernelFunc,
  Sum: sum as unknown as KernelFunc,
  ...FUSED_KERNELS,
  ...ATTENTION_KERNELS,
} as Record<WasmKernelName, KernelFunc>;
for (const f of Object.values(wasmImpls)) ours.add(f);
const cpuSegmentSum = unsortedSegmentSumCpu as unknown as KernelFunc;
ours.add(cpuSegmentSum);

function override(name: string, backendName: string, kernelFunc: KernelFunc): void {
  const current = tf.getKernel(name, backendName);
  if (current && ours.has(current.kernelFunc)) return; // already ours: idempotent
  if (current) {
    stock.set(`${backendName}:${name}`, current);
    if (backendName === 'wasm') stock.set(name, current);
    tf.unregisterKernel(name, backendName);
    tf.registerKernel({ ...current, kernelFunc });
  } else {
    tf.registerKernel({ kernelName: name, backendName, kernelFunc });
  }
}

/**
 * Registers the training kernels for tfjs's wasm backend (idempotent).
 *
 * @remarks
 * Adds `UnsortedSegmentSum` (missing on wasm; it is the gradient of `tf.gather`, so of every
 * embedding lookup) and replaces stock kernels that are slow on the shapes training produces:
 * - `BatchMatMul`: XNNPACK handles only batch 1 without transposes; we materialise transposes with
 *   the stock `Transpose` kernel, fold the batch into rows when the right operand has batch 1, and
 *   otherwise run the fast 2-D kernel once per batch slice on views of the wasm heap.
 * - `Slice`, `SplitV`, `Unpack`, `GatherV2`: copy from views of the wasm heap
 *   (`backend.typedArrayFromHeap`) instead of reading the whole input out with `readSync`.
 * - `Identity`, and `Cast` to the same dtype: share the input's data (reference counted) instead
 *   of copying it; the engine clones every tensor it saves for a gradient.
 * - `Sum` over leading axes (the gradient of a broadcast bias add): column sums in one pass
 *   instead of a transpose and a reduction.
 *
 * It also adds the fused kernels (names starting with `Calm`) behind {@link rmsNorm},
 * {@link layerNorm}, {@link silu}, {@link swiGlu}, {@link swiGluMlp}, {@link crossEntropy},
 * {@link pairwiseDistanceMeans}, {@link causalSelfAttention}, {@link AdamW} and
 * {@link clipByGlobalNorm}: loops over views of the wasm heap, one kernel forward and one backward
 * instead of a chain of stock ops. Without them those functions compute the same values from
 * stock ops.
 *
 * Each replacement equals the cpu backend to float32 rounding (see the package tests). Depends on
 * internals of `@tensorflow/tfjs-backend-wasm` 4.22.0. The wasm backend package must have been
 * imported (`initBackend({ backend: 'wasm' })` does it and calls this function).
 * @param options - `kernels`: register only these (e.g. `['UnsortedSegmentSum']` to measure the
 *   stock kernels with just the missing one filled in). @defaultValue all of {@link WASM_KERNEL_OVERRIDES}
 * @throws `CalmError` `MISSING_BACKEND` when the wasm kernels are not registered (the
 *   backend package was not imported); `NOT_SUPPORTED` when tfjs is not version 4.22.0;
 *   `INVALID_ARGUMENT` for an unknown kernel name.
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-wasm';
 * registerWasmKernels();
 * await tf.setBackend('wasm');
 * ```
 * @category Backends
 */
export function registerWasmKernels(options: { kernels?: readonly WasmKernelName[] } = {}): void {
  assertPinnedVersion('registerWasmKernels');
  const names = options.kernels ?? WASM_KERNEL_OVERRIDES;
  const unknown = names.filter((n) => !(WASM_KERNEL_OVERRIDES as readonly string[]).includes(n));
  if (unknown.length)
    fail(
      'INVALID_ARGUMENT',
      `registerWasmKernels: unknown kernels ${unknown.join(', ')}; choose from ${WASM_KERNEL_OVERRIDES.join(', ')}.`,
    );
  if (!tf.getKernel('BatchMatMul', 'wasm')) {
    fail(
      'MISSING_BACKEND',
      'the wasm backend kernels are not registered: import "@tensorflow/tfjs-backend-wasm" (or call initBackend({ backend: "wasm" })) before registerWasmKernels().',
    );
  }
  for (const name of names) override(name, 'wasm', wasmImpls[name]);
}

/**
 * Puts back the stock wasm kernels replaced by {@link registerWasmKernels} and removes the added
 * `UnsortedSegmentSum` (for benchmarks that compare both; idempotent).
 * @category Backends
 */
export function unregisterWasmKernels(): void {
  for (const name of WASM_KERNEL_OVERRIDES) {
    const current = tf.getKernel(name, 'wasm');
    if (!current || !ours.has(current.kernelFunc)) continue;
    tf.unregisterKernel(name, 'wasm');
    const orig = stock.get(`wasm:${name}`);
    if (orig) tf.registerKernel(orig);
  }
}

/**
 * Tells whether the kernels of {@link registerWasmKernels} are currently registered.
 * @param kernels - Which to check. @defaultValue all of {@link WASM_KERNEL_OVERRIDES}
 * @returns `true` when every one of them is in place.
 * @category Backends
 */
export function wasmKernelsRegistered(kernels: readonly WasmKernelName[] = WASM_KERNEL_OVERRIDES): boolean {
  return kernels.every((name) => {
    const k = tf.getKernel(name, 'wasm');
    return k !== undefined && ours.has(k.kernelFunc);
  });
}

/**
 * Replaces the cpu backend's `UnsortedSegmentSum` with a linear-time one (idempotent).
 *
 * @remarks
 * The stock kernel builds one mask per segment (O(V·N) work): a gather gradient over a vocabulary
 * of 8192 rows does not finish in minutes. Tests that use the cpu backend as a reference for
 * embedding gradients need this. `initBackend({ backend: 'cpu' })` calls it.
 * @see {@link initBackend}, which calls it for the cpu backend.
 * @category Backends
 */
export function registerCpuKernels(): void {
  override('UnsortedSegmentSum', 'cpu', cpuSegmentSum);
}
