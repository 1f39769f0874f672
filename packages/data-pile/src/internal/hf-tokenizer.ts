// The Tokenizer object of a HF `tokenizer.json`, whichever engine encodes it (the pure-JS BPE of
// `bpeTokenizerFromJson`, or the native `tokenizers` library in Node): one fingerprint and one
// worker spec for both, so a cursor or a worker pool sees the same tokenizer either way.

import type { SpecialTokenIds, Tokenizer } from '../tokenizer.js';
import { fnv1a } from './hash.js';

/** What identifies a loaded HF tokenizer: its name, vocabulary size and special ids. */
export interface HfTokenizerIds extends SpecialTokenIds {
  readonly name: string;
  readonly vocabSize: number;
}

/**
 * Builds the Tokenizer of a `tokenizer.json` from the engine's encode/decode functions.
 * @param json - The `tokenizer.json` text (hashed into the fingerprint; rebuilt from in workers).
 * @param addedSpecialTokens - Special tokens added after loading (e.g. `[PAD]`), in order.
 */
export function hfTokenizer(
  json: string,
  addedSpecialTokens: readonly string[],
  ids: HfTokenizerIds,
  engine: Pick<Tokenizer, 'encode' | 'encodeBatch' | 'decode'>,
): Tokenizer {
  const { name, vocabSize, bos, eos, pad } = ids;
  return {
    name,
    vocabSize,
    fingerprint: `hf:${fnv1a(json)}:${vocabSize}:${bos},${eos},${pad}`,
    bos,
    eos,
    pad,
    ...engine,
    workerSpec: () => ({ kind: 'hf', json, addedSpecialTokens }),
  };
}
