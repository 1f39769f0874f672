// The AR baseline (HF `LlamaForCausalLM`, the official train_ar.py model): the same Llama backbone
// code as CALM over token positions, an untied `lm_head`, the shifted cross-entropy loss, and
// next-token logits with a KV cache for generation and BrierLM's explicit estimator.

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import {
  adoptParams,
  crossEntropy,
  countParams,
  createParams,
  disposeParams,
  embedding,
  linear,
  normalInit,
  trainableVariables,
  type ParamRecord,
  type ParamSpec,
} from '@calm/nn';
import { validateArConfig, type ArConfig } from './config.js';
import { fail } from './internal/errors.js';
import { type KvCache, llamaForward, llamaParamSpecs } from './llama.js';

const BACKBONE = 'model';
const EMBED = `${BACKBONE}.embed_tokens.weight`;
const LM_HEAD = 'lm_head.weight';

/**
 * The parameter specs of the AR baseline (official names): `model.*` (embedding with a zero PAD
 * row, layers, final norm) and `lm_head.weight` `[V, H]` (absent when tied).
 * @param config - The AR configuration.
 * @returns Specs by state-dict key with the official initialisation.
 * @throws `CalmError` `INVALID_CONFIG` for an invalid configuration.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-model}
 * @category AR baseline
 */
export function arParamSpecs(config: ArConfig): Record<string, ParamSpec> {
  validateArConfig(config);
  const specs = llamaParamSpecs(config, BACKBONE, { vocabSize: config.vocabSize, padTokenId: config.padTokenId });
  if (!config.tieWordEmbeddings)
    specs[LM_HEAD] = { shape: [config.vocabSize, config.hiddenSize], init: normalInit(config.initializerRange) };
  return specs;
}

/**
 * The AR baseline language model (`LlamaForCausalLM`).
 *
 * @remarks
 * The model owns its parameters; {@link ArModel.dispose} frees them. Methods are synchronous
 * tensor code; returned tensors belong to the caller.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-model}
 * @category AR baseline
 */
export class ArModel {
  /** The configuration. */
  readonly config: ArConfig;
  /** Parameters by official name. */
  readonly params: ParamRecord;

  /**
   * Creates the model with fresh (official-init) or given parameters.
   * @param config - The configuration.
   * @param options - `rng` to initialise, or `params` to adopt (no copies; the model owns them).
   * @throws `CalmError` `INVALID_CONFIG`, `INVALID_ARGUMENT` without `rng`/`params`,
   *   `MISSING_PARAMETER` / `SHAPE_MISMATCH` for parameters that do not fit.
   */
  constructor(config: ArConfig, options: { rng?: Rng; params?: ParamRecord }) {
    const specs = arParamSpecs(config);
    this.config = config;
    if (options.params) {
      adoptParams(specs, options.params, 'ArModel', {
        hint: 'Check the configuration against the checkpoint (layers, sizes, tieWordEmbeddings).',
      });
      this.params = options.params;
    } else {
      if (!options.rng)
        fail(
          'INVALID_ARGUMENT',
          'ArModel: pass options.rng to initialise the parameters, or options.params to use existing ones.',
        );
      this.params = createParams(specs, options.rng);
    }
  }

  /**
   * The variables an optimiser updates.
   * @returns Every parameter, in registration order: float32 variables in their PyTorch shapes (the embedding is [V, H], a Linear weight [out, in]).
   */
  trainableVariables(): tf.Variable[] {
    return trainableVariables(this.params);
  }

  /**
   * Number of parameters (input embedding and `lm_head` both counted, as Table 1 does).
   * @returns The count.
   */
  numParams(): number {
    return countParams(this.params);
  }

  /**
   * Next-token logits at every position.
   * @param ids - Token ids, shape [B, T], int32.
   * @param cache - Optional KV cache; `ids` then continue the cached positions and the cache grows.
   * @returns Logits, shape [B, T, V], float32; row t scores token t+1. Caller owns the returned
   *   tensor and must dispose it. Inputs are not disposed.
   * @throws `CalmError` `SHAPE_MISMATCH` / `INVALID_ARGUMENT` for ids that are not [B, T] int32.
   */
  logits(ids: tf.Tensor2D, cache?: KvCache): tf.Tensor3D {
    return tf.tidy(
      () =>
        linear(
          this.params,
          this.config.tieWordEmbeddings ? `${BACKBONE}.embed_tokens` : 'lm_head',
          this.hidden(ids, cache),
          { bias: false },
        ) as tf.Tensor3D,
    );
  }

  /**
   * Final hidden states (after the last RMSNorm).
   * @param ids - Token ids, shape [B, T], int32.
   * @param cache - Optional KV cache (see {@link ArModel.logits}).
   * @returns Hidden states, shape [B, T, H], float32. Caller owns the returned tensor and must dispose it.
   * @throws `CalmError` as {@link ArModel.logits}.
   */
  hidden(ids: tf.Tensor2D, cache?: KvCache): tf.Tensor3D {
    if (!(ids instanceof tf.Tensor) || ids.rank !== 2)
      fail('SHAPE_MISMATCH', `ArModel: ids must be [B, T], got [${ids?.shape?.join(', ')}].`);
    if (ids.dtype !== 'int32') fail('INVALID_ARGUMENT', `ArModel: ids must be int32, got ${ids.dtype}.`);
    return tf.tidy(() => {
      const pad = this.config.padTokenId;
      let e = embedding(this.params, EMBED, ids) as tf.Tensor3D;
      // padding_idx: the PAD row is zero and the mask keeps its gradient exactly zero.
      if (pad !== null) e = tf.mul(e, tf.expandDims(tf.cast(tf.notEqual(ids, pad), 'float32'), -1));
      return llamaForward(this.params, this.config, e, cache ? { prefix: BACKBONE, cache } : { prefix: BACKBONE })
        .hidden;
    });
  }

  /**
   * The causal-LM loss of HF `LlamaForCausalLM`: mean cross-entropy of `logits[:, :-1]` against
   * `ids[:, 1:]` over all B·(T−1) positions, in nats.
   * @param ids - Token ids, shape [B, T] with T ≥ 2, int32.
   * @returns The loss, a float32 scalar. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
   * @throws `CalmError` `SHAPE_MISMATCH` for T < 2.
   */
  loss(ids: tf.Tensor2D): tf.Scalar {
    if (ids.rank !== 2 || ids.shape[1] < 2)
      fail('SHAPE_MISMATCH', `ArModel.loss: ids must be [B, T] with T >= 2, got [${ids.shape.join(', ')}].`);
    const [b, t] = ids.shape;
    const v = this.config.vocabSize;
    return tf.tidy(() => {
      const logits = tf.reshape(this.logits(tf.slice(ids, [0, 0], [b, t - 1])), [b * (t - 1), v]);
      const labels = tf.reshape(tf.slice(ids, [0, 1], [b, t - 1]), [b * (t - 1)]);
      return crossEntropy(logits as tf.Tensor2D, labels as tf.Tensor1D);
    });
  }

  /** Disposes the parameters. */
  dispose(): void {
    disposeParams(this.params);
  }
}
