// The BrierLM computation of the page, free of the DOM so that the browser test runs the very same
// code in Node and compares the numbers: a byte-level n-gram model fitted on the text's first
// documents, scored on the last ones with @calm/brierlm's estimator and seeded RNGs of @calm/core.

import {
  NGramModel,
  byteTokenizer,
  evaluateBrierLM,
  makeEvalBlocks,
  type BrierGenerator,
  type BrierLMResult,
  type BrierProgress,
} from '@calm/brierlm';
import { createRng } from '@calm/core';

/** What the page asks for. */
export interface NgramBrierOptions {
  /** n-gram order (the model conditions on the previous order − 1 bytes). */
  order: number;
  /** Seed of the evaluation RNG and (derived) of the sampler's RNG. */
  seed: number;
  /** `explicit` (exact probabilities), `token` (two sampled continuations) or `chunk` (K = 4, as CALM). */
  estimator: 'explicit' | 'token' | 'chunk';
  /** Bytes per evaluation block (the remainder of the held-out text is dropped, as the protocol does). */
  blockSize: number;
}

/** The result and what it was computed on. */
export interface NgramBrierOutcome {
  result: BrierLMResult;
  documents: number;
  trainDocuments: number;
  trainBytes: number;
  heldOutBytes: number;
  blocks: number;
  seconds: number;
}

/** Documents are separated by blank lines; without any, by lines. */
export function splitDocuments(text: string): string[] {
  const byParagraph = text
    .split(/\r?\n[ \t]*\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (byParagraph.length >= 2) return byParagraph;
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Fits a byte-level n-gram on all documents but the last tenth (at least one is held out) and
 * scores BrierLM on the held-out ones, cut into blocks with BOS per document.
 */
export async function scoreNgram(
  text: string,
  options: NgramBrierOptions,
  onProgress?: (p: BrierProgress) => void,
): Promise<NgramBrierOutcome> {
  const t0 = performance.now();
  const docs = splitDocuments(text);
  if (docs.length < 2)
    throw new Error(
      'the text needs at least two documents (separated by blank lines, or lines): one to fit, one to score.',
    );
  const held = Math.max(1, Math.round(docs.length / 10));
  const train = docs.slice(0, docs.length - held);
  const heldOut = docs.slice(docs.length - held);
  const tok = byteTokenizer();
  const withBos = (d: string): Int32Array => {
    const ids = tok.encode(d);
    const out = new Int32Array(ids.length + 1);
    out[0] = tok.bosId;
    out.set(ids, 1);
    return out;
  };
  const lm = NGramModel.fit(train.map(withBos), { order: options.order, vocabSize: tok.vocabSize });
  const { blocks, totalTokens } = await makeEvalBlocks(heldOut, tok, {
    blockSize: options.blockSize,
    bosId: tok.bosId,
  });
  if (blocks.length === 0)
    throw new Error(
      `the held-out text (${totalTokens} bytes with BOS) is shorter than one block of ${options.blockSize}; paste more text or lower the block size.`,
    );
  const samplerRng = createRng(`${options.seed}/sampler`);
  const generator: BrierGenerator =
    options.estimator === 'explicit'
      ? { kind: 'explicit', model: lm }
      : options.estimator === 'token'
        ? { kind: 'token', sampler: lm.asTokenSampler({ rng: samplerRng }) }
        : { kind: 'chunk', sampler: lm.asChunkSampler(4, { rng: samplerRng }) };
  const result = await evaluateBrierLM(generator, blocks, {
    rng: createRng(options.seed),
    batchSize: 256,
    ...(onProgress ? { onProgress } : {}),
  });
  return {
    result,
    documents: docs.length,
    trainDocuments: train.length,
    trainBytes: lm.trainingTokens,
    heldOutBytes: totalTokens,
    blocks: blocks.length,
    seconds: (performance.now() - t0) / 1000,
  };
}
