// The official evaluation blocking (spec §3.5): every document tokenised with BOS, concatenated
// per 1000-document map batch, cut into blocks of 8192 (CALM) or 2048 (AR), remainder dropped.

import { checkInt } from './internal/errors.js';
import { packDocuments } from './packing.js';
import type { BatchEncoder, Tokenizer } from './tokenizer.js';

/**
 * The official evaluation block sizes: 8192 tokens for CALM (`train_calm.py` default), 2048 for
 * the AR baseline (`train_ar.sh`). Both give a 2048-step context. Changing them changes BrierLM
 * by ≈30% (issue #20), so keep them to compare with published numbers.
 * @see {@link packEvalBlocks}
 * @category Evaluation
 */
export const EVAL_BLOCK_SIZE = { calm: 8192, ar: 2048 } as const;

/**
 * Options of {@link packEvalBlocks}.
 * @category Evaluation
 */
export interface EvalBlockOptions {
  /** Tokens per block; see {@link EVAL_BLOCK_SIZE}. */
  blockSize: number;
  /**
   * Documents per map batch (the remainder of each is dropped).
   * @defaultValue 1000
   */
  groupSize?: number;
  /** Encodes the documents instead of the tokenizer (e.g. a worker pool). */
  encoder?: BatchEncoder;
}

/**
 * Evaluation blocks and what was dropped.
 * @see {@link packEvalBlocks}
 * @category Evaluation
 */
export interface EvalBlocks {
  /** Blocks of `blockSize` ids, int32. */
  blocks: Int32Array[];
  /** Tokens per block. */
  blockSize: number;
  /** Documents read. */
  documents: number;
  /** Tokens after tokenisation, BOS included (before dropping). */
  tokens: number;
  /** Tokens dropped as remainders. */
  droppedTokens: number;
}

/**
 * Tokenises and blocks evaluation documents exactly as the official evaluation does.
 *
 * @remarks
 * Documents are not split at 10,000 words (the evaluation file does not go through
 * `process.py`). With the Llama 3 tokenizer the WikiText-103 document-level test set gives
 * 289,145 tokens: 35 blocks of 8192 (2,425 dropped) or 141 blocks of 2048.
 *
 * @param texts - The documents, in file order.
 * @param tokenizer - Tokenizer (BOS id, and encoding unless `encoder` is given).
 * @param options - Block size and map-batch size.
 * @returns The blocks and token counts.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad block or group size.
 * @example
 * {@includeCode ../test/examples.test.ts#eval-blocks}
 * @category Evaluation
 */
export async function packEvalBlocks(
  texts: readonly string[],
  tokenizer: Tokenizer,
  options: EvalBlockOptions,
): Promise<EvalBlocks> {
  const groupSize = checkInt(options.groupSize ?? 1000, 'groupSize', 1);
  checkInt(options.blockSize, 'blockSize', 1);
  const encoder = options.encoder ?? tokenizer;
  const out: EvalBlocks = {
    blocks: [],
    blockSize: options.blockSize,
    documents: texts.length,
    tokens: 0,
    droppedTokens: 0,
  };
  for (let g = 0; g < texts.length; g += groupSize) {
    const ids = await encoder.encodeBatch(texts.slice(g, g + groupSize));
    const { blocks, remainder } = packDocuments(ids, {
      layout: 'lm',
      blockSize: options.blockSize,
      bos: tokenizer.bos,
      eos: tokenizer.eos,
      pad: tokenizer.pad,
    });
    out.blocks.push(...blocks);
    out.tokens += blocks.length * options.blockSize + remainder.length;
    out.droppedTokens += remainder.length;
  }
  return out;
}
