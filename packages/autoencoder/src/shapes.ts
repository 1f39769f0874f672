// The autoencoder's parameter names and shapes (spec §7.3): the official state_dict keys of a
// configuration, in the official order. Framework-free (no tfjs), so checkpoint tools can use it.

import { validateAutoencoderConfig, type AutoencoderConfig } from './config.js';

/**
 * The key of the tied token embedding (also the decoder's output projection).
 * @example
 * {@includeCode ../test/examples.test.ts#create-params}
 * @category Parameters
 */
export const EMBEDDING_KEY = 'encoder.embed_tokens.weight';

/**
 * The alias under which the official model exposes the tied embedding a second time.
 * @see {@link checkAutoencoderStateDict}
 * @category Parameters
 */
export const TIED_ALIAS_KEY = 'decoder.lm_head_weight';

/**
 * The parameter shapes of an autoencoder, by official state_dict name, in the official order
 * (without the alias `decoder.lm_head_weight`, which is the same tensor as
 * `encoder.embed_tokens.weight`).
 *
 * @param config - A valid configuration.
 * @returns Shapes by name (PyTorch layout: a Linear weight is `[out, in]`).
 * @throws `CalmError` `INVALID_CONFIG` when `config` is invalid.
 * @example
 * {@includeCode ../test/examples.test.ts#create-params}
 * @category Parameters
 */
export function autoencoderParamShapes(config: AutoencoderConfig): Record<string, number[]> {
  validateAutoencoderConfig(config);
  const { vocabSize: V, hiddenSize: H, intermediateSize: I, latentSize: L, patchSize: K } = config;
  const shapes: Record<string, number[]> = {};
  const aeLayer = (prefix: string): void => {
    shapes[`${prefix}.mlp.gate_proj.weight`] = [I, H];
    shapes[`${prefix}.mlp.up_proj.weight`] = [I, H];
    shapes[`${prefix}.mlp.down_proj.weight`] = [H, I];
    shapes[`${prefix}.layernorm.weight`] = [H];
  };
  shapes[EMBEDDING_KEY] = [V, H];
  for (let j = 0; j < config.numEncoderLayers; j++) aeLayer(`encoder.encoder_layers.${j}`);
  shapes['encoder.hidden_to_latent.weight'] = [2 * L, H];
  shapes['encoder.hidden_to_latent.bias'] = [2 * L];
  shapes['encoder.squeeze_layer.weight'] = [H, K * H];
  shapes['encoder.squeeze_layer.bias'] = [H];
  shapes['encoder.norm.weight'] = [H];
  shapes['decoder.latent_to_hidden.weight'] = [H, L];
  shapes['decoder.latent_to_hidden.bias'] = [H];
  for (let j = 0; j < config.numDecoderLayers; j++) aeLayer(`decoder.decoder_layers.${j}`);
  shapes['decoder.expand_layer.weight'] = [K * H, H];
  shapes['decoder.expand_layer.bias'] = [K * H];
  shapes['decoder.norm.weight'] = [H];
  return shapes;
}
