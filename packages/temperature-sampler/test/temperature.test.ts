import { describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { batchOrder, expectedExactSamplerCalls, temperatureParts, temperedDistribution } from '../src/index.js';

describe('temperatureParts', () => {
  it('splits 1/T into n and alpha', () => {
    expect(temperatureParts(1)).toEqual({ temperature: 1, n: 1, alpha: 0 });
    expect(temperatureParts(0.5)).toEqual({ temperature: 0.5, n: 2, alpha: 0 });
    const p = temperatureParts(0.4);
    expect(p.n).toBe(2);
    expect(p.alpha).toBeCloseTo(0.5, 12);
    const q = temperatureParts(0.7);
    expect(q.n).toBe(1);
    expect(q.alpha).toBeCloseTo(1 / 0.7 - 1, 12);
  });

  it('snaps rounding residues of 1/n to alpha = 0', () => {
    for (let n = 1; n <= 50; n++) expect(temperatureParts(1 / n)).toMatchObject({ n, alpha: 0 });
    expect(temperatureParts(1 / (3 + 1e-12)).alpha).toBe(0);
    expect(temperatureParts(1 / (3 + 1e-6)).alpha).toBeGreaterThan(0);
  });

  it.each([0, -0.5, 1.5, Number.NaN, Infinity])('rejects T = %s', (t) => {
    expect(() => temperatureParts(t)).toThrowError(/temperature must be a finite number in \(0, 1\]/);
  });
});

describe('batchOrder', () => {
  it('accepts T = 1/n within 1e-9 relative, like the official code', () => {
    expect(batchOrder(1)).toBe(1);
    expect(batchOrder(0.5)).toBe(2);
    expect(batchOrder(1 / 3)).toBe(3);
    expect(batchOrder(0.2)).toBe(5);
    expect(batchOrder(1 / (4 * (1 + 5e-10)))).toBe(4);
  });

  it('rejects fractional 1/T with INVALID_ARGUMENT naming the fix', () => {
    for (const t of [0.4, 0.7, 0.3, 1 / (4 * (1 + 2e-9))]) {
      let err: unknown;
      try {
        batchOrder(t);
      } catch (e) {
        err = e;
      }
      expect(isCalmError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toMatch(/T = 1\/n.*exact sampler/);
    }
  });
});

describe('temperedDistribution', () => {
  it('computes P^(1/T)/Z', () => {
    const d = temperedDistribution([0.5, 0.25, 0.25], 0.5);
    expect(d[0]).toBeCloseTo(2 / 3, 14);
    expect(d[1]).toBeCloseTo(1 / 6, 14);
    expect(d[2]).toBeCloseTo(1 / 6, 14);
  });

  it('normalises weights and survives tiny probabilities at small T', () => {
    const d = temperedDistribution([2, 1e-200, 0], 0.01);
    expect(Array.from(d)).toEqual([1, 0, 0]);
    expect(Array.from(temperedDistribution([3, 1], 1))).toEqual([0.75, 0.25]);
  });

  it('rejects bad probabilities', () => {
    expect(() => temperedDistribution([0, 0], 0.5)).toThrowError(/sum to 0/);
    expect(() => temperedDistribution([0.5, -0.1], 0.5)).toThrowError(/non-negative/);
  });
});

describe('expectedExactSamplerCalls (Theorem 2)', () => {
  it('matches hand-computed values', () => {
    // uniform over 2 at T = 1/2: Z = 0.5, E = 2 / 0.5
    expect(expectedExactSamplerCalls([0.5, 0.5], 0.5)).toBeCloseTo(4, 12);
    // T = 1: one draw
    expect(expectedExactSamplerCalls([0.2, 0.3, 0.5], 1)).toBeCloseTo(1, 12);
    // T = 0.4 (n = 2, alpha = 0.5) on [0.8, 0.2]: (2 + 0.8^1.5 + 0.2^1.5) / (0.8^2.5 + 0.2^2.5)
    const e = (2 + 0.8 ** 1.5 + 0.2 ** 1.5) / (0.8 ** 2.5 + 0.2 ** 2.5);
    expect(expectedExactSamplerCalls([0.8, 0.2], 0.4)).toBeCloseTo(e, 12);
    // early rejection at T = 1/3 on [0.8, 0.2]: stage 1 costs 1 + Σp + Σp² = 2.68
    expect(expectedExactSamplerCalls([0.8, 0.2], 1 / 3, { earlyReject: true })).toBeCloseTo(2.68 / (0.512 + 0.008), 12);
  });

  it('obeys Corollary 2.1: E[N] <= (1 + n) / Z_T for T <= 1/2', () => {
    const p = [0.4, 0.3, 0.2, 0.05, 0.05];
    for (const t of [0.5, 0.45, 0.3, 0.25]) {
      const { n } = temperatureParts(t);
      const z = p.reduce((a, x) => a + x ** (1 / t), 0);
      expect(expectedExactSamplerCalls(p, t)).toBeLessThanOrEqual((1 + n) / z + 1e-9);
    }
  });
});
