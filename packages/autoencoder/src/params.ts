// Creating autoencoder parameters with the official init (Linear and embedding weights
// N(0, initializer_range), biases 0, RMSNorm weights 1) from the @calm/core seedable RNG, under the
// official state_dict names of shapes.ts.

import type { Rng } from '@calm/core';
import { createParams, normalInit, onesInit, zerosInit, type ParamRecord, type ParamSpec } from '@calm/nn';
import type { AutoencoderConfig } from './config.js';
import { autoencoderParamShapes } from './shapes.js';

/**
 * The parameter specs of an autoencoder with the official initialisation: Linear and embedding
 * weights N(0, `initializerRange`²), biases 0, RMSNorm weights 1.
 *
 * @param config - A valid configuration.
 * @returns Specs by official state_dict name, for `createParams` of `@calm/nn`.
 * @throws `CalmError` `INVALID_CONFIG` when `config` is invalid.
 * @example
 * {@includeCode ../test/examples.test.ts#create-params}
 * @category Parameters
 */
export function autoencoderParamSpecs(config: AutoencoderConfig): Record<string, ParamSpec> {
  const specs: Record<string, ParamSpec> = {};
  for (const [name, shape] of Object.entries(autoencoderParamShapes(config))) {
    const init = name.endsWith('.bias')
      ? zerosInit()
      : name.endsWith('norm.weight')
        ? onesInit()
        : normalInit(config.initializerRange);
    specs[name] = { shape, init };
  }
  return specs;
}

/**
 * Creates the parameters of a freshly initialised autoencoder (official init, seeded).
 *
 * @param config - A valid configuration.
 * @param rng - The generator the normal initialisers draw from (advanced in place).
 * @returns Variables by official state_dict name. Caller owns the returned variables and must
 *   dispose them (`disposeParams` of `@calm/nn`).
 * @throws `CalmError` `INVALID_CONFIG` when `config` is invalid.
 * @example
 * {@includeCode ../test/examples.test.ts#create-params}
 * @category Parameters
 */
export function createAutoencoderParams(config: AutoencoderConfig, rng: Rng): ParamRecord {
  return createParams(autoencoderParamSpecs(config), rng);
}
