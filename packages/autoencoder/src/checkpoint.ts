// Autoencoder parameter records to and from state dicts in memory (tensors ↔ named arrays).
// File access lives in the `/node` entry.

import * as tf from '@tensorflow/tfjs';
import type { NamedArray, TensorToWrite } from '@calm/core';
import { adoptParams, paramsToNamedArrays, type ParamRecord } from '@calm/nn';
import type { AutoencoderConfig } from './config.js';
import { autoencoderParamShapes } from './shapes.js';
import { checkAutoencoderStateDict, type AutoencoderStateDictReport } from './state-dict.js';

/**
 * Builds a parameter record from checked arrays (see {@link checkAutoencoderStateDict}).
 *
 * @param config - The configuration.
 * @param tensors - Arrays by state_dict name; aliases and missing keys are handled as in
 *   {@link checkAutoencoderStateDict}.
 * @param fileName - For error messages.
 * @returns New variables by official name, and the report. Caller owns the returned variables and
 *   must dispose them. Inputs are not disposed.
 * @throws `CalmError` as {@link checkAutoencoderStateDict}.
 * @example
 * {@includeCode ../test/examples.test.ts#state-dict}
 * @category Checkpoints
 */
export function autoencoderParamsFromStateDict(
  config: AutoencoderConfig,
  tensors: ReadonlyMap<string, NamedArray>,
  fileName = 'state dict',
): { params: ParamRecord; report: AutoencoderStateDictReport } {
  const checked = checkAutoencoderStateDict(config, tensors, fileName);
  const params: ParamRecord = {};
  for (const [name, arr] of checked.tensors) {
    params[name] = tf.tidy(() => tf.variable(tf.tensor(arr.data as Float32Array, arr.shape, 'float32'), true));
  }
  return { params, report: checked.report };
}

/**
 * Reads a parameter record back to the host as the official state dict (without the alias, as
 * Hugging Face's safetensors save writes it), ready for `serializeSafetensors` /
 * `writeSafetensorsFile` of `@calm/core`.
 *
 * @param params - Autoencoder parameters.
 * @param config - Their configuration (selects and orders the keys).
 * @param options - `floatDtype`: storage dtype of the weights. @defaultValue 'F32'
 * @returns Arrays by official name, in the official order.
 * @throws `CalmError` `MISSING_PARAMETER` when a parameter is absent, `SHAPE_MISMATCH` when one has the wrong shape
 *   (one error listing every problem, from `@calm/nn`'s `adoptParams`).
 * @example
 * {@includeCode ../test/examples.test.ts#state-dict}
 * @category Checkpoints
 */
export async function autoencoderStateDict(
  params: ParamRecord,
  config: AutoencoderConfig,
  options: { floatDtype?: 'F32' | 'F16' | 'BF16' } = {},
): Promise<Record<string, TensorToWrite>> {
  const specs = Object.fromEntries(Object.entries(autoencoderParamShapes(config)).map(([k, shape]) => [k, { shape }]));
  const ordered = adoptParams(specs, params, 'autoencoderStateDict', {
    requireVariables: false,
    hint: 'Pass the parameters of an autoencoder built with this configuration.',
  });
  return paramsToNamedArrays(ordered, { floatDtype: options.floatDtype ?? 'F32' });
}
