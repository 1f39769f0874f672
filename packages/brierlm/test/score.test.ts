// Combining Brier-n into BrierLM (×100, clipping) and the standard errors: delta method against
// the bootstrap and against the plain standard error of a mean, and interval coverage.
import { describe, expect, it } from 'vitest';
import { createRng, isCalmError } from '@calm/core';
import { combineBrierLM, officialBrierLM } from '../src/index.js';
import { meanCovariance, normalQuantile, summarizeClusters, type ClusterSums } from '../src/score.js';

describe('combineBrierLM', () => {
  it('is 100 times the geometric mean of Brier-1..4', () => {
    expect(combineBrierLM([0.5, 0.3, 0.2, 0.1])).toBeCloseTo(100 * Math.pow(0.5 * 0.3 * 0.2 * 0.1, 0.25), 12);
    expect(combineBrierLM([1, 1, 1, 1])).toBe(100);
  });

  it('is 0 when any Brier-n is <= 0, where the official formula can be fooled by an even number of negatives', () => {
    expect(combineBrierLM([0.5, 0.3, 0.2, 0])).toBe(0);
    expect(combineBrierLM([-1, -1, -1, -1])).toBe(0);
    expect(officialBrierLM([-1, -1, -1, -1])).toBe(100);
    expect(officialBrierLM([-0.5, 0.5, 0.5, 0.5])).toBe(0);
    expect(officialBrierLM([0.5, 0.3, 0.2, 0.1])).toBeCloseTo(combineBrierLM([0.5, 0.3, 0.2, 0.1]), 12);
  });

  it('rejects anything but four finite numbers', () => {
    for (const bad of [
      [1, 2, 3],
      [1, 2, 3, NaN],
      [1, 2, 3, 4, 5],
    ]) {
      expect(() => combineBrierLM(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    let error: unknown;
    try {
      officialBrierLM([0, 0]);
    } catch (e) {
      error = e;
    }
    expect(isCalmError(error, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe('normalQuantile', () => {
  it('matches reference values', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 8);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489, 8);
  });
});

/** N positions with correlated Brier-n values around `mean`. */
function synthetic(seed: number, N: number, mean: number[]): ClusterSums {
  const rng = createRng(seed);
  const sums = new Float64Array(N * 4);
  for (let i = 0; i < N; i++) {
    const shared = rng.normal();
    for (let n = 0; n < 4; n++) sums[i * 4 + n] = mean[n]! + 0.3 * shared + 0.2 * rng.normal();
  }
  return { sums, counts: new Float64Array(N).fill(1) };
}

describe('standard errors', () => {
  const mean = [0.6, 0.4, 0.3, 0.2];

  it('delta method: Brier-n errors are sd/sqrt(N) for position units', () => {
    const c = synthetic(1, 500, mean);
    const s = summarizeClusters(c, 'delta', 0.95, 0, createRng(0));
    for (let n = 0; n < 4; n++) {
      const xs = Array.from({ length: 500 }, (_, i) => c.sums[i * 4 + n]!);
      const m = xs.reduce((a, b) => a + b, 0) / 500;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / 499);
      expect(s.brier[n]).toBeCloseTo(m, 12);
      expect(s.brierStderr[n]).toBeCloseTo(sd / Math.sqrt(500), 12);
      expect(s.brierCI[n]![1] - s.brierCI[n]![0]).toBeCloseTo(2 * 1.959963984540054 * s.brierStderr[n]!, 6);
    }
  });

  it('delta method and bootstrap agree on the BrierLM standard error', () => {
    const c = synthetic(2, 800, mean);
    const d = summarizeClusters(c, 'delta', 0.95, 0, createRng(0));
    const b = summarizeClusters(c, 'bootstrap', 0.95, 2000, createRng(1));
    expect(b.brierLM).toBe(d.brierLM);
    expect(b.brierLMStderr / d.brierLMStderr).toBeGreaterThan(0.9);
    expect(b.brierLMStderr / d.brierLMStderr).toBeLessThan(1.1);
    expect(b.brierLMCI[0]).toBeLessThan(d.brierLM);
    expect(b.brierLMCI[1]).toBeGreaterThan(d.brierLM);
  });

  it('the 95% delta interval for BrierLM covers the truth about 95% of the time', () => {
    const truth =
      100 *
      Math.pow(
        mean.reduce((a, b) => a * b, 1),
        0.25,
      );
    let covered = 0;
    const sims = 300;
    for (let r = 0; r < sims; r++) {
      const s = summarizeClusters(synthetic(100 + r, 200, mean), 'delta', 0.95, 0, createRng(0));
      if (s.brierLMCI[0] <= truth && truth <= s.brierLMCI[1]) covered++;
    }
    expect(covered / sims).toBeGreaterThan(0.91);
    expect(covered / sims).toBeLessThan(0.99);
  });

  it('block clusters: the ratio estimator linearisation reduces to the position formula for equal blocks of one', () => {
    const c = synthetic(3, 50, mean);
    const cov = meanCovariance(c, mean);
    expect(cov.every(Number.isFinite)).toBe(true);
    expect(
      meanCovariance({ sums: new Float64Array(4), counts: new Float64Array([10]) }, mean).every(Number.isNaN),
    ).toBe(true);
    // Merging pairs of positions into blocks keeps the mean and gives a similar (noisier) error.
    const blocks: ClusterSums = { sums: new Float64Array(25 * 4), counts: new Float64Array(25).fill(2) };
    for (let i = 0; i < 50; i++)
      for (let n = 0; n < 4; n++) blocks.sums[Math.floor(i / 2) * 4 + n]! += c.sums[i * 4 + n]!;
    const p = summarizeClusters(c, 'delta', 0.95, 0, createRng(0));
    const q = summarizeClusters(blocks, 'delta', 0.95, 0, createRng(0));
    for (let n = 0; n < 4; n++) expect(q.brier[n]).toBeCloseTo(p.brier[n]!, 12);
    expect(q.brierLMStderr / p.brierLMStderr).toBeGreaterThan(0.6);
    expect(q.brierLMStderr / p.brierLMStderr).toBeLessThan(1.6);
  });
});
