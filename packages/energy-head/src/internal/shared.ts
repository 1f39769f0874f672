// Helpers shared by the heads: configuration checks (through @calm/core's validator), parameter-key
// prefixes, creating or adopting parameters (adoption is @calm/nn's adoptParams), input checks, and
// noise drawn from the @calm/core RNG.

import * as tf from '@tensorflow/tfjs';
import { collectConfigProblems, throwConfigProblems, type ConfigField, type Rng } from '@calm/core';
import { adoptParams, createParams, type ParamRecord, type ParamSpec } from '@calm/nn';
import { assertInteger, fail } from './errors.js';
import { normalNoise } from '../noise.js';
import type { TargetPosterior } from '../types.js';

/**
 * Fills a head's defaults into its configuration and checks the result against the head's field
 * table and cross-field checks, throwing one `INVALID_CONFIG` that lists every problem.
 */
export function resolveHeadConfig<C extends object, R extends C>(
  what: string,
  config: C,
  withDefaults: (config: C) => R,
  fields: ReadonlyArray<ConfigField<keyof R & string>>,
  crossProblems: (resolved: R) => string[] = () => [],
): R {
  if (config === null || typeof config !== 'object')
    fail('INVALID_CONFIG', `${what}: config must be an object with at least hiddenSize.`);
  const c = withDefaults(config);
  const problems = collectConfigProblems(c as unknown as Record<string, unknown>, fields);
  throwConfigProblems([...problems, ...crossProblems(c)], `${what} config`, '@calm/energy-head');
  return c;
}

/** Joins a module prefix and a local name (`'' + 'x.weight'` → `'x.weight'`). */
export function joinKey(prefix: string, local: string): string {
  return prefix === '' ? local : `${prefix}.${local}`;
}

/** Checks a parameter prefix: no leading/trailing dot, no empty segment. */
export function checkPrefix(prefix: unknown, fallback: string): string {
  const p = prefix ?? fallback;
  if (typeof p !== 'string' || p.startsWith('.') || p.endsWith('.') || p.includes('..')) {
    fail(
      'INVALID_ARGUMENT',
      `prefix must be a state-dict module path without a trailing dot (e.g. '${fallback}'), got ${JSON.stringify(p)}.`,
    );
  }
  return p;
}

/**
 * Creates parameters from specs with `rng`, or adopts the caller's variables (same objects, no
 * copies) through `@calm/nn`'s `adoptParams`, which checks every spec key's presence, shape and
 * dtype and reports every problem at once. Keys of `given` that are not the head's are ignored (a
 * whole model's record may be passed).
 */
export function createOrAdopt(
  specs: Record<string, ParamSpec>,
  given: ParamRecord | undefined,
  rng: Rng | undefined,
  what: string,
): ParamRecord {
  if (given !== undefined)
    return adoptParams(specs, given, what, {
      hint: "Check the prefix (official checkpoints use 'mlp_generator' or its alias 'generative_head' for the energy head, 'generative_head.net' for the flow and diffusion heads) and hiddenSize/latentSize/noiseSize against the checkpoint's config.",
    });
  if (!rng)
    fail(
      'INVALID_ARGUMENT',
      `${what}: pass options.rng to initialise the parameters, or options.params to use existing ones.`,
    );
  return createParams(specs, rng);
}

/** Checks a hidden-state batch [B, H] (float32). */
export function checkHidden(hidden: tf.Tensor, hiddenSize: number, fn: string): number {
  if (!(hidden instanceof tf.Tensor))
    fail('INVALID_ARGUMENT', `${fn}: hidden must be a tf.Tensor of shape [B, ${hiddenSize}].`);
  if (hidden.rank !== 2 || hidden.shape[1] !== hiddenSize) {
    fail(
      'SHAPE_MISMATCH',
      `${fn}: hidden has shape [${hidden.shape.join(', ')}], expected [B, ${hiddenSize}]; flatten positions into the batch dimension first.`,
    );
  }
  if (hidden.dtype !== 'float32') fail('DTYPE_UNSUPPORTED', `${fn}: hidden must be float32, got ${hidden.dtype}.`);
  return hidden.shape[0]!;
}

/** Checks a tensor given as noise: exact shape, float32. */
export function checkNoise(noise: tf.Tensor, shape: readonly number[], name: string, fn: string, what: string): void {
  if (!(noise instanceof tf.Tensor))
    fail('INVALID_ARGUMENT', `${fn}: ${name} must be a tf.Tensor of shape [${shape.join(', ')}].`);
  if (noise.rank !== shape.length || noise.shape.some((d, i) => d !== shape[i])) {
    fail(
      'SHAPE_MISMATCH',
      `${fn}: ${name} has shape [${noise.shape.join(', ')}], expected [${shape.join(', ')}] (${what}).`,
    );
  }
  if (noise.dtype !== 'float32') fail('DTYPE_UNSUPPORTED', `${fn}: ${name} must be float32, got ${noise.dtype}.`);
}

/** Checks the sample count of a sampling or loss call. */
export function checkCount(n: unknown, name: string, min: number): number {
  assertInteger(n, name, min, `pass an integer >= ${min}`);
  return n;
}

/** Requires an RNG when some noise is not given explicitly. */
export function needRng(rng: Rng | undefined, fn: string, what: string): Rng {
  if (!rng) fail('INVALID_ARGUMENT', `${fn}: pass options.rng (or options.${what}) to draw the noise.`);
  return rng;
}

/**
 * Checks the hidden states [B, H] and the target posterior μ, log σ ([B, l] each) of a loss call
 * and draws N samples of the posterior per position, x = μ + σ·ε with ε ~ N(0, I) from
 * `options.targetNoise` ([B, N, l]) or `options.rng`: the replicas the flow and diffusion losses
 * train on. Returns [B, N, l] float32; call inside `tf.tidy`.
 */
export function posteriorReplicas(
  head: { readonly hiddenSize: number; readonly latentSize: number; readonly config: { readonly numSamples: number } },
  hidden: tf.Tensor2D,
  posterior: TargetPosterior,
  options: { rng?: Rng; targetNoise?: tf.Tensor3D } | undefined,
  fn: string,
): tf.Tensor3D {
  const b = checkHidden(hidden, head.hiddenSize, fn);
  const n = head.config.numSamples;
  const l = head.latentSize;
  if (!posterior || !(posterior.mean instanceof tf.Tensor) || !(posterior.logStd instanceof tf.Tensor))
    fail('INVALID_ARGUMENT', `${fn}: posterior must be { mean: [B, L], logStd: [B, L] } tensors.`);
  checkNoise(posterior.mean, [b, l], 'posterior.mean', fn, '[B, latentSize]');
  checkNoise(posterior.logStd, [b, l], 'posterior.logStd', fn, '[B, latentSize]');
  const given = options?.targetNoise;
  if (given !== undefined)
    checkNoise(given, [b, n, l], 'options.targetNoise', fn, 'N(0, 1), [B, numSamples, latentSize]');
  const eps = given ?? (normalNoise(needRng(options?.rng, fn, 'targetNoise'), [b, n, l]) as tf.Tensor3D);
  return tf.add(tf.expandDims(posterior.mean, 1), tf.mul(tf.exp(tf.expandDims(posterior.logStd, 1)), eps));
}

/** Checks the `samplesPerHidden` of `flopsPerSample` (≥ 1). */
export function checkSamplesPerHidden(samplesPerHidden: number): void {
  if (!(samplesPerHidden >= 1))
    fail('INVALID_ARGUMENT', `flopsPerSample: samplesPerHidden must be >= 1, got ${samplesPerHidden}.`);
}
