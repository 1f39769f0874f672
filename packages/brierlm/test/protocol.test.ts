// The official protocol on the real WikiText-103 document-level test set (byte-level tokenizer
// defined here, since the Llama 3 tokenizer lives elsewhere): BOS per document, concatenation,
// blocks, remainder dropped; JSONL parsing errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHARED_DATA_DIR } from '@calm/testing';
import { OFFICIAL_PROTOCOL, byteTokenizer, cutIntoBlocks, makeEvalBlocks, parseJsonlTexts } from '../src/index.js';
import { loadEvalBlocks, readJsonlTexts } from '../src/node.js';

const WIKITEXT = join(SHARED_DATA_DIR, 'wikitext-103-document-test.jsonl');

/** A deterministic test tokenizer: one id per UTF-16 code unit, mod 1000. */
const charTokenizer = { encode: (text: string) => Array.from(text, (c) => c.charCodeAt(0) % 1000) };

describe('official protocol', () => {
  it('presets: CALM blocks of 8192, AR blocks of 2048, Llama 3 BOS', () => {
    expect(OFFICIAL_PROTOCOL.calm.blockSize).toBe(8192);
    expect(OFFICIAL_PROTOCOL.ar.blockSize).toBe(2048);
    expect(OFFICIAL_PROTOCOL.calm.bosId).toBe(128000);
  });

  it('reads the 62 WikiText-103 test documents and cuts them into blocks', async () => {
    const texts = await readJsonlTexts(WIKITEXT);
    expect(texts).toHaveLength(62);
    const tok = byteTokenizer();
    const expectedTokens = texts.reduce((a, t) => a + new TextEncoder().encode(t).length + 1, 0);
    const { blocks, documents, totalTokens, droppedTokens } = await loadEvalBlocks(WIKITEXT, tok, {
      blockSize: OFFICIAL_PROTOCOL.calm.blockSize,
      bosId: tok.bosId,
    });
    expect(documents).toBe(62);
    expect(totalTokens).toBe(expectedTokens);
    expect(blocks).toHaveLength(Math.floor(expectedTokens / 8192));
    expect(droppedTokens).toBe(expectedTokens % 8192);
    expect(blocks.every((b) => b.length === 8192)).toBe(true);
    // The stream starts with BOS and the first document's bytes; BOS appears once per document.
    expect(blocks[0]![0]).toBe(256);
    expect(tok.decode(blocks[0]!.subarray(1, 20))).toBe(texts[0]!.slice(0, 19));
    const bosCount = blocks.reduce((a, b) => a + b.filter((x) => x === 256).length, 0);
    expect(bosCount).toBeLessThanOrEqual(62);
    expect(bosCount).toBeGreaterThan(55);
  });

  it('prepends BOS unless the tokenizer already did; maxBlocks stops early', async () => {
    const docs = ['abc', 'de', 'fghij'];
    const plain = await makeEvalBlocks(docs, charTokenizer, { blockSize: 4, bosId: 7 });
    expect(plain.blocks.map((b) => Array.from(b))).toEqual([
      [7, 97, 98, 99],
      [7, 100, 101, 7],
      [102, 103, 104, 105],
    ]);
    expect(plain.droppedTokens).toBe(1);
    expect(plain.totalTokens).toBe(13);
    const withBos = { encode: (t: string) => [7, ...charTokenizer.encode(t)] };
    const same = await makeEvalBlocks(docs, withBos, { blockSize: 4, bosId: 7 });
    expect(same.blocks).toEqual(plain.blocks);
    const none = await makeEvalBlocks(docs, charTokenizer, { blockSize: 5, bosId: null });
    expect(Array.from(none.blocks[0]!)).toEqual([97, 98, 99, 100, 101]);
    const first = await makeEvalBlocks(docs, charTokenizer, { blockSize: 2, bosId: 7, maxBlocks: 1 });
    expect(first.blocks).toHaveLength(1);
    const asyncTok = { encode: async (t: string) => Int32Array.from(charTokenizer.encode(t)) };
    expect((await makeEvalBlocks(docs, asyncTok, { blockSize: 4, bosId: 7 })).blocks).toEqual(plain.blocks);
    expect(Array.from(cutIntoBlocks(Int32Array.from([1, 2, 3, 4, 5]), 2), (b) => Array.from(b))).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('byte tokenizer round-trips UTF-8', () => {
    const tok = byteTokenizer();
    const text = readFileSync(WIKITEXT, 'utf8').slice(0, 2000) + ' — ünïcødé';
    expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.decode([256, 104, 105, -1])).toBe('hi');
  });

  it('JSONL errors name the line and the fix', async () => {
    expect(parseJsonlTexts('{"text":"a"}\n\n{"text":"b"}\n')).toEqual(['a', 'b']);
    expect(() => parseJsonlTexts('{"text":"a"}\n{oops', 'f.jsonl')).toThrow(/f\.jsonl:2: invalid JSON/);
    expect(() => parseJsonlTexts('{"body":"a"}', 'f.jsonl')).toThrow(/f\.jsonl:1: no "text" field/);
    await expect(readJsonlTexts('/nonexistent/file.jsonl')).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(makeEvalBlocks(['a'], {} as never, { blockSize: 2 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
