// A byte-level BPE `tokenizer.json` (Hugging Face format) encoded and decoded in plain JavaScript,
// for browsers and anywhere the native HF `tokenizers` package is unavailable. It implements the
// subset our tokenizers use — the ones `trainBpeTokenizer` writes (GPT-2 byte-level pre-tokenizer,
// merges in learned order) and `tiktokenToTokenizerJson` writes (Llama 3's split regex, then
// byte-level, `ignore_merges`) — with HF's semantics, and refuses anything else by name.

import { fail } from './internal/errors.js';
import { byteLevelAlphabet } from './internal/byte-level-bpe.js';
import { hfTokenizer } from './internal/hf-tokenizer.js';
import { checkIds } from './internal/ids.js';
import { LLAMA3_SPLIT_PATTERN, LLAMA3_SPLIT_PATTERN_ORIGINAL, PAD_TOKEN } from './tiktoken.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * Options of {@link bpeTokenizerFromJson} (and of `hfTokenizerFromJson` / `loadHfTokenizer` in
 * `@calm/data-pile/node`, which take the same).
 * @see {@link bpeTokenizerFromJson}
 * @category Tokenizers
 */
export interface HfTokenizerOptions {
  /**
   * BOS token string.
   * @defaultValue `'<|begin_of_text|>'`
   */
  bosToken?: string;
  /**
   * EOS token string.
   * @defaultValue `'<|end_of_text|>'`
   */
  eosToken?: string;
  /**
   * PAD token string, added as a special token when the tokenizer lacks it (as the official
   * scripts do).
   * @defaultValue `'[PAD]'`
   */
  padToken?: string;
  /**
   * Name reported by the tokenizer.
   * @defaultValue `'hf-tokenizer'`
   */
  name?: string;
  /** Name of the file the JSON came from, for error messages. */
  fileName?: string;
}

/**
 * GPT-2's pre-tokenizer pattern (HF `ByteLevel` with `use_regex`), with Oniguruma's `\s` written as
 * Unicode `White_Space` (JavaScript's `\s` differs on U+0085 and U+FEFF).
 */
const GPT2_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

/** A pre-tokenizer: text (no added tokens in it) → pieces, each already in the byte-level alphabet. */
type PreTokenizer = (text: string) => string[];

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function asObject(v: unknown, what: string, file: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    fail('FORMAT_ERROR', `${file}: ${what} must be an object; pass a Hugging Face tokenizer.json.`);
  return v as Record<string, unknown>;
}

function unsupported(file: string, what: string): never {
  return fail(
    'NOT_SUPPORTED',
    `${file}: ${what} is not supported by the JavaScript BPE tokenizer (it reads byte-level BPE tokenizer.json files: a ByteLevel pre-tokenizer, or a regex Split then ByteLevel, no normalizer); use hfTokenizerFromJson of @calm/data-pile/node in Node.`,
  );
}

function makePreTokenizer(spec: unknown, file: string): PreTokenizer {
  const chars = byteLevelAlphabet();
  const encoder = new TextEncoder();
  const toByteLevel = (piece: string): string => {
    let s = '';
    for (const b of encoder.encode(piece)) s += chars[b]!;
    return s;
  };
  const splitter = (pattern: RegExp) => (text: string) => {
    // `Isolated` split: every match is a piece, and so is the text between matches.
    const out: string[] = [];
    let last = 0;
    for (const m of text.matchAll(pattern)) {
      if (m[0] === '') continue;
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(m[0]);
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  };
  const byteLevel = (o: Record<string, unknown>): PreTokenizer => {
    const prefix = o['add_prefix_space'] === true;
    const split = o['use_regex'] === false ? (t: string) => [t] : splitter(new RegExp(GPT2_PATTERN, 'gu'));
    return (text) => split(prefix && !text.startsWith(' ') ? ` ${text}` : text).map(toByteLevel);
  };
  const o = asObject(spec, 'pre_tokenizer', file);
  if (o['type'] === 'ByteLevel') return byteLevel(o);
  const steps = o['type'] === 'Sequence' ? o['pretokenizers'] : undefined;
  if (!Array.isArray(steps) || steps.length !== 2)
    return unsupported(file, `pre_tokenizer ${JSON.stringify(o['type'])}`);
  const split = asObject(steps[0], 'pre_tokenizer.pretokenizers[0]', file);
  const last = asObject(steps[1], 'pre_tokenizer.pretokenizers[1]', file);
  if (split['type'] !== 'Split' || last['type'] !== 'ByteLevel' || last['use_regex'] !== false)
    return unsupported(file, `pre_tokenizer Sequence [${split['type']}, ${last['type']}]`);
  if (split['behavior'] !== 'Isolated' || split['invert'] === true)
    return unsupported(
      file,
      `Split behavior ${JSON.stringify(split['behavior'])}${split['invert'] ? ' (inverted)' : ''}`,
    );
  const pat = asObject(split['pattern'], 'Split.pattern', file);
  let regex: RegExp;
  if (typeof pat['String'] === 'string') regex = new RegExp(escapeRegExp(pat['String']), 'gu');
  else if (typeof pat['Regex'] === 'string') {
    const source = pat['Regex'] === LLAMA3_SPLIT_PATTERN_ORIGINAL ? LLAMA3_SPLIT_PATTERN : pat['Regex'];
    try {
      regex = new RegExp(source, 'gu');
    } catch (e) {
      return unsupported(file, `the Split regex ${JSON.stringify(source)} (${(e as Error).message})`);
    }
  } else return unsupported(file, 'a Split pattern that is neither String nor Regex');
  const after = byteLevel(last);
  const isolate = splitter(regex);
  return (text) => isolate(text).flatMap(after);
}

/**
 * Creates a {@link Tokenizer} from the text of a byte-level BPE `tokenizer.json` (Hugging Face
 * format), in plain JavaScript: no native module, no Node built-in, so it runs in browsers.
 *
 * @remarks
 * Gives the same ids as `hfTokenizerFromJson` of `@calm/data-pile/node` (HF `tokenizers`) for the
 * files our tools write — `trainBpeTokenizer` (what `calm quickstart` saves as `tokenizer.json`)
 * and `tiktokenToTokenizerJson` (Llama 3) — checked on the State of the Union and WikiText-103
 * test texts; its fingerprint is the same too. It follows HF's algorithm: added tokens are cut out
 * of the text first (leftmost, longest first), the rest is pre-tokenized (GPT-2's byte-level regex,
 * or a `Split` regex then byte-level), and each piece is merged pair by pair, lowest merge rank
 * first (a whole piece found in the vocabulary is used as is under `ignore_merges`). Decoding maps
 * the byte-level characters back to bytes and decodes UTF-8 leniently, as HF's `ByteLevel`
 * decoder does. Other tokenizer.json features (normalizers, other models or pre-tokenizers,
 * dropout) are refused with `NOT_SUPPORTED`.
 *
 * @param json - The `tokenizer.json` text.
 * @param options - Special token strings and names, as `hfTokenizerFromJson`.
 * @returns The tokenizer; `encode` adds no special tokens (special-token strings in the text are
 *   still recognised, as HF does).
 * @throws `CalmError` `FORMAT_ERROR` when the JSON is not a BPE `tokenizer.json`, `NOT_SUPPORTED`
 *   for features outside the byte-level subset, `INVALID_ARGUMENT` when BOS or EOS is not in the
 *   vocabulary.
 * @example
 * {@includeCode ../test/examples.test.ts#bpe-json}
 * @category Tokenizers
 */
export function bpeTokenizerFromJson(json: string, options: HfTokenizerOptions = {}): Tokenizer {
  const file = options.fileName ?? 'tokenizer.json';
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    return fail('FORMAT_ERROR', `${file} is not valid JSON (${(e as Error).message}).`, { cause: e });
  }
  const root = asObject(parsed, 'the file', file);
  const model = asObject(root['model'], 'model', file);
  if (model['type'] !== undefined && model['type'] !== 'BPE')
    unsupported(file, `model type ${JSON.stringify(model['type'])}`);
  if (root['normalizer'] != null) unsupported(file, 'a normalizer');
  if (model['dropout'] != null && model['dropout'] !== 0) unsupported(file, 'BPE dropout');
  if (model['continuing_subword_prefix'] != null || model['end_of_word_suffix'] != null)
    unsupported(file, 'a subword prefix or suffix');
  if (model['byte_fallback'] === true) unsupported(file, 'byte_fallback');
  const vocabJson = asObject(model['vocab'], 'model.vocab', file);
  const vocab = new Map<string, number>();
  const idToToken = new Map<number, string>();
  for (const [token, id] of Object.entries(vocabJson)) {
    if (!Number.isInteger(id) || (id as number) < 0)
      fail('FORMAT_ERROR', `${file}: model.vocab[${JSON.stringify(token)}] is not an id.`);
    vocab.set(token, id as number);
    idToToken.set(id as number, token);
  }
  const mergesJson = model['merges'] ?? [];
  if (!Array.isArray(mergesJson)) fail('FORMAT_ERROR', `${file}: model.merges must be an array.`);
  // Pair → [rank, id of the merged token], keyed "left\u0001right" (no byte-level token holds \u0001).
  const merges = new Map<string, [number, number]>();
  mergesJson.forEach((m: unknown, rank) => {
    const pair = typeof m === 'string' ? m.split(' ') : m;
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string')
      fail('FORMAT_ERROR', `${file}: model.merges[${rank}] must be a pair of tokens.`);
    const [a, b] = pair as [string, string];
    const id = vocab.get(a + b);
    if (id === undefined || !vocab.has(a) || !vocab.has(b))
      fail('FORMAT_ERROR', `${file}: model.merges[${rank}] (${a} ${b}) uses or makes a token outside the vocabulary.`);
    const key = `${a}\u0001${b}`;
    if (!merges.has(key)) merges.set(key, [rank, id]);
  });
  const ignoreMerges = model['ignore_merges'] === true;
  const unk = typeof model['unk_token'] === 'string' ? vocab.get(model['unk_token']) : undefined;

  const added: AddedToken[] = [];
  const addedJson = root['added_tokens'] ?? [];
  if (!Array.isArray(addedJson)) fail('FORMAT_ERROR', `${file}: added_tokens must be an array.`);
  for (const t of addedJson as unknown[]) {
    const o = asObject(t, 'an added_tokens entry', file);
    if (typeof o['content'] !== 'string' || !Number.isInteger(o['id']))
      fail('FORMAT_ERROR', `${file}: added_tokens entries need a string content and an integer id.`);
    if (o['lstrip'] === true || o['rstrip'] === true || o['single_word'] === true)
      unsupported(file, `added token ${JSON.stringify(o['content'])} with lstrip, rstrip or single_word`);
    added.push({ id: o['id'] as number, content: o['content'] as string, special: o['special'] === true });
  }
  const padToken = options.padToken ?? PAD_TOKEN;
  const lookup = (token: string): number | undefined => added.find((t) => t.content === token)?.id ?? vocab.get(token);
  const bosToken = options.bosToken ?? '<|begin_of_text|>';
  const eosToken = options.eosToken ?? '<|end_of_text|>';
  const bos = lookup(bosToken);
  const eos = lookup(eosToken);
  if (bos === undefined || eos === undefined) {
    fail(
      'INVALID_ARGUMENT',
      `${file} has no ${bos === undefined ? bosToken : eosToken} token; pass bosToken/eosToken naming its special tokens.`,
    );
  }
  // HF counts the model's tokens plus the added tokens that are not among them.
  const countIds = () => vocab.size + added.filter((t) => !vocab.has(t.content)).length;
  const addedSpecialTokens: string[] = [];
  if (lookup(padToken) === undefined) {
    // HF's id for a new token: after the largest added id when that is past the model's ids.
    const maxAdded = Math.max(-1, ...added.map((t) => t.id));
    added.push({ id: maxAdded >= vocab.size ? maxAdded + 1 : vocab.size, content: padToken, special: true });
    addedSpecialTokens.push(padToken);
  }
  const vocabSize = countIds();
  const pad = lookup(padToken)!;
  const addedById = new Map(added.map((t) => [t.id, t.content]));
  const addedByContent = new Map(added.map((t) => [t.content, t.id]));
  const addedRegex =
    added.length > 0
      ? new RegExp(
          [...added]
            .sort((x, y) => y.content.length - x.content.length)
            .map((t) => escapeRegExp(t.content))
            .join('|'),
          'gu',
        )
      : undefined;
  const preTokenize = makePreTokenizer(root['pre_tokenizer'], file);

  const cache = new Map<string, number[]>();
  const bpe = (word: string): number[] => {
    const hit = cache.get(word);
    if (hit) return hit;
    let out: number[];
    const whole = vocab.get(word);
    if (ignoreMerges && whole !== undefined) out = [whole];
    else {
      const symbols = Array.from(word);
      for (;;) {
        let best = -1;
        let bestRank = Number.POSITIVE_INFINITY;
        for (let i = 0; i + 1 < symbols.length; i++) {
          const m = merges.get(`${symbols[i]}\u0001${symbols[i + 1]}`);
          if (m !== undefined && m[0] < bestRank) {
            bestRank = m[0];
            best = i;
          }
        }
        if (best < 0) break;
        symbols.splice(best, 2, symbols[best]! + symbols[best + 1]!);
      }
      out = [];
      for (const s of symbols) {
        const id = vocab.get(s) ?? unk;
        if (id === undefined)
          fail(
            'INVALID_ARGUMENT',
            `${options.name ?? 'bpe'}: the character ${JSON.stringify(s)} is not in the vocabulary and there is no unk_token.`,
          );
        out.push(id);
      }
    }
    if (cache.size > 100_000) cache.clear();
    cache.set(word, out);
    return out;
  };
  const encodeSegment = (text: string, ids: number[]) => {
    for (const piece of preTokenize(text)) for (const id of bpe(piece)) ids.push(id);
  };
  const encodeOne = (text: string): Int32Array => {
    const ids: number[] = [];
    let last = 0;
    if (addedRegex)
      for (const m of text.matchAll(addedRegex)) {
        if (m.index > last) encodeSegment(text.slice(last, m.index), ids);
        ids.push(addedByContent.get(m[0])!);
        last = m.index + m[0].length;
      }
    if (last < text.length) encodeSegment(text.slice(last), ids);
    return Int32Array.from(ids);
  };
  const charToByte = new Map(byteLevelAlphabet().map((c, b) => [c, b]));
  const utf8 = new TextEncoder();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const name = options.name ?? 'hf-tokenizer';
  const decodeIds = (ids: ArrayLike<number>): string => {
    const bytes: number[] = [];
    for (const id of checkIds(ids, vocabSize, name)) {
      const token = addedById.get(id) ?? idToToken.get(id) ?? '';
      const mapped: number[] = [];
      let ok = true;
      for (const c of token) {
        const b = charToByte.get(c);
        if (b === undefined) {
          ok = false;
          break;
        }
        mapped.push(b);
      }
      // HF's ByteLevel decoder: a token with a character outside the alphabet passes as its UTF-8.
      for (const b of ok ? mapped : utf8.encode(token)) bytes.push(b);
    }
    return decoder.decode(Uint8Array.from(bytes));
  };
  return hfTokenizer(
    json,
    addedSpecialTokens,
    { name, vocabSize, bos, eos, pad },
    {
      encode: async (text) => encodeOne(text),
      encodeBatch: async (texts) => texts.map(encodeOne),
      decode: async (ids) => decodeIds(ids),
    },
  );
}
