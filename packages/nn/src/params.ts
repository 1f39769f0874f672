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
 * Options of {@link adoptParams}.
 * @category Parameters
 */
export interface AdoptParamsOptions {
  /** One sentence appended to the error message saying how to fix it (e.g. which prefix or config to check). */
  hint?: string;
  /**
   * Require every adopted tensor to be a `tf.Variable` (what optimisers update). `false` accepts any
   * float32 tensor, for read-only uses such as writing a checkpoint. @defaultValue true
   */
  requireVariables?: boolean;
}

/**
 * Adopts existing parameters for a set of specs: checks that every spec name is present with the
 * spec's shape, as a float32 `tf.Variable`, and returns exactly those entries (the same objects,
 * no copies) in the specs' order.
 *
 * @remarks
 * The counterpart of {@link createParams} for parameters that already exist (loaded from a
 * checkpoint, or shared with another model). Keys of `given` that are not in `specs` are ignored,
 * so a whole model's record may be passed to adopt one part of it. Every problem is collected
 * first: the one error lists every missing name and every shape, dtype or type mismatch.
 * @param specs - The expected parameters by name; only `shape` is read (a {@link ParamSpec} record fits).
 * @param given - Existing tensors by name (any superset of the specs' names), any shape and any dtype
 *   (both are checked against the specs).
 * @param what - Names the owner in the message, e.g. `'EnergyHead'` or `'CalmModel'`.
 * @param options - A `hint` on how to fix a mismatch; `requireVariables`.
 * @returns The adopted entries, keyed and ordered as `specs`. The caller already owns them; nothing is copied or disposed.
 * @throws `CalmError` with every problem in its message and in `details` (`missing`, `shapes`,
 *   `dtypes`, `notVariables`): `MISSING_PARAMETER` when a name is missing, else `SHAPE_MISMATCH`,
 *   else `DTYPE_UNSUPPORTED`, else `INVALID_ARGUMENT` (a tensor that is not a `tf.Variable`).
 * @example
 * {@includeCode ../test/examples.test.ts#adopt-params}
 * @category Parameters
 */
export function adoptParams(
  specs: Readonly<Record<string, { readonly shape: readonly number[] }>>,
  given: Readonly<Record<string, tf.Tensor>>,
  what: string,
  options: AdoptParamsOptions = {},
): ParamRecord {
  if (given === null || typeof given !== 'object')
    fail(
      'INVALID_ARGUMENT',
      `${what}: the given parameters must be a record of tensors by name, got ${String(given)}.`,
    );
  const requireVariables = options.requireVariables ?? true;
  const out: ParamRecord = {};
  const missing: string[] = [];
  const shapes: string[] = [];
  const dtypes: string[] = [];
  const notVariables: string[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    const v: unknown = Object.hasOwn(given, name) ? given[name] : undefined;
    if (v === undefined) {
      missing.push(name);
      continue;
    }
    if (!(v instanceof tf.Tensor) || (requireVariables && !(v instanceof tf.Variable))) {
      notVariables.push(name);
      continue;
    }
    const t = v as tf.Tensor;
    const want = spec.shape;
    if (t.shape.length !== want.length || t.shape.some((d: number, i: number) => d !== want[i]))
      shapes.push(`"${name}" is [${t.shape.join(', ')}], expected [${want.join(', ')}]`);
    else if (t.dtype !== 'float32') dtypes.push(`"${name}" is ${t.dtype}, expected float32`);
    else out[name] = t as tf.Variable;
  }
  if (missing.length + shapes.length + dtypes.length + notVariables.length === 0) return out;
  const parts: string[] = [];
  if (missing.length) parts.push(`${missing.length} parameter(s) missing: ${missing.join(', ')}`);
  if (shapes.length) parts.push(`${shapes.length} with the wrong shape: ${shapes.join('; ')}`);
  if (dtypes.length) parts.push(`${dtypes.length} with the wrong dtype: ${dtypes.join('; ')}`);
  if (notVariables.length)
    parts.push(
      `${notVariables.length} not ${requireVariables ? 'a tf.Variable' : 'a tensor'}: ${notVariables.join(', ')} (wrap loaded tensors with tf.variable, or load them with loadParams)`,
    );
  const code = missing.length
    ? 'MISSING_PARAMETER'
    : shapes.length
      ? 'SHAPE_MISMATCH'
      : dtypes.length
        ? 'DTYPE_UNSUPPORTED'
        : 'INVALID_ARGUMENT';
  return fail(code, `${what}: ${parts.join('. ')}.${options.hint ? ` ${options.hint}` : ''}`, {
    details: { missing, shapes, dtypes, notVariables },
  });
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
