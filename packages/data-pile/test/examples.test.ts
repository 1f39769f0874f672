// The API examples of @calm/data-pile: every region below is included in the TSDoc of the
// export it shows (`{@includeCode ../test/examples.test.ts#name}`), so the documented code is the
// code CI runs. Inputs are tiny or the shared Llama 3 tokenizer; the assertions check what each
// example computes.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EVAL_BLOCK_SIZE,
  arraySource,
  bpeTokenizerFromJson,
  createBlockStream,
  createTiktokenTokenizer,
  layoutDocument,
  packDocuments,
  packEvalBlocks,
  parseCursor,
  parseTiktokenRanks,
  serializeCursor,
  splitLongDocument,
  type Tokenizer,
} from '../src/index.js';
import {
  byteLevelAlphabet,
  createTokenizerPool,
  hfTokenizerFromJson,
  jsonlSource,
  loadSotuCorpus,
  loadTokenizer,
  loadWikiTextEval,
  readJsonlTexts,
  trainBpeTokenizer,
} from '../src/node.js';
import { FIXTURES, LLAMA3_DIR, LLAMA3_MODEL, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

// Shared by the examples that need "a tokenizer": Llama 3 from the shared tokenizer.model.
let tokenizer: Tokenizer;
beforeAll(async () => {
  tokenizer = await loadTokenizer(LLAMA3_DIR);
});

describe('@calm/data-pile examples', () => {
  it('README quick start: a BPE on the embedded corpus, a block stream, resume from a cursor', async () => {
    // #region readme
    // import { createBlockStream } from '@calm/data-pile';
    // import { loadSotuCorpus, trainBpeTokenizer } from '@calm/data-pile/node';
    const train = loadSotuCorpus({ split: 'train', maxChars: 200_000 }); // the embedded corpus: no download
    const { tokenizer } = await trainBpeTokenizer({ texts: train.texts, vocabSize: 512 }); // or loadTokenizer(dir)
    const stream = createBlockStream(train.source, tokenizer, { blockSize: 64, epochs: Infinity });
    const batch = await stream.nextBatch(4); // { ids: Int32Array [4 · 64], shape: [4, 64] }
    const cursor = stream.cursor(); // plain JSON: store it with a checkpoint
    await stream.close();
    const resumed = createBlockStream(train.source, tokenizer, { blockSize: 64, epochs: Infinity, cursor });
    const next = await resumed.next(); // exactly the block that would have come after `batch`
    // #endregion readme
    await resumed.close();
    expect(batch?.shape).toEqual([4, 64]);
    const whole = createBlockStream(train.source, tokenizer, { blockSize: 64, epochs: Infinity });
    const five = await whole.nextBatch(5);
    await whole.close();
    expect(Array.from(five!.ids.subarray(0, 4 * 64))).toEqual(Array.from(batch!.ids));
    expect(Array.from(next!)).toEqual(Array.from(five!.ids.subarray(4 * 64)));
  });

  it('implements the Tokenizer contract', async () => {
    // #region tokenizer-contract
    // import type { Tokenizer } from '@calm/data-pile';
    // UTF-8 bytes are ids 0–255; BOS, EOS and PAD follow. encode never adds special tokens.
    const bytes: Tokenizer = {
      name: 'bytes',
      vocabSize: 259,
      fingerprint: 'bytes:1',
      bos: 256,
      eos: 257,
      pad: 258,
      encode: async (text) => Int32Array.from(new TextEncoder().encode(text)),
      encodeBatch: async (texts) => texts.map((t) => Int32Array.from(new TextEncoder().encode(t))),
      decode: async (ids) => new TextDecoder().decode(Uint8Array.from(Array.from(ids).filter((id) => id < 256))),
    };
    const ids = await bytes.encode('hi'); // Int32Array [104, 105]
    // #endregion tokenizer-contract
    expect(Array.from(ids)).toEqual([104, 105]);
    expect(await bytes.decode([256, ...ids, 257])).toBe('hi');
  });

  it('builds the Llama 3 tokenizer from tokenizer.model text', async () => {
    const modelText = readFileSync(LLAMA3_MODEL, 'utf8');
    // #region tiktoken
    // import { createTiktokenTokenizer, parseTiktokenRanks } from '@calm/data-pile';
    // modelText: the contents of Llama 3's tokenizer.model (e.g. fetched in a browser)
    const ranks = parseTiktokenRanks(modelText); // 128,000 entries { base64, rank }
    const llama3 = createTiktokenTokenizer(modelText);
    const ids = await llama3.encode('Hello world!'); // Int32Array [9906, 1917, 0]
    const [bos, eos, pad, vocabSize] = [llama3.bos, llama3.eos, llama3.pad, llama3.vocabSize]; // 128000, 128001, 128256, 128257
    // #endregion tiktoken
    expect(ranks).toHaveLength(128_000);
    expect(Array.from(ids)).toEqual([9906, 1917, 0]);
    expect([bos, eos, pad, vocabSize]).toEqual([128000, 128001, 128256, 128257]);
  });

  it('splits long documents as process.py does', () => {
    // #region split-long-document
    // import { splitLongDocument } from '@calm/data-pile';
    const parts = splitLongDocument('a b c d e', 2); // ['a b', 'c d', 'e']
    const empty = splitLongDocument('a  b', 2); // ['a ', 'b']: the pieces are 'a', '' and 'b'
    // #endregion split-long-document
    expect(parts).toEqual(['a b', 'c d', 'e']);
    expect(empty).toEqual(['a ', 'b']);
  });

  it('lays out and packs documents like group_texts', () => {
    // #region pack-documents
    // import { layoutDocument, packDocuments } from '@calm/data-pile';
    const special = { bos: 1, eos: 2, pad: 0 };
    // Autoencoder layout: [BOS, ...ids, EOS] padded with PAD to a multiple of K = 4.
    const laidOut = layoutDocument(Int32Array.from([5, 6, 7]), {
      layout: 'ae',
      blockSize: 8,
      chunkSize: 4,
      ...special,
    });
    // Int32Array [1, 5, 6, 7, 2, 0, 0, 0]
    // LM layout: [BOS, ...ids] per document, concatenated and cut into blocks of 2.
    const { blocks, remainder } = packDocuments([Int32Array.from([10, 11, 12]), Int32Array.from([20, 21])], {
      layout: 'lm',
      blockSize: 2,
      ...special,
    });
    // blocks [1, 10], [11, 12], [1, 20]; remainder [21] (dropped by the official scripts)
    // #endregion pack-documents
    expect(Array.from(laidOut)).toEqual([1, 5, 6, 7, 2, 0, 0, 0]);
    expect(blocks.map((b) => Array.from(b))).toEqual([
      [1, 10],
      [11, 12],
      [1, 20],
    ]);
    expect(Array.from(remainder)).toEqual([21]);
  });

  it('reads documents from memory', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    // #region array-source
    // import { arraySource } from '@calm/data-pile';
    const source = arraySource(['first document', 'second document']);
    for await (const doc of source.documents()) console.log(doc.text, doc.next); // a position to resume from
    // #endregion array-source
    expect(log.mock.calls.map((c) => c[0])).toEqual(['first document', 'second document']);
    log.mockRestore();
  });

  it('streams batches of blocks and resumes from a saved cursor', async () => {
    // #region block-stream
    // import { arraySource, createBlockStream, parseCursor, serializeCursor } from '@calm/data-pile';
    // tokenizer: any Tokenizer, e.g. await loadTokenizer('llama3-tokenizer') from '@calm/data-pile/node'
    const texts = Array.from(
      { length: 12 },
      (_, i) => `Section ${i}: the Congress shall have power to lay and collect taxes.`,
    );
    const options = { blockSize: 8, groupSize: 2, shuffleBuffer: 4 };
    const stream = createBlockStream(arraySource(texts), tokenizer, options);
    const batch = await stream.nextBatch(2); // { ids: Int32Array [2 * 8], shape: [2, 8] }
    const saved = serializeCursor(stream.cursor()); // JSON text for the training checkpoint
    const expected = await stream.next();
    await stream.close();
    // Later, in a new process: the same source, tokenizer and options, plus the cursor.
    const resumed = createBlockStream(arraySource(texts), tokenizer, { ...options, cursor: parseCursor(saved) });
    const next = await resumed.next(); // the same block as `expected`
    await resumed.close();
    // #endregion block-stream
    expect(batch?.shape).toEqual([2, 8]);
    expect(batch?.ids[0]).toBe(128000);
    expect(next).not.toBeNull();
    expect(Array.from(next!)).toEqual(Array.from(expected!));
  });

  it('blocks evaluation documents as the official evaluation does', async () => {
    // #region eval-blocks
    // import { EVAL_BLOCK_SIZE, packEvalBlocks } from '@calm/data-pile';
    const texts = ['A first held-out document.', 'A second one, a little longer than the first.'];
    // Real runs use EVAL_BLOCK_SIZE.calm (8192) or EVAL_BLOCK_SIZE.ar (2048) on WikiText-103.
    const { blocks, tokens, droppedTokens } = await packEvalBlocks(texts, tokenizer, { blockSize: 8 });
    // BOS + ids per document, concatenated, cut into blocks of 8, remainder dropped
    // #endregion eval-blocks
    expect(blocks.length).toBe(Math.floor(tokens / 8));
    expect(droppedTokens).toBe(tokens % 8);
    expect(EVAL_BLOCK_SIZE).toEqual({ calm: 8192, ar: 2048 });
  });
});

describe('@calm/data-pile/node examples', () => {
  it('loads the Llama 3 tokenizer from a folder', async () => {
    // #region load-tokenizer
    // import { loadTokenizer } from '@calm/data-pile/node';
    // LLAMA3_DIR: a folder with tokenizer.json (HF tokenizers) or tokenizer.model (js-tiktoken)
    const llama3 = await loadTokenizer(LLAMA3_DIR);
    const ids = await llama3.encode('Hello world!'); // Int32Array [9906, 1917, 0]
    const text = await llama3.decode([llama3.bos, ...ids]); // '<|begin_of_text|>Hello world!'
    // #endregion load-tokenizer
    expect(Array.from(ids)).toEqual([9906, 1917, 0]);
    expect(text).toBe('<|begin_of_text|>Hello world!');
  });

  it('trains a small BPE on the embedded corpus and streams blocks with it', async () => {
    // #region sotu-bpe
    // import { createBlockStream } from '@calm/data-pile';
    // import { hfTokenizerFromJson, loadSotuCorpus, trainBpeTokenizer } from '@calm/data-pile/node';
    const train = loadSotuCorpus({ split: 'train', maxChars: 200_000 });
    const heldOut = loadSotuCorpus({ split: 'test', limit: 2 });
    const { tokenizer: bpe, json } = await trainBpeTokenizer({ texts: train.texts, vocabSize: 512 });
    // bpe.vocabSize 512: 256 bytes + 253 merges + BOS, EOS, PAD; `json` is a standard tokenizer.json
    const again = await hfTokenizerFromJson(json, {
      bosToken: '<|begin_of_text|>',
      eosToken: '<|end_of_text|>',
      padToken: '[PAD]',
    });
    const stream = createBlockStream(train.source, bpe, { blockSize: 64, shuffleBuffer: 16 });
    const batch = await stream.nextBatch(4); // { ids: Int32Array [4 * 64], shape: [4, 64] }
    await stream.close();
    // #endregion sotu-bpe
    expect(bpe.vocabSize).toBe(512);
    expect(again.fingerprint).toBe(bpe.fingerprint);
    expect(heldOut.documents).toHaveLength(2);
    expect(heldOut.documents.every((d) => d.index % 10 === 9)).toBe(true);
    expect(batch?.shape).toEqual([4, 64]);
  });

  it('streams a zstd-compressed JSON-lines shard', async () => {
    const shard = join(FIXTURES, 'pile-sample.jsonl.zst');
    // #region jsonl-source
    // import { jsonlSource } from '@calm/data-pile/node';
    // shard: a Pile shard such as pile/train/00.jsonl.zst (plain .jsonl works too)
    const source = jsonlSource([shard], { onLineError: 'skip' });
    let documents = 0;
    for await (const doc of source.documents()) if (doc.text.length > 0) documents++;
    // documents longer than 10,000 words come out in parts, as process.py cuts them
    // #endregion jsonl-source
    expect(documents).toBe(203);
  });

  it('reads the texts of a JSON-lines file and blocks them for evaluation', async () => {
    const path = join(tmp.dir, 'held-out.jsonl');
    writeFileSync(
      path,
      ['first document', 'second document', 'third document'].map((text) => JSON.stringify({ text })).join('\n'),
    );
    // #region wikitext-eval
    // import { loadWikiTextEval, readJsonlTexts } from '@calm/data-pile/node';
    // path: wikitext_document_level-test.json of the official repository ({"text": ...} per line)
    const texts = await readJsonlTexts(path); // one string per line, never split
    const evalSet = await loadWikiTextEval(path, tokenizer, { blockSize: 4 }); // real runs: 8192 (CALM) or 2048 (AR)
    // evalSet.blocks: Int32Array blocks of 4 ids; evalSet.tokens, evalSet.droppedTokens
    // #endregion wikitext-eval
    expect(texts).toEqual(['first document', 'second document', 'third document']);
    expect(evalSet.documents).toBe(3);
    expect(evalSet.blocks.length).toBe(Math.floor(evalSet.tokens / 4));
  });

  it('tokenises on worker threads', async () => {
    const source = arraySource(Array.from({ length: 20 }, (_, i) => `Document number ${i} of the example.`));
    // #region tokenizer-pool
    // import { createBlockStream } from '@calm/data-pile';
    // import { createTokenizerPool } from '@calm/data-pile/node';
    const pool = await createTokenizerPool(tokenizer, { threads: 2 });
    const stream = createBlockStream(source, tokenizer, { blockSize: 16, encoder: pool });
    const block = await stream.next(); // the same ids as without the pool
    await stream.close();
    const { texts, charsPerSecond } = pool.stats();
    await pool.close();
    // #endregion tokenizer-pool
    expect(block).toHaveLength(16);
    expect(texts).toBeGreaterThan(0);
    expect(charsPerSecond).toBeGreaterThan(0);
  });

  it('reads a byte-level BPE tokenizer.json in plain JavaScript (browsers)', async () => {
    const { json, tokenizer: native } = await trainBpeTokenizer({
      texts: ['The state of the Union is strong. The state of the Union is sound.'],
      vocabSize: 280,
    });
    // #region bpe-json
    // import { bpeTokenizerFromJson } from '@calm/data-pile';
    // json: the text of a tokenizer.json, e.g. in a page: await (await fetch('calm-quickstart/tokenizer.json')).text()
    const bpe = bpeTokenizerFromJson(json);
    const ids = await bpe.encode('The state of the Union'); // Int32Array, no BOS added
    const text = await bpe.decode([bpe.bos, ...ids]); // '<|begin_of_text|>The state of the Union'
    // #endregion bpe-json
    expect(Array.from(ids)).toEqual(Array.from(await native.encode('The state of the Union')));
    expect(text).toBe('<|begin_of_text|>The state of the Union');
  });

  it('maps bytes to the byte-level alphabet', () => {
    // #region byte-level-alphabet
    // import { byteLevelAlphabet } from '@calm/data-pile/node';
    const alphabet = byteLevelAlphabet();
    const space = alphabet[0x20]; // 'Ġ', as spaces appear in GPT-2's and Llama 3's tokenizer.json
    // #endregion byte-level-alphabet
    expect(space).toBe('Ġ');
    expect(new Set(alphabet).size).toBe(256);
  });
});
