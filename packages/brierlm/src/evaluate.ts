// The one evaluation entry point: runs the estimator that fits the generator over eval blocks,
// averages every Brier-n over all positions of the whole set, combines them into BrierLM (×100),
// and attaches standard errors, seeds and warnings.

import { createRng, type TokenIds } from '@calm/core';
import {
  estimateChunkBlock,
  estimateExplicitBlock,
  estimateTokenBlock,
  type BlockEstimate,
  type EstimatorContext,
} from './estimators.js';
import { officialBrierLM, summarizeClusters, type BrierTuple, type ClusterSums } from './score.js';
import type { BrierGenerator, BrierLMResult, EvaluateBrierOptions, PositionRecord } from './types.js';
import { MAX_SAMPLES_PER_POSITION } from './internal/sampling.js';
import { MAX_N, asTokenIds, checkInt, checkNumber, fail, throwIfAborted } from './internal/util.js';

/** Minimum positions before an all-colliding sampler is reported as deterministic. */
const DETERMINISM_MIN_POSITIONS = 16;

function validateGenerator(g: BrierGenerator): void {
  if (g === null || typeof g !== 'object')
    fail('INVALID_ARGUMENT', 'generator must be { kind: "chunk" | "token" | "explicit", ... }; see BrierGenerator.');
  switch (g.kind) {
    case 'chunk': {
      const s = g.sampler;
      if (!s || typeof s.sample !== 'function')
        fail(
          'INVALID_ARGUMENT',
          'generator.sampler must be a ChunkSampler with a sample(contexts, numSamples) method.',
        );
      checkInt(s.chunkSize, 'generator.sampler.chunkSize', 1);
      return;
    }
    case 'token': {
      const s = g.sampler;
      if (!s || typeof s.sample !== 'function')
        fail(
          'INVALID_ARGUMENT',
          'generator.sampler must be a TokenSampler with a sample(contexts, maxTokens, numSamples) method.',
        );
      return;
    }
    case 'explicit': {
      const m = g.model;
      if (!m || typeof m.nextTokenProbs !== 'function')
        fail('INVALID_ARGUMENT', 'generator.model must be a NextTokenModel with a nextTokenProbs(contexts) method.');
      checkInt(m.vocabSize, 'generator.model.vocabSize', 1);
      return;
    }
    default:
      fail(
        'INVALID_ARGUMENT',
        `generator.kind must be "chunk", "token" or "explicit", got ${JSON.stringify((g as { kind: unknown }).kind)}.`,
      );
  }
}

async function* iterateBlocks(
  blocks: Iterable<ArrayLike<number>> | AsyncIterable<ArrayLike<number>>,
): AsyncGenerator<ArrayLike<number>> {
  if (
    blocks == null ||
    (typeof (blocks as Iterable<unknown>)[Symbol.iterator] !== 'function' &&
      typeof (blocks as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function')
  ) {
    fail(
      'INVALID_ARGUMENT',
      'blocks must be an iterable (or async iterable) of token-id arrays; build them with makeEvalBlocks.',
    );
  }
  yield* blocks as AsyncIterable<ArrayLike<number>>;
}

/**
 * Evaluates a generator with BrierLM: Brier-1..4 averaged over all positions of all blocks, and
 * BrierLM = 100·(Brier-1·Brier-2·Brier-3·Brier-4)^(1/4).
 *
 * @remarks
 * The estimator follows `generator.kind` (see {@link BrierGenerator}). Positions per block of T
 * tokens: chunk estimator, target chunks 1..L−1 (L = T/K), and for K < 4 only the
 * (L−1)−ceil(4/K) positions where a whole 4-gram fits; token and explicit estimators, token
 * positions i = 0..T−5 with the n-gram = tokens i+1..i+n. Contexts start at the beginning of
 * their block. Results are reproducible for a given seed, batch size and sampler seed.
 *
 * `options.samplesPerPosition` (n, default 2) sets the independent samples per position: Brier-k
 * is then 2·(hits among the n samples)/n − (agreeing ordered pairs)/(n(n−1)), unbiased for every
 * n and equal to the paper's two-sample estimator for n = 2. To compare a CALM model with
 * explicit models on the same positions with the same estimator and n, wrap the explicit ones
 * with {@link chunkSamplerFromNextTokenModel} and use `kind: 'chunk'` for all.
 *
 * @param generator - The generator and its estimator kind.
 * @param blocks - Eval blocks, each an int32 token-id array of T tokens (see {@link makeEvalBlocks}).
 * @param options - Seed, samples per position, batch size, limit, progress, standard errors, per-position records.
 * @returns Brier-n, BrierLM (×100), standard errors, intervals, counts, seeds and warnings.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad generator, option or block;
 *   `SHAPE_MISMATCH` when a sampler returns the wrong shape; `ABORTED` when the signal fires;
 *   whatever the sampler throws (e.g. `HTTP_ERROR`, `TIMEOUT`) is passed through.
 * @example
 * {@includeCode ../test/examples.test.ts#score-ngram}
 * @category Evaluation
 */
export async function evaluateBrierLM(
  generator: BrierGenerator,
  blocks: Iterable<ArrayLike<number>> | AsyncIterable<ArrayLike<number>>,
  options: EvaluateBrierOptions = {},
): Promise<BrierLMResult> {
  validateGenerator(generator);
  const batchSize = checkInt(options.batchSize ?? 64, 'options.batchSize', 1);
  const samplesPerPosition = checkInt(
    options.samplesPerPosition ?? 2,
    'options.samplesPerPosition',
    2,
    MAX_SAMPLES_PER_POSITION,
  );
  const limit = options.limit === undefined ? Infinity : checkInt(options.limit, 'options.limit', 1);
  const stderr = options.stderr ?? {};
  const method = stderr.method ?? 'delta';
  if (method !== 'delta' && method !== 'bootstrap')
    fail('INVALID_ARGUMENT', `options.stderr.method must be "delta" or "bootstrap", got ${JSON.stringify(method)}.`);
  const unitOption = stderr.unit ?? 'auto';
  if (!['auto', 'position', 'block'].includes(unitOption))
    fail(
      'INVALID_ARGUMENT',
      `options.stderr.unit must be "auto", "position" or "block", got ${JSON.stringify(unitOption)}.`,
    );
  const confidence = checkNumber(stderr.confidence ?? 0.95, 'options.stderr.confidence', 1e-6, 1 - 1e-6);
  const bootstrapSamples = checkInt(stderr.bootstrapSamples ?? 1000, 'options.stderr.bootstrapSamples', 2);
  const tfOption = options.teacherForced ?? 'auto';
  if (tfOption !== 'auto' && tfOption !== 'never')
    fail('INVALID_ARGUMENT', `options.teacherForced must be "auto" or "never", got ${JSON.stringify(tfOption)}.`);
  const maxTf = checkInt(options.maxTeacherForcedEntries ?? 2 ** 26, 'options.maxTeacherForcedEntries', 0);
  if (options.seed !== undefined && options.rng !== undefined)
    fail('INVALID_ARGUMENT', 'pass either options.seed or options.rng, not both.');
  const seed = options.rng ? null : (options.seed ?? 0);
  const rng = options.rng ?? createRng(seed ?? 0);
  const initialRngState = rng.getState();
  const blocksTotal = Array.isArray(blocks)
    ? Math.min(blocks.length, limit)
    : Number.isFinite(limit)
      ? limit
      : undefined;

  const estimates: BlockEstimate[] = [];
  const records: PositionRecord[] | undefined = options.keepPositions ? [] : undefined;
  let calls = 0;
  let positionsDone = 0;
  let blockIndex = 0;
  for await (const raw of iterateBlocks(blocks)) {
    if (blockIndex >= limit) break;
    throwIfAborted(options.signal);
    const block: TokenIds = asTokenIds(raw, `blocks[${blockIndex}]`);
    const ctx: EstimatorContext = {
      blockIndex,
      batchSize,
      samplesPerPosition,
      signal: options.signal,
      rng,
      keepPositions: records !== undefined,
      teacherForced: tfOption === 'auto',
      maxTeacherForcedEntries: maxTf,
      called: (fraction) => {
        calls++;
        options.onProgress?.({
          blocksDone: blockIndex,
          blocksTotal,
          blockFraction: Math.min(1, fraction),
          positionsDone,
          calls,
        });
      },
    };
    const est =
      generator.kind === 'chunk'
        ? await estimateChunkBlock(generator.sampler, block, ctx)
        : generator.kind === 'token'
          ? await estimateTokenBlock(generator.sampler, block, ctx)
          : await estimateExplicitBlock(generator.model, block, ctx);
    estimates.push(est);
    if (records && est.records) for (const r of est.records) records.push(r);
    positionsDone += est.numPositions;
    blockIndex++;
    options.onProgress?.({ blocksDone: blockIndex, blocksTotal, blockFraction: 0, positionsDone, calls });
  }
  if (estimates.length === 0)
    fail(
      'INVALID_ARGUMENT',
      'no eval blocks were given; pass at least one block (is the dataset shorter than one block?).',
    );

  const unit = unitOption === 'auto' ? (estimates.length >= 10 ? 'block' : 'position') : unitOption;
  const clusters = buildClusters(estimates, unit);
  const summary = summarizeClusters(clusters, method, confidence, bootstrapSamples, rng);

  const collision = [0, 0, 0, 0];
  let allCollide = true;
  for (const e of estimates) {
    for (let p = 0; p < e.numPositions; p++) {
      for (let n = 0; n < MAX_N; n++) collision[n]! += e.collision[p * MAX_N + n]!;
      if (e.collision[p * MAX_N]! !== 1) allCollide = false;
    }
  }
  for (let n = 0; n < MAX_N; n++) collision[n]! /= positionsDone;

  const warnings: string[] = [];
  if (generator.kind !== 'explicit' && allCollide && positionsDone >= DETERMINISM_MIN_POSITIONS) {
    warnings.push(
      `The ${samplesPerPosition === 2 ? 'two' : `${samplesPerPosition}`} samples were identical at all ${positionsDone} positions (collision term = 1 everywhere): the generator looks deterministic, e.g. argmax decoding for every sample or a shared noise seed. ` +
        'BrierLM needs independent random samples at every position; with a deterministic generator it only rewards being exactly right. Sample from the full distribution (temperature 1, no top-k/top-p) with independent noise per sample.',
    );
  }
  if (unit === 'position' && unitOption === 'auto' && estimates.length > 1) {
    warnings.push(
      `Standard errors treat the ${positionsDone} positions as independent (only ${estimates.length} blocks, fewer than 10 for block-level errors); they include the sampling noise but not the correlation between positions of one text.`,
    );
  }
  const negative = summary.brier.map((b, n) => [b, n] as const).filter(([b]) => b <= 0);
  if (negative.length > 0) {
    const list = negative.map(([b, n]) => `Brier-${n + 1} = ${b.toFixed(4)}`).join(', ');
    const official = officialBrierLM(summary.brier);
    warnings.push(
      `BrierLM is 0 because ${list} ≤ 0 (the geometric mean of the four Brier-n is undefined).` +
        (official > 0
          ? ` The official code's max(b1·b2·b3·b4, 0)^¼ would report ${official.toFixed(4)} (×100) because an even number of the terms is negative; that value is meaningless.`
          : ''),
    );
  }

  const result: BrierLMResult = {
    estimator: generator.kind,
    chunkSize: generator.kind === 'chunk' ? generator.sampler.chunkSize : null,
    samplesPerPosition,
    brier: summary.brier,
    brierStderr: summary.brierStderr,
    brierCI: summary.brierCI,
    brierLM: summary.brierLM,
    brierLMStderr: summary.brierLMStderr,
    brierLMCI: summary.brierLMCI,
    scale: 100,
    collision: collision as unknown as BrierTuple,
    numPositions: positionsDone,
    numBlocks: estimates.length,
    positionsPerBlock: estimates.map((e) => e.numPositions),
    calls,
    seed,
    initialRngState,
    stderrMethod: method,
    stderrUnit: unit,
    confidence,
    warnings,
  };
  if (records) result.positions = records;
  return result;
}

function buildClusters(estimates: readonly BlockEstimate[], unit: 'position' | 'block'): ClusterSums {
  if (unit === 'block') {
    const sums = new Float64Array(estimates.length * MAX_N);
    const counts = new Float64Array(estimates.length);
    estimates.forEach((e, c) => {
      counts[c] = e.numPositions;
      for (let p = 0; p < e.numPositions; p++)
        for (let n = 0; n < MAX_N; n++) sums[c * MAX_N + n]! += e.brier[p * MAX_N + n]!;
    });
    return { sums, counts };
  }
  let total = 0;
  for (const e of estimates) total += e.numPositions;
  const sums = new Float64Array(total * MAX_N);
  let o = 0;
  for (const e of estimates) {
    sums.set(e.brier, o);
    o += e.brier.length;
  }
  return { sums, counts: new Float64Array(total).fill(1) };
}
