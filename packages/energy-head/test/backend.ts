// Test setup shared by this package's suites: the wasm backend (@calm/testing's useWasm),
// and small helpers to build deterministic tensors from the @calm/core RNG.
import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '@calm/core';

// The wasm backend with @calm/nn's kernels: @calm/testing's one setup, re-exported for the suites here.
export { useWasm } from '@calm/testing/tfjs';

/** A float32 tensor of N(mean, std) values drawn from `rng`. */
export function normal(rng: Rng, shape: number[], mean = 0, std = 1): tf.Tensor {
  const n = shape.reduce((a, d) => a * d, 1);
  return tf.tensor(rng.fillNormal(new Float32Array(n), mean, std), shape);
}

/** A float32 tensor of U(low, high) values drawn from `rng`. */
export function uniform(rng: Rng, shape: number[], low: number, high: number): tf.Tensor {
  const n = shape.reduce((a, d) => a * d, 1);
  return tf.tensor(rng.fillUniform(new Float32Array(n), low, high), shape);
}

export { createRng };
