// The JavaScript reader of byte-level BPE tokenizer.json files against HF `tokenizers` (napi):
// the same ids and text on the State of the Union test split for the tokenizers `calm quickstart`
// trains, on hard strings, special tokens and arbitrary ids; unsupported files are refused.
import { beforeAll, describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { bpeTokenizerFromJson, type Tokenizer } from '../src/index.js';
import { hfTokenizerFromJson, loadSotuCorpus, trainBpeTokenizer } from '../src/node.js';

const HARD = [
  'Hello <|begin_of_text|>world<|end_of_text|>[PAD]!',
  'a\u0085b\uFEFFc\u00a0d  e\t\tf\n\n\ng \r\n',
  "I'm they're WE'LL don't ſ's 12345 1½ ٣٤ 😀🎉 中文字 é e\u0301",
  '   leading and trailing   ',
  '',
];

const train = loadSotuCorpus({ split: 'train' });
const test = loadSotuCorpus({ split: 'test' });

describe.each([512, 4096])('bpeTokenizerFromJson on a SOTU BPE of %i ids', (vocabSize) => {
  let json: string;
  let hf: Tokenizer;
  let js: Tokenizer;
  beforeAll(async () => {
    ({ json } = await trainBpeTokenizer({ texts: train.texts, vocabSize }));
    hf = await hfTokenizerFromJson(json);
    js = bpeTokenizerFromJson(json);
  });

  it('has the special ids, size and fingerprint of the HF tokenizer', () => {
    expect([js.bos, js.eos, js.pad, js.vocabSize, js.fingerprint]).toEqual([
      hf.bos,
      hf.eos,
      hf.pad,
      hf.vocabSize,
      hf.fingerprint,
    ]);
    expect(js.vocabSize).toBe(vocabSize);
  });

  it('gives the same ids as HF tokenizers on every held-out address (about 1 MB)', async () => {
    const [a, b] = await Promise.all([hf.encodeBatch(test.texts), js.encodeBatch(test.texts)]);
    expect(b.map((ids) => ids.length)).toEqual(a.map((ids) => ids.length));
    expect(b.filter((ids, i) => ids.join() !== a[i]!.join())).toHaveLength(0);
  });

  it('agrees on hard strings (Unicode spaces, contractions, emoji, special tokens) and round-trips them', async () => {
    for (const text of HARD) {
      const ids = await js.encode(text);
      expect(Array.from(ids)).toEqual(Array.from(await hf.encode(text)));
      expect(await js.decode(ids)).toBe(text);
    }
  });

  it('decodes any ids as HF does, including broken UTF-8 and special tokens', async () => {
    const ids = Array.from({ length: 400 }, (_, i) => (i * 7919) % vocabSize);
    expect(await js.decode(ids)).toBe(await hf.decode(ids));
    expect(await js.decode([0xa4, 65, js.bos])).toBe(await hf.decode([0xa4, 65, hf.bos]));
    await expect(js.decode([vocabSize])).rejects.toThrow(/outside \[0, \d+\)/);
  });
});

describe('bpeTokenizerFromJson refuses what it does not implement', () => {
  const base = {
    added_tokens: [
      { id: 256, content: '<|begin_of_text|>', special: true },
      { id: 257, content: '<|end_of_text|>', special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    model: { type: 'BPE', vocab: {}, merges: [] },
  };
  const codeOf = (value: unknown): string | undefined => {
    try {
      bpeTokenizerFromJson(JSON.stringify(value));
    } catch (e) {
      return isCalmError(e) ? e.code : 'not a CalmError';
    }
    return undefined;
  };

  it('adds PAD after the last id, as HF does, and reads a file without merges', async () => {
    const tk = bpeTokenizerFromJson(JSON.stringify(base));
    expect([tk.bos, tk.eos, tk.pad, tk.vocabSize]).toEqual([256, 257, 258, 3]);
  });

  it('names the unsupported feature', () => {
    expect(codeOf('not json')).toBe('FORMAT_ERROR');
    expect(codeOf({ ...base, model: { ...base.model, type: 'WordPiece' } })).toBe('NOT_SUPPORTED');
    expect(codeOf({ ...base, normalizer: { type: 'NFC' } })).toBe('NOT_SUPPORTED');
    expect(codeOf({ ...base, pre_tokenizer: { type: 'Whitespace' } })).toBe('NOT_SUPPORTED');
    expect(codeOf({ ...base, model: { ...base.model, merges: [['a', 'b']] } })).toBe('FORMAT_ERROR');
    expect(codeOf({ ...base, added_tokens: [] })).toBe('INVALID_ARGUMENT');
  });
});
