// The autoencoder's configuration: a camelCase TypeScript shape, its validation (every problem
// reported at once), and the round trip to the official Hugging Face `config.json`
// (`AutoencoderConfig` in models/configuration_autoencoder.py, snake_case field names).

import {
  checkConfigValue,
  collectConfigProblems,
  configFieldNamer,
  throwConfigProblems,
  type ConfigField,
  type ConfigValueRule,
} from '@calm/core';
import { SOURCE } from './internal/errors.js';

/**
 * Hyper-parameters of the chunk autoencoder (official `AutoencoderConfig`, camelCase).
 *
 * @remarks
 * Field ↔ `config.json` names: `patchSize` ↔ `patch_size` (K), `latentSize` ↔ `latent_size` (L),
 * `hiddenSize` ↔ `hidden_size` (H), and so on; {@link autoencoderConfigToJson} and
 * {@link autoencoderConfigFromJson} convert.
 * @see {@link autoencoderConfig}
 * @category Config
 */
export interface AutoencoderConfig {
  /** V: vocabulary size (rows of the tied embedding). The released AE uses 128257. */
  vocabSize: number;
  /** H: width of the residual stream. */
  hiddenSize: number;
  /** Width of each SwiGLU MLP's gate/up projections. */
  intermediateSize: number;
  /** L: size of the latent vector (the posterior has L means and L log-σ). */
  latentSize: number;
  /** K: tokens per chunk (`patch_size` in the official code). */
  patchSize: number;
  /** AE layers of the encoder, even: half before the squeeze, half after. */
  numEncoderLayers: number;
  /** AE layers of the decoder, even: half before the expand, half after. */
  numDecoderLayers: number;
  /** Probability of both token masking (to id 0) and latent dropout during training. */
  aeDropout: number;
  /** Lower clamp of each latent dimension's KL term, in nats. */
  klClamp: number;
  /** Weight β of the KL term in the training loss. */
  klWeight: number;
  /** Epsilon inside RMSNorm's square root. */
  rmsNormEps: number;
  /** Standard deviation of the normal init of Linear and embedding weights. */
  initializerRange: number;
  /** MLP activation; only `"silu"` (SwiGLU) is supported. */
  hiddenAct: 'silu';
  /** Carried for compatibility; unused by the autoencoder. */
  maxPositionEmbeddings: number;
  /** PAD token id, or `null` when the vocabulary has none. */
  padTokenId: number | null;
  /** BOS token id, or `null`. */
  bosTokenId: number | null;
  /** EOS token id, or `null`. */
  eosTokenId: number | null;
  /** Carried for compatibility (tensor-parallel slicing gives the same result). */
  pretrainingTp: number;
  /** Carried for compatibility; the decoder always reads logits through the encoder's embedding. */
  tieWordEmbeddings: boolean;
  /** Whether the MLP projections have biases; the official model has none and only `false` is supported. */
  mlpBias: boolean;
  /**
   * Other `config.json` keys (Hugging Face bookkeeping such as `torch_dtype`,
   * `transformers_version`, `_name_or_path`), kept so that they round-trip.
   */
  extra: Record<string, unknown>;
}

/**
 * The `config.json` of an official autoencoder checkpoint (snake_case, as written by
 * `AutoencoderConfig.save_pretrained`).
 * @see {@link autoencoderConfigToJson}
 * @category Config
 */
export interface AutoencoderConfigJson {
  /** Always `["Autoencoder"]` when written by this package. */
  architectures: string[];
  /** See {@link AutoencoderConfig.aeDropout}. */
  ae_dropout: number;
  /** See {@link AutoencoderConfig.klClamp}. */
  kl_clamp: number;
  /** See {@link AutoencoderConfig.klWeight}. */
  kl_weight: number;
  /** See {@link AutoencoderConfig.patchSize}. */
  patch_size: number;
  /** See {@link AutoencoderConfig.vocabSize}. */
  vocab_size: number;
  /** See {@link AutoencoderConfig.hiddenSize}. */
  hidden_size: number;
  /** See {@link AutoencoderConfig.intermediateSize}. */
  intermediate_size: number;
  /** See {@link AutoencoderConfig.numEncoderLayers}. */
  num_encoder_layers: number;
  /** See {@link AutoencoderConfig.numDecoderLayers}. */
  num_decoder_layers: number;
  /** See {@link AutoencoderConfig.latentSize}. */
  latent_size: number;
  /** See {@link AutoencoderConfig.hiddenAct}. */
  hidden_act: string;
  /** See {@link AutoencoderConfig.maxPositionEmbeddings}. */
  max_position_embeddings: number;
  /** See {@link AutoencoderConfig.initializerRange}. */
  initializer_range: number;
  /** See {@link AutoencoderConfig.rmsNormEps}. */
  rms_norm_eps: number;
  /** See {@link AutoencoderConfig.padTokenId}. */
  pad_token_id: number | null;
  /** See {@link AutoencoderConfig.bosTokenId}. */
  bos_token_id: number | null;
  /** See {@link AutoencoderConfig.eosTokenId}. */
  eos_token_id: number | null;
  /** See {@link AutoencoderConfig.pretrainingTp}. */
  pretraining_tp: number;
  /** See {@link AutoencoderConfig.tieWordEmbeddings}. */
  tie_word_embeddings: boolean;
  /** See {@link AutoencoderConfig.mlpBias}. */
  mlp_bias: boolean;
  /** Any other keys (kept from the source file). */
  [key: string]: unknown;
}

/**
 * The configuration of the released `cccczshao/CALM-Autoencoder` (spec §1.1, §7.2): K = 4,
 * L = 128, H = 512, Llama 3 vocabulary plus `[PAD]` (V = 128257).
 * @see {@link autoencoderConfig}
 * @category Config
 */
export const RELEASED_AUTOENCODER_CONFIG: Readonly<AutoencoderConfig> = Object.freeze({
  vocabSize: 128257,
  hiddenSize: 512,
  intermediateSize: 1280,
  latentSize: 128,
  patchSize: 4,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  aeDropout: 0.15,
  klClamp: 0.5,
  klWeight: 1e-3,
  rmsNormEps: 1e-6,
  initializerRange: 0.02,
  hiddenAct: 'silu' as const,
  maxPositionEmbeddings: 2048,
  padTokenId: 128256,
  bosTokenId: 128000,
  eosTokenId: 128001,
  pretrainingTp: 1,
  tieWordEmbeddings: false,
  mlpBias: false,
  extra: Object.freeze({}) as Record<string, unknown>,
});

// The official class defaults (configuration_autoencoder.py), used for keys absent from a
// config.json, exactly as `PretrainedConfig.from_pretrained` would.
const CLASS_DEFAULTS: AutoencoderConfig = {
  ...RELEASED_AUTOENCODER_CONFIG,
  vocabSize: 32000,
  padTokenId: null,
  bosTokenId: 1,
  eosTokenId: 2,
  extra: {},
};

// The layer counts split in half around the squeeze/expand, so they must be even.
const evenLayers: ConfigValueRule = (name, v) => {
  if (!Number.isSafeInteger(v) || (v as number) < 0)
    return `${name} must be a non-negative even integer, got ${JSON.stringify(v) ?? String(v)}`;
  return (v as number) % 2 === 0
    ? null
    : `${name} must be even, got ${v as number}: the official model runs ${name} // 2 layers before and after the squeeze/expand, so with an odd count the last layer would never run; use ${(v as number) - 1} or ${(v as number) + 1}`;
};

const silu: ConfigValueRule = (name, v) =>
  v === 'silu'
    ? null
    : `${name} must be "silu" (the SwiGLU MLP of the official model), got ${JSON.stringify(v) ?? String(v)}`;

const FIELDS: ReadonlyArray<ConfigField<keyof AutoencoderConfig & string>> = [
  ['aeDropout', 'ae_dropout', 'prob'],
  ['klClamp', 'kl_clamp', 'nonNeg'],
  ['klWeight', 'kl_weight', 'nonNeg'],
  ['patchSize', 'patch_size', 'posInt'],
  ['vocabSize', 'vocab_size', 'posInt'],
  ['hiddenSize', 'hidden_size', 'posInt'],
  ['intermediateSize', 'intermediate_size', 'posInt'],
  ['numEncoderLayers', 'num_encoder_layers', evenLayers],
  ['numDecoderLayers', 'num_decoder_layers', evenLayers],
  ['latentSize', 'latent_size', 'posInt'],
  ['hiddenAct', 'hidden_act', silu],
  ['maxPositionEmbeddings', 'max_position_embeddings', 'posInt'],
  ['initializerRange', 'initializer_range', 'nonNeg'],
  ['rmsNormEps', 'rms_norm_eps', 'pos'],
  ['padTokenId', 'pad_token_id', 'tokenIdOrNull'],
  ['bosTokenId', 'bos_token_id', 'tokenIdOrNull'],
  ['eosTokenId', 'eos_token_id', 'tokenIdOrNull'],
  ['pretrainingTp', 'pretraining_tp', 'posInt'],
  ['tieWordEmbeddings', 'tie_word_embeddings', 'bool'],
  ['mlpBias', 'mlp_bias', 'bool'],
];

function crossChecks(c: AutoencoderConfig, jsonNames: boolean): string[] {
  const n = configFieldNamer(FIELDS, jsonNames);
  const problems: string[] = [];
  if (c.mlpBias === true)
    problems.push(
      `${n('mlpBias')} = true is not supported: the official autoencoder's MLPs have no biases; set it to false`,
    );
  for (const key of ['padTokenId', 'bosTokenId', 'eosTokenId'] as const) {
    const id = c[key];
    if (typeof id === 'number' && Number.isSafeInteger(c.vocabSize) && id >= c.vocabSize) {
      problems.push(
        `${n(key)} = ${id} is outside the vocabulary (${n('vocabSize')} = ${c.vocabSize}); raise the vocabulary size or fix the id`,
      );
    }
  }
  return problems;
}

function throwProblems(problems: string[], what: string): void {
  throwConfigProblems(problems, what, SOURCE);
}

/**
 * Checks every field of an autoencoder configuration and reports all problems at once.
 *
 * @param config - The configuration to check.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem (in `details.problems`).
 * @example
 * {@includeCode ../test/examples.test.ts#config}
 * @category Config
 */
export function validateAutoencoderConfig(config: AutoencoderConfig): void {
  const problems: string[] = [];
  if (typeof config !== 'object' || config === null) {
    throwProblems(['the configuration must be an object'], 'autoencoder config');
  }
  problems.push(...collectConfigProblems(config as unknown as Record<string, unknown>, FIELDS));
  if (typeof config.extra !== 'object' || config.extra === null)
    problems.push('extra must be an object (use {} when there is nothing to carry)');
  problems.push(...crossChecks(config, false));
  throwProblems(problems, 'autoencoder config');
}

/**
 * Builds a complete, validated configuration from the released AE's values and your overrides.
 *
 * @remarks
 * When `vocabSize` differs from the released 128257, the PAD/BOS/EOS ids default to `null`
 * (the released ids belong to the Llama 3 vocabulary); pass them to set them.
 * @param overrides - Fields to change (e.g. `{ vocabSize: 259, hiddenSize: 128 }`).
 * @returns A new configuration object.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @example
 * {@includeCode ../test/examples.test.ts#config}
 * @category Config
 */
export function autoencoderConfig(overrides: Partial<AutoencoderConfig> = {}): AutoencoderConfig {
  // The released special ids belong to the Llama 3 vocabulary; with another vocabulary they
  // default to null instead of pointing outside it.
  const otherVocab = overrides.vocabSize !== undefined && overrides.vocabSize !== RELEASED_AUTOENCODER_CONFIG.vocabSize;
  const specials = otherVocab ? { padTokenId: null, bosTokenId: null, eosTokenId: null } : {};
  const config: AutoencoderConfig = { ...RELEASED_AUTOENCODER_CONFIG, extra: {}, ...specials, ...overrides };
  validateAutoencoderConfig(config);
  return config;
}

// Keys of a config.json that this package does not model but that Hugging Face writes; they go to
// `extra`. Anything else unknown also goes to `extra` (PretrainedConfig keeps unknown keys too).
const BOOKKEEPING = new Set(['architectures']);

/**
 * Reads an official `config.json` (parsed JSON) into a validated configuration.
 *
 * @remarks
 * Absent keys take the official class defaults (as `from_pretrained` does: e.g. `vocab_size`
 * 32000); unknown keys are kept in `extra`. `architectures`, when present, must name
 * `"Autoencoder"`, so a CALM LM config is not mistaken for an autoencoder config.
 * @param json - The parsed `config.json` object.
 * @param fileName - For error messages.
 * @returns The configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem (wrong types, out-of-range
 *   values, odd layer counts, another architecture).
 * @example
 * {@includeCode ../test/examples.test.ts#config}
 * @category Config
 */
export function autoencoderConfigFromJson(json: unknown, fileName = 'config.json'): AutoencoderConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throwProblems(
      [`the file must hold a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`],
      fileName,
    );
  }
  const obj = json as Record<string, unknown>;
  const problems: string[] = [];
  const arch = obj.architectures;
  if (arch !== undefined && arch !== null) {
    const notList = checkConfigValue('architectures', 'stringList', arch);
    if (notList !== null) problems.push(notList);
    else if (!(arch as string[]).includes('Autoencoder')) {
      problems.push(
        `architectures is ${JSON.stringify(arch)}, not ["Autoencoder"]: this is not an autoencoder config (a CALM LM config names "EnergyTransformer"; pass the autoencoder's folder)`,
      );
    }
  }
  const config: AutoencoderConfig = { ...CLASS_DEFAULTS, extra: {} };
  const known = new Set<string>();
  for (const [camel, snake, rule] of FIELDS) {
    known.add(snake);
    if (!(snake in obj)) continue;
    const v = obj[snake];
    const p = checkConfigValue(snake, rule, v);
    if (p) problems.push(p);
    else (config as unknown as Record<string, unknown>)[camel] = v;
  }
  for (const [k, v] of Object.entries(obj)) {
    if (!known.has(k) && !BOOKKEEPING.has(k)) config.extra[k] = v;
  }
  problems.push(...crossChecks(config, true));
  throwProblems(problems, fileName);
  return config;
}

/**
 * Writes a configuration as the official `config.json` object (snake_case names,
 * `architectures: ["Autoencoder"]`, `model_type` absent as in the official class).
 *
 * @param config - A valid configuration.
 * @returns A plain object ready for `JSON.stringify`.
 * @throws `CalmError` `INVALID_CONFIG` when `config` is invalid.
 * @example
 * {@includeCode ../test/examples.test.ts#config}
 * @category Config
 */
export function autoencoderConfigToJson(config: AutoencoderConfig): AutoencoderConfigJson {
  validateAutoencoderConfig(config);
  const out: Record<string, unknown> = { ...config.extra, architectures: ['Autoencoder'] };
  for (const [camel, snake] of FIELDS) out[snake] = config[camel];
  return out as AutoencoderConfigJson;
}
