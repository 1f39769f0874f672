// Worker-thread tokenisation: identical ids, order, throughput stats, HF and tiktoken specs.
import { describe, it, expect, beforeAll } from 'vitest';
import { join } from 'node:path';
import { isCalmError } from '@calm/core';
import { createBlockStream, type Tokenizer } from '../src/index.js';
import { createTokenizerPool, jsonlSource, loadTiktokenTokenizer, trainBpeTokenizer } from '../src/node.js';
import { FIXTURES, LLAMA3_MODEL, byteTokenizer, drain, makePileLines } from './helpers.js';

let llama: Tokenizer;
beforeAll(async () => {
  llama = await loadTiktokenTokenizer(LLAMA3_MODEL);
});

describe('createTokenizerPool (worker threads)', () => {
  it('encodes exactly like the tokenizer, in order, and reports throughput', async () => {
    const texts = makePileLines(3, 60).map((l) => (JSON.parse(l) as { text: string }).text);
    const pool = await createTokenizerPool(llama, { threads: 2 });
    try {
      const [a, b] = await Promise.all([pool.encodeBatch(texts), llama.encodeBatch(texts)]);
      expect(a.map((x) => Array.from(x))).toEqual(b.map((x) => Array.from(x)));
      expect(await pool.encodeBatch([])).toEqual([]);
      const st = pool.stats();
      expect(st.threads).toBe(2);
      expect(st.texts).toBe(60);
      expect(st.chars).toBe(texts.reduce((n, t) => n + t.length, 0));
      expect(st.tokens).toBe(b.reduce((n, x) => n + x.length, 0));
      expect(st.charsPerSecond).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
    await expect(pool.encodeBatch(['x'])).rejects.toSatisfy((e) => isCalmError(e, 'INVALID_ARGUMENT'));
  });

  it('drives a block stream to the same blocks as the main thread', async () => {
    const o = { blockSize: 128, groupSize: 16 };
    const src = jsonlSource(join(FIXTURES, 'pile-sample.jsonl.zst'));
    const pool = await createTokenizerPool(llama, { threads: 2 });
    try {
      const viaPool = await drain(createBlockStream(src, llama, { ...o, encoder: pool, prefetch: 3 }));
      const direct = await drain(createBlockStream(src, llama, o));
      expect(viaPool).toEqual(direct);
    } finally {
      await pool.close();
    }
  });

  it('rebuilds HF tokenizers in workers too, and refuses tokenizers without a worker spec', async () => {
    const { tokenizer } = await trainBpeTokenizer({
      texts: makePileLines(4, 40).map((l) => (JSON.parse(l) as { text: string }).text),
      vocabSize: 400,
    });
    const pool = await createTokenizerPool(tokenizer, { threads: 2 });
    try {
      const texts = ['hello world', 'naïve café 🎉 [PAD] <|end_of_text|>', ''];
      const [a, b] = await Promise.all([pool.encodeBatch(texts), tokenizer.encodeBatch(texts)]);
      expect(a.map((x) => Array.from(x))).toEqual(b.map((x) => Array.from(x)));
    } finally {
      await pool.close();
    }
    await expect(createTokenizerPool(byteTokenizer())).rejects.toSatisfy((e) => isCalmError(e, 'INVALID_ARGUMENT'));
  });
});
