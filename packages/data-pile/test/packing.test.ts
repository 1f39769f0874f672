// group_texts packing: the LM and autoencoder layouts on hand-built documents.
import { describe, it, expect } from 'vitest';
import { isCalmError } from '@calm/core';
import { layoutDocument, packDocuments, resolvePackOptions } from '../src/index.js';

const ids = { bos: 100, eos: 101, pad: 102 };
const arr = (...xs: number[]) => Int32Array.from(xs);
const plain = (blocks: Int32Array[]) => blocks.map((b) => Array.from(b));

describe('packing (group_texts)', () => {
  it('LM layout: BOS per document, concatenated, cut, remainder returned', () => {
    const docs = [arr(1, 2, 3), arr(4), arr(5, 6, 7, 8, 9)];
    const { blocks, remainder } = packDocuments(docs, { layout: 'lm', blockSize: 4, ...ids });
    // [100 1 2 3 | 100 4 100 5 | 6 7 8 9] and nothing left.
    expect(plain(blocks)).toEqual([
      [100, 1, 2, 3],
      [100, 4, 100, 5],
      [6, 7, 8, 9],
    ]);
    expect(remainder.length).toBe(0);
    const r2 = packDocuments(docs, { layout: 'lm', blockSize: 5, ...ids });
    expect(plain(r2.blocks)).toEqual([
      [100, 1, 2, 3, 100],
      [4, 100, 5, 6, 7],
    ]);
    expect(Array.from(r2.remainder)).toEqual([8, 9]);
  });

  it('AE layout: BOS, ids, EOS, then PAD to a multiple of K; chunks never straddle documents', () => {
    expect(Array.from(layoutDocument(arr(1, 2), { layout: 'ae', blockSize: 8, chunkSize: 4, ...ids }))).toEqual([
      100, 1, 2, 101,
    ]);
    expect(Array.from(layoutDocument(arr(1, 2, 3), { layout: 'ae', blockSize: 8, chunkSize: 4, ...ids }))).toEqual([
      100, 1, 2, 3, 101, 102, 102, 102,
    ]);
    expect(Array.from(layoutDocument(arr(), { layout: 'ae', blockSize: 8, chunkSize: 4, ...ids }))).toEqual([
      100, 101, 102, 102,
    ]);
    const docs = [arr(1, 2, 3), arr(4), arr(5, 6, 7, 8, 9, 10)];
    const { blocks, remainder } = packDocuments(docs, { layout: 'ae', blockSize: 8, chunkSize: 4, ...ids });
    expect(plain(blocks)).toEqual([
      [100, 1, 2, 3, 101, 102, 102, 102],
      [100, 4, 101, 102, 100, 5, 6, 7],
    ]);
    expect(Array.from(remainder)).toEqual([8, 9, 10, 101]);
    // Every K-chunk belongs to one document: it never holds an EOS before a non-PAD token.
    for (const b of blocks)
      for (let c = 0; c < b.length; c += 4) {
        const chunk = Array.from(b.subarray(c, c + 4));
        const e = chunk.indexOf(101);
        if (e >= 0) expect(chunk.slice(e + 1).every((t) => t === 102)).toBe(true);
      }
  });

  it('carries a previous remainder in front and can skip BOS', () => {
    const { blocks, remainder } = packDocuments(
      [arr(1, 2)],
      { layout: 'lm', blockSize: 3, addBos: false, ...ids },
      arr(7, 8),
    );
    expect(plain(blocks)).toEqual([[7, 8, 1]]);
    expect(Array.from(remainder)).toEqual([2]);
  });

  it('drops nothing when there are no documents and rejects bad options', () => {
    const r = packDocuments([], { layout: 'lm', blockSize: 4, ...ids });
    expect(r.blocks).toEqual([]);
    expect(r.remainder.length).toBe(0);
    const bad = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isCalmError(e, 'INVALID_ARGUMENT');
      }
      return false;
    };
    expect(bad(() => resolvePackOptions({ layout: 'ae', blockSize: 10, chunkSize: 4, ...ids }))).toBe(true);
    expect(bad(() => resolvePackOptions({ layout: 'lm', blockSize: 0, ...ids }))).toBe(true);
    expect(bad(() => resolvePackOptions({ layout: 'xx' as 'lm', blockSize: 4, ...ids }))).toBe(true);
    expect(bad(() => resolvePackOptions({ layout: 'lm', blockSize: 4, bos: -1, eos: 1, pad: 2 }))).toBe(true);
  });
});
