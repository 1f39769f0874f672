// Writing a byte-level BPE vocabulary as a HF `tokenizer.json`: GPT-2's byte-to-character
// alphabet, the special tokens after the vocabulary, and the fixed parts of the file (ByteLevel
// decoder, BPE model without dropout or unknown token). Shared by the tiktoken conversion and BPE
// training, which differ only in pre-tokenizer, post-processor, vocabulary and merges.

/**
 * GPT-2's reversible map from bytes to printable characters, which byte-level BPE vocabularies
 * in `tokenizer.json` are written in.
 * @returns 256 single-character strings, indexed by byte value.
 * @example
 * {@includeCode ../../test/examples.test.ts#byte-level-alphabet}
 * @category Tokenizers
 */
export function byteLevelAlphabet(): string[] {
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return out;
}

/** The parts of a byte-level BPE `tokenizer.json` that differ between its writers. */
export interface ByteLevelBpeParts {
  /** Token string (in the byte-level alphabet) → id. */
  vocab: Record<string, number>;
  /** Merges in priority order. */
  merges: ReadonlyArray<readonly [string, string]>;
  /** Special token strings, given ids `firstSpecialId`, `firstSpecialId + 1`, … */
  specialTokens: readonly string[];
  /** Id of the first special token (the vocabulary size without specials). */
  firstSpecialId: number;
  /** The `pre_tokenizer` object. */
  preTokenizer: unknown;
  /** The `post_processor` object, or `null`. */
  postProcessor: unknown;
  /** HF's `ignore_merges`: use a whole pre-token found in the vocabulary without merging. */
  ignoreMerges: boolean;
}

/** Serialises a byte-level BPE tokenizer as `tokenizer.json` text (HF `tokenizers` format 1.0). */
export function byteLevelBpeTokenizerJson(parts: ByteLevelBpeParts): string {
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: parts.specialTokens.map((content, i) => ({
      id: parts.firstSpecialId + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: parts.preTokenizer,
    post_processor: parts.postProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: parts.ignoreMerges,
      vocab: parts.vocab,
      merges: parts.merges,
    },
  });
}
