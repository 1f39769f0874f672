/**
 * `@calm/brierlm`: BrierLM, the likelihood-free language-model metric of CALM, for CALM-like
 * chunk generators, any LM that can only sample, and LMs with explicit probabilities.
 *
 * @remarks
 * Brier-n = 2·P(y) − Σ P(x)² over the next n-gram, estimated without probabilities from two (or
 * `samplesPerPosition`) independent samples (or exactly where probabilities exist); BrierLM ×100 is the geometric
 * mean of Brier-1..4, ×100. Framework-free and browser-safe; dataset files live in
 * `@calm/brierlm/node`, the OpenAI-compatible HTTP sampler in `@calm/brierlm/http`, and a CLI
 * is installed as `brierlm`.
 *
 * Quick start:
 * ```ts
 * import { NGramModel, byteTokenizer, makeEvalBlocks, evaluateBrierLM } from '@calm/brierlm';
 * const tok = byteTokenizer();
 * const lm = NGramModel.fit([tok.encode(trainText)], { order: 4, vocabSize: tok.vocabSize });
 * const { blocks } = await makeEvalBlocks(testDocs, tok, { blockSize: 2048, bosId: tok.bosId });
 * const result = await evaluateBrierLM({ kind: 'explicit', model: lm }, blocks, { seed: 0 });
 * console.log(`BrierLM (x100) = ${result.brierLM.toFixed(2)} ± ${result.brierLMStderr.toFixed(2)}`);
 * ```
 *
 * @packageDocumentation
 */

export { evaluateBrierLM } from './evaluate.js';
export type {
  BrierGenerator,
  EstimatorKind,
  EvaluateBrierOptions,
  BrierProgress,
  BrierLMResult,
  PositionRecord,
} from './types.js';
export { combineBrierLM, officialBrierLM, type BrierTuple, type StderrOptions } from './score.js';
export { NGramModel, type NGramOptions, type NGramSamplerOptions, type NGramChunkSamplerOptions } from './ngram.js';
export {
  chunkSamplerFromCallback,
  tokenSamplerFromCallback,
  nextTokenModelFromCallback,
  chunkSamplerFromNextTokenModel,
  toBrierGenerator,
  type CallbackAdapterOptions,
  type NextTokenChunkSamplerOptions,
} from './adapters.js';
export {
  OFFICIAL_PROTOCOL,
  makeEvalBlocks,
  byteTokenizer,
  cutIntoBlocks,
  type TokenizerLike,
  type ProtocolPreset,
  type EvalBlocksOptions,
  type EvalBlocks,
  type ByteTokenizer,
} from './protocol.js';
// The JSON-lines parser is @calm/core's, re-exported where the protocol's users look for it.
export { parseJsonlTexts } from '@calm/core';
export {
  toHarnessResults,
  positionsToJsonl,
  formatSummary,
  type HarnessMetadata,
  type HarnessResults,
} from './harness.js';
