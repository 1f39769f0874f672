// @calm/testing/tfjs: tensor helpers for the tfjs-bound packages' tests.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { initBackend } from '@calm/nn';

/** Selects the wasm backend with @calm/nn's training kernels, one thread (idempotent). */
export async function useWasm(): Promise<void> {
  if (tf.getBackend() !== 'wasm') await initBackend({ backend: 'wasm', threads: 1 });
}

/**
 * Runs `fn` and asserts that the number of live tensors is the same afterwards (no leak).
 * Works for sync and async functions; the function's own return value may be tensors that the
 * caller disposes inside `fn`.
 */
export async function expectNoLeak<T>(fn: () => T | Promise<T>, allowed = 0): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  const after = tf.memory().numTensors;
  expect(after - before, `tensor leak: ${after - before} tensors created and not disposed`).toBeLessThanOrEqual(
    allowed,
  );
  return out;
}

/** Asserts that two arrays (or tensors) are elementwise close: |a − b| ≤ atol + rtol·|b|. Reports the first mismatches. */
export function expectClose(
  actual: tf.Tensor | ArrayLike<number>,
  expected: tf.Tensor | ArrayLike<number>,
  { atol = 1e-5, rtol = 0, label = '' }: { atol?: number; rtol?: number; label?: string } = {},
): void {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  const b = expected instanceof tf.Tensor ? expected.dataSync() : expected;
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) {
    expect(actual.shape, `${label} shape`).toEqual(expected.shape);
  }
  expect(a.length, `${label} length`).toBe(b.length);
  let maxDiff = 0;
  const bad: string[] = [];
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= atol + rtol * Math.abs(b[i]!))) {
      if (bad.length < 5) bad.push(`[${i}] ${a[i]} vs ${b[i]}`);
    }
    if (d > maxDiff || Number.isNaN(d)) maxDiff = Number.isNaN(d) ? NaN : d;
  }
  expect(bad, `${label} mismatches (max |diff| ${maxDiff}, atol ${atol}, rtol ${rtol})`).toEqual([]);
}
