// The block stream: official packing, AE layout, sharding, cursors and resume, shuffling, errors.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, isCalmError } from '@calm/core';
import {
  arraySource,
  createBlockStream,
  packDocuments,
  parseCursor,
  serializeCursor,
  type BlockStreamOptions,
  type DocumentSource,
  type Tokenizer,
} from '../src/index.js';
import { jsonlSource, loadTiktokenTokenizer } from '../src/node.js';
import { FIXTURES, LLAMA3_MODEL, byteTokenizer, drain, makePileLines, tempDir } from './helpers.js';

let llama: Tokenizer;
const bytes = byteTokenizer();
let tmp: ReturnType<typeof tempDir>;
let plainPath: string;
const zstPath = join(FIXTURES, 'pile-sample.jsonl.zst');

beforeAll(async () => {
  llama = await loadTiktokenTokenizer(LLAMA3_MODEL);
  tmp = tempDir();
  plainPath = join(tmp.dir, 'pile-sample.jsonl');
  writeFileSync(
    plainPath,
    makePileLines()
      .map((l) => l + '\n')
      .join(''),
  );
});
afterAll(() => tmp.cleanup());

/** The official blocks computed by hand: groups of `groupSize` documents, each packed with its remainder dropped. */
async function officialBlocks(source: DocumentSource, tok: Tokenizer, o: BlockStreamOptions): Promise<number[][]> {
  const texts: string[] = [];
  for await (const d of source.documents()) texts.push(d.text);
  const out: number[][] = [];
  const g = o.groupSize ?? 1000;
  for (let i = 0; i < texts.length; i += g) {
    const ids = await tok.encodeBatch(texts.slice(i, i + g));
    const { blocks } = packDocuments(ids, {
      layout: o.layout ?? 'lm',
      blockSize: o.blockSize,
      ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}),
      bos: tok.bos,
      eos: tok.eos,
      pad: tok.pad,
    });
    out.push(...blocks.map((b) => Array.from(b)));
  }
  return out;
}

describe('createBlockStream', () => {
  it('a .jsonl.zst shard streams to the same blocks as its uncompressed twin, equal to group_texts', async () => {
    const o: BlockStreamOptions = { blockSize: 128, groupSize: 16 };
    const fromZst = await drain(createBlockStream(jsonlSource(zstPath, { readChunkBytes: 8192 }), llama, o));
    const fromPlain = await drain(createBlockStream(jsonlSource(plainPath), llama, o));
    expect(fromZst.length).toBeGreaterThan(100);
    expect(fromZst).toEqual(fromPlain);
    expect(fromZst).toEqual(await officialBlocks(jsonlSource(plainPath), llama, o));
  });

  it('packs the autoencoder layout the same way', async () => {
    const o: BlockStreamOptions = { blockSize: 64, groupSize: 10, layout: 'ae', chunkSize: 4 };
    const got = await drain(createBlockStream(jsonlSource(zstPath), llama, o));
    expect(got).toEqual(await officialBlocks(jsonlSource(zstPath), llama, o));
    // PAD never precedes a non-PAD token inside a chunk.
    for (const b of got)
      for (let c = 0; c < b.length; c += 4) {
        const chunk = b.slice(c, c + 4);
        const p = chunk.indexOf(llama.pad);
        if (p >= 0) expect(chunk.slice(p).every((t) => t === llama.pad)).toBe(true);
      }
  });

  it('sharding over 3 workers is a disjoint cover of the single-worker stream', async () => {
    const o: BlockStreamOptions = { blockSize: 96, groupSize: 7 };
    const src = jsonlSource(zstPath);
    const single = await drain(createBlockStream(src, bytes, o));
    const shards = await Promise.all(
      [0, 1, 2].map((w) => drain(createBlockStream(src, bytes, { ...o, workerIndex: w, workerCount: 3 }))),
    );
    expect(shards.reduce((n, s) => n + s.length, 0)).toBe(single.length);
    // Match every worker block to a distinct block of the single stream, in order.
    const key = (b: number[]) => b.join(',');
    const where = new Map<string, number[]>();
    single.forEach((b, i) => where.set(key(b), [...(where.get(key(b)) ?? []), i]));
    const used = new Set<number>();
    for (const s of shards) {
      let last = -1;
      for (const b of s) {
        const i = where.get(key(b))?.shift();
        expect(i).toBeDefined();
        expect(i!).toBeGreaterThan(last); // each worker keeps the single stream's order
        last = i!;
        used.add(i!);
      }
    }
    expect(used.size).toBe(single.length);
  });

  it('resumes from a cursor saved after any block: the next blocks are identical', async () => {
    const variants: [string, BlockStreamOptions][] = [
      ['official', { blockSize: 100, groupSize: 9 }],
      ['carry + 2 epochs', { blockSize: 100, groupSize: 9, remainder: 'carry', epochs: 2 }],
      [
        'shuffled, worker 1 of 2',
        { blockSize: 100, groupSize: 9, shuffleBuffer: 13, rng: createRng(5), workerIndex: 1, workerCount: 2 },
      ],
      ['ae', { blockSize: 64, groupSize: 5, layout: 'ae', chunkSize: 4 }],
    ];
    const src = jsonlSource(zstPath, { readChunkBytes: 16384 });
    for (const [label, o] of variants) {
      const fresh = () => ({ ...o, ...(o.rng ? { rng: createRng(5) } : {}) });
      const full = await drain(createBlockStream(src, bytes, fresh()));
      expect(full.length, label).toBeGreaterThan(30);
      for (const k of [0, 1, 7, Math.floor(full.length / 2), full.length - 1, full.length]) {
        const s = createBlockStream(src, bytes, fresh());
        const head = await drain(s, k);
        const text = serializeCursor(s.cursor());
        await s.close();
        const resumed = createBlockStream(src, bytes, {
          ...fresh(),
          rng: createRng(999),
          cursor: JSON.parse(text) as object as never,
        });
        const tail = await drain(resumed);
        expect(k === 0 ? tail : [...head, ...tail], `${label}, k=${k}`).toEqual(full);
        expect(resumed.cursor().delivered).toBe(full.length);
      }
    }
  });

  it('shuffles deterministically with the injected RNG and keeps every block once', async () => {
    const src = jsonlSource(zstPath);
    const o = { blockSize: 80, groupSize: 11 };
    const plain = await drain(createBlockStream(src, bytes, o));
    const a = await drain(createBlockStream(src, bytes, { ...o, shuffleBuffer: 32, rng: createRng(1) }));
    const b = await drain(createBlockStream(src, bytes, { ...o, shuffleBuffer: 32, rng: createRng(1) }));
    const c = await drain(createBlockStream(src, bytes, { ...o, shuffleBuffer: 32, rng: createRng(2) }));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(plain);
    const sorted = (x: number[][]) => x.map((r) => r.join()).sort();
    expect(sorted(a)).toEqual(sorted(plain));
  });

  it('batches blocks as [B, T] and reports statistics', async () => {
    const s = createBlockStream(jsonlSource(zstPath), bytes, { blockSize: 50, groupSize: 20 });
    const all = await drain(createBlockStream(jsonlSource(zstPath), bytes, { blockSize: 50, groupSize: 20 }));
    const b = await s.nextBatch(4);
    expect(b!.shape).toEqual([4, 50]);
    expect(Array.from(b!.ids.subarray(50, 100))).toEqual(all[1]);
    let n = 4;
    for (;;) {
      const x = await s.nextBatch(64);
      if (!x) break;
      n += x.shape[0];
    }
    expect(n).toBe(all.length);
    const st = s.stats();
    expect(st.blocks).toBe(all.length);
    expect(st.documents).toBe(203);
    expect(st.tokens).toBe(all.length * 50 + st.droppedTokens);
    expect(st.inputBytes).toBeGreaterThan(60_000);
    expect(st.textBytes).toBeGreaterThan(st.inputBytes);
    expect(await s.next()).toBeNull();
  });

  it('surfaces line errors as CalmErrors, or counts them in stats and cursors', async () => {
    const path = join(tmp.dir, 'bad.jsonl');
    const lines = ['{"text":"aaaa"}', '{"text":"bbbb"}', 'oops', '{"text":"cccc"}', '{}', '{"text":"dddd"}'];
    writeFileSync(path, lines.join('\n'));
    const o = { blockSize: 4, groupSize: 2 };
    await expect(drain(createBlockStream(jsonlSource(path), bytes, o))).rejects.toSatisfy((e) =>
      isCalmError(e, 'FORMAT_ERROR'),
    );
    const issues: number[] = [];
    const s = createBlockStream(jsonlSource(path, { onLineError: 'skip' }), bytes, {
      ...o,
      onSkip: (i) => issues.push(i.line),
    });
    const blocks = await drain(s);
    expect(blocks).toHaveLength(4); // "BOS aaaa" is 5 tokens: 1 block per document + remainder
    expect(issues).toEqual([3, 5]);
    expect(s.stats().skippedByReason).toEqual({ 'invalid-json': 1, 'missing-text': 1 });
    expect(s.cursor().counts.skipped).toEqual({ 'invalid-json': 1, 'missing-text': 1 });
  });

  it('refuses a cursor saved with other settings, data or version', async () => {
    const src = arraySource(['one two three', 'four five six', 'seven']);
    const s = createBlockStream(src, bytes, { blockSize: 4, groupSize: 1 });
    await s.next();
    const c = s.cursor();
    expect(() => createBlockStream(src, bytes, { blockSize: 8, groupSize: 1, cursor: c })).toThrow(
      /blockSize 4 \(now 8\)/,
    );
    expect(() => createBlockStream(arraySource(['x']), bytes, { blockSize: 4, groupSize: 1, cursor: c })).toThrow(
      /source/,
    );
    expect(() => createBlockStream(src, llama, { blockSize: 4, groupSize: 1, cursor: c })).toThrow(/tokenizer/);
    expect(() => parseCursor({ ...c, version: 2 })).toThrow(expect.objectContaining({ code: 'CHECKPOINT_VERSION' }));
    expect(() => parseCursor('{"format": "something else"}')).toThrow(
      expect.objectContaining({ code: 'FORMAT_ERROR' }),
    );
    expect(() => parseCursor('not json')).toThrow(expect.objectContaining({ code: 'FORMAT_ERROR' }));
    expect(() => parseCursor({ ...c, position: { file: 0 } })).toThrow(/position/);
    // Endless streams survive JSON (Infinity is written as null).
    const endless = createBlockStream(src, bytes, { blockSize: 4, groupSize: 1, epochs: Infinity });
    await endless.next();
    expect(parseCursor(serializeCursor(endless.cursor())).config.epochs).toBe(Infinity);
  });

  it('rejects bad options and empty sources', async () => {
    const src = arraySource(['a']);
    expect(() => createBlockStream(src, bytes, { blockSize: 4, workerIndex: 3, workerCount: 3 })).toThrow(
      /workerIndex/,
    );
    expect(() => createBlockStream(src, bytes, { blockSize: 10, layout: 'ae', chunkSize: 4 })).toThrow(/multiple/);
    expect(() => createBlockStream(src, bytes, { blockSize: 4, epochs: 0 })).toThrow(/epochs/);
    await expect(drain(createBlockStream(arraySource([]), bytes, { blockSize: 4 }))).rejects.toThrow(/no documents/);
  });
});
