/**
 * `@calm/brierlm/node`: Node-only file helpers: reading a JSON-lines eval set (the official
 * `wikitext_document_level-test.json` format) into eval blocks, and writing results files.
 * The main entry `@calm/brierlm` stays browser-safe.
 *
 * @example
 * ```ts
 * import { OFFICIAL_PROTOCOL, evaluateBrierLM } from '@calm/brierlm';
 * import { loadEvalBlocks } from '@calm/brierlm/node';
 * const { blocks } = await loadEvalBlocks('../shared/data/wikitext-103-document-test.jsonl', tokenizer, OFFICIAL_PROTOCOL.calm);
 * ```
 *
 * @packageDocumentation
 */

import { readJsonlTexts, writeTextAtomic } from '@calm/core/node';
import { toHarnessResults, positionsToJsonl, type HarnessMetadata } from './harness.js';
import { makeEvalBlocks, type EvalBlocks, type EvalBlocksOptions, type TokenizerLike } from './protocol.js';
import type { BrierLMResult } from './types.js';
import { fail } from './internal/util.js';

// The JSON-lines reader is @calm/core's, re-exported for reading eval sets.
export { readJsonlTexts } from '@calm/core/node';

/**
 * Reads a JSON-lines eval set and builds eval blocks with the official protocol (BOS per
 * document, concatenation, blocks of `blockSize`, remainder dropped).
 * @param path - File path of the JSON-lines eval set.
 * @param tokenizer - Any object with `encode(text)` (e.g. the Llama 3 tokenizer).
 * @param options - Block size, BOS id, optional block limit (e.g. `OFFICIAL_PROTOCOL.calm`).
 * @returns The blocks and counts.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`, `INVALID_ARGUMENT`.
 * @example
 * {@includeCode ../test/examples.test.ts#node-files}
 * @category Protocol
 */
export async function loadEvalBlocks(
  path: string,
  tokenizer: TokenizerLike,
  options: EvalBlocksOptions,
): Promise<EvalBlocks> {
  return makeEvalBlocks(await readJsonlTexts(path), tokenizer, options);
}

/**
 * Where {@link writeResultFiles} writes.
 * @category Results
 */
export interface ResultFiles {
  /** Path of the lm-evaluation-harness results JSON. */
  output?: string;
  /** Path of the per-position samples JSONL (needs a result evaluated with `keepPositions`). */
  samples?: string;
}

/**
 * Writes the harness results JSON and, optionally, the per-position samples JSONL (atomically).
 * @param result - The evaluation result.
 * @param files - Output paths.
 * @param meta - Run metadata for the harness JSON.
 * @throws `CalmError` `IO_ERROR` when a file cannot be written; `INVALID_ARGUMENT` when
 *   samples are requested but the result has no per-position records.
 * @example
 * {@includeCode ../test/examples.test.ts#node-files}
 * @category Results
 */
export async function writeResultFiles(
  result: BrierLMResult,
  files: ResultFiles,
  meta: HarnessMetadata = {},
): Promise<void> {
  if (files.samples !== undefined && !result.positions) {
    fail(
      'INVALID_ARGUMENT',
      'writeResultFiles: samples path given but the result has no per-position records; evaluate with keepPositions: true.',
    );
  }
  if (files.output !== undefined)
    await writeTextAtomic(files.output, JSON.stringify(toHarnessResults(result, meta), null, 2) + '\n');
  if (files.samples !== undefined) await writeTextAtomic(files.samples, positionsToJsonl(result.positions!));
}
