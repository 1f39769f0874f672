// Packing tokenised documents into fixed-size training blocks exactly as the official scripts'
// `group_texts` do: the LM layout (train_calm.py / train_ar.py) and the autoencoder layout
// (train_autoencoder.py). Pure typed-array work, browser-safe.

import { fail, checkInt } from './internal/errors.js';
import type { SpecialTokenIds } from './tokenizer.js';

/**
 * How documents are laid out before they are concatenated and cut into blocks.
 *
 * @remarks
 * - `'lm'` (CALM and AR language models): `[BOS, ...ids]` per document; chunks may straddle
 *   documents.
 * - `'ae'` (autoencoder): `[BOS, ...ids, EOS]` right-padded with PAD to a multiple of the chunk
 *   size K, so chunks never straddle documents. (BOS is there because the script's tokenizer call
 *   prepends it before `group_texts` appends EOS.)
 * @see {@link packDocuments}
 * @category Packing
 */
export type PackingLayout = 'lm' | 'ae';

/**
 * Options of {@link packDocuments} and {@link layoutDocument}.
 * @category Packing
 */
export interface PackOptions extends SpecialTokenIds {
  /** The layout; see {@link PackingLayout}. */
  layout: PackingLayout;
  /** Tokens per block (T): 2048 for the autoencoder and AR training, 8192 for CALM eval. */
  blockSize: number;
  /** Chunk size K for the `'ae'` layout (the official `patch_size`, 4); ignored for `'lm'`. */
  chunkSize?: number;
  /**
   * Prepend BOS to every document (what HF `tokenizer(text)` does for Llama 3).
   * @defaultValue `true`
   */
  addBos?: boolean;
}

/**
 * The result of packing one group of documents.
 * @see {@link packDocuments}
 * @category Packing
 */
export interface PackResult {
  /** Consecutive blocks, each of length `blockSize`, int32 (views into one buffer). */
  blocks: Int32Array[];
  /** The tokens after the last whole block (fewer than `blockSize`), int32. */
  remainder: Int32Array;
}

/**
 * Checks packing options and fills defaults.
 * @param options - The options to check.
 * @returns The options with `chunkSize` and `addBos` filled in.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad block or chunk size, or an AE block size
 * that is not a multiple of the chunk size.
 * @see {@link packDocuments}
 * @category Packing
 */
export function resolvePackOptions(options: PackOptions): Required<PackOptions> {
  if (options.layout !== 'lm' && options.layout !== 'ae') {
    fail('INVALID_ARGUMENT', `layout must be 'lm' or 'ae', got ${String(options.layout)}.`);
  }
  checkInt(options.blockSize, 'blockSize', 1);
  const chunkSize = options.chunkSize ?? 1;
  checkInt(chunkSize, 'chunkSize', 1);
  if (options.layout === 'ae' && options.blockSize % chunkSize !== 0) {
    fail(
      'INVALID_ARGUMENT',
      `blockSize ${options.blockSize} is not a multiple of chunkSize ${chunkSize}; the 'ae' layout needs whole chunks per block (official: 2048 and 4).`,
    );
  }
  for (const k of ['bos', 'eos', 'pad'] as const) checkInt(options[k], k, 0, 0x7fffffff);
  return { ...options, chunkSize, addBos: options.addBos ?? true };
}

function laidOutLength(n: number, o: Required<PackOptions>): number {
  const base = n + (o.addBos ? 1 : 0);
  if (o.layout === 'lm') return base;
  const withEos = base + 1;
  return Math.ceil(withEos / o.chunkSize) * o.chunkSize;
}

function writeDocument(out: Int32Array, at: number, ids: Int32Array, o: Required<PackOptions>): number {
  let p = at;
  if (o.addBos) out[p++] = o.bos;
  out.set(ids, p);
  p += ids.length;
  if (o.layout === 'ae') {
    out[p++] = o.eos;
    const end = at + laidOutLength(ids.length, o);
    out.fill(o.pad, p, end);
    p = end;
  }
  return p;
}

/**
 * Lays out one tokenised document as the official scripts do before concatenation.
 *
 * @param ids - The document's ids without special tokens, int32.
 * @param options - Layout and special ids.
 * @returns `[BOS, ...ids]` (`'lm'`) or `[BOS, ...ids, EOS, PAD...]` padded to a multiple of K
 * (`'ae'`), int32.
 * @throws `CalmError` `INVALID_ARGUMENT` for bad options.
 * @example
 * {@includeCode ../test/examples.test.ts#pack-documents}
 * @category Packing
 */
export function layoutDocument(ids: Int32Array, options: PackOptions): Int32Array {
  const o = resolvePackOptions(options);
  const out = new Int32Array(laidOutLength(ids.length, o));
  writeDocument(out, 0, ids, o);
  return out;
}

/**
 * Packs one group of tokenised documents (one official map batch of 1000) into blocks.
 *
 * @remarks
 * Mirrors `group_texts`: lay out every document, concatenate, cut into consecutive blocks of
 * `blockSize`, and return what is left over. The official scripts drop that remainder for every
 * map batch; pass it back as `carry` of the next call to keep it instead (a non-official option).
 *
 * @param docs - Token ids of each document, without special tokens, int32.
 * @param options - Layout, block size, chunk size, special ids.
 * @param carry - Tokens to put before the first document (a previous remainder), int32.
 * @returns Blocks of length `blockSize` and the remainder.
 * @throws `CalmError` `INVALID_ARGUMENT` for bad options.
 * @example
 * {@includeCode ../test/examples.test.ts#pack-documents}
 * @category Packing
 */
export function packDocuments(docs: readonly Int32Array[], options: PackOptions, carry?: Int32Array): PackResult {
  const o = resolvePackOptions(options);
  let total = carry ? carry.length : 0;
  for (const d of docs) total += laidOutLength(d.length, o);
  const all = new Int32Array(total);
  let p = 0;
  if (carry) {
    all.set(carry);
    p = carry.length;
  }
  for (const d of docs) p = writeDocument(all, p, d, o);
  const n = Math.floor(total / o.blockSize);
  const blocks: Int32Array[] = new Array(n);
  for (let i = 0; i < n; i++) blocks[i] = all.subarray(i * o.blockSize, (i + 1) * o.blockSize);
  return { blocks, remainder: all.slice(n * o.blockSize) };
}
