import { describe, expect, it } from 'vitest';
import { createRng, isCalmError } from '@calm/core';
import { chiSquareTest } from '@calm/testing';
import { categoricalDrawer } from '../../testing/src/temperature-helpers.js';
import { exactTemperatureSample, temperedDistribution } from '../src/index.js';

const DISTRIBUTIONS: Record<string, number[]> = {
  skewed: [0.5, 0.25, 0.15, 0.07, 0.03],
  // 50 near-zero outcomes: the expensive case for T near 1 (Σ P^(1/T − 1) is large).
  nearZero: [0.45, 0.35, 0.15, ...Array.from({ length: 50 }, () => 0.001)],
};
const TEMPERATURES = [1, 0.9, 0.7, 0.5, 1 / 3, 0.25];
const SAMPLES = 20_000;

/** Theorem 2, written out independently of the library: (n + 1[α>0] Σ P^(1/T−1)) / Σ P^(1/T). */
function theorem2(p: number[], t: number): number {
  const inv = 1 / t;
  const n = Math.abs(inv - Math.round(inv)) < 1e-9 ? Math.round(inv) : Math.floor(inv);
  const alpha = Math.abs(inv - Math.round(inv)) < 1e-9 ? 0 : inv - n;
  const z = p.reduce((a, x) => a + x ** inv, 0);
  const s = alpha > 0 ? p.reduce((a, x) => a + x ** (inv - 1), 0) : 0;
  return (n + s) / z;
}

function run(p: number[], t: number, seed: string, earlyReject = false, samples = SAMPLES) {
  const draw = categoricalDrawer(p, createRng(`${seed}/model`));
  const rng = createRng(`${seed}/coins`);
  const counts = new Float64Array(p.length);
  let calls = 0;
  for (let i = 0; i < samples; i++) {
    const r = exactTemperatureSample(draw, t, { rng, earlyReject });
    counts[r.value]!++;
    calls += r.calls;
    expect(r.exhausted).toBe(false);
  }
  return { counts, meanCalls: calls / samples };
}

describe('exactTemperatureSample (Algorithm 1)', () => {
  for (const [name, p] of Object.entries(DISTRIBUTIONS)) {
    for (const t of TEMPERATURES) {
      it(`${name}, T = ${t.toPrecision(3)}: outputs follow P^(1/T)/Z and the cost follows Theorem 2`, () => {
        // Near T = 1 the cost of rare outcomes is heavy-tailed (Stage 2 runs ~1/P(x) draws for a rare x):
        // there the standard error of the mean cost is ~5 % at 20k samples, so draw 10× more.
        const samples = name === 'nearZero' && t >= 0.7 && t < 1 ? 10 * SAMPLES : SAMPLES;
        const { counts, meanCalls } = run(p, t, `${name}/${t}`, false, samples);
        const { pValue } = chiSquareTest(counts, temperedDistribution(p, t));
        expect(pValue).toBeGreaterThan(0.01);
        const expected = theorem2(p, t);
        expect(Math.abs(meanCalls / expected - 1)).toBeLessThan(0.05);
      });
    }
  }

  it('is not the untempered distribution (the test above can fail)', () => {
    const p = DISTRIBUTIONS.skewed!;
    const { counts } = run(p, 0.5, 'power');
    expect(chiSquareTest(counts, p).pValue).toBeLessThan(1e-6);
  });

  it('earlyReject keeps the distribution and lowers the cost to 1 + Σ_{j<n} Σ P^j per trial', () => {
    const p = DISTRIBUTIONS.skewed!;
    for (const t of [1 / 3, 0.3]) {
      const { counts, meanCalls } = run(p, t, `early/${t}`, true);
      expect(chiSquareTest(counts, temperedDistribution(p, t)).pValue).toBeGreaterThan(0.01);
      const inv = 1 / t;
      const n = Math.floor(inv + 1e-9);
      const alpha = inv - n > 1e-9 ? inv - n : 0;
      let stage1 = 1;
      for (let j = 1; j < n; j++) stage1 += p.reduce((a, x) => a + x ** j, 0);
      const stage2 = alpha > 0 ? p.reduce((a, x) => a + x ** (inv - 1), 0) : 0;
      const expected = (stage1 + stage2) / p.reduce((a, x) => a + x ** inv, 0);
      expect(Math.abs(meanCalls / expected - 1)).toBeLessThan(0.05);
      expect(meanCalls).toBeLessThan(theorem2(p, t));
    }
  });

  it('T = 1 returns the first draw after one call', () => {
    let i = 0;
    const r = exactTemperatureSample(() => ++i, 1, { rng: createRng(0) });
    expect(r).toEqual({ value: 1, calls: 1, exhausted: false });
  });

  it('compares chunks by exact equality of all ids by default, and any type with a key', () => {
    const rng = createRng('chunks');
    const chunks = [Int32Array.from([1, 2, 3]), Int32Array.from([1, 2, 4])];
    const drawChunk = () => Int32Array.from(chunks[rng.int(2)]!); // fresh arrays: identity never matches
    const counts = [0, 0];
    for (let i = 0; i < 4000; i++) {
      const { value } = exactTemperatureSample(drawChunk, 0.5, { rng });
      counts[value[2] === 3 ? 0 : 1]!++;
    }
    expect(chiSquareTest(counts, [0.5, 0.5]).pValue).toBeGreaterThan(0.01);

    const objects = [{ word: 'the' }, { word: 'a' }];
    const draw = categoricalDrawer([0.75, 0.25], rng);
    const seen = { the: 0, a: 0 };
    for (let i = 0; i < 4000; i++) {
      const { value } = exactTemperatureSample(() => ({ ...objects[draw()]! }), 0.5, { rng, key: (o) => o.word });
      seen[value.word as 'the' | 'a']++;
    }
    expect(chiSquareTest([seen.the, seen.a], [0.9, 0.1]).pValue).toBeGreaterThan(0.01);
    expect(() => exactTemperatureSample(() => ({ x: 1 }), 0.5, { rng })).toThrowError(/pass a `key` function/);
  });

  it('throws BUDGET_EXHAUSTED when a sample needs more draws than the budget', () => {
    const rng = createRng('budget');
    const draw = () => rng.int(1000); // uniform over 1000: E[N] = 4 / (1000 · 1e-12) at T = 1/4
    let err: unknown;
    try {
      exactTemperatureSample(draw, 0.25, { rng, maxCallsPerSample: 500 });
    } catch (e) {
      err = e;
    }
    expect(isCalmError(err, 'BUDGET_EXHAUSTED')).toBe(true);
    expect((err as Error).message).toMatch(/maxCallsPerSample.*approximate.*batch sampler/);
  });

  it("falls back to Algorithm 2 on the consumed draws with onBudgetExhausted: 'approximate'", () => {
    const rng = createRng('fallback');
    // One dominant outcome and 5000 rare ones: at T = 1/10 the exact cost is ~10 / 0.7^10 ≈ 354 draws.
    const p = [0.7, ...Array.from({ length: 5000 }, () => 0.3 / 5000)];
    const draw = categoricalDrawer(p, rng);
    let mode = 0;
    for (let i = 0; i < 200; i++) {
      const r = exactTemperatureSample(draw, 0.1, { rng, maxCallsPerSample: 20, onBudgetExhausted: 'approximate' });
      if (r.exhausted) expect(r.calls).toBe(20);
      else expect(r.calls).toBeLessThanOrEqual(20);
      if (r.value === 0) mode++;
    }
    expect(mode).toBeGreaterThan(195); // with m up to 10 the dominant outcome is chosen
  });

  it('rejects bad arguments', () => {
    const rng = createRng(0);
    expect(() => exactTemperatureSample(() => 1, 0, { rng })).toThrowError(/\(0, 1\]/);
    expect(() => exactTemperatureSample(() => 1, 0.5, { rng, maxCallsPerSample: 0 })).toThrowError(/maxCallsPerSample/);
    expect(() =>
      exactTemperatureSample(() => 1, 0.5, { rng, maxCallsPerSample: Infinity, onBudgetExhausted: 'approximate' }),
    ).toThrowError(/finite maxCallsPerSample/);
    expect(() => exactTemperatureSample(1 as unknown as () => number, 0.5, { rng })).toThrowError(
      /draw must be a function/,
    );
  });
});
