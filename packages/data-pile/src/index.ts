/**
 * `@calm/data-pile`: text corpora to packed `Int32Array` token blocks, exactly as the official
 * CALM training and evaluation scripts see them.
 *
 * @remarks
 * This entry is browser-safe and framework-free (no tfjs, no Node built-ins):
 * - the {@link Tokenizer} contract, the Llama 3 tokenizer from its tiktoken ranks
 *   ({@link createTiktokenTokenizer}) and byte-level BPE `tokenizer.json` files such as the one
 *   `calm quickstart` writes, in plain JavaScript ({@link bpeTokenizerFromJson}),
 * - the Pile preprocessing of `process.py` ({@link splitLongDocument}),
 * - packing in the LM and autoencoder layouts ({@link packDocuments}),
 * - document sources ({@link DocumentSource}, {@link arraySource}),
 * - the streaming pipeline with deterministic sharding, a seeded shuffle buffer and a resumable
 *   JSON cursor ({@link createBlockStream}),
 * - the official evaluation blocking ({@link packEvalBlocks}).
 *
 * Node-only parts live in `@calm/data-pile/node`: `.jsonl`/`.jsonl.zst` readers, tokenizer
 * loaders (tiktoken and HF `tokenizer.json`), BPE training, the worker-thread tokenizer pool, the
 * shard downloader, the embedded State of the Union corpus and the WikiText-103 loader.
 *
 * Quick start:
 * ```ts
 * import { createBlockStream } from '@calm/data-pile';
 * import { loadSotuCorpus, trainBpeTokenizer } from '@calm/data-pile/node';
 *
 * const corpus = loadSotuCorpus({ split: 'train', maxChars: 2_000_000 });
 * const { tokenizer } = await trainBpeTokenizer({ texts: corpus.texts, vocabSize: 4096 });
 * const stream = createBlockStream(corpus.source, tokenizer, { blockSize: 256, shuffleBuffer: 64 });
 * const batch = await stream.nextBatch(8); // { ids: Int32Array [8 * 256], shape: [8, 256] }
 * const saved = stream.cursor();           // JSON for the checkpoint
 * ```
 *
 * @packageDocumentation
 */

export type { Tokenizer, SpecialTokenIds, TokenizerWorkerSpec, BatchEncoder } from './tokenizer.js';
export {
  createTiktokenTokenizer,
  parseTiktokenRanks,
  llama3SpecialTokenNames,
  LLAMA3_SPLIT_PATTERN,
  LLAMA3_SPLIT_PATTERN_ORIGINAL,
  PAD_TOKEN,
  type TiktokenTokenizerOptions,
  type TiktokenRank,
} from './tiktoken.js';
export { bpeTokenizerFromJson, type HfTokenizerOptions } from './bpe.js';
export { splitLongDocument, PILE_MAX_WORDS } from './split.js';
export {
  packDocuments,
  layoutDocument,
  resolvePackOptions,
  type PackingLayout,
  type PackOptions,
  type PackResult,
} from './packing.js';
export {
  arraySource,
  checkSourcePosition,
  SOURCE_START,
  type DocumentSource,
  type SourceDocument,
  type SourcePosition,
  type SourceHooks,
  type LineIssue,
  type LineIssueReason,
  type LineErrorPolicy,
  type SplitOption,
  type ArraySourceOptions,
} from './source.js';
export {
  createBlockStream,
  type BlockStream,
  type BlockStreamOptions,
  type BlockStreamStats,
  type TokenBatch,
} from './stream.js';
export { serializeCursor, parseCursor, type BlockCursor, type BlockStreamConfig, type ReaderCounts } from './cursor.js';
export { packEvalBlocks, EVAL_BLOCK_SIZE, type EvalBlockOptions, type EvalBlocks } from './eval.js';
