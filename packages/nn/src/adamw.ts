// AdamW with decoupled weight decay, update for update like torch.optim.AdamW (which HF Trainer
// uses for CALM), with a state that exports to named Float32Arrays for bit-exact resume.

import * as tf from '@tensorflow/tfjs';
import {
  checkConfigValue,
  collectConfigProblems,
  throwConfigProblems,
  type ConfigField,
  type NamedArray,
  type TensorToWrite,
} from '@calm/core';
import { hasKernel, runKernel } from './fused.js';
import { fail, sizeOf } from './internal/errors.js';
import type { ParamRecord } from './params.js';

/**
 * Decides whether a parameter gets weight decay.
 * @param name - The parameter's state_dict name.
 * @param param - The variable, any shape, float32 (for its rank).
 * @returns `true` to decay it.
 * @see {@link AdamW}
 * @category Optimizers
 */
export type DecayPredicate = (name: string, param: tf.Variable) => boolean;

/**
 * Options of {@link AdamW}. Defaults are torch's; CALM trains with
 * `{ lr: 3e-4, beta2: 0.95, weightDecay: 0.1 }`.
 * @category Optimizers
 */
export interface AdamWOptions {
  /** Learning rate used when `step` is called without one. */
  lr: number;
  /** First-moment decay. @defaultValue 0.9 */
  beta1?: number;
  /** Second-moment decay. @defaultValue 0.999 */
  beta2?: number;
  /** Added to the bias-corrected root second moment. @defaultValue 1e-8 */
  eps?: number;
  /** Decoupled weight decay coefficient (multiplies `lr`). @defaultValue 0.01 */
  weightDecay?: number;
  /** Which parameters decay. @defaultValue {@link defaultDecayPredicate} */
  decay?: DecayPredicate;
}

/**
 * The exportable state of an {@link AdamW} optimiser.
 * @category Optimizers
 */
export interface OptimizerState {
  /** Optimiser steps taken (calls of `step`). */
  step: number;
  /**
   * Per parameter name: the number of updates it received (torch's `state['step']`), the first
   * moment `m` (`exp_avg`) and the second moment `v` (`exp_avg_sq`), flattened row-major.
   */
  params: Record<string, { step: number; m: Float32Array; v: Float32Array }>;
}

const NORM_NAME = /(^|[._])(\w*norm\w*|ln|\w+_ln|ln_\w+)\.weight$/i;

/**
 * The HF Trainer rule: no decay for biases and norm weights, decay for everything else.
 *
 * @remarks
 * HF decides by module type (LayerNorm, LlamaRMSNorm); we only have names and shapes, so a norm
 * weight is a `*.weight` whose module name contains `norm` or is/ends in `ln` (`in_ln`,
 * `layernorm`, `norm_hidden`), or any 1-D `*.weight` (in CALM every 1-D weight belongs to a norm,
 * e.g. `embed_proj.3.weight`). Biases are names ending in `.bias`.
 * @param name - State_dict name.
 * @param param - The variable, any shape, float32.
 * @returns `true` when the parameter should decay.
 * @see {@link AdamW}
 * @category Optimizers
 */
export function defaultDecayPredicate(name: string, param: tf.Variable): boolean {
  if (name === 'bias' || name.endsWith('.bias')) return false;
  if (NORM_NAME.test(name)) return false;
  if (param.rank <= 1) return false;
  return true;
}

interface Slot {
  step: number;
  m: tf.Variable;
  v: tf.Variable;
}

const HYPER_FIELDS: ReadonlyArray<ConfigField<keyof AdamWOptions & string>> = [
  ['lr', 'lr', 'nonNeg'],
  ['beta1', 'beta1', 'prob'],
  ['beta2', 'beta2', 'prob'],
  ['eps', 'eps', 'nonNeg'],
  ['weightDecay', 'weightDecay', 'nonNeg'],
];

function checkHyper(o: Required<Omit<AdamWOptions, 'decay'>>): void {
  throwConfigProblems(collectConfigProblems(o, HYPER_FIELDS), 'AdamW options', '@calm/nn');
}

/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, update-for-update like
 * `torch.optim.AdamW`.
 *
 * @remarks
 * For each parameter with a gradient, with its own step count t:
 * `p ← p·(1 − lr·wd)` (only when the decay predicate holds), `m ← m + (1−β1)(g − m)`,
 * `v ← β2·v + (1−β2)·g²`, `p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)`.
 * Parameters absent from `grads` are left untouched, as torch skips parameters whose grad is
 * None. Moments are created lazily (zeros) at a parameter's first update. On the wasm backend
 * with `@calm/nn`'s kernels each parameter's update is one fused kernel (the same float32
 * operations in one pass).
 * @example
 * {@includeCode ../test/examples.test.ts#train-step}
 * @category Optimizers
 */
export class AdamW {
  private readonly params: ParamRecord;
  private readonly hyper: Required<Omit<AdamWOptions, 'decay'>>;
  private readonly decays = new Map<string, boolean>();
  private readonly slots = new Map<string, Slot>();
  private steps = 0;

  /**
   * Creates the optimiser over a parameter record.
   * @param params - The parameters to update (the record is kept; its variables are assigned in place).
   * @param opts - Learning rate, betas, eps, weight decay and decay predicate.
   * @throws `CalmError` `INVALID_CONFIG` listing every out-of-range option.
   */
  constructor(params: ParamRecord, opts: AdamWOptions) {
    this.params = params;
    this.hyper = {
      lr: opts.lr,
      beta1: opts.beta1 ?? 0.9,
      beta2: opts.beta2 ?? 0.999,
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0.01,
    };
    checkHyper(this.hyper);
    const decay = opts.decay ?? defaultDecayPredicate;
    for (const [name, p] of Object.entries(params)) this.decays.set(name, decay(name, p));
  }

  /** Optimiser steps taken so far (the step index a schedule should be evaluated at next). */
  get stepCount(): number {
    return this.steps;
  }

  /**
   * Whether weight decay applies to a parameter.
   * @param name - State_dict name.
   * @returns The decay predicate's verdict for it.
   */
  isDecayed(name: string): boolean {
    return this.decays.get(name) ?? false;
  }

  /**
   * Applies one update.
   * @param grads - Gradients by parameter name, float32, each of its parameter's shape (any shape).
   *   Not disposed.
   * @param lr - Learning rate for this step (e.g. `schedule(opt.stepCount)`). @defaultValue the constructor's `lr`
   * @throws `CalmError` `UNEXPECTED_PARAMETER` for gradients of unknown or non-trainable
   *   parameters, `SHAPE_MISMATCH` for wrongly shaped gradients (all listed at once),
   *   `INVALID_ARGUMENT` for a bad learning rate.
   */
  step(grads: Record<string, tf.Tensor>, lr: number = this.hyper.lr): void {
    if (!(lr >= 0) || !Number.isFinite(lr))
      fail('INVALID_ARGUMENT', `AdamW.step: lr must be a finite number >= 0, got ${lr}.`);
    const unknown: string[] = [];
    const frozen: string[] = [];
    const shapes: string[] = [];
    for (const [name, g] of Object.entries(grads)) {
      const p = this.params[name];
      if (!p) unknown.push(name);
      else if (!p.trainable) frozen.push(name);
      else if (!tf.util.arraysEqual(p.shape, g.shape))
        shapes.push(`${name}: grad [${g.shape.join(', ')}] vs param [${p.shape.join(', ')}]`);
    }
    if (unknown.length || frozen.length) {
      fail(
        'UNEXPECTED_PARAMETER',
        `AdamW.step: ${unknown.length ? `gradients for unknown parameters: ${unknown.join(', ')}. ` : ''}${frozen.length ? `gradients for non-trainable parameters: ${frozen.join(', ')}. ` : ''}Pass only gradients of the record given to the constructor.`,
      );
    }
    if (shapes.length) fail('SHAPE_MISMATCH', `AdamW.step: ${shapes.join('; ')}.`);
    const { beta1, beta2, eps, weightDecay } = this.hyper;
    const fused = hasKernel('CalmAdamW');
    this.steps++;
    for (const [name, g] of Object.entries(grads)) {
      const p = this.params[name]!;
      let slot = this.slots.get(name);
      if (!slot) {
        slot = tf.tidy(() => ({
          step: 0,
          m: tf.variable(tf.zerosLike(p), false),
          v: tf.variable(tf.zerosLike(p), false),
        }));
        this.slots.set(name, slot);
      }
      slot.step++;
      const t = slot.step;
      const stepSize = lr / (1 - beta1 ** t);
      const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
      const decay = this.decays.get(name) === true && weightDecay > 0 && lr > 0;
      const s = slot;
      if (fused && p.dtype === 'float32' && g.dtype === 'float32') {
        // One kernel: the same float32 operations as below, in one pass over p, g, m and v.
        const attrs = { beta1, beta2, eps, decayFactor: decay ? 1 - lr * weightDecay : 1, stepSize, bc2Sqrt };
        const [np, nm, nv] = runKernel('CalmAdamW', { param: p, grad: g, m: s.m, v: s.v }, attrs) as [
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
        ];
        s.m.assign(nm);
        s.v.assign(nv);
        p.assign(np);
        tf.dispose([np, nm, nv]);
        continue;
      }
      tf.tidy(() => {
        const m = tf.add(s.m, tf.mul(tf.sub(g, s.m), 1 - beta1)); // lerp, as torch
        const v = tf.add(tf.mul(s.v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const base = decay ? tf.mul(p, 1 - lr * weightDecay) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
        const next = tf.sub(base, tf.mul(tf.div(m, denom), stepSize));
        s.m.assign(m);
        s.v.assign(v);
        p.assign(next);
      });
    }
  }

  /**
   * Copies the state out (step counts and moments as Float32Arrays).
   * @returns A snapshot independent of the optimiser.
   */
  getState(): OptimizerState {
    const params: OptimizerState['params'] = {};
    for (const [name, s] of this.slots) {
      params[name] = { step: s.step, m: Float32Array.from(s.m.dataSync()), v: Float32Array.from(s.v.dataSync()) };
    }
    return { step: this.steps, params };
  }

  /**
   * Replaces the state with a saved one, so training continues bit-exactly.
   * @param state - A state from {@link AdamW.getState} or {@link namedArraysToOptimizerState}.
   * @throws `CalmError` `UNEXPECTED_PARAMETER` for names not in the record, `SHAPE_MISMATCH`
   *   for moments of the wrong length, `INVALID_ARGUMENT` for bad step counts.
   */
  setState(state: OptimizerState): void {
    const problems: string[] = [];
    const checkStep = (name: string, step: unknown) => {
      const problem = checkConfigValue(name, 'nonNegInt', step);
      if (problem !== null) problems.push(problem);
    };
    checkStep('step', state.step);
    for (const [name, s] of Object.entries(state.params)) {
      const p = this.params[name];
      if (!p) {
        problems.push(`"${name}" is not a parameter of this optimiser`);
        continue;
      }
      checkStep(`"${name}".step`, s.step);
      if (s.m.length !== p.size || s.v.length !== p.size)
        problems.push(`"${name}": m/v have ${s.m.length}/${s.v.length} values, the parameter ${p.size}`);
    }
    if (problems.length) {
      const code = problems.some((x) => x.includes('is not a parameter'))
        ? 'UNEXPECTED_PARAMETER'
        : problems.some((x) => x.includes('m/v'))
          ? 'SHAPE_MISMATCH'
          : 'INVALID_ARGUMENT';
      fail(code, `AdamW.setState: ${problems.join('; ')}.`);
    }
    this.disposeSlots();
    this.steps = state.step;
    for (const [name, s] of Object.entries(state.params)) {
      const p = this.params[name]!;
      this.slots.set(
        name,
        tf.tidy(() => ({
          step: s.step,
          m: tf.variable(tf.tensor(s.m, p.shape, 'float32'), false),
          v: tf.variable(tf.tensor(s.v, p.shape, 'float32'), false),
        })),
      );
    }
  }

  private disposeSlots(): void {
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.slots.clear();
  }

  /** Frees the moment tensors (the parameters are the caller's and stay). */
  dispose(): void {
    this.disposeSlots();
  }
}

/**
 * Flattens an optimiser state into named arrays for a safetensors checkpoint: `step` (I64 scalar),
 * and per parameter `<name>.exp_avg`, `<name>.exp_avg_sq` (F32, the parameter's shape) and
 * `<name>.step` (I64 scalar), following torch's state names.
 * @param state - From {@link AdamW.getState}.
 * @param shapes - Parameter shapes by name, or the parameter record itself (float32 tensors of any
 *   shape); used to shape the moments.
 * @returns Arrays ready for `serializeSafetensors` / `writeSafetensorsFile` of `@calm/core`.
 * @throws `CalmError` `MISSING_PARAMETER` when a shape is missing.
 * @example
 * {@includeCode ../test/examples.test.ts#optimizer-state}
 * @category Optimizers
 */
export function optimizerStateToNamedArrays(
  state: OptimizerState,
  shapes: Record<string, readonly number[]> | Record<string, tf.Tensor>,
): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = { step: { shape: [], data: Int32Array.of(state.step), dtype: 'I64' } };
  for (const [name, s] of Object.entries(state.params)) {
    const sh = shapes[name];
    if (sh === undefined)
      fail('MISSING_PARAMETER', `optimizerStateToNamedArrays: no shape for "${name}"; pass the parameter record.`);
    const shape = sh instanceof tf.Tensor ? sh.shape : [...sh];
    out[`${name}.exp_avg`] = { shape, data: s.m };
    out[`${name}.exp_avg_sq`] = { shape, data: s.v };
    out[`${name}.step`] = { shape: [], data: Int32Array.of(s.step), dtype: 'I64' };
  }
  return out;
}

/**
 * Rebuilds an optimiser state from the arrays of {@link optimizerStateToNamedArrays} (e.g. read
 * back with `readSafetensorsFile`).
 * @param arrays - Named arrays by key.
 * @returns The state, ready for {@link AdamW.setState}.
 * @throws `CalmError` `FORMAT_ERROR` when keys are missing or malformed.
 * @example
 * {@includeCode ../test/examples.test.ts#optimizer-state}
 * @category Optimizers
 */
export function namedArraysToOptimizerState(
  arrays: Map<string, NamedArray> | Record<string, NamedArray | TensorToWrite>,
): OptimizerState {
  const get = (k: string): NamedArray | TensorToWrite | undefined =>
    arrays instanceof Map ? arrays.get(k) : arrays[k];
  const keys = arrays instanceof Map ? [...arrays.keys()] : Object.keys(arrays);
  const scalar = (k: string): number => {
    const a = get(k);
    if (!a || sizeOf(a.shape) !== 1 || a.data.length !== 1)
      fail('FORMAT_ERROR', `optimizer state: "${k}" must be a scalar step count.`);
    return Number(a.data[0]);
  };
  const state: OptimizerState = { step: scalar('step'), params: {} };
  for (const k of keys) {
    if (!k.endsWith('.exp_avg')) continue;
    const name = k.slice(0, -'.exp_avg'.length);
    const m = get(k)!.data;
    const v = get(`${name}.exp_avg_sq`)?.data;
    if (!(m instanceof Float32Array) || !(v instanceof Float32Array))
      fail('FORMAT_ERROR', `optimizer state: "${name}" needs float32 "${name}.exp_avg" and "${name}.exp_avg_sq".`);
    state.params[name] = { step: scalar(`${name}.step`), m, v };
  }
  return state;
}
