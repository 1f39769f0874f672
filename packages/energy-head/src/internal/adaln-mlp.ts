// The MAR-style `SimpleMLPAdaLN` network shared by the flow-matching and diffusion heads (official
// models/modeling_flow.py and models/modeling_diffusion.py define the same module; only the time
// input and the output width differ): parameter specs with the official initialisation, the
// sinusoidal timestep embedding, the conditioning y = time_embed(τ) + cond_embed(c), the residual
// AdaLN blocks and the final layer, and the forward FLOP count.

import * as tf from '@tensorflow/tfjs';
import {
  disposeParams,
  layerNorm,
  linear,
  normalInit,
  onesInit,
  silu,
  zerosInit,
  type Initializer,
  type ParamRecord,
  type ParamSpec,
} from '@calm/nn';
import { joinKey } from './shared.js';

/** LayerNorm epsilon of every norm in the network (hard-coded 1e-6 officially). */
const LN_EPS = 1e-6;
/** `max_period` of the sinusoidal embedding. */
const MAX_PERIOD = 10000;

/** The sizes of a `SimpleMLPAdaLN`. */
export interface AdaLNMlpSizes {
  /** `model_channels` = `z_channels` = H (the official heads use the hidden size for both). */
  hiddenSize: number;
  /** `in_channels`: l. */
  inChannels: number;
  /** `out_channels`: l (flow), 2l (diffusion with learned variance). */
  outChannels: number;
  /** `num_res_blocks` (`num_mlp_layers`). */
  numResBlocks: number;
  /** `frequency_embedding_size` of the `TimestepEmbedder` (256 officially). */
  frequencyEmbeddingSize: number;
}

/** Xavier/Glorot uniform, U(−a, a) with a = √(6 / (fan_in + fan_out)), for a [out, in] weight. */
function xavierUniform(): Initializer {
  return (shape, rng) => {
    const [out = 1, inp = 1] = shape;
    const a = Math.sqrt(6 / (inp + out));
    return rng.fillUniform(new Float32Array(out * inp), -a, a);
  };
}

/**
 * Parameter specs of a `SimpleMLPAdaLN` under `prefix`, in the official registration order, with
 * the official `initialize_weights` (Xavier-uniform Linears, zero biases, N(0, 0.02) time MLP,
 * zero AdaLN modulations and output layer).
 */
export function adaLNMlpParamSpecs(s: AdaLNMlpSizes, prefix: string): Record<string, ParamSpec> {
  const h = s.hiddenSize;
  const specs: Record<string, ParamSpec> = {};
  const lin = (name: string, out: number, inp: number, init: Initializer) => {
    specs[joinKey(prefix, `${name}.weight`)] = { shape: [out, inp], init };
    specs[joinKey(prefix, `${name}.bias`)] = { shape: [out], init: zerosInit() };
  };
  lin('time_embed.mlp.0', h, s.frequencyEmbeddingSize, normalInit(0.02));
  lin('time_embed.mlp.2', h, h, normalInit(0.02));
  lin('cond_embed', h, h, xavierUniform());
  lin('input_proj', h, s.inChannels, xavierUniform());
  for (let b = 0; b < s.numResBlocks; b++) {
    specs[joinKey(prefix, `res_blocks.${b}.in_ln.weight`)] = { shape: [h], init: onesInit() };
    specs[joinKey(prefix, `res_blocks.${b}.in_ln.bias`)] = { shape: [h], init: zerosInit() };
    lin(`res_blocks.${b}.mlp.0`, h, h, xavierUniform());
    lin(`res_blocks.${b}.mlp.2`, h, h, xavierUniform());
    lin(`res_blocks.${b}.adaLN_modulation.1`, 3 * h, h, zerosInit());
  }
  lin('final_layer.linear', s.outChannels, h, zerosInit());
  lin('final_layer.adaLN_modulation.1', 2 * h, h, zerosInit());
  return specs;
}

/**
 * Sinusoidal embedding of MAR/DiT (`TimestepEmbedder.timestep_embedding`): [cos(τ·f_i), sin(τ·f_i)]
 * with f_i = exp(−ln(10⁴)·i/half), plus a zero column for an odd `dim`. τ [R] float32 → [R, dim].
 */
export function timestepEmbedding(tau: tf.Tensor1D, dim: number): tf.Tensor2D {
  const half = Math.floor(dim / 2);
  return tf.tidy(() => {
    const freqs = tf.exp(tf.div(tf.mul(tf.range(0, half, 1, 'float32'), -Math.log(MAX_PERIOD)), half));
    const args = tf.mul(tf.expandDims(tf.cast(tau, 'float32'), 1), tf.expandDims(freqs, 0)); // [R, half]
    const parts = [tf.cos(args), tf.sin(args)];
    if (dim % 2 === 1) parts.push(tf.zeros([tau.shape[0], 1]));
    return tf.concat(parts, 1) as tf.Tensor2D;
  });
}

/**
 * The network over a parameter record. Work that depends only on (hidden state, time) — the
 * conditioning y and every AdaLN modulation — is computed on y's rows and broadcast over the
 * samples, so x may carry N samples per row of y.
 */
export class AdaLNMlp {
  /** The final LayerNorm has no affine parameters: @calm/nn's layerNorm gets constant ones/zeros. */
  private readonly finalNorm: Record<string, tf.Tensor>;

  constructor(
    private readonly params: ParamRecord,
    private readonly prefix: string,
    readonly sizes: AdaLNMlpSizes,
  ) {
    const h = sizes.hiddenSize;
    this.finalNorm = { 'norm_final.weight': tf.ones([h]), 'norm_final.bias': tf.zeros([h]) };
  }

  private key(local: string): string {
    return joinKey(this.prefix, local);
  }

  /** time_embed(τ): the embedding of already-scaled times τ [R] through the time MLP → [R, H]. */
  timeEmbed(tau: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => {
      const emb = timestepEmbedding(tau, this.sizes.frequencyEmbeddingSize);
      const p = this.params;
      return linear(p, this.key('time_embed.mlp.2'), silu(linear(p, this.key('time_embed.mlp.0'), emb))) as tf.Tensor2D;
    });
  }

  /** cond_embed(c): hidden states [.., H] → [.., H]. */
  condEmbed(c: tf.Tensor): tf.Tensor {
    return linear(this.params, this.key('cond_embed'), c);
  }

  /** The network body on x [B, N, in] with conditioning y [B, 1 or N, H] → [B, N, out]. */
  forward(x: tf.Tensor3D, y: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const p = this.params;
      const sy = silu(y);
      let h = linear(p, this.key('input_proj'), x);
      for (let j = 0; j < this.sizes.numResBlocks; j++) {
        const blk = `res_blocks.${j}`;
        const [shift, scale, gate] = tf.split(linear(p, this.key(`${blk}.adaLN_modulation.1`), sy), 3, -1);
        const modulated = tf.add(tf.mul(layerNorm(p, this.key(`${blk}.in_ln`), h, LN_EPS), tf.add(scale!, 1)), shift!);
        const m = linear(p, this.key(`${blk}.mlp.2`), silu(linear(p, this.key(`${blk}.mlp.0`), modulated)));
        h = tf.add(h, tf.mul(gate!, m));
      }
      const [shift, scale] = tf.split(linear(p, this.key('final_layer.adaLN_modulation.1'), sy), 2, -1);
      const normed = layerNorm(this.finalNorm, 'norm_final', h, LN_EPS);
      return linear(
        p,
        this.key('final_layer.linear'),
        tf.add(tf.mul(normed, tf.add(scale!, 1)), shift!),
      ) as tf.Tensor3D;
    });
  }

  /**
   * Forward matrix-multiply FLOPs (2 per multiply-add) per sample for `calls` network calls, the
   * work on (hidden state, time) amortised over `samplesPerHidden`.
   */
  flopsPerSample(calls: number, samplesPerHidden: number): number {
    const { hiddenSize: h, inChannels: l, outChannels: o, numResBlocks: nb, frequencyEmbeddingSize: f } = this.sizes;
    const perSampleCall = 2 * l * h + nb * 4 * h * h + 2 * h * o;
    const perHiddenCall = nb * 6 * h * h + 4 * h * h + 2 * f * h + 2 * h * h;
    const perHidden = 2 * h * h + calls * perHiddenCall;
    return calls * perSampleCall + perHidden / samplesPerHidden;
  }

  /** Disposes the constant tensors the network owns (never the parameters). */
  dispose(): void {
    disposeParams(this.finalNorm);
  }
}
