// The Llama 3 tokenizer from tokenizer.model (js-tiktoken) and from a converted tokenizer.json
// (HF tokenizers): known ids, agreement on WikiText-103, and the official evaluation blocking.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCalmError, LLAMA3_SPECIAL_TOKENS } from '@calm/core';
import {
  bpeTokenizerFromJson,
  createTiktokenTokenizer,
  packEvalBlocks,
  parseTiktokenRanks,
  type Tokenizer,
} from '../src/index.js';
import {
  convertTiktokenToTokenizerJson,
  loadHfTokenizer,
  loadTiktokenTokenizer,
  loadTokenizer,
  loadWikiTextEval,
  readJsonlTexts,
} from '../src/node.js';
import { LLAMA3_DIR, LLAMA3_MODEL, WIKITEXT, tempDir } from './helpers.js';

let tiktoken: Tokenizer;
let hf: Tokenizer;
let tmp: ReturnType<typeof tempDir>;
let convertedPath: string;

beforeAll(async () => {
  tmp = tempDir();
  tiktoken = await loadTiktokenTokenizer(LLAMA3_MODEL);
  // #region convert-tiktoken
  // import { convertTiktokenToTokenizerJson, loadHfTokenizer } from '@calm/data-pile/node';
  // LLAMA3_MODEL: Llama 3's tokenizer.model (tiktoken ranks); the result matches Meta's tokenizer.json
  convertedPath = await convertTiktokenToTokenizerJson(LLAMA3_MODEL, join(tmp.dir, 'tokenizer.json'));
  hf = await loadHfTokenizer(convertedPath); // HF tokenizers; the same ids as the tiktoken loader
  // #endregion convert-tiktoken
});
afterAll(() => tmp.cleanup());

// Ids published for Llama 3 (and quoted in the project's platform notes).
const KNOWN: [string, number[]][] = [['Hello world!', [9906, 1917, 0]]];

describe('Llama 3 tokenizer from tokenizer.model (js-tiktoken)', () => {
  it('reproduces known ids and the official special ids', async () => {
    for (const [text, ids] of KNOWN) expect(Array.from(await tiktoken.encode(text))).toEqual(ids);
    expect(tiktoken.bos).toBe(LLAMA3_SPECIAL_TOKENS.bos);
    expect(tiktoken.eos).toBe(LLAMA3_SPECIAL_TOKENS.eos);
    expect(tiktoken.pad).toBe(LLAMA3_SPECIAL_TOKENS.pad);
    expect(tiktoken.vocabSize).toBe(LLAMA3_SPECIAL_TOKENS.vocabSize);
  });

  it('recognises special-token strings in text and decodes them back', async () => {
    const ids = await tiktoken.encode('a<|end_of_text|>b[PAD]');
    expect(Array.from(ids)).toContain(128001);
    expect(Array.from(ids)).toContain(128256);
    expect(await tiktoken.decode(ids)).toBe('a<|end_of_text|>b[PAD]');
    expect(await tiktoken.decode([128000, 9906, 1917, 0])).toBe('<|begin_of_text|>Hello world!');
  });

  it('round-trips arbitrary Unicode and refuses ids outside the vocabulary', async () => {
    const text = "Ünïcödé 東京 🎉\r\n\ttabs   and spaces, O'Neil's IT'S don'T";
    expect(await tiktoken.decode(await tiktoken.encode(text))).toBe(text);
    await expect(tiktoken.decode([128257])).rejects.toSatisfy((e) => isCalmError(e, 'INVALID_ARGUMENT'));
    await expect(tiktoken.decode([1.5])).rejects.toSatisfy((e) => isCalmError(e, 'INVALID_ARGUMENT'));
  });

  it('reports malformed rank files with the line number', () => {
    expect(() => parseTiktokenRanks('IQ== 0\nnot-base64! 1\n', 'x.model')).toThrow(/x\.model:2/);
    expect(() => parseTiktokenRanks('IQ== 0\nIg== 0\n')).toThrow(/twice/);
    expect(() => parseTiktokenRanks('')).toThrow(/no ranks/);
    expect(() => createTiktokenTokenizer('IQ== 0\n', { pattern: '(?i:x)' })).toThrow(/RegExp/);
  });

  it('loads from a folder (tokenizer.json preferred, else tokenizer.model)', async () => {
    const fromDir = await loadTokenizer(LLAMA3_DIR);
    expect(Array.from(await fromDir.encode('Hello world!'))).toEqual([9906, 1917, 0]);
    const fromConverted = await loadTokenizer(tmp.dir);
    expect(fromConverted.fingerprint).toBe(hf.fingerprint);
    await expect(loadTokenizer(join(tmp.dir, 'missing'))).rejects.toSatisfy((e) => isCalmError(e, 'IO_ERROR'));
  });
});

describe('Llama 3 tokenizer from tokenizer.json (HF tokenizers)', () => {
  it('converts tokenizer.model to the published tokenizer.json layout', () => {
    const json = JSON.parse(readFileSync(convertedPath, 'utf8')) as {
      model: { vocab: object; merges: unknown[] };
      added_tokens: unknown[];
    };
    expect(Object.keys(json.model.vocab)).toHaveLength(128_000);
    expect(json.model.merges).toHaveLength(280_147); // Meta's tokenizer.json has exactly this many
    expect(json.added_tokens).toHaveLength(256);
  });

  it('has the same ids and special tokens as the tiktoken loader', async () => {
    for (const [text, ids] of KNOWN) expect(Array.from(await hf.encode(text))).toEqual(ids);
    expect([hf.bos, hf.eos, hf.pad, hf.vocabSize]).toEqual([
      tiktoken.bos,
      tiktoken.eos,
      tiktoken.pad,
      tiktoken.vocabSize,
    ]);
    // Contractions with the case-folded long s (U+017F) are matched by Oniguruma's (?i:'s).
    for (const text of [
      "It'ſa It'Sa",
      '  multiple   spaces\n\n\ttabs',
      '数字123456 emoji 🎉🎉',
      '<|end_of_text|> in text',
      '[PAD]x',
    ]) {
      expect(Array.from(await hf.encode(text))).toEqual(Array.from(await tiktoken.encode(text)));
    }
    expect(await hf.decode(await hf.encode('Hello world!'))).toBe('Hello world!');
  });

  // Each tokenizer encodes the 62 documents (1.3 MB) once; the blocking tests reuse the ids.
  let texts: string[];
  let tkIds: Int32Array[];
  let hfIds: Int32Array[];

  it('agrees with the tiktoken loader on every WikiText-103 test document', async () => {
    texts = await readJsonlTexts(WIKITEXT);
    expect(texts).toHaveLength(62);
    [tkIds, hfIds] = await Promise.all([tiktoken.encodeBatch(texts), hf.encodeBatch(texts)]);
    let mismatched = 0;
    for (let i = 0; i < texts.length; i++) if (tkIds[i]!.join() !== hfIds[i]!.join()) mismatched++;
    expect(mismatched).toBe(0);
  });

  it('the JavaScript BPE reader of the same tokenizer.json agrees on every WikiText-103 test document', async () => {
    const js = bpeTokenizerFromJson(readFileSync(convertedPath, 'utf8'), { name: 'llama3-hf' });
    expect([js.bos, js.eos, js.pad, js.vocabSize, js.fingerprint]).toEqual([
      hf.bos,
      hf.eos,
      hf.pad,
      hf.vocabSize,
      hf.fingerprint,
    ]);
    const jsIds = await js.encodeBatch(texts);
    let mismatched = 0;
    for (let i = 0; i < texts.length; i++) if (jsIds[i]!.join() !== hfIds[i]!.join()) mismatched++;
    expect(mismatched).toBe(0);
    expect(await js.decode(jsIds[0]!)).toBe(await hf.decode(hfIds[0]!));
  });

  it('blocks the WikiText-103 test set as the official evaluation (289,145 tokens, 35 × 8192)', async () => {
    const cached = (ids: Int32Array[]) => ({
      encodeBatch: async (t: readonly string[]) => (t.length === ids.length ? ids : []),
    });
    const calm = await loadWikiTextEval(WIKITEXT, tiktoken, { encoder: cached(tkIds) });
    expect(calm.tokens).toBe(289_145);
    expect(calm.blocks).toHaveLength(35);
    expect(calm.droppedTokens).toBe(2_425);
    expect(calm.blocks[0]![0]).toBe(128000);
    // Every document starts with BOS: 62 BOS tokens in the kept blocks and the dropped tail.
    const bosCount = calm.blocks.reduce((n, b) => n + b.filter((t) => t === 128000).length, 0);
    expect(bosCount).toBeLessThanOrEqual(62);
    expect(bosCount).toBeGreaterThan(55);
    const ar = await packEvalBlocks(texts, hf, { blockSize: 2048, encoder: cached(hfIds) });
    expect(ar.blocks).toHaveLength(141);
    expect(ar.tokens).toBe(289_145);
    // The first 8192 tokens are the first four AR blocks.
    expect(Array.from(calm.blocks[0]!)).toEqual(ar.blocks.slice(0, 4).flatMap((x) => Array.from(x)));
  });

  it('also loads a tokenizer.json shipped beside the model, when there is one', async () => {
    const shipped = join(LLAMA3_DIR, 'tokenizer.json');
    if (!existsSync(shipped)) return; // the shared folder ships only tokenizer.model today
    const official = await loadHfTokenizer(shipped);
    const texts = await readJsonlTexts(WIKITEXT);
    const [a, b] = await Promise.all([official.encodeBatch(texts), tiktoken.encodeBatch(texts)]);
    expect(a.map((x) => x.join())).toEqual(b.map((x) => x.join()));
  });
});
