/**
 * Node-only parts of `@calm/data-pile`: reading `.jsonl` and `.jsonl.zst` shards from disk,
 * tokenizer loaders, BPE training, worker-thread tokenisation, downloads, the embedded corpus and
 * the WikiText-103 evaluation set. The browser-safe core is the main entry, `@calm/data-pile`.
 *
 * @remarks
 * Quick start (Pile shards and the Llama 3 tokenizer):
 * ```ts
 * import { createBlockStream } from '@calm/data-pile';
 * import { downloadPileShard, jsonlSource, loadTokenizer, createTokenizerPool } from '@calm/data-pile/node';
 *
 * const { path } = await downloadPileShard(2, 'pile/train');
 * const tokenizer = await loadTokenizer('llama3-tokenizer');
 * const pool = await createTokenizerPool(tokenizer, { threads: 4 });
 * const stream = createBlockStream(jsonlSource([path]), tokenizer, { blockSize: 2048, encoder: pool });
 * ```
 *
 * @packageDocumentation
 */

export { jsonlSource, type JsonlSourceOptions } from './node/jsonl.js';
export {
  loadTokenizer,
  loadTiktokenTokenizer,
  loadHfTokenizer,
  hfTokenizerFromJson,
  tiktokenToTokenizerJson,
  convertTiktokenToTokenizerJson,
  byteLevelAlphabet,
  type HfTokenizerOptions,
  type TiktokenConversionOptions,
} from './node/tokenizers.js';
export { trainBpeTokenizer, type TrainBpeOptions, type TrainedBpe } from './node/train-bpe.js';
export {
  createTokenizerPool,
  type TokenizerPool,
  type TokenizerPoolOptions,
  type TokenizerPoolStats,
} from './node/pool.js';
export {
  downloadFile,
  downloadPileShard,
  pileShardUrl,
  PILE_UNCOPYRIGHTED,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  type PileShardOptions,
} from './node/download.js';
export { loadSotuCorpus, type SotuCorpus, type SotuDocument, type SotuOptions } from './node/sotu.js';
export { loadWikiTextEval, readJsonlTexts, type WikiTextEvalOptions } from './node/wikitext.js';
