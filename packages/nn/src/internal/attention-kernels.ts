// The fused causal self-attention kernels of the wasm backend (forward and backward), orchestrating
// the SIMD pieces per (batch row, head): gather of rotated query/key rows, blocked causal products
// (only the query-block × key-prefix parts of the score matrix are computed), the causal softmax,
// and products written straight into the merged-heads output. Internal.
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { gemmOf, simdOf } from './fused-kernels.js';
import { heapOffset, type WasmBackendLike } from './wasm-backend.js';

interface Args {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/** Query rows per block of the causal products. */
const BLOCK = 32;

interface Dims {
  b: number;
  t: number;
  d: number;
  nh: number;
  nkv: number;
  w: number; // row width of qkv
  o: number; // row width of the output
  scale: number;
  rope: number;
}

function dims(args: Args): Dims {
  const qkv = args.inputs['qkv']!;
  const [b, t, w] = qkv.shape as [number, number, number];
  const nh = args.attrs!['numHeads'] as number;
  const nkv = args.attrs!['numKvHeads'] as number;
  const d = w / (nh + 2 * nkv);
  return {
    b,
    t,
    d,
    nh,
    nkv,
    w,
    o: nh * d,
    scale: args.attrs!['scale'] as number,
    rope: args.inputs['cos'] ? 1 : 0,
  };
}

function causalAttention(args: Args): TensorInfo[] {
  const be = args.backend as WasmBackendLike;
  const { b, t, d, nh, nkv, w, o, scale, rope } = dims(args);
  const rep = nh / nkv;
  const out = be.makeOutput([b, t, o], 'float32');
  const probs = be.makeOutput([b, nh, t, t], 'float32');
  const scratch = be.makeOutput([2 * t * d], 'float32');
  try {
    const k = simdOf(be);
    const g = gemmOf(be);
    const qkv = heapOffset(be, args.inputs['qkv']!);
    const cos = rope ? heapOffset(be, args.inputs['cos']!) : 0;
    const sin = rope ? heapOffset(be, args.inputs['sin']!) : 0;
    const qs = heapOffset(be, scratch);
    const ks = qs + t * d * 4;
    const outOff = heapOffset(be, out);
    const pOff = heapOffset(be, probs);
    for (let bi = 0; bi < b; bi++) {
      const rowBase = qkv + bi * t * w * 4;
      for (let gi = 0; gi < nkv; gi++) {
        k.ropeGather(rowBase + (nh + gi) * d * 4, w, ks, d, t, d, cos, sin, 1, rope);
        const v = rowBase + (nh + nkv + gi) * d * 4;
        for (let h = gi * rep; h < (gi + 1) * rep; h++) {
          k.ropeGather(rowBase + h * d * 4, w, qs, d, t, d, cos, sin, scale, rope);
          const p = pOff + (bi * nh + h) * t * t * 4;
          for (let r0 = 0; r0 < t; r0 += BLOCK) {
            const r1 = Math.min(r0 + BLOCK, t);
            const m = r1 - r0;
            const pRows = p + r0 * t * 4;
            g.gemm(m, r1, d, qs + r0 * d * 4, d, 0, ks, d, 1, pRows, t, 0, g.work); // S = Q·Kᵀ
            k.causalSoftmax(pRows, m, t, r0, r1);
            // O = P·V, straight into head h of the merged output
            g.gemm(m, d, r1, pRows, t, 0, v, w, 0, outOff + ((bi * t + r0) * o + h * d) * 4, o, 0, g.work);
          }
        }
      }
    }
  } finally {
    be.disposeData(scratch.dataId);
  }
  return [out, probs];
}

function causalAttentionGrad(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const { b, t, d, nh, nkv, w, o, scale, rope } = dims(args);
  const rep = nh / nkv;
  const dqkv = be.makeOutput([b, t, w], 'float32');
  const scratch = be.makeOutput([4 * t * d + t * t], 'float32');
  try {
    const k = simdOf(be);
    const g = gemmOf(be);
    const qkv = heapOffset(be, args.inputs['qkv']!);
    const dy = heapOffset(be, args.inputs['dy']!);
    const pOff = heapOffset(be, args.inputs['probs']!);
    const cos = rope ? heapOffset(be, args.inputs['cos']!) : 0;
    const sin = rope ? heapOffset(be, args.inputs['sin']!) : 0;
    const qs = heapOffset(be, scratch);
    const ks = qs + t * d * 4;
    const dq = ks + t * d * 4;
    const dk = dq + t * d * 4;
    const dp = dk + t * d * 4;
    const dOff = heapOffset(be, dqkv);
    for (let bi = 0; bi < b; bi++) {
      const rowBase = qkv + bi * t * w * 4;
      const dRowBase = dOff + bi * t * w * 4;
      for (let gi = 0; gi < nkv; gi++) {
        k.ropeGather(rowBase + (nh + gi) * d * 4, w, ks, d, t, d, cos, sin, 1, rope);
        const v = rowBase + (nh + nkv + gi) * d * 4;
        const dv = dRowBase + (nh + nkv + gi) * d * 4;
        for (let h = gi * rep; h < (gi + 1) * rep; h++) {
          const first = h === gi * rep ? 0 : 1; // accumulate over the query heads sharing this kv head
          k.ropeGather(rowBase + h * d * 4, w, qs, d, t, d, cos, sin, scale, rope);
          const p = pOff + (bi * nh + h) * t * t * 4;
          const dO = dy + (bi * t * o + h * d) * 4;
          for (let r0 = 0; r0 < t; r0 += BLOCK) {
            const r1 = Math.min(r0 + BLOCK, t);
            const m = r1 - r0;
            g.gemm(m, r1, d, dO + r0 * o * 4, o, 0, v, w, 1, dp + r0 * t * 4, t, 0, g.work); // dP = dO·Vᵀ
            k.causalSoftmaxGrad(p + r0 * t * 4, dp + r0 * t * 4, m, t, r0, r1); // dS
            g.gemm(m, d, r1, dp + r0 * t * 4, t, 0, ks, d, 0, dq + r0 * d * 4, d, 0, g.work); // dQ = dS·K
          }
          for (let c0 = 0; c0 < t; c0 += BLOCK) {
            const c1 = Math.min(c0 + BLOCK, t);
            const diag = (c0 * t + c0) * 4;
            // keys c0..c1 receive from queries c0..t: dK += dSᵀ·Q, dV += Pᵀ·dO
            g.gemm(c1 - c0, d, t - c0, dp + diag, t, 1, qs + c0 * d * 4, d, 0, dk + c0 * d * 4, d, first, g.work);
            g.gemm(c1 - c0, d, t - c0, p + diag, t, 1, dO + c0 * o * 4, o, 0, dv + c0 * w * 4, w, first, g.work);
          }
          k.ropeScatter(dq, d, dRowBase + h * d * 4, w, t, d, cos, sin, scale, rope);
        }
        k.ropeScatter(dk, d, dRowBase + (nh + gi) * d * 4, w, t, d, cos, sin, 1, rope);
      }
    }
  } finally {
    be.disposeData(scratch.dataId);
  }
  return dqkv;
}

// Attention of T new positions over a key/value cache [B, kvHeads, capacity, D]: the new keys
// (rotated) and values are written into the cache in place at positions past .. past + T − 1,
// then each query attends keys 0 .. its own position. One query (a decoding step): dot products,
// softmax and a weighted sum of value rows; several (a prompt): the blocked products.
function cachedAttention(args: Args): TensorInfo {
  const be = args.backend as WasmBackendLike;
  const { b, t, d, nh, nkv, w, o, scale, rope } = dims(args);
  const past = args.attrs!['past'] as number;
  const keys = args.inputs['keys']!;
  const cap = keys.shape[2]!;
  const rep = nh / nkv;
  const total = past + t;
  const out = be.makeOutput([b, t, o], 'float32');
  const scratch = be.makeOutput([t * d + Math.min(t, BLOCK) * total], 'float32');
  try {
    const k = simdOf(be);
    const g = gemmOf(be);
    const qkv = heapOffset(be, args.inputs['qkv']!);
    const kOff = heapOffset(be, keys);
    const vOff = heapOffset(be, args.inputs['values']!);
    const cos = rope ? heapOffset(be, args.inputs['cos']!) : 0;
    const sin = rope ? heapOffset(be, args.inputs['sin']!) : 0;
    const qs = heapOffset(be, scratch);
    const sc = qs + t * d * 4;
    const outOff = heapOffset(be, out);
    for (let bi = 0; bi < b; bi++) {
      const rowBase = qkv + bi * t * w * 4;
      for (let gi = 0; gi < nkv; gi++) {
        const kBase = kOff + (bi * nkv + gi) * cap * d * 4;
        const vBase = vOff + (bi * nkv + gi) * cap * d * 4;
        k.ropeGather(rowBase + (nh + gi) * d * 4, w, kBase + past * d * 4, d, t, d, cos, sin, 1, rope);
        k.ropeGather(rowBase + (nh + nkv + gi) * d * 4, w, vBase + past * d * 4, d, t, d, 0, 0, 1, 0);
        for (let h = gi * rep; h < (gi + 1) * rep; h++) {
          k.ropeGather(rowBase + h * d * 4, w, qs, d, t, d, cos, sin, scale, rope);
          const outH = outOff + (bi * t * o + h * d) * 4;
          if (t === 1) {
            g.gemvT(1, total, d, qs, d, kBase, d, sc, total); // scores
            k.causalSoftmax(sc, 1, total, past, total);
            k.axpyRows(sc, vBase, d, outH, total, d);
            continue;
          }
          for (let r0 = 0; r0 < t; r0 += BLOCK) {
            const r1 = Math.min(r0 + BLOCK, t);
            const m = r1 - r0;
            const width = past + r1;
            g.gemm(m, width, d, qs + r0 * d * 4, d, 0, kBase, d, 1, sc, width, 0, g.work);
            k.causalSoftmax(sc, m, width, past + r0, width);
            g.gemm(m, d, width, sc, width, 0, vBase, d, 0, outH + r0 * o * 4, o, 0, g.work);
          }
        }
      }
    }
  } finally {
    be.disposeData(scratch.dataId);
  }
  return out;
}

/** The attention kernels by (custom) kernel name. */
export const ATTENTION_KERNELS = {
  CalmCausalAttention: causalAttention,
  CalmCausalAttentionGrad: causalAttentionGrad,
  CalmCachedAttention: cachedAttention,
} as unknown as Record<string, KernelFunc>;
