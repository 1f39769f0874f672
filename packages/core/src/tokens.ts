// Token and chunk types and the few helpers every package needs to move between a flat token
// stream and chunks of K tokens. Everything is Int32Array-based so it crosses worker and tensor
// boundaries without copies.

import { CalmError } from './errors.js';

/**
 * A sequence of token ids, dtype int32.
 * @see {@link toChunks}
 * @category Tokens
 */
export type TokenIds = Int32Array;

/**
 * One chunk of K token ids (K = chunk size, `patch_size` in the official code), dtype int32.
 * @see {@link toChunks}
 * @category Tokens
 */
export type Chunk = Int32Array;

/**
 * Special token ids of the Llama 3 tokenizer as the official CALM scripts use them.
 *
 * @remarks
 * The scripts add a `[PAD]` token, so PAD = 128256 and the vocabulary size is 128257.
 * @see {@link padToMultiple}, whose example pads with `pad`.
 * @category Tokens
 */
export const LLAMA3_SPECIAL_TOKENS = {
  /** `<|begin_of_text|>`, prepended to every document. */
  bos: 128000,
  /** `<|end_of_text|>`, appended to every document in the autoencoder data layout. */
  eos: 128001,
  /** `[PAD]`, added by the training scripts. */
  pad: 128256,
  /** `len(tokenizer)` after adding PAD. */
  vocabSize: 128257,
} as const;

/**
 * Splits a flat token sequence into consecutive chunks of `chunkSize` tokens.
 *
 * @param tokens - Token ids, length a multiple of `chunkSize`, int32.
 * @param chunkSize - K, tokens per chunk (≥ 1).
 * @returns Views (no copies) of each chunk, each of length K.
 * @throws {@link CalmError} `INVALID_ARGUMENT` when the length is not a multiple of K.
 * @example
 * {@includeCode ../test/examples.test.ts#chunks}
 * @category Tokens
 */
export function toChunks(tokens: TokenIds, chunkSize: number): Chunk[] {
  assertChunkSize(chunkSize, 'toChunks');
  if (tokens.length % chunkSize !== 0) {
    throw new CalmError(
      'INVALID_ARGUMENT',
      `toChunks: ${tokens.length} tokens is not a multiple of chunkSize ${chunkSize}; pad or trim the sequence first (see padToMultiple).`,
      { source: '@calm/core' },
    );
  }
  const out: Chunk[] = [];
  for (let i = 0; i < tokens.length; i += chunkSize) out.push(tokens.subarray(i, i + chunkSize));
  return out;
}

/**
 * Right-pads a token sequence with `padId` to the next multiple of `chunkSize`.
 *
 * @param tokens - Token ids, int32.
 * @param chunkSize - K (≥ 1).
 * @param padId - The id to pad with (PAD = 128256 for Llama 3 in CALM).
 * @returns The input itself when no padding is needed, otherwise a new padded array.
 * @example
 * {@includeCode ../test/examples.test.ts#chunks}
 * @category Tokens
 */
export function padToMultiple(tokens: TokenIds, chunkSize: number, padId: number): TokenIds {
  assertChunkSize(chunkSize, 'padToMultiple');
  const rem = tokens.length % chunkSize;
  if (rem === 0) return tokens;
  const out = new Int32Array(tokens.length + chunkSize - rem).fill(padId);
  out.set(tokens);
  return out;
}

/**
 * Tells whether two chunks hold exactly the same token ids.
 * @param a - First chunk.
 * @param b - Second chunk.
 * @returns `true` when lengths and all ids are equal.
 * @see {@link toChunks}
 * @category Tokens
 */
export function chunksEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A string key that identifies a chunk by its ids; equal chunks give equal keys.
 * @param chunk - Token ids.
 * @returns The ids joined with commas.
 * @see {@link toChunks}
 * @category Tokens
 */
export function chunkKey(chunk: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < chunk.length; i++) s += (i === 0 ? '' : ',') + chunk[i];
  return s;
}

/**
 * Converts any array of integers to an Int32Array, checking that every value is an int32.
 * @param values - Token ids.
 * @param name - The argument name, used in the error message.
 * @returns An Int32Array (the input itself when it already is one).
 * @throws {@link CalmError} `INVALID_ARGUMENT` for a non-integer or out-of-range value.
 * @see {@link toChunks}
 * @category Tokens
 */
export function toTokenIds(values: ArrayLike<number> | Iterable<number>, name = 'tokens'): TokenIds {
  if (values instanceof Int32Array) return values;
  const arr = Array.from(values as Iterable<number>);
  const out = new Int32Array(arr.length);
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]!;
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new CalmError('INVALID_ARGUMENT', `${name}[${i}] = ${v} is not an int32 token id; pass integer ids.`, {
        source: '@calm/core',
      });
    }
    out[i] = v;
  }
  return out;
}

function assertChunkSize(k: number, fn: string): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new CalmError('INVALID_ARGUMENT', `${fn}: chunkSize must be a positive integer, got ${k}.`, {
      source: '@calm/core',
    });
  }
}
