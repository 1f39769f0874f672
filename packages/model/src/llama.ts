// The Llama backbone shared by CALM and the AR baseline (HF transformers 4.43 `LlamaModel`):
// pre-norm decoder layers with RMSNorm, rotary embeddings in the rotate-half layout, multi-head
// attention with grouped-query support and a causal mask, a SwiGLU MLP, and a KV cache for
// incremental decoding. Pure functions over a parameter record keyed by the official names.

import * as tf from '@tensorflow/tfjs';
import {
  cachedSelfAttention,
  causalSelfAttention,
  linear,
  swiGlu,
  normalInit,
  onesInit,
  rmsNorm,
  type AttentionKvBuffers,
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

/** Internal state of a {@link KvCache}. */
interface CacheState {
  /** Per layer: rotated keys and values, [B, kvHeads, capacity, D]; the first `filled` positions are set. */
  layers: AttentionKvBuffers[];
  filled: number;
  /** Capacity asked for at construction (buffers are allocated at the first forward pass). */
  requested: number;
  /** The `keys`/`values` views handed out, [B, kvHeads, filled, D], and the fill they show. */
  views?: { keys: tf.Tensor4D[]; values: tf.Tensor4D[]; filled: number } | undefined;
  /** Weights concatenated for one product (q|k|v, gate|up) by name, with the sources' data ids. */
  fused: Map<string, { ids: object[]; value: tf.Tensor }>;
}

const cacheStates = new WeakMap<KvCache, CacheState>();

function stateOf(cache: KvCache): CacheState {
  return cacheStates.get(cache)!;
}

/** Frees the handed-out views (they are rebuilt when read again). */
function dropViews(st: CacheState): void {
  if (st.views) tf.dispose([...st.views.keys, ...st.views.values]);
  st.views = undefined;
}

/**
 * A key/value cache for incremental decoding: per layer the post-RoPE keys and values of every
 * position seen so far (HF `DynamicCache`), in buffers preallocated to a capacity.
 *
 * @remarks
 * {@link llamaForward} writes the new positions into the buffers (in place on the wasm backend
 * with `@calm/nn`'s kernels, so a decoding step does not copy the cache) and attends over the
 * filled part; a full cache grows by doubling. Give the capacity you need (prompt plus generated
 * positions) to avoid growing. The cache owns its tensors; call {@link KvCache.dispose} when done.
 * @example
 * {@includeCode ../test/examples.test.ts#llama-forward}
 * @category Backbone
 */
export class KvCache {
  /**
   * Creates an empty cache.
   * @param options - `capacity`: positions to preallocate (grows by doubling when exceeded). @defaultValue 64
   * @throws `CalmError` `INVALID_ARGUMENT` for a capacity that is not a positive integer.
   */
  constructor(options: { capacity?: number } = {}) {
    const requested = options.capacity ?? 64;
    if (!Number.isInteger(requested) || requested < 1)
      fail('INVALID_ARGUMENT', `KvCache: capacity must be an integer >= 1, got ${requested}.`);
    cacheStates.set(this, { layers: [], filled: 0, requested, fused: new Map() });
  }

  /** Number of cached positions (0 when empty). */
  get length(): number {
    return stateOf(this).filled;
  }

  /** Batch rows of the cached tensors (0 when empty). */
  get batchSize(): number {
    return stateOf(this).layers[0]?.keys.shape[0] ?? 0;
  }

  /** Positions the buffers hold before they grow (the requested capacity until the first pass). */
  get capacity(): number {
    const st = stateOf(this);
    return st.layers[0]?.keys.shape[2] ?? st.requested;
  }

  /**
   * Keys per layer, each [B, numKeyValueHeads, length, headDim] float32 (empty before the first
   * call): copies of the filled part, owned by the cache and valid until its next update.
   */
  get keys(): tf.Tensor4D[] {
    return this.view().keys;
  }

  /** Values per layer, each [B, numKeyValueHeads, length, headDim] float32; as {@link KvCache.keys}. */
  get values(): tf.Tensor4D[] {
    return this.view().values;
  }

  private view(): { keys: tf.Tensor4D[]; values: tf.Tensor4D[] } {
    const st = stateOf(this);
    if (!st.views || st.views.filled !== st.filled) {
      dropViews(st);
      const take = (t: tf.Tensor4D): tf.Tensor4D =>
        tf.keep(tf.slice(t, [0, 0, 0, 0], [t.shape[0], t.shape[1], st.filled, t.shape[3]]));
      st.views = {
        keys: st.layers.map((l) => take(l.keys)),
        values: st.layers.map((l) => take(l.values)),
        filled: st.filled,
      };
    }
    return st.views;
  }

  /**
   * A new cache holding the first `length` positions of this one (for rolling out several
   * continuations from one prefix); this cache is unchanged.
   * @param length - Positions to keep, in [0, this.length].
   * @param rows - Optional batch rows to keep (int indices, in order; repeats allowed).
   * @returns A new cache with this one's capacity (at least `length`). Caller owns it and must dispose it.
   * @throws `CalmError` `INVALID_ARGUMENT` for an out-of-range length or row.
   */
  slice(length: number, rows?: readonly number[]): KvCache {
    if (!Number.isInteger(length) || length < 0 || length > this.length)
      fail('INVALID_ARGUMENT', `KvCache.slice: length must be an integer in [0, ${this.length}], got ${length}.`);
    if (rows)
      for (const r of rows)
        if (!Number.isInteger(r) || r < 0 || r >= this.batchSize)
          fail('INVALID_ARGUMENT', `KvCache.slice: row ${r} is outside [0, ${this.batchSize}).`);
    const st = stateOf(this);
    const out = new KvCache({ capacity: Math.max(this.capacity, 1) });
    const os = stateOf(out);
    const copy = (t: tf.Tensor4D): tf.Tensor4D =>
      tf.keep(
        tf.tidy(() => {
          // The kept positions, then zeros up to the capacity.
          let s: tf.Tensor4D = tf.slice(t, [0, 0, 0, 0], [t.shape[0], t.shape[1], length, t.shape[3]]);
          if (rows) s = tf.gather(s, tf.tensor1d(Int32Array.from(rows), 'int32'), 0);
          const cap = t.shape[2];
          return cap > length ? tf.concat([s, tf.zeros([s.shape[0], s.shape[1], cap - length, s.shape[3]])], 2) : s;
        }),
      );
    os.layers = st.layers.map((l) => ({ keys: copy(l.keys), values: copy(l.values) }));
    os.filled = length;
    return out;
  }

  /** Frees every cached tensor; the cache is empty afterwards. */
  dispose(): void {
    const st = stateOf(this);
    dropViews(st);
    tf.dispose(st.layers.flatMap((l) => [l.keys, l.values]));
    tf.dispose([...st.fused.values()].map((f) => f.value));
    st.layers = [];
    st.fused.clear();
    st.filled = 0;
  }
}

/**
 * The cache's buffers for `t` more positions of every layer, allocated or grown (doubling, the
 * filled part copied) as needed.
 */
function reserve(cache: KvCache, layers: number, b: number, nkv: number, d: number, t: number): AttentionKvBuffers[] {
  const st = stateOf(cache);
  const need = st.filled + t;
  const cap = st.layers[0]?.keys.shape[2] ?? 0;
  if (st.layers.length === layers && cap >= need) return st.layers;
  const next = Math.max(need, st.layers.length ? 2 * cap : st.requested);
  // Kept: the cache owns its buffers, whatever tf.tidy the forward pass runs in.
  const grow = (old: tf.Tensor4D | undefined): tf.Tensor4D =>
    tf.keep(
      tf.tidy(() => {
        const fresh = tf.zeros([b, nkv, next - st.filled, d]) as tf.Tensor4D;
        if (!old || st.filled === 0) return fresh;
        return tf.concat([tf.slice(old, [0, 0, 0, 0], [b, nkv, st.filled, d]), fresh], 2) as tf.Tensor4D;
      }),
    );
  const old = st.layers;
  st.layers = Array.from({ length: layers }, (_, i) => ({ keys: grow(old[i]?.keys), values: grow(old[i]?.values) }));
  tf.dispose(old.flatMap((l) => [l.keys, l.values]));
  return st.layers;
}

/** `tf.concat(sources, 0)`, kept in the cache until a source changes (weights are fixed while decoding). */
function fusedWeight(cache: KvCache, name: string, sources: tf.Tensor[]): tf.Tensor {
  const st = stateOf(cache);
  const hit = st.fused.get(name);
  const ids = sources.map((t) => t.dataId);
  if (hit?.ids.every((id, i) => id === ids[i])) return hit.value;
  if (hit) hit.value.dispose();
  const value = tf.keep(tf.concat(sources, 0));
  st.fused.set(name, { ids, value });
  return value;
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
  const eps = config.rmsNormEps;
  const p = options.prefix;
  const { cos: cosArr, sin: sinArr } = ropeTables(d, config.ropeTheta, past, t);
  const buffers = cache ? reserve(cache, config.numHiddenLayers, b, nkv, d, t) : undefined;
  const weight = (key: string): tf.Tensor =>
    params[key] ?? fail('MISSING_PARAMETER', `llamaForward: no parameter "${key}".`);
  /** One product for several projections (weights concatenated; kept by the cache while decoding). */
  const joined = (name: string, keys: string[]): tf.Tensor => {
    const sources = keys.map(weight);
    return cache ? fusedWeight(cache, name, sources) : tf.concat(sources, 0);
  };
  const out = tf.tidy(() => {
    const cos = tf.tensor2d(cosArr, [t, d]);
    const sin = tf.tensor2d(sinArr, [t, d]);
    const scale = 1 / Math.sqrt(d);
    // The residual stream as [B·T, H] rows (no reshapes around each product); [B, T, ·] for attention.
    let x: tf.Tensor2D = tf.reshape(inputsEmbeds, [b * t, h]);
    const layers: tf.Tensor3D[] = [];
    for (let i = 0; i < config.numHiddenLayers; i++) {
      const l = `${p}.layers.${i}`;
      const normed = rmsNorm(params, `${l}.input_layernorm`, x, eps);
      // q, k and v from one product: [B, T, (nh + 2·nkv)·D]
      const wqkv = joined(
        `${l}.qkv`,
        ['q_proj', 'k_proj', 'v_proj'].map((n) => `${l}.self_attn.${n}.weight`),
      );
      const qkv = tf.reshape(linear({ 'qkv.weight': wqkv }, 'qkv', normed, { bias: false }), [b, t, -1]) as tf.Tensor3D;
      const attention = { numHeads: nh, numKvHeads: nkv, cos, sin, scale };
      const merged = buffers
        ? cachedSelfAttention(qkv, buffers[i]!, past, attention) // writes this step's keys and values
        : causalSelfAttention(qkv, attention);
      const attnOut = linear(params, `${l}.self_attn.o_proj`, tf.reshape(merged, [b * t, nh * d]), { bias: false });
      x = tf.add(x, attnOut) as tf.Tensor2D;
      // SwiGLU MLP, gate and up from one product
      const post = rmsNorm(params, `${l}.post_attention_layernorm`, x, eps);
      const wgu = joined(`${l}.gate_up`, [`${l}.mlp.gate_proj.weight`, `${l}.mlp.up_proj.weight`]);
      const gu = linear({ 'gate_up.weight': wgu }, 'gate_up', post, { bias: false });
      x = tf.add(x, linear(params, `${l}.mlp.down_proj`, swiGlu(gu), { bias: false })) as tf.Tensor2D;
      if (options.outputLayers) layers.push(tf.reshape(x, [b, t, h]));
    }
    const hidden = tf.reshape(rmsNorm(params, `${p}.norm`, x, eps), [b, t, h]) as tf.Tensor3D;
    return { hidden, layers };
  });
  if (cache) {
    // The composite attention path replaces the buffers; keep them out of the step's scope.
    const st = stateOf(cache);
    st.filled += t;
    dropViews(st);
  }
  if (options.outputLayers) return { hidden: out.hidden, layers: out.layers };
  tf.dispose(out.layers);
  return { hidden: out.hidden };
}
