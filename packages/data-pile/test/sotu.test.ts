// The embedded State of the Union corpus: size, deterministic held-out split, caps, as a source.
import { describe, it, expect } from 'vitest';
import { createBlockStream } from '../src/index.js';
import { loadSotuCorpus } from '../src/node.js';
import { byteTokenizer, drain } from './helpers.js';

describe('loadSotuCorpus (embedded default corpus)', () => {
  const all = loadSotuCorpus({ split: 'all' });

  it('ships all 233 addresses (1790–2021, ≈10.8 M characters)', () => {
    expect(all.documents).toHaveLength(233);
    expect(all.documents[0]!.year).toBe(1790);
    expect(all.documents.at(-1)!.year).toBe(2021);
    expect(all.chars).toBeGreaterThan(10_000_000);
  });

  it('splits train and held-out deterministically by index, disjoint and covering', () => {
    const train = loadSotuCorpus({ split: 'train' });
    const test = loadSotuCorpus({ split: 'test' });
    expect(test.documents.map((d) => d.index)).toEqual(
      all.documents.filter((d) => d.index % 10 === 9).map((d) => d.index),
    );
    expect(train.documents.length + test.documents.length).toBe(233);
    const ids = new Set([...train.documents, ...test.documents].map((d) => d.index));
    expect(ids.size).toBe(233);
    expect(loadSotuCorpus({ split: 'test', testEvery: 5 }).documents).toHaveLength(46);
    expect(loadSotuCorpus({ split: 'test' }).texts).toEqual(test.texts);
  });

  it('caps documents and characters for CPU runs', () => {
    expect(loadSotuCorpus({ limit: 3 }).documents).toHaveLength(3);
    const small = loadSotuCorpus({ maxChars: 50_000 });
    expect(small.chars).toBe(50_000);
    expect(small.texts.join('')).toBe(loadSotuCorpus().texts.join('').slice(0, 50_000));
    expect(() => loadSotuCorpus({ split: 'dev' as 'test' })).toThrow(/split/);
  });

  it('is a document source like any other', async () => {
    const c = loadSotuCorpus({ split: 'test', maxChars: 20_000 });
    const blocks = await drain(createBlockStream(c.source, byteTokenizer(), { blockSize: 512 }));
    const bytes = c.texts.reduce((n, t) => n + new TextEncoder().encode(t).length, 0);
    expect(blocks).toHaveLength(Math.floor((bytes + c.documents.length) / 512)); // one BOS per document
    expect(c.source.id).toContain('sotu@');
  });
});
