// The WikiText-103 document-level test set loader with the official blocking (spec §3.5):
// 62 documents, Llama 3 tokens with BOS per document, blocks of 8192 (CALM) or 2048 (AR).

import { packEvalBlocks, EVAL_BLOCK_SIZE, type EvalBlocks } from '../eval.js';
import type { BatchEncoder, Tokenizer } from '../tokenizer.js';
import { parseJsonlTexts } from '@calm/core';
import { readJsonlTexts as readJsonlFile } from '@calm/core/node';
import { readZstdFile } from './zstd.js';

/**
 * Options of {@link loadWikiTextEval}.
 * @category Evaluation
 */
export interface WikiTextEvalOptions {
  /**
   * Tokens per block: `EVAL_BLOCK_SIZE.calm` (8192) or `EVAL_BLOCK_SIZE.ar` (2048).
   * @defaultValue 8192
   */
  blockSize?: number;
  /** Encodes the documents instead of the tokenizer (e.g. a worker pool). */
  encoder?: BatchEncoder;
}

/**
 * Reads the text field of every line of a JSON-lines file, never splitting a document: `@calm/core/node`'s
 * `readJsonlTexts` (strict UTF-8, blank lines skipped), which also takes `.jsonl.zst` files here
 * (decompressed in memory, every frame verified).
 * @param path - A `.jsonl`, `.json` (JSON lines) or `.jsonl.zst` file.
 * @param field - The field holding each document's text. @defaultValue `'text'`
 * @returns The texts, in file order.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR` (naming file and line) for a bad line or a corrupt `.zst`.
 * @example
 * {@includeCode ../../test/examples.test.ts#wikitext-eval}
 * @category Evaluation
 */
export async function readJsonlTexts(path: string, field = 'text'): Promise<string[]> {
  if (!path.endsWith('.zst')) return readJsonlFile(path, field);
  return parseJsonlTexts(await readZstdFile(path), path, field);
}

/**
 * Loads the WikiText-103 document-level test set (`wikitext_document_level-test.json` in the
 * official repository) and blocks it as the official evaluation does.
 *
 * @remarks
 * Documents are not split at 10,000 words; each gets BOS; all are concatenated (one map batch,
 * since there are fewer than 1000) and cut into blocks with the remainder dropped. With the Llama 3
 * tokenizer: 289,145 tokens → 35 blocks of 8192 (2,425 dropped) or 141 blocks of 2048.
 *
 * @param path - Path of the JSON-lines file.
 * @param tokenizer - The tokenizer (Llama 3 to compare with published numbers).
 * @param options - Block size and encoder.
 * @returns The blocks and counts.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`, `INVALID_ARGUMENT`.
 * @example
 * {@includeCode ../../test/examples.test.ts#wikitext-eval}
 * @category Evaluation
 */
export async function loadWikiTextEval(
  path: string,
  tokenizer: Tokenizer,
  options: WikiTextEvalOptions = {},
): Promise<EvalBlocks> {
  const texts = await readJsonlTexts(path);
  return packEvalBlocks(texts, tokenizer, {
    blockSize: options.blockSize ?? EVAL_BLOCK_SIZE.calm,
    ...(options.encoder ? { encoder: options.encoder } : {}),
  });
}
