// Noise tensors drawn from the seedable @calm/core RNG, so that every stochastic call of the
// heads can be replayed exactly (or the same noise injected into a reference implementation).

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

/**
 * Standard-normal noise of the given shape drawn from an {@link @calm/core!Rng | Rng}: the posterior ε of the
 * energy loss, the flow head's x0.
 *
 * @param rng - The random source (advanced by one normal draw per element).
 * @param shape - Tensor shape.
 * @returns N(0, 1) values of shape `shape` (e.g. [B, M, L]), float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @example
 * {@includeCode ../test/examples.test.ts#posterior-energy}
 * @category Noise
 */
export function normalNoise(rng: Rng, shape: readonly number[]): tf.Tensor {
  return tf.tensor(rng.fillNormal(new Float32Array(sizeOf(shape))), [...shape], 'float32');
}

/**
 * Uniform noise of the given shape drawn from an {@link @calm/core!Rng | Rng}; by default U(−0.5, 0.5), the energy
 * head's input noise (official `torch.rand(...) - 0.5`).
 *
 * @param rng - The random source (advanced by one uniform draw per element).
 * @param shape - Tensor shape.
 * @param low - Lower bound (inclusive). @defaultValue −0.5
 * @param high - Upper bound (exclusive). @defaultValue 0.5
 * @returns U(low, high) values of shape `shape` (e.g. [B, N, noiseSize]), float32. Caller owns the returned tensor and must dispose it. Inputs are not disposed.
 * @example
 * {@includeCode ../test/examples.test.ts#posterior-energy}
 * @category Noise
 */
export function uniformNoise(rng: Rng, shape: readonly number[], low = -0.5, high = 0.5): tf.Tensor {
  return tf.tensor(rng.fillUniform(new Float32Array(sizeOf(shape)), low, high), [...shape], 'float32');
}
