import { describe, expect, it } from 'vitest';
import {
  CalmError,
  chunkKey,
  chunksEqual,
  errorFactory,
  padToMultiple,
  toChunks,
  toTokenIds,
  LLAMA3_SPECIAL_TOKENS,
} from '../src/index.js';

describe('tokens', () => {
  it('cuts a stream into chunk views and pads to a multiple of K', () => {
    const t = Int32Array.from([1, 2, 3, 4, 5, 6]);
    expect(toChunks(t, 3).map((c) => Array.from(c))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(() => toChunks(t, 4)).toThrow(/not a multiple of chunkSize 4/);
    expect(Array.from(padToMultiple(t, 4, LLAMA3_SPECIAL_TOKENS.pad))).toEqual([1, 2, 3, 4, 5, 6, 128256, 128256]);
    expect(padToMultiple(t, 3, 0)).toBe(t);
  });

  it('compares and keys chunks by exact ids', () => {
    expect(chunksEqual([1, 2], Int32Array.from([1, 2]))).toBe(true);
    expect(chunksEqual([1, 2], [1, 3])).toBe(false);
    expect(chunkKey([12, 3])).not.toBe(chunkKey([1, 23]));
  });

  it('validates token ids', () => {
    expect(Array.from(toTokenIds([1, 2]))).toEqual([1, 2]);
    expect(() => toTokenIds([1, 2.5], 'prompt')).toThrow(/prompt\[1\] = 2.5/);
  });

  it('errorFactory prefixes the package and keeps the code and cause', () => {
    const fail = errorFactory('@calm/x');
    const cause = new Error('low level');
    try {
      fail('IO_ERROR', 'cannot read f; check the path.', { cause, details: { file: 'f' } });
    } catch (e) {
      const err = e as CalmError;
      expect(err).toBeInstanceOf(CalmError);
      expect(err.message).toBe('[@calm/x] cannot read f; check the path.');
      expect(err.code).toBe('IO_ERROR');
      expect(err.cause).toBe(cause);
      expect(err.details).toEqual({ file: 'f' });
    }
  });
});
