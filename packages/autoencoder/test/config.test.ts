// Configuration: defaults, validation with every problem reported at once, and the round trip to
// the official config.json field names.
import { describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import {
  RELEASED_AUTOENCODER_CONFIG,
  autoencoderConfig,
  autoencoderConfigFromJson,
  autoencoderConfigToJson,
  autoencoderParamShapes,
  validateAutoencoderConfig,
} from '../src/index.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(isCalmError(e, 'INVALID_CONFIG'), String(e)).toBe(true);
    return (e as { details: { problems: string[] } }).details.problems;
  }
  throw new Error('expected INVALID_CONFIG');
}

const OFFICIAL_JSON = {
  architectures: ['Autoencoder'],
  ae_dropout: 0.15,
  kl_clamp: 0.5,
  kl_weight: 0.001,
  patch_size: 4,
  vocab_size: 128257,
  hidden_size: 512,
  intermediate_size: 1280,
  num_encoder_layers: 2,
  num_decoder_layers: 2,
  latent_size: 128,
  hidden_act: 'silu',
  max_position_embeddings: 2048,
  initializer_range: 0.02,
  rms_norm_eps: 1e-6,
  pad_token_id: 128256,
  bos_token_id: 128000,
  eos_token_id: 128001,
  pretraining_tp: 1,
  tie_word_embeddings: false,
  mlp_bias: false,
  torch_dtype: 'float32',
  transformers_version: '4.43.0',
};

describe('autoencoder config', () => {
  it('reads the released config.json and writes it back unchanged', () => {
    const config = autoencoderConfigFromJson(OFFICIAL_JSON);
    expect({ ...config, extra: {} }).toEqual({ ...RELEASED_AUTOENCODER_CONFIG, extra: {} });
    expect(config.extra).toEqual({ torch_dtype: 'float32', transformers_version: '4.43.0' });
    expect(autoencoderConfigToJson(config)).toEqual(OFFICIAL_JSON);
  });

  it('gives the released AE 75,832,064 parameters (spec §1.1)', () => {
    const n = Object.values(autoencoderParamShapes(RELEASED_AUTOENCODER_CONFIG)).reduce(
      (a, s) => a + s.reduce((x, y) => x * y, 1),
      0,
    );
    expect(n).toBe(75_832_064);
  });

  it('fills absent keys with the official class defaults', () => {
    const config = autoencoderConfigFromJson({ hidden_size: 64 });
    expect(config).toMatchObject({
      vocabSize: 32000,
      hiddenSize: 64,
      padTokenId: null,
      bosTokenId: 1,
      eosTokenId: 2,
      latentSize: 128,
      patchSize: 4,
    });
  });

  it('lists every problem of a config.json at once, with snake_case names', () => {
    const problems = problemsOf(() =>
      autoencoderConfigFromJson({
        ...OFFICIAL_JSON,
        architectures: ['EnergyTransformer'],
        patch_size: 0,
        ae_dropout: 1.5,
        num_encoder_layers: 3,
        hidden_act: 'gelu',
        mlp_bias: true,
        eos_token_id: 999999,
      }),
    );
    expect(problems).toHaveLength(7);
    expect(problems.join('\n')).toMatch(/EnergyTransformer/);
    expect(problems.join('\n')).toMatch(/patch_size must be a positive integer/);
    expect(problems.join('\n')).toMatch(/ae_dropout must be a probability/);
    expect(problems.join('\n')).toMatch(/num_encoder_layers must be even.*use 2 or 4/);
    expect(problems.join('\n')).toMatch(/hidden_act must be "silu"/);
    expect(problems.join('\n')).toMatch(/mlp_bias = true is not supported/);
    expect(problems.join('\n')).toMatch(/eos_token_id = 999999 is outside the vocabulary/);
  });

  it('rejects non-objects', () => {
    expect(problemsOf(() => autoencoderConfigFromJson([1, 2]))).toHaveLength(1);
    expect(problemsOf(() => autoencoderConfigFromJson('x'))).toHaveLength(1);
  });

  it('validates camelCase configs the same way', () => {
    const problems = problemsOf(() =>
      validateAutoencoderConfig({ ...RELEASED_AUTOENCODER_CONFIG, hiddenSize: 1.5, klClamp: -1, rmsNormEps: 0 }),
    );
    expect(problems).toEqual([
      'klClamp must be a finite number >= 0, got -1',
      'hiddenSize must be a positive integer, got 1.5',
      'rmsNormEps must be a finite number > 0, got 0',
    ]);
  });

  it('autoencoderConfig drops the Llama 3 special ids for another vocabulary unless given', () => {
    expect(autoencoderConfig({ vocabSize: 259 })).toMatchObject({
      padTokenId: null,
      bosTokenId: null,
      eosTokenId: null,
    });
    expect(autoencoderConfig({ vocabSize: 259, padTokenId: 258 }).padTokenId).toBe(258);
    expect(autoencoderConfig().padTokenId).toBe(128256);
  });

  it('allows zero layers per side (stages are then empty)', () => {
    const shapes = autoencoderParamShapes(autoencoderConfig({ numEncoderLayers: 0, numDecoderLayers: 0 }));
    expect(Object.keys(shapes).some((k) => k.includes('_layers.'))).toBe(false);
  });
});
