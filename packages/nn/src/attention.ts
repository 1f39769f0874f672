// Causal multi-head self-attention over a fused q|k|v projection, with optional rotary embeddings
// (rotate-half layout) and grouped-query heads: one fused kernel forward and one backward on the
// wasm backend, the same math from stock ops elsewhere.

import * as tf from '@tensorflow/tfjs';
import { hasKernel, runKernel, withGradient } from './fused.js';
import { fail } from './internal/errors.js';

/**
 * Options of {@link causalSelfAttention}.
 * @category Layers
 */
export interface CausalSelfAttentionOptions {
  /** Query heads. */
  numHeads: number;
  /** Key/value heads (grouped-query attention: query head h reads kv head ⌊h / (heads / kvHeads)⌋). @defaultValue numHeads */
  numKvHeads?: number;
  /** Rotary embedding tables `cos`, shape `[T, D]`, float32 (HF's rotate-half layout), applied to queries and keys; with `sin`. */
  cos?: tf.Tensor2D;
  /** Rotary embedding tables `sin`, shape `[T, D]`, float32; with `cos`. */
  sin?: tf.Tensor2D;
  /** Score scale. @defaultValue 1/√D */
  scale?: number;
}

/** rotate_half(x)·sin + x·cos over the last axis of x [..., D]. */
function ropeComposite(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  const d = x.shape[x.rank - 1]!;
  const [a, b] = tf.split(x, [d / 2, d / 2], -1) as [tf.Tensor, tf.Tensor];
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(b), a], -1), sin));
}

/**
 * Causal self-attention of a sequence given its fused query/key/value projection: per head,
 * `softmax(q·kᵀ·scale + causal mask)·v`, heads merged back side by side (HF Llama attention before
 * `o_proj`, with `repeat_kv` for grouped-query heads and RoPE applied to q and k).
 *
 * @remarks
 * On the wasm backend with `@calm/nn`'s kernels this is one fused kernel forward and one backward:
 * the products run per head on the heap without transposes, only the causal part of the score
 * matrix is computed (query blocks against key prefixes), and the probabilities are kept for the
 * backward. Elsewhere it is computed from stock ops with an additive −1e9 mask.
 * @param qkv - The projections side by side, shape `[B, T, (heads + 2·kvHeads)·D]`, float32: all
 *   query heads, then all key heads, then all value heads (`concat([q_proj, k_proj, v_proj])`).
 * @param options - Head counts, RoPE tables, scale.
 * @returns The attention output with heads merged, shape `[B, T, heads·D]`, float32. Caller owns
 *   the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `SHAPE_MISMATCH` when the last dimension does not split into heads or the
 *   RoPE tables are not `[T, D]`; `INVALID_ARGUMENT` when heads is not a multiple of kvHeads.
 * @example
 * {@includeCode ../test/examples.test.ts#attention}
 * @category Layers
 */
export function causalSelfAttention(qkv: tf.Tensor3D, options: CausalSelfAttentionOptions): tf.Tensor3D {
  const nh = options.numHeads;
  const nkv = options.numKvHeads ?? nh;
  if (!Number.isInteger(nh) || !Number.isInteger(nkv) || nh < 1 || nkv < 1 || nh % nkv !== 0)
    fail(
      'INVALID_ARGUMENT',
      `causalSelfAttention: numHeads (${nh}) must be a positive multiple of numKvHeads (${nkv}).`,
    );
  if (qkv.rank !== 3 || qkv.shape[2] % (nh + 2 * nkv) !== 0)
    fail(
      'SHAPE_MISMATCH',
      `causalSelfAttention: qkv must be [B, T, (heads + 2·kvHeads)·D] = [B, T, ${nh + 2 * nkv}·D], got [${qkv.shape.join(', ')}].`,
    );
  const [b, t, w] = qkv.shape;
  const d = w / (nh + 2 * nkv);
  const { cos, sin } = options;
  if ((cos === undefined) !== (sin === undefined))
    fail('INVALID_ARGUMENT', 'causalSelfAttention: pass both cos and sin, or neither.');
  if (cos && sin && (!tf.util.arraysEqual(cos.shape, [t, d]) || !tf.util.arraysEqual(sin.shape, [t, d]) || d % 2))
    fail(
      'SHAPE_MISMATCH',
      `causalSelfAttention: cos and sin must be [T, D] = [${t}, ${d}] with D even, got [${cos.shape.join(', ')}] and [${sin.shape.join(', ')}].`,
    );
  const scale = options.scale ?? 1 / Math.sqrt(d);
  if (hasKernel('CalmCausalAttention') && qkv.dtype === 'float32' && t > 0) {
    const attrs = { numHeads: nh, numKvHeads: nkv, scale };
    return withGradient([qkv], (save) => {
      const tables = cos && sin ? { cos, sin } : {};
      const [out, probs] = runKernel('CalmCausalAttention', { qkv, ...tables }, attrs) as [tf.Tensor, tf.Tensor];
      save([qkv, probs, ...(cos && sin ? [cos, sin] : [])]);
      return {
        value: out,
        gradFunc: (dy, [sq, sp, sc, ss]) =>
          runKernel(
            'CalmCausalAttentionGrad',
            { dy, qkv: sq!, probs: sp!, ...(sc && ss ? { cos: sc, sin: ss } : {}) },
            attrs,
          )[0]!,
      };
    }) as tf.Tensor3D;
  }
  return tf.tidy(() => {
    const heads = (start: number, n: number): tf.Tensor4D =>
      tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, start * d], [b, t, n * d]), [b, t, n, d]), [0, 2, 1, 3]);
    let q: tf.Tensor4D = heads(0, nh);
    let k: tf.Tensor4D = heads(nh, nkv);
    let v: tf.Tensor4D = heads(nh + nkv, nkv);
    if (cos && sin) {
      q = ropeComposite(q, cos, sin) as tf.Tensor4D;
      k = ropeComposite(k, cos, sin) as tf.Tensor4D;
    }
    const rep = nh / nkv;
    if (rep > 1) {
      const expand = (y: tf.Tensor4D): tf.Tensor4D =>
        tf.reshape(tf.tile(tf.reshape(y, [b, nkv, 1, t * d]), [1, 1, rep, 1]), [b, nh, t, d]);
      k = expand(k);
      v = expand(v);
    }
    const maskVals = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) maskVals[i * t + j] = -1e9;
    const q3 = tf.reshape(q, [b * nh, t, d]);
    const scores = tf.add(
      tf.mul(tf.matMul(q3, tf.reshape(k, [b * nh, t, d]), false, true), scale),
      tf.tensor2d(maskVals, [t, t]),
    );
    const ctx = tf.matMul(tf.softmax(scores, -1), tf.reshape(v, [b * nh, t, d]));
    return tf.reshape(tf.transpose(tf.reshape(ctx, [b, nh, t, d]), [0, 2, 1, 3]), [b, t, nh * d]) as tf.Tensor3D;
  });
}

/**
 * The key/value cache of one attention layer for {@link cachedSelfAttention}: buffers with room
 * for `capacity` positions, of which the caller tracks how many are filled.
 * @category Layers
 */
export interface AttentionKvBuffers {
  /** Rotated keys, shape `[B, kvHeads, capacity, D]`, float32. */
  keys: tf.Tensor4D;
  /** Values, shape `[B, kvHeads, capacity, D]`, float32. */
  values: tf.Tensor4D;
}

/**
 * Causal self-attention of T new positions over a key/value cache (incremental decoding): their
 * keys (rotated) and values are written into the cache at positions `past .. past + T − 1`, and
 * each new query attends to the keys up to its own position.
 *
 * @remarks
 * On the wasm backend with `@calm/nn`'s kernels the cache buffers are written in place (no copy of
 * the cache per step) and a step is one fused kernel: for one new position, dot products with the
 * cached keys, the softmax and a weighted sum of the cached values. Elsewhere `cache.keys` and
 * `cache.values` are replaced by updated tensors (the old ones disposed). The buffers must not be
 * shared with other code: they change in place.
 * @param qkv - The new positions' projections side by side, shape `[B, T, (heads + 2·kvHeads)·D]`, float32 (see {@link causalSelfAttention}).
 * @param cache - The layer's buffers, `[B, kvHeads, capacity, D]` each, float32; updated.
 * @param past - Positions already in the cache (the new ones start there); `past + T` must not exceed the capacity.
 * @param options - Head counts, RoPE tables for positions `past .. past + T − 1` (`[T, D]`), scale.
 * @returns The attention output with heads merged, shape `[B, T, heads·D]`, float32. Caller owns
 *   the returned tensor and must dispose it. `qkv` is not disposed; the cache is updated.
 * @throws `CalmError` `SHAPE_MISMATCH` for inconsistent shapes or a full cache.
 * @example
 * {@includeCode ../test/examples.test.ts#cached-attention}
 * @category Layers
 */
export function cachedSelfAttention(
  qkv: tf.Tensor3D,
  cache: AttentionKvBuffers,
  past: number,
  options: CausalSelfAttentionOptions,
): tf.Tensor3D {
  const nh = options.numHeads;
  const nkv = options.numKvHeads ?? nh;
  if (!Number.isInteger(nh) || !Number.isInteger(nkv) || nh < 1 || nkv < 1 || nh % nkv !== 0)
    fail(
      'INVALID_ARGUMENT',
      `cachedSelfAttention: numHeads (${nh}) must be a positive multiple of numKvHeads (${nkv}).`,
    );
  if (qkv.rank !== 3 || qkv.shape[2] % (nh + 2 * nkv) !== 0)
    fail(
      'SHAPE_MISMATCH',
      `cachedSelfAttention: qkv must be [B, T, (heads + 2·kvHeads)·D], got [${qkv.shape.join(', ')}].`,
    );
  const [b, t, w] = qkv.shape;
  const d = w / (nh + 2 * nkv);
  const cap = cache.keys.shape[2];
  const want = [b, nkv, cap, d];
  if (!tf.util.arraysEqual(cache.keys.shape, want) || !tf.util.arraysEqual(cache.values.shape, want))
    fail(
      'SHAPE_MISMATCH',
      `cachedSelfAttention: the cache buffers must be [B, kvHeads, capacity, D] = [${want.join(', ')}], got [${cache.keys.shape.join(', ')}] and [${cache.values.shape.join(', ')}].`,
    );
  if (!Number.isInteger(past) || past < 0 || past + t > cap)
    fail('SHAPE_MISMATCH', `cachedSelfAttention: ${past} cached + ${t} new positions exceed the capacity ${cap}.`);
  const { cos, sin } = options;
  if ((cos === undefined) !== (sin === undefined))
    fail('INVALID_ARGUMENT', 'cachedSelfAttention: pass both cos and sin, or neither.');
  if (cos && sin && (!tf.util.arraysEqual(cos.shape, [t, d]) || !tf.util.arraysEqual(sin.shape, [t, d])))
    fail('SHAPE_MISMATCH', `cachedSelfAttention: cos and sin must be [T, D] = [${t}, ${d}].`);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  if (hasKernel('CalmCachedAttention') && qkv.dtype === 'float32' && t > 0) {
    const tables = cos && sin ? { cos, sin } : {};
    return runKernel(
      'CalmCachedAttention',
      { qkv, keys: cache.keys, values: cache.values, ...tables },
      { numHeads: nh, numKvHeads: nkv, scale, past },
    )[0] as tf.Tensor3D;
  }
  // Stock ops: new buffers with the written positions, attention over the filled prefix.
  const total = past + t;
  const heads = (start: number, n: number): tf.Tensor4D =>
    tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, start * d], [b, t, n * d]), [b, t, n, d]), [0, 2, 1, 3]);
  const [keys, values] = tf.tidy(() => {
    let k = heads(nh, nkv);
    if (cos && sin) k = ropeComposite(k, cos, sin) as tf.Tensor4D;
    const write = (buf: tf.Tensor4D, x: tf.Tensor4D): tf.Tensor4D => {
      const parts = [tf.slice(buf, [0, 0, 0, 0], [b, nkv, past, d]), x];
      if (total < cap) parts.push(tf.slice(buf, [0, 0, total, 0], [b, nkv, cap - total, d]));
      return tf.concat(parts, 2) as tf.Tensor4D;
    };
    return [write(cache.keys, k), write(cache.values, heads(nh + nkv, nkv))];
  });
  tf.dispose([cache.keys, cache.values]);
  cache.keys = tf.keep(keys); // owned by the cache, not by an enclosing tf.tidy
  cache.values = tf.keep(values);
  return tf.tidy(() => {
    let q = heads(0, nh);
    if (cos && sin) q = ropeComposite(q, cos, sin) as tf.Tensor4D;
    const rep = nh / nkv;
    const prefix = (x: tf.Tensor4D): tf.Tensor4D => {
      const p = tf.slice(x, [0, 0, 0, 0], [b, nkv, total, d]) as tf.Tensor4D;
      return rep === 1
        ? p
        : (tf.reshape(tf.tile(tf.reshape(p, [b, nkv, 1, total * d]), [1, 1, rep, 1]), [
            b,
            nh,
            total,
            d,
          ]) as tf.Tensor4D);
    };
    const maskVals = new Float32Array(t * total);
    for (let i = 0; i < t; i++) for (let j = past + i + 1; j < total; j++) maskVals[i * total + j] = -1e9;
    const scores = tf.add(
      tf.mul(
        tf.matMul(tf.reshape(q, [b * nh, t, d]), tf.reshape(prefix(keys), [b * nh, total, d]), false, true),
        scale,
      ),
      tf.tensor2d(maskVals, [t, total]),
    );
    const ctx = tf.matMul(tf.softmax(scores, -1), tf.reshape(prefix(values), [b * nh, total, d]));
    return tf.reshape(tf.transpose(tf.reshape(ctx, [b, nh, t, d]), [0, 2, 1, 3]), [b, t, nh * d]) as tf.Tensor3D;
  });
}
