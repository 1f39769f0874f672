// The fused training kernels of the wasm backend: each takes its inputs and outputs as offsets in
// the wasm heap and runs one WebAssembly SIMD function of simd/kernels.ts over them (no copies in
// or out). Registered by registerWasmKernels (wasm-kernels.ts); the ops in fused.ts call them.
// Internal.
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { fail, sizeOf } from './errors.js';
import { pairwiseDistanceMeansBackward, pairwiseDistanceMeansForward } from './fused-math.js';
import { type GemmVariant, gemmVariant } from './simd/features.js';
import { GEMM_WORK_BYTES, type SimdExports, simdKernels } from './simd/kernels.js';
import { f32View, heapMemory, heapOffset, i32View, type WasmBackendLike } from './wasm-backend.js';

interface Args {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

const input = (args: Args, name: string): TensorInfo => args.inputs[name]!;
const lastDim = (t: TensorInfo): number => t.shape[t.shape.length - 1] ?? 1;

/** The SIMD kernels over this backend's heap. */
export function simdOf(be: WasmBackendLike): SimdExports {
  return simdKernels(heapMemory(be));
}

interface Gemm {
  gemm: SimdExports['gemm'];
  /**
   * C[m, n] = A[m, k]·B[n, k]ᵀ (row-major C, ldc) for a few rows of A without packing: up to 4 rows
   * stream B once; more stream B once too, with A and B swapped (B's rows in passes of four
   * against all of A's rows, which stay in cache) and C written transposed.
   */
  gemvT(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number): void;
  work: number;
}
const gemms = new WeakMap<object, { work: number; byVariant: Map<GemmVariant, Gemm> }>();

/**
 * The matrix products (of the gemm variant chosen now, see simd/features.ts) and this backend's
 * gemm work memory (allocated once, kept for its lifetime, shared by the variants).
 */
export function gemmOf(be: WasmBackendLike): Gemm {
  let entry = gemms.get(be);
  if (entry === undefined) {
    entry = { work: be.wasm._malloc(GEMM_WORK_BYTES) >>> 0, byVariant: new Map() };
    gemms.set(be, entry);
  }
  const variant = gemmVariant();
  let g = entry.byVariant.get(variant);
  if (g === undefined) {
    const k = simdKernels(heapMemory(be), variant);
    const raw = k.gemvT;
    g = {
      gemm: k.gemm,
      gemvT: (m, n, kk, a, lda, b, ldb, c, ldc) =>
        m <= 4 ? raw(m, n, kk, a, lda, b, ldb, c, ldc, 1) : raw(n, m, kk, b, ldb, a, lda, c, 1, ldc),
      work: entry.work,
    };
    entry.byVariant.set(variant, g);
  }
  return g;
}

function rmsNorm(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const d = lastDim(x);
  const rows = sizeOf(x.shape) / d;
  const y = be.makeOutput([...x.shape], 'float32');
  const rstd = be.makeOutput([rows], 'float32');
  const o = (t: TensorInfo) => heapOffset(be, t);
  simdOf(be).rmsNorm(o(x), o(input(args, 'weight')), o(y), o(rstd), rows, d, args.attrs!['eps'] as number);
  return [y, rstd];
}

function rmsNormGrad(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const w = input(args, 'weight');
  const d = lastDim(x);
  const rows = sizeOf(x.shape) / d;
  const dx = be.makeOutput([...x.shape], 'float32');
  const dw = be.makeOutput([...w.shape], 'float32');
  const o = (t: TensorInfo) => heapOffset(be, t);
  simdOf(be).rmsNormGrad(o(input(args, 'dy')), o(x), o(w), o(input(args, 'rstd')), o(dx), o(dw), rows, d);
  return [dx, dw];
}

function layerNorm(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const d = lastDim(x);
  const rows = sizeOf(x.shape) / d;
  const y = be.makeOutput([...x.shape], 'float32');
  const mean = be.makeOutput([rows], 'float32');
  const rstd = be.makeOutput([rows], 'float32');
  const o = (t: TensorInfo) => heapOffset(be, t);
  simdOf(be).layerNorm(
    o(x),
    o(input(args, 'weight')),
    o(input(args, 'bias')),
    o(y),
    o(mean),
    o(rstd),
    rows,
    d,
    args.attrs!['eps'] as number,
  );
  return [y, mean, rstd];
}

function layerNormGrad(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const w = input(args, 'weight');
  const d = lastDim(x);
  const rows = sizeOf(x.shape) / d;
  const dx = be.makeOutput([...x.shape], 'float32');
  const dw = be.makeOutput([...w.shape], 'float32');
  const db = be.makeOutput([...w.shape], 'float32');
  const o = (t: TensorInfo) => heapOffset(be, t);
  simdOf(be).layerNormGrad(
    o(input(args, 'dy')),
    o(x),
    o(w),
    o(input(args, 'mean')),
    o(input(args, 'rstd')),
    o(dx),
    o(dw),
    o(db),
    rows,
    d,
  );
  return [dx, dw, db];
}

function silu(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const y = be.makeOutput([...x.shape], 'float32');
  simdOf(be).silu(heapOffset(be, x), heapOffset(be, y), sizeOf(x.shape));
  return y;
}

function siluGrad(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const dx = be.makeOutput([...x.shape], 'float32');
  simdOf(be).siluGrad(heapOffset(be, input(args, 'dy')), heapOffset(be, x), heapOffset(be, dx), sizeOf(x.shape));
  return dx;
}

function swiGlu(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const h = lastDim(x) / 2;
  const rows = sizeOf(x.shape) / (2 * h);
  const y = be.makeOutput([...x.shape.slice(0, -1), h], 'float32');
  simdOf(be).swiGlu(heapOffset(be, x), heapOffset(be, y), rows, h);
  return y;
}

function swiGluGrad(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const h = lastDim(x) / 2;
  const rows = sizeOf(x.shape) / (2 * h);
  const dx = be.makeOutput([...x.shape], 'float32');
  simdOf(be).swiGluGrad(heapOffset(be, input(args, 'dy')), heapOffset(be, x), heapOffset(be, dx), rows, h);
  return dx;
}

// Forward: the mean loss and the softmax (kept for the backward).
function crossEntropy(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const logits = input(args, 'logits');
  const labelsT = input(args, 'labels');
  const [rows, v] = logits.shape as [number, number];
  const check = i32View(be, labelsT);
  for (let i = 0; i < check.length; i++)
    if (!(check[i]! >= 0 && check[i]! < v))
      fail(
        'INVALID_ARGUMENT',
        `crossEntropy: label ${check[i]} at row ${i} is not in [0, ${v - 1}]; every label must index a logit.`,
      );
  const loss = be.makeOutput([], 'float32');
  const probs = be.makeOutput([rows, v], 'float32');
  const stats = be.makeOutput([rows, 2], 'float32');
  try {
    simdOf(be).softmaxRows(heapOffset(be, logits), heapOffset(be, probs), heapOffset(be, stats), rows, v);
    const st = f32View(be, stats);
    const lg = f32View(be, logits);
    const labels = i32View(be, labelsT);
    let total = 0;
    for (let r = 0; r < rows; r++) total += Math.log(st[2 * r + 1]!) - (lg[r * v + labels[r]!]! - st[2 * r]!);
    f32View(be, loss)[0] = total / rows;
  } finally {
    be.disposeData(stats.dataId);
  }
  return [loss, probs];
}

// Backward: (softmax − onehot(label)) · dy / rows.
function crossEntropyGrad(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const probs = input(args, 'probs');
  const [rows, v] = probs.shape as [number, number];
  const dlogits = be.makeOutput([rows, v], 'float32');
  const c = f32View(be, input(args, 'dy'))[0]! / rows;
  simdOf(be).scale(heapOffset(be, probs), heapOffset(be, dlogits), rows * v, c);
  const out = f32View(be, dlogits);
  const labels = i32View(be, input(args, 'labels'));
  for (let r = 0; r < rows; r++) {
    const k = r * v + labels[r]!;
    out[k] = out[k]! - c;
  }
  return dlogits;
}

function pairwiseDims(x: TensorInfo, y: TensorInfo): [number, number, number, number] {
  const [b, n, l] = x.shape as [number, number, number];
  return [b, n, y.shape[1]!, l];
}

/** α = 1 and α = 2 with L a multiple of 4 run in SIMD; other cases in plain loops. */
const simdMode = (alpha: number, l: number): number => (l % 4 === 0 && (alpha === 1 || alpha === 2) ? alpha : 0);

// Output [2, B]: row 0 the cross term, row 1 the self term.
function pairwiseDistanceMeans(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const y = input(args, 'y');
  const alpha = args.attrs!['alpha'] as number;
  const [b, n, m, l] = pairwiseDims(x, y);
  const out = be.makeOutput([2, b], 'float32');
  const mode = simdMode(alpha, l);
  if (mode) {
    simdOf(be).pairwise(heapOffset(be, x), heapOffset(be, y), heapOffset(be, out), b, n, m, l, mode);
    return out;
  }
  const both = f32View(be, out);
  pairwiseDistanceMeansForward(
    f32View(be, x),
    f32View(be, y),
    b,
    n,
    m,
    l,
    alpha,
    both.subarray(0, b),
    both.subarray(b),
  );
  return out;
}

function pairwiseDistanceMeansGrad(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const x = input(args, 'x');
  const y = input(args, 'y');
  const alpha = args.attrs!['alpha'] as number;
  const [b, n, m, l] = pairwiseDims(x, y);
  const dx = be.makeOutput([...x.shape], 'float32');
  const dy = be.makeOutput([...y.shape], 'float32');
  const mode = simdMode(alpha, l);
  const dOut = input(args, 'dy'); // [2, B]
  if (mode) {
    const o = (t: TensorInfo) => heapOffset(be, t);
    simdOf(be).pairwiseGrad(o(x), o(y), o(dOut), o(dx), o(dy), b, n, m, l, mode);
    return [dx, dy];
  }
  const dBoth = f32View(be, dOut);
  pairwiseDistanceMeansBackward(
    f32View(be, x),
    f32View(be, y),
    dBoth.subarray(0, b),
    dBoth.subarray(b),
    b,
    n,
    m,
    l,
    alpha,
    f32View(be, dx),
    f32View(be, dy),
  );
  return [dx, dy];
}

function adamW(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const p = input(args, 'param');
  const a = args.attrs!;
  const outs = [0, 1, 2].map(() => be.makeOutput([...p.shape], 'float32'));
  const scaleT = args.inputs['scale'];
  const scale = ((a['scale'] as number | undefined) ?? 1) * (scaleT ? f32View(be, scaleT)[0]! : 1);
  const o = (t: TensorInfo) => heapOffset(be, t);
  simdOf(be).adamW(
    o(p),
    o(input(args, 'grad')),
    o(input(args, 'm')),
    o(input(args, 'v')),
    o(outs[0]!),
    o(outs[1]!),
    o(outs[2]!),
    sizeOf(p.shape),
    scale,
    1 - (a['beta1'] as number),
    a['beta2'] as number,
    1 - (a['beta2'] as number),
    a['decayFactor'] as number,
    a['stepSize'] as number,
    a['bc2Sqrt'] as number,
    a['eps'] as number,
  );
  return outs;
}

function sumSquares(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const out = be.makeOutput([], 'float32');
  const k = simdOf(be);
  let s = 0;
  for (const t of Object.values(args.inputs)) if (t) s += k.sumSquares(heapOffset(be, t), sizeOf(t.shape));
  f32View(be, out)[0] = s;
  return out;
}

function scaleMany(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const count = args.attrs!['count'] as number;
  const tensors: TensorInfo[] = [];
  for (let i = 0; i < count; i++) tensors.push(args.inputs[String(i)]!);
  const outs = tensors.map((t) => be.makeOutput([...t.shape], 'float32'));
  const c = f32View(be, args.inputs['scale']!)[0]!;
  const k = simdOf(be);
  tensors.forEach((t, i) => k.scale(heapOffset(be, t), heapOffset(be, outs[i]!), sizeOf(t.shape), c));
  return outs;
}

/** The fused kernels by (custom) kernel name, prefixed `Calm`. */
export const FUSED_KERNELS = {
  CalmRmsNorm: rmsNorm,
  CalmRmsNormGrad: rmsNormGrad,
  CalmLayerNorm: layerNorm,
  CalmLayerNormGrad: layerNormGrad,
  CalmSilu: silu,
  CalmSiluGrad: siluGrad,
  CalmSwiGlu: swiGlu,
  CalmSwiGluGrad: swiGluGrad,
  CalmCrossEntropy: crossEntropy,
  CalmCrossEntropyGrad: crossEntropyGrad,
  CalmPairwiseDistanceMeans: pairwiseDistanceMeans,
  CalmPairwiseDistanceMeansGrad: pairwiseDistanceMeansGrad,
  CalmAdamW: adamW,
  CalmSumSquares: sumSquares,
  CalmScaleMany: scaleMany,
} as unknown as Record<string, KernelFunc>;
