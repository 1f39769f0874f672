// The Llama backbone shared by CALM and the AR baseline (HF transformers 4.43 `LlamaModel`):
// pre-norm decoder layers with RMSNorm, rotary embeddings in the rotate-half layout, multi-head
// attention with grouped-query support and a causal mask, a SwiGLU MLP, and a KV cache for
// incremental decoding. Pure functions over a parameter record keyed by the official names.

import * as tf from '@tensorflow/tfjs';
import {
  causalSelfAttention,
  linear,
  normalInit,
  onesInit,
  rmsNorm,
  swiGluMlp,
  type ParamRecord,
  type ParamSpec,
} from '@calm/nn';
import { headDim as headDimOf, type LlamaConfig } from './config.js';
import { fail } from './internal/errors.js';

/**
 * The parameter specs of a Llama backbone (official names and PyTorch shapes), in registration
 * order: optional `embed_tokens.weight`, then per layer q/k/v/o projections, the MLP, the two
 * RMSNorms, and the final `norm.weight`.
 *
 * @param config - Backbone sizes.
 * @param prefix - Module prefix without trailing dot: `'transformer'` in CALM, `'model'` in the AR baseline.
 * @param embedding - When given, an `embed_tokens.weight` table `[vocabSize, H]` is included; its
 *   `padTokenId` row (if any) starts at zero, like PyTorch's `padding_idx`.
 * @returns Specs by full state-dict key with the official init (N(0, initializerRange) weights, unit norms).
 * @example
 * {@includeCode ../test/examples.test.ts#llama-forward}
 * @category Backbone
 */
export function llamaParamSpecs(
  config: LlamaConfig,
  prefix: string,
  embedding?: { vocabSize: number; padTokenId: number | null },
): Record<string, ParamSpec> {
  const h = config.hiddenSize;
  const hd = headDimOf(config);
  const w = normalInit(config.initializerRange);
  const specs: Record<string, ParamSpec> = {};
  if (embedding) {
    const pad = embedding.padTokenId;
    specs[`${prefix}.embed_tokens.weight`] = {
      shape: [embedding.vocabSize, h],
      init: normalInit(config.initializerRange, pad === null ? {} : { zeroRows: [pad] }),
    };
  }
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const l = `${prefix}.layers.${i}`;
    specs[`${l}.self_attn.q_proj.weight`] = { shape: [config.numAttentionHeads * hd, h], init: w };
    specs[`${l}.self_attn.k_proj.weight`] = { shape: [config.numKeyValueHeads * hd, h], init: w };
    specs[`${l}.self_attn.v_proj.weight`] = { shape: [config.numKeyValueHeads * hd, h], init: w };
    specs[`${l}.self_attn.o_proj.weight`] = { shape: [h, config.numAttentionHeads * hd], init: w };
    specs[`${l}.mlp.gate_proj.weight`] = { shape: [config.intermediateSize, h], init: w };
    specs[`${l}.mlp.up_proj.weight`] = { shape: [config.intermediateSize, h], init: w };
    specs[`${l}.mlp.down_proj.weight`] = { shape: [h, config.intermediateSize], init: w };
    specs[`${l}.input_layernorm.weight`] = { shape: [h], init: onesInit() };
    specs[`${l}.post_attention_layernorm.weight`] = { shape: [h], init: onesInit() };
  }
  specs[`${prefix}.norm.weight`] = { shape: [h], init: onesInit() };
  return specs;
}

/**
 * RoPE tables for positions `start .. start + length − 1` in HF's rotate-half layout:
 * `cos = cos(concat(a, a))`, `sin = sin(concat(a, a))` with `a_i = pos · inv_freq_i` and
 * `inv_freq_i = 1 / θ^(2i/D)` (rounded to float32 as HF stores it).
 *
 * @param headDim - D, the (even) head dimension.
 * @param theta - The RoPE base θ (`rope_theta`).
 * @param start - First position (the number of cached positions during incremental decoding).
 * @param length - Number of positions.
 * @returns `cos` and `sin`, each shape [length, D], float32. Caller owns the returned tensors and
 *   must dispose them.
 * @throws `CalmError` `INVALID_ARGUMENT` for an odd head dimension or negative positions.
 * @example
 * {@includeCode ../test/examples.test.ts#llama-forward}
 * @category Backbone
 */
export function ropeCosSin(
  headDim: number,
  theta: number,
  start: number,
  length: number,
): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const { cos, sin } = ropeTables(headDim, theta, start, length);
  return { cos: tf.tensor2d(cos, [length, headDim]), sin: tf.tensor2d(sin, [length, headDim]) };
}

function ropeTables(d: number, theta: number, start: number, length: number): { cos: Float32Array; sin: Float32Array } {
  if (!Number.isInteger(d) || d < 2 || d % 2 !== 0)
    fail('INVALID_ARGUMENT', `ropeCosSin: headDim must be an even integer >= 2, got ${d}.`);
  if (!Number.isInteger(start) || start < 0 || !Number.isInteger(length) || length < 0)
    fail('INVALID_ARGUMENT', `ropeCosSin: start and length must be integers >= 0, got ${start}, ${length}.`);
  const half = d / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / theta ** ((2 * i) / d);
  const cos = new Float32Array(length * d);
  const sin = new Float32Array(length * d);
  for (let p = 0; p < length; p++) {
    const pos = start + p;
    for (let i = 0; i < half; i++) {
      const a = Math.fround(pos * invFreq[i]!); // HF multiplies in float32
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[p * d + i] = c;
      cos[p * d + half + i] = c;
      sin[p * d + i] = s;
      sin[p * d + half + i] = s;
    }
  }
  return { cos, sin };
}

// rotate_half(x) = concat(-x[D/2:], x[:D/2]) as a product with a signed permutation matrix
// (one 2-D matmul, the fast path on every backend, instead of two strided slices).
const rotateCache = new Map<number, Float32Array>();
function rotateMatrix(d: number): Float32Array {
  let r = rotateCache.get(d);
  if (!r) {
    const half = d / 2;
    r = new Float32Array(d * d);
    // out[j] = sum_i x[i] R[i, j]; out[j] = -x[j + half] for j < half, x[j - half] for j >= half.
    for (let j = 0; j < half; j++) r[(j + half) * d + j] = -1;
    for (let j = half; j < d; j++) r[(j - half) * d + j] = 1;
    rotateCache.set(d, r);
  }
  return r;
}

/** x [B, nh, T, D] → x·cos + rotate_half(x)·sin with cos/sin [T, D]. */
function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D, rot: tf.Tensor2D): tf.Tensor4D {
  const d = x.shape[3];
  const rotated = tf.reshape(tf.matMul(tf.reshape(x, [-1, d]), rot), x.shape);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

/**
 * A key/value cache for incremental decoding: per layer the post-RoPE keys and values of every
 * position seen so far (HF `DynamicCache`).
 *
 * @remarks
 * The cache owns its tensors; {@link llamaForward} replaces them as it appends (disposing the old
 * ones). Call {@link KvCache.dispose} when done.
 * @example
 * {@includeCode ../test/examples.test.ts#llama-forward}
 * @category Backbone
 */
export class KvCache {
  /** Keys per layer, each [B, numKeyValueHeads, length, headDim] float32 (empty before the first call). */
  keys: tf.Tensor4D[] = [];
  /** Values per layer, each [B, numKeyValueHeads, length, headDim] float32. */
  values: tf.Tensor4D[] = [];

  /** Number of cached positions (0 when empty). */
  get length(): number {
    return this.keys[0]?.shape[2] ?? 0;
  }

  /** Batch rows of the cached tensors (0 when empty). */
  get batchSize(): number {
    return this.keys[0]?.shape[0] ?? 0;
  }

  /**
   * A new cache holding the first `length` positions of this one (for rolling out several
   * continuations from one prefix); this cache is unchanged.
   * @param length - Positions to keep, in [0, this.length].
   * @param rows - Optional batch rows to keep (int indices, in order; repeats allowed).
   * @returns A new cache. Caller owns it and must dispose it.
   * @throws `CalmError` `INVALID_ARGUMENT` for an out-of-range length or row.
   */
  slice(length: number, rows?: readonly number[]): KvCache {
    if (!Number.isInteger(length) || length < 0 || length > this.length)
      fail('INVALID_ARGUMENT', `KvCache.slice: length must be an integer in [0, ${this.length}], got ${length}.`);
    if (rows)
      for (const r of rows)
        if (!Number.isInteger(r) || r < 0 || r >= this.batchSize)
          fail('INVALID_ARGUMENT', `KvCache.slice: row ${r} is outside [0, ${this.batchSize}).`);
    const out = new KvCache();
    const take = (t: tf.Tensor4D): tf.Tensor4D =>
      tf.tidy(() => {
        let s = tf.slice(t, [0, 0, 0, 0], [t.shape[0], t.shape[1], length, t.shape[3]]);
        if (rows) s = tf.gather(s, tf.tensor1d(Int32Array.from(rows), 'int32'), 0);
        return s;
      });
    out.keys = this.keys.map(take);
    out.values = this.values.map(take);
    return out;
  }

  /** Frees every cached tensor; the cache is empty afterwards. */
  dispose(): void {
    tf.dispose([...this.keys, ...this.values]);
    this.keys = [];
    this.values = [];
  }
}

/**
 * Options of {@link llamaForward}.
 * @category Backbone
 */
export interface LlamaForwardOptions {
  /** Module prefix of the backbone's parameters: `'transformer'` (CALM) or `'model'` (AR). */
  prefix: string;
  /**
   * A KV cache: the inputs continue the cached positions (RoPE positions start at
   * `cache.length`), and the new keys/values are appended to it.
   */
  cache?: KvCache;
  /** Also return the residual stream after every decoder layer (before the final norm). */
  outputLayers?: boolean;
}

/**
 * The result of {@link llamaForward}.
 * @category Backbone
 */
export interface LlamaOutput {
  /** Final hidden states (after the last RMSNorm), shape [B, T, H], float32. */
  hidden: tf.Tensor3D;
  /** When requested: the residual stream after each decoder layer, each [B, T, H] float32. */
  layers?: tf.Tensor3D[];
}

/**
 * Runs the Llama backbone (HF `LlamaModel` with `inputs_embeds`) on a batch of input vectors.
 *
 * @remarks
 * Causal self-attention over positions `cache.length .. cache.length + T − 1`; query head `h` reads
 * key/value head `h / (heads / kvHeads)` (GQA); scores `q·kᵀ/√D`, softmax in float32; no padding
 * mask (the official CALM code has none). Synchronous; safe inside `tf.grad` when no cache is used.
 * @param params - Parameters holding `${prefix}.layers.{i}.*` and `${prefix}.norm.weight`.
 * @param config - Backbone sizes.
 * @param inputsEmbeds - Input vectors, shape [B, T, H], float32.
 * @param options - Prefix, KV cache, per-layer outputs.
 * @returns Hidden states (and per-layer residuals). Caller owns the returned tensors and must
 *   dispose them. Inputs are not disposed (the cache's own old tensors are replaced and freed).
 * @throws `CalmError` `SHAPE_MISMATCH` for inputs that are not [B, T, H] or a cache of
 *   another batch size; `MISSING_PARAMETER` for absent weights.
 * @example
 * {@includeCode ../test/examples.test.ts#llama-forward}
 * @category Backbone
 */
export function llamaForward(
  params: ParamRecord,
  config: LlamaConfig,
  inputsEmbeds: tf.Tensor3D,
  options: LlamaForwardOptions,
): LlamaOutput {
  const h = config.hiddenSize;
  if (!(inputsEmbeds instanceof tf.Tensor) || inputsEmbeds.rank !== 3 || inputsEmbeds.shape[2] !== h) {
    fail(
      'SHAPE_MISMATCH',
      `llamaForward: inputsEmbeds must be [B, T, ${h}], got [${inputsEmbeds?.shape?.join(', ')}].`,
    );
  }
  const [b, t] = inputsEmbeds.shape;
  const cache = options.cache;
  const past = cache?.length ?? 0;
  if (cache && past > 0 && cache.batchSize !== b)
    fail(
      'SHAPE_MISMATCH',
      `llamaForward: the KV cache holds ${cache.batchSize} rows but the input has ${b}; use one cache per batch.`,
    );
  const nh = config.numAttentionHeads;
  const nkv = config.numKeyValueHeads;
  const d = headDimOf(config);
  const rep = nh / nkv;
  const eps = config.rmsNormEps;
  const p = options.prefix;
  const { cos: cosArr, sin: sinArr } = ropeTables(d, config.ropeTheta, past, t);
  const newKeys: tf.Tensor4D[] = [];
  const newValues: tf.Tensor4D[] = [];
  const out = tf.tidy(() => {
    const cos = tf.tensor2d(cosArr, [t, d]);
    const sin = tf.tensor2d(sinArr, [t, d]);
    const rot = tf.tensor2d(rotateMatrix(d), [d, d]);
    const total = past + t;
    // With a cache, an additive causal mask [T, past + T]: query i (absolute past + i) sees keys j <= past + i.
    let mask: tf.Tensor2D | undefined;
    if (cache) {
      const maskVals = new Float32Array(t * total);
      for (let i = 0; i < t; i++) for (let j = past + i + 1; j < total; j++) maskVals[i * total + j] = -1e9;
      mask = tf.tensor2d(maskVals, [t, total]);
    }
    const scale = 1 / Math.sqrt(d);
    const attentionWithCache = (i: number, normed: tf.Tensor): tf.Tensor => {
      const l = `${p}.layers.${i}`;
      const heads = (y: tf.Tensor, n: number): tf.Tensor4D => tf.transpose(tf.reshape(y, [b, t, n, d]), [0, 2, 1, 3]);
      let q = heads(linear(params, `${l}.self_attn.q_proj`, normed, { bias: false }), nh);
      let k = heads(linear(params, `${l}.self_attn.k_proj`, normed, { bias: false }), nkv);
      const v0 = heads(linear(params, `${l}.self_attn.v_proj`, normed, { bias: false }), nkv);
      q = applyRope(q, cos, sin, rot);
      k = applyRope(k, cos, sin, rot);
      let kAll: tf.Tensor4D = k;
      let vAll: tf.Tensor4D = v0;
      if (past > 0) {
        kAll = tf.concat([cache!.keys[i]!, k], 2);
        vAll = tf.concat([cache!.values[i]!, v0], 2);
      }
      newKeys.push(tf.keep(kAll));
      newValues.push(tf.keep(vAll));
      if (rep > 1) {
        // repeat_kv: [B, nkv, T, D] → [B, nkv·rep, T, D] (tile on rank 4: rank-5 tile has no gradient).
        const expand = (y: tf.Tensor4D): tf.Tensor4D =>
          tf.reshape(tf.tile(tf.reshape(y, [b, nkv, 1, total * d]), [1, 1, rep, 1]), [b, nh, total, d]);
        kAll = expand(kAll);
        vAll = expand(vAll);
      }
      const q3 = tf.reshape(q, [b * nh, t, d]);
      const k3 = tf.reshape(kAll, [b * nh, total, d]);
      const v3 = tf.reshape(vAll, [b * nh, total, d]);
      const scores = tf.add(tf.mul(tf.matMul(q3, k3, false, true), scale), mask!); // [B·nh, T, total]
      const probs = tf.softmax(scores, -1);
      const ctx = tf.matMul(probs, v3); // [B·nh, T, D]
      return tf.reshape(tf.transpose(tf.reshape(ctx, [b, nh, t, d]), [0, 2, 1, 3]), [b, t, nh * d]);
    };
    let x: tf.Tensor3D = inputsEmbeds;
    const layers: tf.Tensor3D[] = [];
    for (let i = 0; i < config.numHiddenLayers; i++) {
      const l = `${p}.layers.${i}`;
      const normed = rmsNorm(params, `${l}.input_layernorm`, x, eps);
      let merged: tf.Tensor;
      if (!cache) {
        // Without a cache: one product for q, k and v (weights concatenated) and the fused causal
        // attention (RoPE inside), heads merged: [B, T, nh·D].
        const wqkv = tf.concat(
          ['q_proj', 'k_proj', 'v_proj'].map((n) => {
            const key = `${l}.self_attn.${n}.weight`;
            return params[key] ?? fail('MISSING_PARAMETER', `llamaForward: no parameter "${key}".`);
          }),
          0,
        );
        const qkv = linear({ 'qkv.weight': wqkv }, 'qkv', normed, { bias: false }) as tf.Tensor3D;
        merged = causalSelfAttention(qkv, { numHeads: nh, numKvHeads: nkv, cos, sin, scale });
      } else {
        merged = attentionWithCache(i, normed);
      }
      x = tf.add(x, linear(params, `${l}.self_attn.o_proj`, merged, { bias: false })) as tf.Tensor3D;
      x = tf.add(
        x,
        swiGluMlp(params, `${l}.mlp`, rmsNorm(params, `${l}.post_attention_layernorm`, x, eps)),
      ) as tf.Tensor3D;
      if (options.outputLayers) layers.push(x);
    }
    const hidden = rmsNorm(params, `${p}.norm`, x, eps) as tf.Tensor3D;
    return { hidden, layers };
  });
  if (cache) {
    const old = [...cache.keys, ...cache.values];
    cache.keys = newKeys;
    cache.values = newValues;
    tf.dispose(old);
  }
  if (options.outputLayers) return { hidden: out.hidden, layers: out.layers };
  tf.dispose(out.layers);
  return { hidden: out.hidden };
}
