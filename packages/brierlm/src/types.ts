// Public types of @calm/brierlm: which generator is evaluated (and so which estimator runs),
// evaluation options, progress reports, per-position records and the result object.

import type { ChunkSampler, NextTokenModel, Rng, RngState, TokenSampler } from '@calm/core';
import type { BrierTuple, StderrOptions } from './score.js';

/**
 * The three estimators: implicit chunk generators (CALM-like), implicit token-level generators
 * (any LM that can only sample), explicit-probability generators.
 * @see {@link evaluateBrierLM}
 * @category Evaluation
 */
export type EstimatorKind = 'chunk' | 'token' | 'explicit';

/**
 * A generator to evaluate, tagged with the estimator to use.
 *
 * @remarks
 * - `chunk`: a `ChunkSampler`; n independent samples per chunk position (n =
 *   {@link EvaluateBrierOptions.samplesPerPosition}, default 2), n-grams start at chunk
 *   boundaries (official `eval_brier`). For K < 4 the collision term is rolled out
 *   autoregressively (for n = 2 along sample 1, as the official code).
 * - `token`: a `TokenSampler`; n independent continuations of 4 tokens at every token
 *   position.
 * - `explicit`: a `NextTokenModel`; exact teacher-forced P(y) and a Monte-Carlo prefix
 *   collision over n draws times the exact last-token Σp² (official `train_ar.py`), lower
 *   variance. To score an explicit model with the chunk estimator instead (same positions and
 *   estimator as a CALM model), wrap it with {@link chunkSamplerFromNextTokenModel}.
 * @see {@link evaluateBrierLM}
 * @category Evaluation
 */
export type BrierGenerator =
  | { readonly kind: 'chunk'; readonly sampler: ChunkSampler }
  | { readonly kind: 'token'; readonly sampler: TokenSampler }
  | { readonly kind: 'explicit'; readonly model: NextTokenModel };

/**
 * Progress of an evaluation, reported after every sampler call.
 * @see {@link evaluateBrierLM}
 * @category Evaluation
 */
export interface BrierProgress {
  /** Blocks finished so far. */
  blocksDone: number;
  /** Total blocks when known (an array of blocks, or `limit`), else `undefined`. */
  blocksTotal: number | undefined;
  /** Fraction of the current block done, in [0, 1]. */
  blockFraction: number;
  /** Positions scored so far in finished blocks. */
  positionsDone: number;
  /** Sampler/model calls made so far. */
  calls: number;
}

/**
 * Options of {@link evaluateBrierLM}.
 * @category Evaluation
 */
export interface EvaluateBrierOptions {
  /** Seed of the evaluation's own RNG (explicit estimator draws, bootstrap); default 0. Recorded in the result. */
  seed?: number | string;
  /** An RNG to use instead of `seed` (its state at the start is recorded). */
  rng?: Rng;
  /** Contexts (positions) per sampler call; default 64. */
  batchSize?: number;
  /**
   * n, the independent samples drawn per scored position (an integer from 2 to 2^20). Brier-k is
   * estimated by the U-statistic 2·(hits among the n samples)/n − (ordered pairs of samples that
   * agree on k tokens)/(n(n−1)), unbiased for every n; n = 2 is the paper's estimator
   * 1{x₁ = y} + 1{x₂ = y} − 1{x₁ = x₂}, bit for bit. A larger n lowers the variance (towards 4ζ₁/n per
   * position) at n/2 times the sampling cost: worth it when hits are rare (weak models, Brier-3/4).
   * For the explicit estimator, n is the number of draws per roll-out step of the collision term.
   * @defaultValue 2
   */
  samplesPerPosition?: number;
  /** Evaluate at most this many blocks (the rest are not read). */
  limit?: number;
  /** Aborts the evaluation; it rejects with a `CalmError` of code `ABORTED`. */
  signal?: AbortSignal;
  /** Called after every sampler call. */
  onProgress?: (progress: BrierProgress) => void;
  /** Keep one {@link PositionRecord} per scored position in the result (for a samples JSONL). */
  keepPositions?: boolean;
  /** Standard-error method, unit and confidence level. */
  stderr?: StderrOptions;
  /**
   * Use the samplers' teacher-forced fast paths (`sampleTeacherForced`, `teacherForcedProbs`)
   * when present: `'auto'` (default) or `'never'`.
   */
  teacherForced?: 'auto' | 'never';
  /**
   * The explicit estimator calls `teacherForcedProbs` only when T·V is at most this many
   * floats (default 2^26, 256 MB as float32); larger blocks go through `nextTokenProbs` in batches.
   */
  maxTeacherForcedEntries?: number;
}

/**
 * What one scored position contributed (kept when `keepPositions` is set).
 * @see {@link evaluateBrierLM}
 * @category Results
 */
export interface PositionRecord {
  /** Block index (0-based, in evaluation order). */
  block: number;
  /** Position index within the block (chunk position t or token position i). */
  position: number;
  /** Index in the block of the first target token. */
  tokenIndex: number;
  /** The 4 gold tokens scored. */
  target: number[];
  /** Brier-1..4 estimates at this position. */
  brier: number[];
  /**
   * The collision term subtracted for n = 1..4: the fraction of ordered sample pairs that agree on
   * the n-gram (an indicator with 2 samples), or that fraction weighted by the last-token Σp² for
   * the explicit estimator.
   */
  collision: number[];
  /** First 4 tokens of sample 1 as scored against the target (implicit estimators). */
  sample1?: number[];
  /** First 4 tokens of sample 2 (implicit estimators). */
  sample2?: number[];
  /** First 4 tokens of every sample, n of them (implicit estimators with more than 2 samples per position). */
  samples?: number[][];
  /** Exact P(y₁..yₙ) for n = 1..4 (explicit estimator). */
  targetProb?: number[];
}

/**
 * The result of {@link evaluateBrierLM}.
 *
 * @remarks
 * `brierLM` is ×100 (as in the paper; the official code prints it without the ×100). Every
 * Brier-n is averaged over all evaluated positions of the whole set before they are combined.
 * Standard errors and intervals are for the mean over the evaluated positions.
 * @category Results
 */
export interface BrierLMResult {
  /** The estimator that ran. */
  estimator: EstimatorKind;
  /** K of the chunk sampler (`chunk` estimator), else `null`. */
  chunkSize: number | null;
  /** n, the samples drawn per position ({@link EvaluateBrierOptions.samplesPerPosition}). */
  samplesPerPosition: number;
  /** Brier-1..Brier-4, each averaged over all positions. */
  brier: BrierTuple;
  /** Standard errors of Brier-1..4. */
  brierStderr: BrierTuple;
  /** Confidence intervals of Brier-1..4, at {@link BrierLMResult.confidence}. */
  brierCI: readonly [
    readonly [number, number],
    readonly [number, number],
    readonly [number, number],
    readonly [number, number],
  ];
  /** BrierLM ×100 = 100·(Brier-1·Brier-2·Brier-3·Brier-4)^(1/4); 0 when any Brier-n ≤ 0. */
  brierLM: number;
  /** Standard error of `brierLM` (×100 scale); NaN when it is undefined (BrierLM clipped at 0 with a non-degenerate sample; use the bootstrap). */
  brierLMStderr: number;
  /** Confidence interval of `brierLM` (×100 scale). */
  brierLMCI: readonly [number, number];
  /** Always 100: `brierLM` is multiplied by 100; Brier-n are not. */
  scale: 100;
  /** Mean collision term for n = 1..4 (the estimate of Σ P(x)² over n-grams). */
  collision: BrierTuple;
  /** Number of scored positions (the same for every n). */
  numPositions: number;
  /** Number of evaluated blocks. */
  numBlocks: number;
  /** Scored positions in each block. */
  positionsPerBlock: number[];
  /** Sampler/model calls made. */
  calls: number;
  /** The seed of the evaluation RNG, or `null` when an RNG was injected. */
  seed: number | string | null;
  /** State of the evaluation RNG at the start (restore it with `restoreRng` to reproduce). */
  initialRngState: RngState;
  /** Standard-error method used. */
  stderrMethod: 'delta' | 'bootstrap';
  /** Independent unit used for standard errors. */
  stderrUnit: 'position' | 'block';
  /** Confidence level of the intervals. */
  confidence: number;
  /** Things the caller should know (deterministic sampler, clipped score, …); never printed. */
  warnings: string[];
  /** Per-position records, when `keepPositions` was set. */
  positions?: PositionRecord[];
}
