// Shared test helpers: the wasm backend with @calm/nn's training kernels, and the PyTorch
// reference fixtures of tools/reference (weights under official names + inputs/noise/expected).
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { NamedArray } from '@calm/core';
import { readSafetensorsFile } from '@calm/core/node';
import {
  autoencoderConfig,
  autoencoderParamShapes,
  autoencoderParamsFromStateDict,
  type AutoencoderConfig,
} from '../src/index.js';
import type { ParamRecord } from '@calm/nn';

/** Absolute path of a fixture file. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

// The wasm backend with @calm/nn's kernels: @calm/testing's one setup, re-exported for the suites here.
export { useWasm } from '@calm/testing/tfjs';

/** A parity fixture: its config, weights as parameters, and the other arrays by name. */
export interface Fixture {
  config: AutoencoderConfig;
  params: ParamRecord;
  arrays: Map<string, NamedArray>;
  /** Reads a named array (throws when absent, so a renamed fixture fails loudly). */
  get(name: string): NamedArray;
}

/** Loads an ae-tiny-style fixture: config from `__metadata__.config.ae`. */
export async function loadFixture(name: string): Promise<Fixture> {
  const { metadata, tensors } = await readSafetensorsFile(fixturePath(name));
  const meta = JSON.parse(metadata.config ?? '{}') as { ae: Record<string, number> };
  const ae = meta.ae;
  const config = autoencoderConfig({
    vocabSize: ae.vocab_size!,
    hiddenSize: ae.hidden_size!,
    intermediateSize: ae.intermediate_size!,
    latentSize: ae.latent_size!,
    patchSize: ae.patch_size!,
    numEncoderLayers: ae.num_encoder_layers!,
    numDecoderLayers: ae.num_decoder_layers!,
    aeDropout: ae.ae_dropout!,
    klClamp: ae.kl_clamp!,
    klWeight: ae.kl_weight!,
    rmsNormEps: ae.rms_norm_eps!,
  });
  const shapes = autoencoderParamShapes(config);
  const weights = new Map([...tensors].filter(([k]) => k in shapes));
  const { params } = autoencoderParamsFromStateDict(config, weights, name);
  const get = (n: string): NamedArray => {
    const a = tensors.get(n);
    if (!a) throw new Error(`fixture ${name} has no "${n}"`);
    return a;
  };
  return { config, params, arrays: tensors, get };
}

/** A tensor from a fixture array (int32 for I32, float32 otherwise). */
export function toTensor(a: NamedArray): tf.Tensor {
  return a.data instanceof Int32Array
    ? tf.tensor(a.data, a.shape, 'int32')
    : tf.tensor(a.data as Float32Array, a.shape, 'float32');
}

/** max |x| of an array. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
