// Reads the PyTorch reference fixtures (tools/reference/make_fixtures.py) into tfjs tensors.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { parseSafetensors, type NamedArray } from '@calm/core';

export interface Fixture {
  config: Record<string, unknown>;
  names: string[];
  /** A new float32 tensor (caller disposes). */
  tensor(name: string): tf.Tensor;
  /** The raw values. */
  values(name: string): Float32Array;
  /** Variables for every key starting with `prefix.` (weights), keyed by full name. */
  variables(prefix: string): Record<string, tf.Variable>;
}

export function loadFixture(file: string): Fixture {
  const bytes = readFileSync(new URL(`./fixtures/${file}`, import.meta.url));
  const { metadata, tensors } = parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    fileName: file,
  });
  const get = (name: string): NamedArray => {
    const t = tensors.get(name);
    if (!t) throw new Error(`fixture ${file} has no tensor "${name}"`);
    return t;
  };
  return {
    config: JSON.parse(metadata.config ?? '{}') as Record<string, unknown>,
    names: [...tensors.keys()],
    tensor: (name) => {
      const t = get(name);
      return tf.tensor(t.data as Float32Array, t.shape, 'float32');
    },
    values: (name) => get(name).data as Float32Array,
    variables: (prefix) => {
      const out: Record<string, tf.Variable> = {};
      for (const [name, t] of tensors) {
        if (name.startsWith(`${prefix}.`))
          out[name] = tf.tidy(() => tf.variable(tf.tensor(t.data as Float32Array, t.shape, 'float32')));
      }
      return out;
    },
  };
}
