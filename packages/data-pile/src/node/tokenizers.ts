// Tokenizer loaders for Node: Llama 3 from its tiktoken `tokenizer.model` (js-tiktoken) or from a
// HF `tokenizer.json` (HF `tokenizers`, Rust via napi), and the conversion from the first format
// to the second, so both routes exist even where only `tokenizer.model` is shipped.

import { readFile, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { pathExists, readJsonFile } from '@calm/core/node';
import { fail } from '../internal/errors.js';
import { hfTokenizer } from '../internal/hf-tokenizer.js';
import { checkIds } from '../internal/ids.js';
import { base64ToBytes } from '../internal/base64.js';
import { byteLevelAlphabet, byteLevelBpeTokenizerJson } from '../internal/byte-level-bpe.js';
import {
  LLAMA3_SPLIT_PATTERN_ORIGINAL,
  PAD_TOKEN,
  createTiktokenTokenizer,
  llama3SpecialTokenNames,
  parseTiktokenRanks,
  type TiktokenTokenizerOptions,
} from '../tiktoken.js';
import type { HfTokenizerOptions } from '../bpe.js';
import type { Tokenizer } from '../tokenizer.js';

export type { HfTokenizerOptions };

type TokenizersModule = typeof import('tokenizers');

let tokenizersModule: TokenizersModule | null = null;

/** Loads HF `tokenizers` (a 64 MB native module) on first use only. */
export function requireTokenizers(): TokenizersModule {
  if (!tokenizersModule) {
    try {
      tokenizersModule = createRequire(import.meta.url)('tokenizers') as TokenizersModule;
    } catch (e) {
      fail(
        'MISSING_DEPENDENCY',
        `cannot load the "tokenizers" package (${(e as Error).message}); install it (npm i tokenizers) or use the tiktoken loader.`,
        { cause: e },
      );
    }
  }
  return tokenizersModule!;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    return fail('IO_ERROR', `cannot read ${what} ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Reads special token names from a HF `tokenizer_config.json` (`added_tokens_decoder`), in id
 * order; `null` when the file is absent or has none.
 */
async function specialNamesFromConfig(dir: string): Promise<string[] | null> {
  const path = join(dir, 'tokenizer_config.json');
  if (!(await pathExists(path))) return null;
  const cfg = (await readJsonFile(path, 'fix or delete the tokenizer config')) as {
    added_tokens_decoder?: Record<string, { content?: unknown }>;
  } | null;
  const dec = cfg?.added_tokens_decoder;
  if (!dec || typeof dec !== 'object') return null;
  const ids = Object.keys(dec)
    .map(Number)
    .sort((a, b) => a - b);
  if (ids.length === 0) return null;
  return ids.map((id, i) => {
    const c = dec[String(id)]?.content;
    if (typeof c !== 'string' || id !== ids[0]! + i) {
      fail('FORMAT_ERROR', `${path}: added_tokens_decoder must list consecutive ids with string contents (id ${id}).`);
    }
    return c;
  });
}

/**
 * Loads a tiktoken-format tokenizer (Llama 3's `tokenizer.model`) with js-tiktoken.
 *
 * @remarks
 * Special token names come from `options.specialTokens`, else from `tokenizer_config.json` in
 * the same folder, else Llama 3's layout. `[PAD]` is added at 128256 (vocab 128257), BOS is
 * 128000 and EOS 128001. See `createTiktokenTokenizer` for the details.
 *
 * @param path - Path of the rank file.
 * @param options - Pattern, special tokens, names.
 * @returns The tokenizer.
 * @throws `CalmError` `IO_ERROR` when the file cannot be read, `FORMAT_ERROR` when it is malformed.
 * @see {@link loadTokenizer}
 * @category Tokenizers
 */
export async function loadTiktokenTokenizer(path: string, options: TiktokenTokenizerOptions = {}): Promise<Tokenizer> {
  const text = await readText(path, 'tokenizer');
  const names = options.specialTokens ?? (await specialNamesFromConfig(dirname(path))) ?? undefined;
  return createTiktokenTokenizer(text, { fileName: path, ...options, ...(names ? { specialTokens: names } : {}) });
}

/**
 * Creates a {@link Tokenizer} from the text of a HF `tokenizer.json`, encoded by HF `tokenizers`.
 *
 * @remarks
 * `encode` passes `addSpecialTokens: false` (packing adds BOS itself); special-token strings in
 * the text are still recognised, as in HF. `encodeBatch` runs on Rust threads (≈5 MB/s of text on
 * two cores for Llama 3). For byte-level BPE files (ours and Llama 3's), `bpeTokenizerFromJson` of
 * `@calm/data-pile` gives the same ids in plain JavaScript, e.g. in a browser.
 *
 * @param json - The `tokenizer.json` text.
 * @param options - Special token strings and names.
 * @returns The tokenizer.
 * @throws `CalmError` `FORMAT_ERROR` when HF `tokenizers` rejects the JSON; `INVALID_ARGUMENT`
 * when BOS or EOS is not in the vocabulary; `MISSING_DEPENDENCY` without `tokenizers`.
 * @example
 * {@includeCode ../../test/examples.test.ts#sotu-bpe}
 * @category Tokenizers
 */
export async function hfTokenizerFromJson(json: string, options: HfTokenizerOptions = {}): Promise<Tokenizer> {
  const tk = requireTokenizers();
  const file = options.fileName ?? 'tokenizer.json';
  let t: InstanceType<TokenizersModule['Tokenizer']>;
  try {
    t = tk.Tokenizer.fromString(json);
  } catch (e) {
    return fail('FORMAT_ERROR', `${file} is not a valid HF tokenizer.json (${(e as Error).message}).`, { cause: e });
  }
  const bosToken = options.bosToken ?? '<|begin_of_text|>';
  const eosToken = options.eosToken ?? '<|end_of_text|>';
  const padToken = options.padToken ?? PAD_TOKEN;
  const bos = t.tokenToId(bosToken);
  const eos = t.tokenToId(eosToken);
  if (bos === null || eos === null) {
    fail(
      'INVALID_ARGUMENT',
      `${file} has no ${bos === null ? bosToken : eosToken} token; pass bosToken/eosToken naming its special tokens.`,
    );
  }
  const added: string[] = [];
  if (t.tokenToId(padToken) === null) {
    t.addSpecialTokens([padToken]);
    added.push(padToken);
  }
  const pad = t.tokenToId(padToken)!;
  const vocabSize = t.getVocabSize(true);
  const name = options.name ?? 'hf-tokenizer';
  const toIds = (e: { getIds(): number[] }) => Int32Array.from(e.getIds());
  const tok = t;
  return hfTokenizer(
    json,
    added,
    { name, vocabSize, bos, eos, pad },
    {
      encode: async (text) => toIds(await tok.encode(text, null, { addSpecialTokens: false })),
      encodeBatch: async (texts) =>
        texts.length === 0 ? [] : (await tok.encodeBatch([...texts], { addSpecialTokens: false })).map(toIds),
      decode: async (ids) => tok.decode(checkIds(ids, vocabSize, name), false),
    },
  );
}

/**
 * Loads a HF `tokenizer.json` (e.g. Llama 3's, or one written by `trainBpeTokenizer` or
 * {@link convertTiktokenToTokenizerJson}).
 *
 * @param path - Path of `tokenizer.json`.
 * @param options - Special token strings and names.
 * @returns The tokenizer.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`, `INVALID_ARGUMENT`, `MISSING_DEPENDENCY` (see
 * {@link hfTokenizerFromJson}).
 * @example
 * {@includeCode ../../test/tokenizers.test.ts#convert-tiktoken}
 * @category Tokenizers
 */
export async function loadHfTokenizer(path: string, options: HfTokenizerOptions = {}): Promise<Tokenizer> {
  const json = await readText(path, 'tokenizer');
  return hfTokenizerFromJson(json, { name: 'llama3-hf', fileName: path, ...options });
}

/**
 * Loads a tokenizer from a folder or file: a folder's `tokenizer.json` when present, else its
 * `tokenizer.model`; a `.json` file with HF `tokenizers`; any other file as tiktoken ranks.
 *
 * @param path - A folder such as `llama3-tokenizer/`, or a tokenizer file.
 * @returns The tokenizer (Llama 3 defaults for special tokens).
 * @throws `CalmError` `IO_ERROR` when nothing loadable is found; see the specific loaders.
 * @example
 * {@includeCode ../../test/examples.test.ts#load-tokenizer}
 * @category Tokenizers
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    fail('IO_ERROR', `cannot find tokenizer ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (isDir) {
    if (await pathExists(join(path, 'tokenizer.json'))) return loadHfTokenizer(join(path, 'tokenizer.json'));
    if (await pathExists(join(path, 'tokenizer.model'))) return loadTiktokenTokenizer(join(path, 'tokenizer.model'));
    fail('IO_ERROR', `${path} holds neither tokenizer.json nor tokenizer.model.`);
  }
  return path.endsWith('.json') ? loadHfTokenizer(path) : loadTiktokenTokenizer(path);
}

export { byteLevelAlphabet };

/**
 * Options of {@link tiktokenToTokenizerJson}.
 * @see {@link convertTiktokenToTokenizerJson}
 * @category Tokenizers
 */
export interface TiktokenConversionOptions {
  /**
   * Special token names in id order, placed after the ranks.
   * @defaultValue Llama 3's 256 names
   */
  specialTokens?: readonly string[];
  /**
   * The split pattern in Oniguruma syntax (as HF writes it).
   * @defaultValue `LLAMA3_SPLIT_PATTERN_ORIGINAL`
   */
  pattern?: string;
  /**
   * The token the post-processor prepends (HF `tokenizer(text)` adds it); `null` for none.
   * @defaultValue `'<|begin_of_text|>'`
   */
  bosToken?: string | null;
  /** File name for error messages. */
  fileName?: string;
}

/**
 * Converts tiktoken ranks to an equivalent HF `tokenizer.json` (byte-level BPE).
 *
 * @remarks
 * Token strings use the GPT-2 byte-to-character map; merges are every split of a token into two
 * tokens of the vocabulary, ordered by the rank of the merged token and then by the ranks of the
 * two halves, with `ignore_merges` (a whole pre-token found in the vocabulary is used directly),
 * which makes HF's merge-based BPE pick the same tokens as tiktoken's rank-based BPE. For Llama 3
 * this gives 128,000 tokens and 280,147 merges, the counts of Meta's published `tokenizer.json`,
 * and ids equal to js-tiktoken's on the whole WikiText-103 test set.
 *
 * @param modelText - Contents of the rank file.
 * @param options - Special tokens, pattern, BOS post-processing.
 * @returns The JSON text.
 * @throws `CalmError` `FORMAT_ERROR` for a malformed rank file.
 * @see {@link convertTiktokenToTokenizerJson}
 * @category Tokenizers
 */
export function tiktokenToTokenizerJson(modelText: string, options: TiktokenConversionOptions = {}): string {
  const ranks = parseTiktokenRanks(modelText, options.fileName);
  const alphabet = byteLevelAlphabet();
  const vocab: Record<string, number> = {};
  const byRank = new Map<number, string>();
  const index = new Map<string, number>();
  for (const r of ranks) {
    const bytes = base64ToBytes(r.base64, options.fileName ?? 'tokenizer.model');
    let s = '';
    for (const b of bytes) s += alphabet[b]!;
    vocab[s] = r.rank;
    index.set(s, r.rank);
    byRank.set(r.rank, s);
  }
  const merges: [string, string][] = [];
  for (const r of ranks) {
    const s = byRank.get(r.rank)!;
    const local: [number, number, string, string][] = [];
    for (let i = 1; i < s.length; i++) {
      const left = s.slice(0, i);
      const right = s.slice(i);
      const a = index.get(left);
      const b = index.get(right);
      if (a !== undefined && b !== undefined) local.push([a, b, left, right]);
    }
    local.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    for (const m of local) merges.push([m[2], m[3]]);
  }
  const first = ranks[ranks.length - 1]!.rank + 1;
  const names = options.specialTokens ?? llama3SpecialTokenNames();
  const bosToken = options.bosToken === undefined ? '<|begin_of_text|>' : options.bosToken;
  let postProcessor: unknown = null;
  if (bosToken !== null) {
    const bosId = names.indexOf(bosToken);
    if (bosId < 0)
      fail('INVALID_ARGUMENT', `tiktokenToTokenizerJson: bosToken ${bosToken} is not among the special tokens.`);
    const special = { SpecialToken: { id: bosToken, type_id: 0 } };
    postProcessor = {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [special, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            special,
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: bosToken, type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: { [bosToken]: { id: bosToken, ids: [first + bosId], tokens: [bosToken] } },
        },
      ],
    };
  }
  return byteLevelBpeTokenizerJson({
    vocab,
    merges,
    specialTokens: names,
    firstSpecialId: first,
    preTokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: options.pattern ?? LLAMA3_SPLIT_PATTERN_ORIGINAL },
          behavior: 'Isolated',
          invert: false,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    postProcessor,
    ignoreMerges: true,
  });
}

/**
 * Converts a tiktoken `tokenizer.model` file into a HF `tokenizer.json` file.
 *
 * @remarks
 * Special token names come from `options.specialTokens`, else from `tokenizer_config.json` beside
 * the model, else Llama 3's layout. Takes ≈1 s for Llama 3 and writes ≈5.5 MB.
 *
 * @param modelPath - Path of the rank file.
 * @param outPath - Where to write; default `tokenizer.json` beside the model.
 * @param options - Special tokens, pattern, BOS post-processing.
 * @returns The path written.
 * @throws `CalmError` `IO_ERROR` when reading or writing fails, `FORMAT_ERROR` for a malformed file.
 * @example
 * {@includeCode ../../test/tokenizers.test.ts#convert-tiktoken}
 * @category Tokenizers
 */
export async function convertTiktokenToTokenizerJson(
  modelPath: string,
  outPath?: string,
  options: TiktokenConversionOptions = {},
): Promise<string> {
  const text = await readText(modelPath, 'tokenizer');
  const names = options.specialTokens ?? (await specialNamesFromConfig(dirname(modelPath))) ?? undefined;
  const json = tiktokenToTokenizerJson(text, {
    fileName: basename(modelPath),
    ...options,
    ...(names ? { specialTokens: names } : {}),
  });
  const dest = outPath ?? join(dirname(modelPath), 'tokenizer.json');
  try {
    await writeFile(dest, json);
  } catch (e) {
    fail('IO_ERROR', `cannot write ${dest}: ${(e as Error).message}`, { cause: e });
  }
  return dest;
}
