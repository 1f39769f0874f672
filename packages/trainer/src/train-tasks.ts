// The three training tasks of the official recipe as `TrainTask`s (Node only): stage 1 trains the
// autoencoder (its own loss from @calm/autoencoder, AE data layout), stage 2 trains the CALM LM with
// the autoencoder frozen (energy loss, LM layout), and the AR baseline (cross-entropy, LM layout).

import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { autoencoderLoss, type AutoencoderConfig } from '@calm/autoencoder';
import { saveAutoencoder } from '@calm/autoencoder/node';
import { loadParams, type ParamRecord } from '@calm/nn';
import {
  type ArModel,
  type CalmModel,
  arTrainingFlops,
  autoencoderTrainingFlops,
  calmTrainingFlops,
} from '@calm/model';
import { saveAr, saveCalm } from '@calm/model/node';
import { fail } from './internal/errors.js';
import type { TrainTask } from './train-loop.js';

function checkBlock(blockSize: number, k: number, what: string): void {
  if (!Number.isInteger(blockSize) || blockSize < 2 * k || blockSize % k !== 0) {
    fail(
      'INVALID_CONFIG',
      `${what}: blockSize must be a multiple of K = ${k} holding at least 2 chunks, got ${blockSize}.`,
    );
  }
}

/**
 * Stage 2: the CALM LM's energy loss with the autoencoder frozen (official `train_energy.sh`).
 * @param model - The CALM model (its `aeParams` stay frozen; only `params` are trained).
 * @param options - `blockSize` (tokens per block, for the FLOPs count); `aePath` recorded in saved configs.
 * @returns The task.
 * @throws `CalmError` `INVALID_CONFIG` for a block size that is not a multiple of K.
 * @see {@link runTraining}
 * @category Training
 */
export function calmTrainTask(model: CalmModel, options: { blockSize: number; aePath?: string }): TrainTask {
  checkBlock(options.blockSize, model.chunkSize, 'calmTrainTask');
  const flops = calmTrainingFlops(model.config, model.aeConfig, {
    context: options.blockSize / model.chunkSize,
  }).perToken;
  return {
    kind: 'calm',
    params: model.params,
    flopsPerToken: flops,
    loss: (ids: tf.Tensor2D, rng: Rng) => model.loss(ids, { rng }),
    saveModel: async (dir: string) => {
      await saveCalm(dir, model, options.aePath !== undefined ? { aePath: options.aePath } : {});
    },
    loadModel: async (dir: string) => {
      const file = join(dir, 'model.safetensors');
      await loadParams(file, model.params, { ignore: [/^ae_model\./] });
      // The frozen autoencoder is part of the checkpoint too (`ae_model.*`).
      await loadParams(file, model.aeParams, {
        rename: (k) => (k.startsWith('ae_model.') ? k.slice('ae_model.'.length) : null),
      });
    },
  };
}

/**
 * Stage 1: the autoencoder's training loss (`K·CE + β·KL` with token masking and latent dropout;
 * official `train_autoencoder.sh`). Feed it blocks in the AE layout (EOS appended, PAD to K).
 * @param params - Autoencoder parameters (official names), updated in place.
 * @param config - Their configuration.
 * @returns The task.
 * @see {@link runTraining}
 * @category Training
 */
export function autoencoderTrainTask(params: ParamRecord, config: AutoencoderConfig): TrainTask {
  return {
    kind: 'ae',
    params,
    flopsPerToken: autoencoderTrainingFlops(config).perToken,
    loss: (ids: tf.Tensor2D, rng: Rng) => autoencoderLoss(params, config, ids, { rng, training: true }),
    saveModel: async (dir: string) => {
      await saveAutoencoder(dir, params, config);
    },
    loadModel: async (dir: string) => {
      await loadParams(join(dir, 'model.safetensors'), params);
    },
  };
}

/**
 * The AR baseline's causal-LM loss (official `train_ar.sh`).
 * @param model - The AR model.
 * @param options - `blockSize` (tokens per block, for the FLOPs count).
 * @returns The task.
 * @throws `CalmError` `INVALID_CONFIG` for a block size below 2.
 * @example
 * {@includeCode ../test/examples.test.ts#run-training}
 * @category Training
 */
export function arTrainTask(model: ArModel, options: { blockSize: number }): TrainTask {
  checkBlock(options.blockSize, 1, 'arTrainTask');
  return {
    kind: 'ar',
    params: model.params,
    flopsPerToken: arTrainingFlops(model.config, { context: options.blockSize }).perToken,
    loss: (ids: tf.Tensor2D) => model.loss(ids),
    saveModel: async (dir: string) => {
      await saveAr(dir, model);
    },
    loadModel: async (dir: string) => {
      await loadParams(join(dir, 'model.safetensors'), model.params);
    },
  };
}
