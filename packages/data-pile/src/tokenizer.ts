// The one tokenizer contract of the package. Packing, streaming, evaluation and the worker pool
// only see this interface, so the Llama 3 tokenizer (from tiktoken ranks or an HF
// `tokenizer.json`) and a small trained BPE are interchangeable.

/**
 * Special token ids a tokenizer must provide for packing.
 * @see {@link Tokenizer}
 * @category Tokenizers
 */
export interface SpecialTokenIds {
  /** Beginning of text, prepended to every document (Llama 3: 128000). */
  readonly bos: number;
  /** End of text, appended to every document in the autoencoder layout (Llama 3: 128001). */
  readonly eos: number;
  /** Padding, added by the official training scripts as `[PAD]` (Llama 3: 128256). */
  readonly pad: number;
}

/**
 * What a worker thread needs to rebuild a tokenizer: plain, structured-cloneable data.
 *
 * @remarks
 * `tiktoken`: the arguments of js-tiktoken's `Tiktoken` constructor. `hf`: the text of a HF
 * `tokenizer.json` plus the special tokens that were added after loading it.
 * @see {@link Tokenizer}
 * @category Tokenizers
 */
export type TokenizerWorkerSpec =
  | {
      /** Rebuilt with js-tiktoken. */
      readonly kind: 'tiktoken';
      /** The split regular expression (already rewritten for the JavaScript engine). */
      readonly pattern: string;
      /** js-tiktoken's compact rank table (`"! <offset> <base64> <base64> ..."` lines). */
      readonly ranks: string;
      /** Special token strings and their ids. */
      readonly specialTokens: Readonly<Record<string, number>>;
    }
  | {
      /** Rebuilt with HF `tokenizers`. */
      readonly kind: 'hf';
      /** The `tokenizer.json` text. */
      readonly json: string;
      /** Special tokens added after loading (e.g. `[PAD]`), in order. */
      readonly addedSpecialTokens: readonly string[];
    };

/**
 * A tokenizer: text to int32 ids and back, with the special ids packing needs.
 *
 * @remarks
 * `encode` never adds special tokens: packing adds BOS/EOS/PAD itself, exactly where the
 * official scripts do. Special-token strings that occur in the text (e.g. `<|end_of_text|>`)
 * are recognised as their ids, as HF `tokenizer(text)` does.
 *
 * The methods are asynchronous because HF `tokenizers` (Rust, napi) only offers asynchronous
 * encoding in Node; the js-tiktoken implementation resolves immediately.
 * @example
 * {@includeCode ../test/examples.test.ts#tokenizer-contract}
 * @category Tokenizers
 */
export interface Tokenizer extends SpecialTokenIds {
  /** A short human-readable name, e.g. `llama3-tiktoken`. */
  readonly name: string;
  /** Number of ids, special tokens included (Llama 3 with PAD: 128257). */
  readonly vocabSize: number;
  /** Identifies the vocabulary (a hash of the tokenizer file); stored in cursors. */
  readonly fingerprint: string;
  /**
   * Encodes one text, without special tokens.
   * @param text - Any string.
   * @returns Token ids, int32.
   */
  encode(text: string): Promise<Int32Array>;
  /**
   * Encodes several texts (possibly in parallel), without special tokens.
   * @param texts - The texts.
   * @returns One id array per text, in order.
   */
  encodeBatch(texts: readonly string[]): Promise<Int32Array[]>;
  /**
   * Decodes ids to text; special tokens decode to their strings.
   * @param ids - Token ids in [0, vocabSize).
   * @returns The text.
   */
  decode(ids: ArrayLike<number>): Promise<string>;
  /** Data to rebuild this tokenizer in a worker thread; absent when it cannot be rebuilt. */
  workerSpec?(): TokenizerWorkerSpec;
}

/**
 * Anything that can encode batches of texts: a {@link Tokenizer} or a worker pool.
 * @see {@link createBlockStream}
 * @category Tokenizers
 */
export interface BatchEncoder {
  /**
   * Encodes several texts, without special tokens.
   * @param texts - The texts.
   * @returns One id array per text, in order.
   */
  encodeBatch(texts: readonly string[]): Promise<Int32Array[]>;
}
