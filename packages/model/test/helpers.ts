// Test helpers of @calm/model: the wasm backend with @calm/nn's kernels, and a reader of the
// PyTorch reference fixtures (tools/reference/make_fixtures.py) into tfjs tensors and variables.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { parseSafetensors, type NamedArray } from '@calm/core';
import { expect } from 'vitest';
import { autoencoderConfig } from '@calm/autoencoder';
import { ArModel, CalmModel, arConfig, calmConfig, type CalmConfig } from '../src/index.js';

export { useWasm } from '@calm/testing/tfjs';

export interface Fixture {
  config: Record<string, unknown>;
  names: string[];
  has(name: string): boolean;
  /** A new tensor (float32, or int32 for I32 entries); caller disposes. */
  tensor(name: string): tf.Tensor;
  values(name: string): Float32Array | Int32Array;
  shape(name: string): number[];
  /** Variables for every key that does not start with input./noise./expected./grad. */
  weights(filter?: (name: string) => boolean): Record<string, tf.Variable>;
}

export function fixturePath(file: string): string {
  return new URL(`./fixtures/${file}`, import.meta.url).pathname;
}

export function loadFixture(file: string): Fixture {
  const bytes = readFileSync(fixturePath(file));
  const { metadata, tensors } = parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    fileName: file,
  });
  const get = (name: string): NamedArray => {
    const t = tensors.get(name);
    if (!t) throw new Error(`fixture ${file} has no tensor "${name}"`);
    return t;
  };
  const isWeight = (n: string) => !/^(input|noise|expected|grad|grad_alpha1_5)\./.test(n);
  return {
    config: JSON.parse(metadata.config ?? '{}') as Record<string, unknown>,
    names: [...tensors.keys()],
    has: (name) => tensors.has(name),
    tensor: (name) => {
      const t = get(name);
      return t.data instanceof Int32Array
        ? tf.tensor(t.data, t.shape, 'int32')
        : tf.tensor(t.data as Float32Array, t.shape, 'float32');
    },
    values: (name) => get(name).data as Float32Array | Int32Array,
    shape: (name) => get(name).shape,
    weights: (filter = () => true) => {
      const out: Record<string, tf.Variable> = {};
      for (const [name, t] of tensors) {
        if (isWeight(name) && filter(name))
          out[name] = tf.tidy(() =>
            tf.variable(tf.tensor(t.data as Float32Array, t.shape, 'float32'), true, undefined),
          );
      }
      return out;
    },
  };
}

/** |a − e| ≤ rel·max|e| + abs, elementwise (the fixtures' README tolerance). */
export function expectParity(
  actual: tf.Tensor | ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  rel = 1e-4,
  abs = 1e-5,
): void {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  expect(a.length, `${label} length`).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  const tol = rel * scale + abs;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - expected[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  expect(
    worst,
    `${label}: max |diff| ${worst} at [${at}] (${a[at]} vs ${expected[at]}), tol ${tol}`,
  ).toBeLessThanOrEqual(tol);
}

/** The calm-tiny(-gqa) fixture model. */
export function tinyCalmFromFixture(fx: Fixture): CalmModel {
  const c = fx.config.calm as Record<string, number>;
  const a = fx.config.ae as Record<string, number>;
  const config: CalmConfig = calmConfig({
    hiddenSize: c.hidden_size!,
    intermediateSize: c.intermediate_size!,
    numHiddenLayers: c.num_hidden_layers!,
    numAttentionHeads: c.num_attention_heads!,
    numKeyValueHeads: c.num_key_value_heads!,
    ropeTheta: c.rope_theta!,
    rmsNormEps: c.rms_norm_eps!,
    vocabSize: c.vocab_size!,
    patchSize: c.patch_size!,
    latentSize: c.latent_size!,
    noiseSize: c.noise_size!,
    numMlpLayers: c.num_mlp_layers!,
    numSamples: c.num_samples!,
    numTargetSamples: c.num_target_samples!,
    padTokenId: 79,
    bosTokenId: 77,
    eosTokenId: 78,
  });
  const aeConfig = autoencoderConfig({
    vocabSize: a.vocab_size!,
    hiddenSize: a.hidden_size!,
    intermediateSize: a.intermediate_size!,
    latentSize: a.latent_size!,
    patchSize: a.patch_size!,
    padTokenId: 79,
    bosTokenId: 77,
    eosTokenId: 78,
  });
  const all = fx.weights();
  const params: Record<string, tf.Variable> = {};
  const aeParams: Record<string, tf.Variable> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith('ae_model.')) aeParams[k.slice('ae_model.'.length)] = v;
    else params[k] = v;
  }
  return new CalmModel(config, aeConfig, { params, aeParams });
}

/** The ar-tiny fixture model. */
export function tinyArFromFixture(fx: Fixture): ArModel {
  const c = fx.config.llama as Record<string, number>;
  const config = arConfig({
    hiddenSize: c.hidden_size!,
    intermediateSize: c.intermediate_size!,
    numHiddenLayers: c.num_hidden_layers!,
    numAttentionHeads: c.num_attention_heads!,
    numKeyValueHeads: c.num_key_value_heads!,
    ropeTheta: c.rope_theta!,
    rmsNormEps: c.rms_norm_eps!,
    vocabSize: c.vocab_size!,
    padTokenId: 95,
    bosTokenId: 93,
    eosTokenId: 94,
  });
  return new ArModel(config, { params: fx.weights() });
}
