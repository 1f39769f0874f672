// The official BrierLM evaluation protocol as presets: WikiText-103 document-level test set,
// every document tokenised with BOS, all concatenated, cut into blocks (8192 tokens for CALM,
// 2048 for AR), remainder dropped. Browser-safe: file reading lives in `@calm/brierlm/node`.

import { LLAMA3_SPECIAL_TOKENS, NO_TOKEN, type TokenIds } from '@calm/core';
import { checkInt, fail } from './internal/util.js';

/**
 * Anything that turns text into token ids (sync or async), e.g. a Llama 3 tokenizer.
 * @see {@link makeEvalBlocks}
 * @category Protocol
 */
export interface TokenizerLike {
  /**
   * Tokenises one document.
   * @param text - The document text.
   * @returns Token ids (with or without a leading BOS; see {@link EvalBlocksOptions.bosId}).
   */
  encode(text: string): ArrayLike<number> | Promise<ArrayLike<number>>;
}

/**
 * One official evaluation preset.
 * @see {@link makeEvalBlocks}
 * @category Protocol
 */
export interface ProtocolPreset {
  /** Tokens per eval block. */
  readonly blockSize: number;
  /** BOS id prepended to every document (Llama 3 `<|begin_of_text|>`). */
  readonly bosId: number;
  /** The estimator the official code uses with this preset. */
  readonly estimator: 'chunk' | 'explicit';
  /** What the preset reproduces. */
  readonly description: string;
}

/**
 * The official protocol: `calm` (CALM `eval_brier`, blocks of 8192) and `ar` (`train_ar.py`,
 * blocks of 2048). Both give a context of up to 2048 steps.
 * @see {@link makeEvalBlocks}
 * @category Protocol
 */
export const OFFICIAL_PROTOCOL: { readonly calm: ProtocolPreset; readonly ar: ProtocolPreset } = {
  calm: {
    blockSize: 8192,
    bosId: LLAMA3_SPECIAL_TOKENS.bos,
    estimator: 'chunk',
    description:
      'CALM eval_brier: WikiText-103 document-level test, Llama 3 tokens, BOS per document, blocks of 8192, remainder dropped.',
  },
  ar: {
    blockSize: 2048,
    bosId: LLAMA3_SPECIAL_TOKENS.bos,
    estimator: 'explicit',
    description:
      'train_ar.py: WikiText-103 document-level test, Llama 3 tokens, BOS per document, blocks of 2048, remainder dropped.',
  },
};

/**
 * Options of {@link makeEvalBlocks}.
 * @category Protocol
 */
export interface EvalBlocksOptions {
  /** Tokens per block (8192 for CALM, 2048 for AR in the official protocol). */
  blockSize: number;
  /**
   * BOS id prepended to every document (not again when the tokenizer's output already starts
   * with it); `null` for none. Default: Llama 3's 128000.
   */
  bosId?: number | null;
  /** Stop once this many blocks are complete (the rest of the text is not tokenised). */
  maxBlocks?: number;
}

/**
 * Eval blocks and what was cut.
 * @see {@link makeEvalBlocks}
 * @category Protocol
 */
export interface EvalBlocks {
  /** Blocks of exactly `blockSize` token ids each, int32. */
  blocks: Int32Array[];
  /** Documents tokenised. */
  documents: number;
  /** Tokens after tokenisation (BOS included) of the documents read. */
  totalTokens: number;
  /** Tokens left over at the end, fewer than one block (dropped as the official code does); 0 when stopped by `maxBlocks`. */
  droppedTokens: number;
}

/**
 * Tokenises documents, prepends BOS to each, concatenates them and cuts the stream into blocks
 * of `blockSize` tokens, dropping the remainder: the official protocol.
 *
 * @param texts - Documents (sync or async iterable of strings).
 * @param tokenizer - Any object with `encode(text)`.
 * @param options - Block size, BOS id, optional block limit.
 * @returns The blocks and counts.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad block size or tokenizer, or token ids that are not int32.
 * @example
 * {@includeCode ../test/examples.test.ts#score-ngram}
 * @category Protocol
 */
export async function makeEvalBlocks(
  texts: Iterable<string> | AsyncIterable<string>,
  tokenizer: TokenizerLike,
  options: EvalBlocksOptions,
): Promise<EvalBlocks> {
  if (!tokenizer || typeof tokenizer.encode !== 'function')
    fail('INVALID_ARGUMENT', 'makeEvalBlocks: tokenizer must have an encode(text) method returning token ids.');
  const blockSize = checkInt(options?.blockSize, 'makeEvalBlocks blockSize', 1);
  const bosId = options.bosId === undefined ? LLAMA3_SPECIAL_TOKENS.bos : options.bosId;
  if (bosId !== null) checkInt(bosId, 'makeEvalBlocks bosId', 0, 2147483647);
  const maxBlocks =
    options.maxBlocks === undefined ? Infinity : checkInt(options.maxBlocks, 'makeEvalBlocks maxBlocks', 1);
  const blocks: Int32Array[] = [];
  let current = new Int32Array(blockSize);
  let fill = 0;
  let documents = 0;
  let totalTokens = 0;
  const push = (id: number): void => {
    current[fill++] = id;
    if (fill === blockSize) {
      blocks.push(current);
      current = new Int32Array(blockSize);
      fill = 0;
    }
  };
  for await (const text of texts as AsyncIterable<string>) {
    if (typeof text !== 'string')
      fail('INVALID_ARGUMENT', `makeEvalBlocks: document ${documents} is ${typeof text}, not a string.`);
    const ids = await tokenizer.encode(text);
    if (ids == null || typeof ids.length !== 'number')
      fail(
        'INVALID_ARGUMENT',
        `makeEvalBlocks: tokenizer.encode returned ${String(ids)} for document ${documents}; it must return token ids.`,
      );
    const withBos = bosId !== null && !(ids.length > 0 && ids[0] === bosId);
    if (withBos) {
      push(bosId);
      totalTokens++;
    }
    for (let i = 0; i < ids.length; i++) {
      const v = ids[i]!;
      if (!Number.isInteger(v) || v < 0 || v > 2147483647)
        fail(
          'INVALID_ARGUMENT',
          `makeEvalBlocks: document ${documents} token ${i} = ${v} is not a non-negative int32 id.`,
        );
      push(v);
      totalTokens++;
      if (blocks.length >= maxBlocks) break;
    }
    documents++;
    if (blocks.length >= maxBlocks)
      return { blocks: blocks.slice(0, maxBlocks), documents, totalTokens, droppedTokens: 0 };
  }
  return { blocks, documents, totalTokens, droppedTokens: fill };
}

/**
 * A byte-level tokenizer: UTF-8 bytes are ids 0..255, BOS is 256, V = 257. Deterministic and
 * dependency-free; useful for tests, the n-gram example and models trained on bytes.
 * @see {@link byteTokenizer}
 * @category Protocol
 */
export interface ByteTokenizer extends TokenizerLike {
  /** 257. */
  readonly vocabSize: number;
  /** 256. */
  readonly bosId: number;
  /**
   * UTF-8 bytes of the text (no BOS).
   * @param text - Any string.
   * @returns Byte ids, int32.
   */
  encode(text: string): Int32Array;
  /**
   * Decodes byte ids to text, skipping BOS and `NO_TOKEN`.
   * @param ids - Byte ids.
   * @returns The text (invalid UTF-8 becomes U+FFFD).
   */
  decode(ids: ArrayLike<number>): string;
}

/**
 * Creates the byte-level tokenizer (ids 0..255 = UTF-8 bytes, 256 = BOS).
 * @returns A {@link ByteTokenizer}.
 * @example
 * {@includeCode ../test/examples.test.ts#score-ngram}
 * @category Protocol
 */
export function byteTokenizer(): ByteTokenizer {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  return {
    vocabSize: 257,
    bosId: 256,
    encode: (text) => Int32Array.from(enc.encode(text)),
    decode: (ids) => {
      const bytes: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        const v = ids[i]!;
        if (v >= 0 && v < 256) bytes.push(v);
        else if (v !== 256 && v !== NO_TOKEN)
          fail('INVALID_ARGUMENT', `byteTokenizer.decode: id ${v} is not a byte id (0..256).`);
      }
      return dec.decode(Uint8Array.from(bytes));
    },
  };
}

/**
 * Cuts an already tokenised stream into consecutive blocks of `blockSize`, dropping the remainder.
 * @param tokens - The token stream, int32.
 * @param blockSize - Tokens per block (≥ 1).
 * @returns Views (no copies) of each whole block.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad block size.
 * @example
 * {@includeCode ../test/examples.test.ts#blocks}
 * @category Protocol
 */
export function cutIntoBlocks(tokens: TokenIds, blockSize: number): Int32Array[] {
  checkInt(blockSize, 'cutIntoBlocks blockSize', 1);
  const out: Int32Array[] = [];
  for (let o = 0; o + blockSize <= tokens.length; o += blockSize) out.push(tokens.subarray(o, o + blockSize));
  return out;
}
