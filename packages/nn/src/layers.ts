// The layers the CALM models are built from (Linear, Embedding, RMSNorm, LayerNorm, SwiGLU MLP)
// as pure functions over parameter records keyed by state_dict names.

import * as tf from '@tensorflow/tfjs';
import { layerNormOp, rmsNormOp, siluOp, swiGlu } from './fused.js';
import { fail } from './internal/errors.js';

function need(params: Record<string, tf.Tensor>, key: string, fn: string): tf.Tensor {
  const p = params[key];
  if (p === undefined) {
    const prefix = key.slice(0, key.lastIndexOf('.') + 1);
    const near = Object.keys(params).filter((k) => prefix !== '' && k.startsWith(prefix));
    fail(
      'MISSING_PARAMETER',
      `${fn}: no parameter "${key}"${near.length ? `; under "${prefix}" there are: ${near.slice(0, 8).join(', ')}${near.length > 8 ? ', …' : ''}` : ''}. Check the prefix, or create it with createParams.`,
    );
  }
  return p;
}

function lastDim(x: tf.Tensor): number {
  return x.shape[x.rank - 1] ?? 1;
}

/**
 * SiLU (swish) activation, `x · sigmoid(x)`.
 * @param x - Any float32 tensor, shape `[...]`.
 * @returns Shape `[...]` of `x`, float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @see {@link swiGluMlp}, which uses it.
 * @category Layers
 */
export function silu(x: tf.Tensor): tf.Tensor {
  return siluOp(x);
}

/**
 * A Linear layer, `y = x·Wᵀ + b`, with the weight stored `[out, in]` like PyTorch's `nn.Linear`.
 *
 * @param params - Parameters holding `${prefix}.weight` `[out, in]` and optionally `${prefix}.bias` `[out]`, float32.
 * @param prefix - The module's state_dict prefix, e.g. `encoder.hidden_to_latent`.
 * @param x - Input, shape `[..., in]`, float32.
 * @param opts - `bias`: `true` requires the bias, `false` ignores it; by default it is used when present.
 * @returns Output, shape `[..., out]`, float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `MISSING_PARAMETER` when a required key is absent, `SHAPE_MISMATCH` when
 *   the weight is not 2-D, the bias not `[out]`, or `x`'s last dimension is not `in`.
 * @example
 * {@includeCode ../test/examples.test.ts#layers}
 * @category Layers
 */
export function linear(
  params: Record<string, tf.Tensor>,
  prefix: string,
  x: tf.Tensor,
  opts: { bias?: boolean } = {},
): tf.Tensor {
  const w = need(params, `${prefix}.weight`, 'linear');
  if (w.rank !== 2)
    fail('SHAPE_MISMATCH', `linear: "${prefix}.weight" must be 2-D [out, in], got [${w.shape.join(', ')}].`);
  const [outF, inF] = w.shape as [number, number];
  if (lastDim(x) !== inF || x.rank < 1)
    fail(
      'SHAPE_MISMATCH',
      `linear("${prefix}"): input has shape [${x.shape.join(', ')}] but the weight expects a last dimension of ${inF}.`,
    );
  const biasKey = `${prefix}.bias`;
  if (opts.bias === true && params[biasKey] === undefined) need(params, biasKey, 'linear');
  const b = opts.bias === false ? undefined : params[biasKey];
  if (b !== undefined && (b.rank !== 1 || b.shape[0] !== outF))
    fail('SHAPE_MISMATCH', `linear: "${biasKey}" must be [${outF}], got [${b.shape.join(', ')}].`);
  return tf.tidy(() => {
    // 2-D matmul: tfjs's BatchMatMul gradient does not handle a batch broadcast against a matrix.
    const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, inF]); // [N, in]
    let y = tf.matMul(x2, w, false, true); // [N, out]
    if (b !== undefined) y = tf.add(y, b);
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outF]);
  });
}

/**
 * An embedding lookup (`nn.Embedding`): rows of `params[key]` selected by token ids.
 * @param params - Parameters holding `key`, shape `[V, d]`, float32.
 * @param key - The full state_dict key, e.g. `encoder.embed_tokens.weight`.
 * @param ids - Token ids, any shape `[...]`, int32, values in `[0, V)`.
 * @returns Embeddings, shape `[..., d]`, float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `MISSING_PARAMETER`, `SHAPE_MISMATCH` for a table that is not 2-D,
 *   `INVALID_ARGUMENT` for ids that are not int32 (out-of-range ids fail in the gather kernel).
 * @example
 * {@includeCode ../test/examples.test.ts#layers}
 * @category Layers
 */
export function embedding(params: Record<string, tf.Tensor>, key: string, ids: tf.Tensor): tf.Tensor {
  const table = need(params, key, 'embedding');
  if (table.rank !== 2)
    fail('SHAPE_MISMATCH', `embedding: "${key}" must be 2-D [V, d], got [${table.shape.join(', ')}].`);
  if (ids.dtype !== 'int32')
    fail(
      'INVALID_ARGUMENT',
      `embedding("${key}"): ids must be int32, got ${ids.dtype}; create them with tf.tensor(ids, shape, 'int32').`,
    );
  return tf.gather(table, ids);
}

/**
 * RMSNorm as in Llama: `w · x / sqrt(mean(x²) + eps)` over the last axis, in float32.
 * @param params - Parameters holding `${prefix}.weight`, shape `[d]`, float32.
 * @param prefix - Module prefix, e.g. `encoder.norm`.
 * @param x - Input, shape `[..., d]`, float32.
 * @param eps - Added to the mean square (the official `rms_norm_eps` is 1e-6).
 * @returns Shape `[..., d]`, float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `MISSING_PARAMETER`, `SHAPE_MISMATCH` when the weight is not `[d]`,
 *   `INVALID_ARGUMENT` for a negative eps.
 * @example
 * {@includeCode ../test/examples.test.ts#layers}
 * @category Layers
 */
export function rmsNorm(params: Record<string, tf.Tensor>, prefix: string, x: tf.Tensor, eps: number): tf.Tensor {
  const w = need(params, `${prefix}.weight`, 'rmsNorm');
  const d = lastDim(x);
  if (w.rank !== 1 || w.shape[0] !== d)
    fail(
      'SHAPE_MISMATCH',
      `rmsNorm("${prefix}"): weight [${w.shape.join(', ')}] does not match the input's last dimension ${d}.`,
    );
  if (!(eps >= 0)) fail('INVALID_ARGUMENT', `rmsNorm("${prefix}"): eps must be >= 0, got ${eps}.`);
  return rmsNormOp(x, w, eps);
}

/**
 * LayerNorm over the last axis with affine weight and bias (`nn.LayerNorm`, biased variance).
 * @param params - Parameters holding `${prefix}.weight` and `${prefix}.bias`, each `[d]`, float32.
 * @param prefix - Module prefix, e.g. `mlp_generator.norm_hidden`.
 * @param x - Input, shape `[..., d]`, float32.
 * @param eps - Added to the variance (1e-6 in CALM's head).
 * @returns Shape `[..., d]`, float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `MISSING_PARAMETER`, `SHAPE_MISMATCH`, `INVALID_ARGUMENT` for a negative eps.
 * @example
 * {@includeCode ../test/examples.test.ts#layers}
 * @category Layers
 */
export function layerNorm(params: Record<string, tf.Tensor>, prefix: string, x: tf.Tensor, eps: number): tf.Tensor {
  const w = need(params, `${prefix}.weight`, 'layerNorm');
  const b = need(params, `${prefix}.bias`, 'layerNorm');
  const d = lastDim(x);
  for (const [k, t] of [
    ['weight', w],
    ['bias', b],
  ] as const) {
    if (t.rank !== 1 || t.shape[0] !== d)
      fail(
        'SHAPE_MISMATCH',
        `layerNorm("${prefix}"): ${k} [${t.shape.join(', ')}] does not match the input's last dimension ${d}.`,
      );
  }
  if (!(eps >= 0)) fail('INVALID_ARGUMENT', `layerNorm("${prefix}"): eps must be >= 0, got ${eps}.`);
  return layerNormOp(x, w, b, eps);
}

/**
 * The SwiGLU MLP of Llama and CALM: `down_proj(silu(gate_proj(x)) * up_proj(x))`, no biases.
 * @param params - Parameters holding `${prefix}.gate_proj.weight` `[I, d]`, `${prefix}.up_proj.weight` `[I, d]`, `${prefix}.down_proj.weight` `[d, I]`, float32.
 * @param prefix - Module prefix, e.g. `encoder.encoder_layers.0.mlp`.
 * @param x - Input, shape `[..., d]`, float32.
 * @returns Shape `[..., d]`, float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @throws `CalmError` `MISSING_PARAMETER`, `SHAPE_MISMATCH` (see {@link linear}).
 * @example
 * {@includeCode ../test/examples.test.ts#layers}
 * @category Layers
 */
export function swiGluMlp(params: Record<string, tf.Tensor>, prefix: string, x: tf.Tensor): tf.Tensor {
  const wg = need(params, `${prefix}.gate_proj.weight`, 'swiGluMlp');
  const wu = need(params, `${prefix}.up_proj.weight`, 'swiGluMlp');
  if (wg.rank !== 2 || !tf.util.arraysEqual(wg.shape, wu.shape))
    fail(
      'SHAPE_MISMATCH',
      `swiGluMlp("${prefix}"): gate_proj [${wg.shape.join(', ')}] and up_proj [${wu.shape.join(', ')}] must be equal 2-D [I, d].`,
    );
  return tf.tidy(() => {
    // Many rows (training): one product for both projections, weights concatenated (gate first).
    // A few rows (decoding): two products and their small outputs concatenated instead.
    const rows = x.size / (x.shape[x.rank - 1] ?? 1);
    const gu =
      rows > 16
        ? linear({ 'gate_up.weight': tf.concat([wg, wu], 0) }, 'gate_up', x, { bias: false })
        : tf.concat(
            [
              linear(params, `${prefix}.gate_proj`, x, { bias: false }),
              linear(params, `${prefix}.up_proj`, x, { bias: false }),
            ],
            -1,
          ); // [..., 2I]
    return linear(params, `${prefix}.down_proj`, swiGlu(gu), { bias: false }); // [..., d]
  });
}
