import { describe, expect, it } from 'vitest';
import { chiSquareTest, meanAndStderr } from '@calm/testing';
import { createRng, isCalmError, restoreRng } from '../src/index.js';

describe('createRng', () => {
  it('gives the same stream for the same seed and different streams for different seeds', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const xa = Array.from({ length: 20 }, () => a.nextUint32());
    expect(Array.from({ length: 20 }, () => b.nextUint32())).toEqual(xa);
    expect(Array.from({ length: 20 }, () => c.nextUint32())).not.toEqual(xa);
    expect(createRng('run-1').uniform()).not.toBe(createRng('run-2').uniform());
  });

  it('matches the published xoshiro128** output for a known state', () => {
    // Reference values computed with the C reference implementation (state 1, 2, 3, 4).
    const rng = restoreRng({ algorithm: 'xoshiro128**', state: [1, 2, 3, 4], spareNormal: null });
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([11520, 0, 5927040]);
  });

  it('resumes exactly from a saved state, including the spare normal deviate', () => {
    const rng = createRng(123);
    rng.normal(); // leaves a spare
    const saved = JSON.parse(JSON.stringify(rng.getState()));
    const next = [rng.normal(), rng.uniform(), rng.int(1000)];
    const again = restoreRng(saved);
    expect([again.normal(), again.uniform(), again.int(1000)]).toEqual(next);
  });

  it('draws uniform doubles in [0, 1) with mean 1/2 and variance 1/12', () => {
    const rng = createRng(1);
    const xs = Float64Array.from({ length: 200_000 }, () => rng.uniform());
    expect(xs.reduce((a, b) => Math.min(a, b), 1)).toBeGreaterThanOrEqual(0);
    expect(xs.reduce((a, b) => Math.max(a, b), 0)).toBeLessThan(1);
    const { mean, std } = meanAndStderr(xs);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.003);
    expect(Math.abs(std * std - 1 / 12)).toBeLessThan(0.002);
  });

  it('draws standard normals with the right moments', () => {
    const rng = createRng(2);
    const xs = rng.fillNormal(new Float64Array(200_000));
    const { mean, std } = meanAndStderr(xs);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(std - 1)).toBeLessThan(0.01);
    const kurt = xs.reduce((s, x) => s + x ** 4, 0) / xs.length;
    expect(Math.abs(kurt - 3)).toBeLessThan(0.1);
  });

  it('fills arrays with exactly the values of repeated uniform() and normal() calls', () => {
    for (const seed of [4, 'fill']) {
      const a = createRng(seed);
      const b = createRng(seed);
      for (const n of [0, 1, 2, 5, 1000]) {
        const filled = a.fillNormal(new Float64Array(n), 0.5, 2); // odd lengths leave a spare
        expect(Array.from(filled)).toEqual(Array.from({ length: n }, () => 0.5 + 2 * b.normal()));
        const uniform = a.fillUniform(new Float32Array(n), -1, 3);
        expect(Array.from(uniform)).toEqual(Array.from(Float32Array.from({ length: n }, () => -1 + 4 * b.uniform())));
      }
      expect(a.getState()).toEqual(b.getState());
    }
  });

  it('draws categorical indices with the requested probabilities (chi-square, fixed seed)', () => {
    const rng = createRng(3);
    const w = [0.5, 0, 2, 1, 0.001, 6.5];
    const counts = new Array(w.length).fill(0);
    for (let i = 0; i < 100_000; i++) counts[rng.categorical(w)]++;
    expect(counts[1]).toBe(0);
    expect(chiSquareTest(counts, w).pValue).toBeGreaterThan(0.01);
  });

  it('draws integers uniformly in [0, n)', () => {
    const rng = createRng(4);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[rng.int(7)]++;
    expect(chiSquareTest(counts, new Array(7).fill(1)).pValue).toBeGreaterThan(0.01);
  });

  it('split() gives an independent stream and advances the parent', () => {
    const rng = createRng(5);
    const before = rng.getState();
    const child = rng.split();
    expect(rng.getState()).not.toEqual(before);
    const a = Array.from({ length: 8 }, () => rng.nextUint32());
    const b = Array.from({ length: 8 }, () => child.nextUint32());
    expect(a).not.toEqual(b);
  });

  it('rejects bad arguments with a CalmError that names the fix', () => {
    const rng = createRng(0);
    for (const f of [
      () => rng.categorical([0, 0]),
      () => rng.categorical([1, -1]),
      () => rng.int(0),
      () => rng.bernoulli(2),
      () => createRng(NaN),
    ]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isCalmError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
    expect(() => restoreRng({ algorithm: 'xoshiro128**', state: [0, 0, 0, 0], spareNormal: null })).toThrow(
      /malformed/,
    );
  });
});
