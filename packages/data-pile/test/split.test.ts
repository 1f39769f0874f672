// process.py's document splitting: exact boundaries, newlines inside pieces, empty pieces.
import { describe, it, expect } from 'vitest';
import { isCalmError } from '@calm/core';
import { splitLongDocument, PILE_MAX_WORDS } from '../src/index.js';

/** Builds `n` distinct words ("w0 w1 ..."), joined by single spaces. */
function words(n: number, prefix = 'w'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

describe('splitLongDocument (process.py)', () => {
  it('leaves exactly 10,000 words alone', () => {
    const text = words(10_000).join(' ');
    expect(splitLongDocument(text)).toEqual([text]);
  });

  it('cuts 10,001 words into 10,000 + 1', () => {
    const w = words(10_001);
    expect(splitLongDocument(w.join(' '))).toEqual([w.slice(0, 10_000).join(' '), 'w10000']);
  });

  it('cuts 25,000 words into 10,000 + 10,000 + 5,000', () => {
    const w = words(25_000);
    const parts = splitLongDocument(w.join(' '));
    expect(parts).toEqual([w.slice(0, 10_000).join(' '), w.slice(10_000, 20_000).join(' '), w.slice(20_000).join(' ')]);
    expect(parts.join(' ')).toBe(w.join(' '));
  });

  it('splits on the space character only: newlines and tabs stay inside pieces', () => {
    // 10,001 pieces, many of which contain newlines; split(/\s/) would give far more.
    const w = words(10_001).map((x, i) => (i % 3 === 0 ? `${x}\n\n${x}` : i % 5 === 0 ? `${x}\t${x}` : x));
    const text = w.join(' ');
    const parts = splitLongDocument(text);
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe(w.slice(0, 10_000).join(' '));
    expect(parts[1]).toBe(w[10_000]);
  });

  it('counts empty pieces from consecutive spaces like str.split(" ")', () => {
    // "a  b" splits into ['a', '', 'b']: 3 pieces.
    expect(splitLongDocument('a  b', 2)).toEqual(['a ', 'b']);
    expect(splitLongDocument('a  b', 1)).toEqual(['a', '', 'b']);
    // Leading and trailing spaces produce empty first/last pieces.
    expect(splitLongDocument(' a b ', 2)).toEqual([' a', 'b ']);
    expect(splitLongDocument('a b ', 2)).toEqual(['a b', '']);
    // 9,999 words plus 2 extra spaces: 10,001 pieces, the last two empty.
    const w = words(9_999);
    const text = w.join(' ') + '  ';
    expect(splitLongDocument(text)).toEqual([w.join(' ') + ' ', '']);
  });

  it('matches a direct transcription of the algorithm on random inputs', () => {
    // Reference: split(' '), then while more than max pieces remain emit the first max joined.
    const reference = (text: string, max: number): string[] => {
      let pieces = text.split(' ');
      const out: string[] = [];
      while (pieces.length > max) {
        out.push(pieces.slice(0, max).join(' '));
        pieces = pieces.slice(max);
      }
      out.push(pieces.join(' '));
      return out;
    };
    let seed = 12345;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const alphabet = ['a', 'b', ' ', ' ', '\n', 'é', '🎉', ' '];
    for (let trial = 0; trial < 300; trial++) {
      const len = next() % 60;
      let s = '';
      for (let i = 0; i < len; i++) s += alphabet[next() % alphabet.length];
      const max = 1 + (next() % 6);
      expect(splitLongDocument(s, max)).toEqual(reference(s, max));
    }
  });

  it('keeps empty text as one empty document and rejects a bad maxWords', () => {
    expect(splitLongDocument('')).toEqual(['']);
    expect(PILE_MAX_WORDS).toBe(10_000);
    let err: unknown;
    try {
      splitLongDocument('a b', 0);
    } catch (e) {
      err = e;
    }
    expect(isCalmError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});
