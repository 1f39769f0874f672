// Test helpers for @calm/nn and the packages built on it: run the same computation on two tfjs
// backends and compare the results at a tolerance relative to the values' scale.
import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '@calm/core';
import { expect } from 'vitest';

/** Deterministic normal values for a shape (float32). */
export function randomValues(shape: readonly number[], rng: Rng, std = 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return rng.fillNormal(new Float32Array(n), 0, std);
}

/** A seeded RNG, re-exported for brevity in tests. */
export const seeded = (seed: number | string): Rng => createRng(seed);

/** A computation's outputs read back to the host: values and shapes. */
export interface HostResult {
  values: Float32Array[];
  shapes: number[][];
}

/**
 * Runs `fn` on the named backend inside `tf.tidy` and reads every output back.
 * The previous backend is restored afterwards.
 */
export async function runOn(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<HostResult> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const outs = tf.tidy(() => {
      const r = fn();
      return Array.isArray(r) ? r : [r];
    });
    // Async reads: the webgpu backend cannot read synchronously in Node (no OffscreenCanvas).
    const values = await Promise.all(outs.map(async (t) => Float32Array.from(await t.data())));
    const shapes = outs.map((t) => [...t.shape]);
    tf.dispose(outs);
    return { values, shapes };
  } finally {
    if (previous && previous !== backend) await tf.setBackend(previous);
  }
}

/**
 * Asserts |a − b| ≤ rel · max(|b|) + abs elementwise (a normwise relative test that stays
 * meaningful for outputs near zero).
 */
export function expectScaledClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rel = 1e-5,
  label = '',
  abs = 1e-30,
): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  const tol = rel * scale + abs;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  expect(
    worst,
    `${label}: max |diff| ${worst} at [${at}] (${actual[at]} vs ${expected[at]}), tolerance ${tol} (rel ${rel} × scale ${scale})`,
  ).toBeLessThanOrEqual(tol);
}

/** Compares two host results output by output. */
export function expectSameResults(actual: HostResult, expected: HostResult, rel = 1e-5, label = ''): void {
  expect(actual.shapes, `${label} shapes`).toEqual(expected.shapes);
  actual.values.forEach((v, i) => expectScaledClose(v, expected.values[i]!, rel, `${label} output ${i}`));
}
