// BrierLM evaluation of the trained models through @calm/brierlm: CALM with the chunk estimator
// (two head samples per chunk position, the teacher-forced fast path, as the official
// `eval_brier`) and the AR baseline with the explicit estimator (exact probabilities, as
// `train_ar.py`).

import { createRng, type Rng } from '@calm/core';
import { evaluateBrierLM, type BrierLMResult, type BrierProgress } from '@calm/brierlm';
import type { ArModel } from './ar-model.js';
import type { CalmModel } from './calm-model.js';
import { arNextTokenModel, calmChunkSampler } from './samplers.js';

/**
 * Options of {@link evaluateCalm} and {@link evaluateAr}.
 * @category Evaluation
 */
export interface ModelEvalOptions {
  /** Seed of the estimator's RNG and of the model's sampling noise. @defaultValue 0 */
  seed?: number | string;
  /** Evaluate at most this many blocks. */
  limit?: number;
  /** Contexts per model call. @defaultValue 64 */
  batchSize?: number;
  /**
   * Samples per scored position (`@calm/brierlm`'s `samplesPerPosition`): 2 is the paper's
   * estimator; more lowers the variance for weak models. @defaultValue 2
   */
  samplesPerPosition?: number;
  /** Progress after every model call. */
  onProgress?: (progress: BrierProgress) => void;
  /** Aborts the evaluation. */
  signal?: AbortSignal;
}

function brierOptions(options: ModelEvalOptions, rng: Rng) {
  return {
    rng,
    batchSize: options.batchSize ?? 64,
    ...(options.samplesPerPosition !== undefined ? { samplesPerPosition: options.samplesPerPosition } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/**
 * BrierLM of a CALM model on evaluation blocks (official CALM protocol: n-grams start at chunk
 * boundaries; two independent head samples per position, decoded by argmax).
 * @param model - The CALM model.
 * @param blocks - Evaluation blocks, each a multiple of K tokens (int32).
 * @param options - Seed, limit, batch size, progress.
 * @returns The BrierLM result (×100) of `@calm/brierlm`.
 * @throws `CalmError` `INVALID_ARGUMENT` for blocks that are not multiples of K, `ABORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#evaluate}
 * @category Evaluation
 */
export async function evaluateCalm(
  model: CalmModel,
  blocks: readonly Int32Array[],
  options: ModelEvalOptions = {},
): Promise<BrierLMResult> {
  const seed = options.seed ?? 0;
  const sampler = calmChunkSampler(model, { rng: createRng(`${seed}/calm-sampler`) });
  return evaluateBrierLM({ kind: 'chunk', sampler }, blocks, brierOptions(options, createRng(`${seed}/brier`)));
}

/**
 * BrierLM of the AR baseline on evaluation blocks (explicit estimator: exact teacher-forced
 * probabilities and a Rao-Blackwellised collision term, as the official `train_ar.py`).
 * @param model - The AR model.
 * @param blocks - Evaluation blocks (int32).
 * @param options - Seed, limit, batch size, progress.
 * @returns The BrierLM result (×100).
 * @throws `CalmError` `ABORTED`, and the errors of `evaluateBrierLM`.
 * @example
 * {@includeCode ../test/examples.test.ts#evaluate}
 * @category Evaluation
 */
export async function evaluateAr(
  model: ArModel,
  blocks: readonly Int32Array[],
  options: ModelEvalOptions = {},
): Promise<BrierLMResult> {
  return evaluateBrierLM(
    { kind: 'explicit', model: arNextTokenModel(model) },
    blocks,
    brierOptions(options, createRng(`${options.seed ?? 0}/brier`)),
  );
}

/**
 * The headline numbers of a BrierLM result, as a plain record for logs.
 * @param r - A BrierLM result.
 * @returns `brierLM` (×100), its standard error, Brier-1..4 and the number of positions.
 * @see {@link evaluateCalm}
 * @category Evaluation
 */
export function brierSummary(r: {
  brierLM: number;
  brierLMStderr: number;
  brier: readonly number[];
  numPositions: number;
}): Record<string, unknown> {
  return { brierLM: r.brierLM, brierLMStderr: r.brierLMStderr, brier: [...r.brier], positions: r.numPositions };
}
