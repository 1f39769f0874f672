// Parameters as records of tf.Variables keyed by the official PyTorch state_dict names, created by
// the official initialisers (N(0, 0.02), zeros, ones) from the seedable @calm/core RNG.

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { fail, sizeOf } from './internal/errors.js';

/**
 * Named parameters: keys are PyTorch `state_dict` names (e.g. `encoder.norm.weight`), values are
 * float32 `tf.Variable`s.
 * @see {@link createParams}
 * @category Parameters
 */
export type ParamRecord = Record<string, tf.Variable>;

/**
 * Produces the initial values of one parameter from the seeded RNG.
 * @param shape - The parameter's shape.
 * @param rng - The generator to draw from (advanced in place).
 * @returns Values, length = product of `shape`, float32, row-major.
 * @see {@link createParams}
 * @category Parameters
 */
export type Initializer = (shape: readonly number[], rng: Rng) => Float32Array;

/**
 * How to create one parameter.
 * @see {@link createParams}
 * @category Parameters
 */
export interface ParamSpec {
  /** Shape, PyTorch layout (a Linear weight is `[out, in]`). */
  shape: number[];
  /** Initial values. */
  init: Initializer;
  /** Whether optimisers may update it (`tf.Variable.trainable`). @defaultValue true */
  trainable?: boolean;
}

/**
 * Normal initialiser, N(0, std²), as the official code's `initializer_range` (0.02).
 * @param std - Standard deviation (≥ 0). @defaultValue 0.02
 * @param options - `zeroRows`: rows (first-axis indices) set to 0 afterwards, like the PAD row of
 *   an embedding (`padding_idx` in PyTorch).
 * @returns An {@link Initializer}.
 * @throws `CalmError` `INVALID_ARGUMENT` for a negative or non-finite std.
 * @example
 * {@includeCode ../test/examples.test.ts#params}
 * @category Parameters
 */
export function normalInit(std = 0.02, options: { zeroRows?: readonly number[] } = {}): Initializer {
  if (!(std >= 0) || !Number.isFinite(std))
    fail('INVALID_ARGUMENT', `normalInit: std must be a finite number >= 0, got ${std}.`);
  const zeroRows = options.zeroRows ?? [];
  return (shape, rng) => {
    const out = rng.fillNormal(new Float32Array(sizeOf(shape)), 0, std);
    if (zeroRows.length > 0) {
      const rows = shape[0] ?? 1;
      const width = rows === 0 ? 0 : out.length / rows;
      for (const r of zeroRows) {
        if (!Number.isInteger(r) || r < 0 || r >= rows)
          fail(
            'INVALID_ARGUMENT',
            `normalInit: zero row ${r} is outside [0, ${rows}) for shape [${shape.join(', ')}].`,
          );
        out.fill(0, r * width, (r + 1) * width);
      }
    }
    return out;
  };
}

/**
 * Constant initialiser.
 * @param value - The value of every element.
 * @returns An {@link Initializer} (draws nothing from the RNG).
 * @see {@link createParams}
 * @category Parameters
 */
export function constantInit(value: number): Initializer {
  return (shape) => new Float32Array(sizeOf(shape)).fill(value);
}

/**
 * Zeros, for biases (and the zero-initialised last layer of the energy head).
 * @returns An {@link Initializer} (draws nothing from the RNG).
 * @see {@link createParams}
 * @category Parameters
 */
export function zerosInit(): Initializer {
  return constantInit(0);
}

/**
 * Ones, for RMSNorm and LayerNorm weights.
 * @returns An {@link Initializer} (draws nothing from the RNG).
 * @see {@link createParams}
 * @category Parameters
 */
export function onesInit(): Initializer {
  return constantInit(1);
}

/**
 * Creates named parameters from specs, in the specs' key order, drawing from `rng`.
 *
 * @remarks
 * Values are generated on the host by the seeded RNG, so equal seeds give bit-identical weights
 * on every backend. Keys keep their insertion order (do not use integer-like keys such as `"0"`,
 * which JavaScript moves to the front).
 * @param specs - Parameter specs by `state_dict` name.
 * @param rng - The generator (advanced in place).
 * @returns New variables by name. Caller owns the returned variables and must dispose them (see
 *   {@link disposeParams}).
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad shape or an initialiser that returns the
 *   wrong number of values.
 * @example
 * {@includeCode ../test/examples.test.ts#params}
 * @category Parameters
 */
export function createParams(specs: Record<string, ParamSpec>, rng: Rng): ParamRecord {
  const out: ParamRecord = {};
  try {
    for (const [name, spec] of Object.entries(specs)) {
      if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        fail(
          'INVALID_ARGUMENT',
          `createParams: "${name}" has shape ${JSON.stringify(spec.shape)}; use an array of non-negative integers.`,
        );
      }
      const values = spec.init(spec.shape, rng);
      if (!(values instanceof Float32Array) || values.length !== sizeOf(spec.shape)) {
        fail(
          'INVALID_ARGUMENT',
          `createParams: the initialiser of "${name}" returned ${values?.length} values for shape [${spec.shape.join(', ')}] (needs ${sizeOf(spec.shape)} float32 values).`,
        );
      }
      out[name] = tf.tidy(() => tf.variable(tf.tensor(values, spec.shape, 'float32'), spec.trainable ?? true));
    }
  } catch (e) {
    disposeParams(out);
    throw e;
  }
  return out;
}

/**
 * Disposes every tensor of a record.
 * @param params - Parameters (or any named tensors) to free, any shape and any dtype.
 * @see {@link createParams}
 * @category Parameters
 */
export function disposeParams(params: Record<string, tf.Tensor>): void {
  for (const t of Object.values(params)) t.dispose();
}

/**
 * Counts scalar parameters.
 * @param params - Named tensors, any shape and any dtype.
 * @param options - `trainableOnly`: count only trainable variables.
 * @returns The total number of elements.
 * @see {@link createParams}
 * @category Parameters
 */
export function countParams(params: Record<string, tf.Tensor>, options: { trainableOnly?: boolean } = {}): number {
  let n = 0;
  for (const t of Object.values(params)) {
    if (options.trainableOnly && t instanceof tf.Variable && !t.trainable) continue;
    n += t.size;
  }
  return n;
}

/**
 * The trainable variables of a record, in key order: the `varList` of `tf.variableGrads`.
 * @param params - Parameters.
 * @param filter - Optional extra filter on the name (e.g. freeze a sub-module).
 * @returns The variables (not copies), any shape, float32.
 * @see {@link createParams}
 * @category Parameters
 */
export function trainableVariables(params: ParamRecord, filter: (name: string) => boolean = () => true): tf.Variable[] {
  return Object.entries(params)
    .filter(([name, v]) => v.trainable && filter(name))
    .map(([, v]) => v);
}
