// The three training tasks of the official recipe as `TrainTask`s (Node only): stage 1 trains the
// autoencoder (its own loss from @calm/autoencoder, AE data layout), stage 2 trains the CALM LM with
// the autoencoder frozen (the head's loss, LM layout), and the AR baseline (cross-entropy, LM
// layout). Each carries a replica, so data-parallel workers can rebuild it.

import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '@calm/core';
import {
  autoencoderLoss,
  autoencoderParamShapes,
  createAutoencoderParams,
  type AutoencoderConfig,
} from '@calm/autoencoder';
import { saveAutoencoder } from '@calm/autoencoder/node';
import { loadParams, type ParamRecord } from '@calm/nn';
import {
  ArModel,
  CalmModel,
  arTrainingFlops,
  autoencoderTrainingFlops,
  calmTrainingFlops,
  isBuiltinHead,
  type ArConfig,
  type CalmConfig,
} from '@calm/model';
import { saveAr, saveCalm } from '@calm/model/node';
import { fail } from './internal/errors.js';
import type { TaskReplica, TrainTask } from './train-loop.js';

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
  // Workers rebuild a built-in head from the configuration; a custom head instance cannot cross
  // to a worker, so such a task trains on one thread (or give it a replica of your own).
  const replica = isBuiltinHead(model.config.head)
    ? () => {
        // The frozen autoencoder's weights as they are when the workers start (a resume reloads them).
        const aeParams = Object.fromEntries(
          Object.entries(model.aeParams).map(([k, v]) => [k, v.dataSync() as Float32Array]),
        );
        return replicaOf({ kind: 'calm', config: model.config, aeConfig: model.aeConfig, aeParams, ...options });
      }
    : undefined;
  return {
    kind: 'calm',
    ...(replica ? { replica } : {}),
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
    replica: () => replicaOf({ kind: 'ae', config }),
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
    replica: () => replicaOf({ kind: 'ar', config: model.config, ...options }),
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

/**
 * What a data-parallel worker needs to rebuild one of the built-in tasks (structured-cloneable):
 * configurations, and for CALM the frozen autoencoder's weights. The trainable weights themselves
 * come from the main thread.
 * @see {@link replicateTrainTask}, {@link runTraining}
 * @category Training
 */
export type TaskArgs =
  | { /** Stage 1. */ kind: 'ae' /** The autoencoder's configuration. */; config: AutoencoderConfig }
  | {
      /** Stage 2. */
      kind: 'calm';
      /** The CALM configuration. */
      config: CalmConfig;
      /** The frozen autoencoder's configuration. */
      aeConfig: AutoencoderConfig;
      /** The frozen autoencoder's weights by name, each row-major float32. */
      aeParams: Record<string, Float32Array>;
      /** Tokens per block. */
      blockSize: number;
      /** Recorded in saved configs. */
      aePath?: string;
    }
  | {
      /** The AR baseline. */ kind: 'ar' /** Its configuration. */;
      config: ArConfig /** Tokens per block. */;
      blockSize: number;
    };

function replicaOf(args: TaskArgs): TaskReplica {
  return { module: '@calm/trainer', exportName: 'replicateTrainTask', args };
}

/**
 * Rebuilds a built-in task in a data-parallel worker from its {@link TaskArgs} (fresh parameters
 * of the right names and shapes; the loop then copies the main thread's values into them).
 * @param args - From the task's `replica`.
 * @returns The task.
 * @throws `CalmError` `INVALID_CONFIG` for arguments that do not describe a task.
 * @see {@link runTraining}
 * @category Training
 */
export function replicateTrainTask(args: TaskArgs): TrainTask {
  const rng = createRng('replica');
  if (args.kind === 'ae') return autoencoderTrainTask(createAutoencoderParams(args.config, rng), args.config);
  if (args.kind === 'ar') return arTrainTask(new ArModel(args.config, { rng }), { blockSize: args.blockSize });
  if (args.kind === 'calm') {
    const shapes = autoencoderParamShapes(args.aeConfig) as Record<string, number[]>;
    const aeParams = tf.tidy(() =>
      Object.fromEntries(
        Object.entries(args.aeParams).map(([k, v]) => [k, tf.variable(tf.tensor(v, shapes[k]), false)]),
      ),
    );
    const model = new CalmModel(args.config, args.aeConfig, { rng, aeParams });
    return calmTrainTask(model, {
      blockSize: args.blockSize,
      ...(args.aePath !== undefined ? { aePath: args.aePath } : {}),
    });
  }
  return fail(
    'INVALID_CONFIG',
    `replicateTrainTask: unknown task kind ${JSON.stringify((args as { kind?: unknown })?.kind)}.`,
  );
}
