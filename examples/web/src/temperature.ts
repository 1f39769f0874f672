// The temperature-sampling experiment of the page, free of the DOM: a black box over ten words
// (a Zipf law) that can only draw, tempered by the exact sampler (Algorithm 1, any T) and the batch
// sampler (Algorithm 2, T = 1/n), with histograms, the exact tempered law and the draws per sample.

import { createRng } from '@calm/core';
import {
  batchTemperatureSample,
  exactTemperatureSample,
  expectedExactSamplerCalls,
  temperedDistribution,
} from '@calm/temperature-sampler';

export const WORDS = ['the', 'a', 'his', 'their', 'this', 'that', 'our', 'its', 'every', 'no'] as const;

/** The black box's law: P(i) ∝ 1 / (i + 1)^1.1. */
export function blackBoxLaw(): Float64Array {
  const w = WORDS.map((_, i) => 1 / (i + 1) ** 1.1);
  const total = w.reduce((s, x) => s + x, 0);
  return Float64Array.from(w, (x) => x / total);
}

export interface TemperatureRow {
  temperature: number;
  /** The exact tempered law P^(1/T)/Z. */
  target: Float64Array;
  /** Histogram of the exact sampler's samples. */
  exact: Float64Array;
  /** Mean draws per exact sample, and Theorem 2's expectation. */
  exactDraws: number;
  expectedDraws: number;
  /** Histogram of the batch sampler's samples and its draws per sample (the pool), when T = 1/n. */
  batch?: Float64Array;
  batchDraws?: number;
  /** Total variation distance of each histogram to the target. */
  tvExact: number;
  tvBatch?: number;
}

const tv = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / 2;
};

/** Whether 1/T is an integer (the batch sampler's condition). */
export const isInverseInteger = (t: number): boolean => Math.abs(1 / t - Math.round(1 / t)) < 1e-9 * (1 / t);

/** Runs both samplers at each temperature; `onRow` sees each row as it is done. */
export async function runTemperatureDemo(
  options: { temperatures: readonly number[]; samples: number; poolSize: number; seed: number },
  onRow?: (row: TemperatureRow, index: number) => void,
): Promise<TemperatureRow[]> {
  const P = blackBoxLaw();
  const box = createRng(`${options.seed}/black-box`);
  let draws = 0;
  const draw = (): number => {
    draws++;
    return box.categorical(P);
  };
  const rng = createRng(options.seed);
  const rows: TemperatureRow[] = [];
  for (const [index, temperature] of options.temperatures.entries()) {
    const target = temperedDistribution(P, temperature);
    const exact = new Float64Array(P.length);
    let before = draws;
    for (let i = 0; i < options.samples; i++)
      exact[exactTemperatureSample(draw, temperature, { rng }).value]! += 1 / options.samples;
    const row: TemperatureRow = {
      temperature,
      target,
      exact,
      exactDraws: (draws - before) / options.samples,
      expectedDraws: expectedExactSamplerCalls(P, temperature),
      tvExact: tv(exact, target),
    };
    if (isInverseInteger(temperature)) {
      const batch = new Float64Array(P.length);
      before = draws;
      for (let i = 0; i < options.samples; i++) {
        const pool = Array.from({ length: options.poolSize }, draw);
        batch[batchTemperatureSample(pool, temperature, { rng })]! += 1 / options.samples;
      }
      row.batch = batch;
      row.batchDraws = (draws - before) / options.samples;
      row.tvBatch = tv(batch, target);
    }
    rows.push(row);
    onRow?.(row, index);
    // Give the page a chance to paint between temperatures.
    await new Promise((r) => setTimeout(r, 0));
  }
  return rows;
}
