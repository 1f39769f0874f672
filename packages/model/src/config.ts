// Model configurations of the CALM language model and of the AR baseline (camelCase TypeScript
// shapes), their whole-object validation (every problem reported at once) and the round trip to
// the official Hugging Face `config.json` files (`CALMConfig`, `LlamaConfig`; snake_case names).

import {
  collectConfigProblems,
  configFieldNamer,
  throwConfigProblems,
  type ConfigField,
  type ConfigValueRule,
} from '@calm/core';

/**
 * Hyper-parameters of the Llama backbone (HF `LlamaModel`) shared by CALM and the AR baseline.
 * @see {@link llamaForward}
 * @category Config
 */
export interface LlamaConfig {
  /** H, the residual-stream width (`hidden_size`). */
  hiddenSize: number;
  /** Width of each SwiGLU MLP (`intermediate_size`). */
  intermediateSize: number;
  /** Decoder layers (`num_hidden_layers`). */
  numHiddenLayers: number;
  /** Query heads (`num_attention_heads`); head_dim = H / heads. */
  numAttentionHeads: number;
  /** Key/value heads (`num_key_value_heads`); equal to the query heads for MHA, a divisor for GQA. */
  numKeyValueHeads: number;
  /** RoPE base θ (`rope_theta`). */
  ropeTheta: number;
  /** Epsilon inside RMSNorm's square root (`rms_norm_eps`). */
  rmsNormEps: number;
  /** Carried for compatibility; RoPE does not enforce it (`max_position_embeddings`). */
  maxPositionEmbeddings: number;
  /** Std of the N(0, σ²) initialisation of Linear and embedding weights (`initializer_range`). */
  initializerRange: number;
}

/**
 * Configuration of the CALM language model (official `CALMConfig` of an `EnergyTransformer`).
 * @see {@link calmConfig}
 * @category Config
 */
export interface CalmConfig extends LlamaConfig {
  /** V, token vocabulary size (`vocab_size`; 128257 for Llama 3 + PAD). */
  vocabSize: number;
  /** K, tokens per chunk (`patch_size`). */
  patchSize: number;
  /** l, the autoencoder's latent size (`latent_size`). */
  latentSize: number;
  /** Dimension of the head's uniform noise (`noise_size`). */
  noiseSize: number;
  /** Residual MLP blocks of the energy head (`num_mlp_layers`). */
  numMlpLayers: number;
  /** N, head samples per position in the energy loss (`num_samples`). */
  numSamples: number;
  /** M, posterior samples per target chunk in the loss (hard-coded 100 in the official code). */
  numTargetSamples: number;
  /** α, the energy-score exponent (`beta`), in (0, 2]. */
  beta: number;
  /** PAD id (its row of the LM embedding is zero and never trained). */
  padTokenId: number;
  /** BOS id. */
  bosTokenId: number;
  /** EOS id (generation stops at a chunk containing it). */
  eosTokenId: number;
  /** Where the official code loads the frozen autoencoder from (`ae_path`); callers override it. */
  aePath: string;
  /**
   * Other `config.json` keys (HF bookkeeping such as `torch_dtype`, `transformers_version`), kept
   * so that they round-trip.
   */
  extra: Record<string, unknown>;
}

/**
 * Configuration of the AR baseline (HF `LlamaForCausalLM`, the official `train_ar.py` model).
 * @see {@link arConfig}
 * @category Config
 */
export interface ArConfig extends LlamaConfig {
  /** V, token vocabulary size. */
  vocabSize: number;
  /** PAD id, or `null`. */
  padTokenId: number | null;
  /** BOS id, or `null`. */
  bosTokenId: number | null;
  /** EOS id, or `null` (generation then never stops early). */
  eosTokenId: number | null;
  /** Whether `lm_head.weight` is the input embedding (the official baseline does not tie). */
  tieWordEmbeddings: boolean;
  /** Other `config.json` keys, kept so that they round-trip. */
  extra: Record<string, unknown>;
}

/**
 * The backbone of the released CALM-M (spec §2.5): 16 layers, H = 1024, I = 2752, 16 heads.
 * @see {@link calmConfig}
 * @category Config
 */
export const CALM_M_CONFIG: Readonly<CalmConfig> = Object.freeze({
  hiddenSize: 1024,
  intermediateSize: 2752,
  numHiddenLayers: 16,
  numAttentionHeads: 16,
  numKeyValueHeads: 16,
  ropeTheta: 10000,
  rmsNormEps: 1e-6,
  maxPositionEmbeddings: 2048,
  initializerRange: 0.02,
  vocabSize: 128257,
  patchSize: 4,
  latentSize: 128,
  noiseSize: 64,
  numMlpLayers: 4,
  numSamples: 8,
  numTargetSamples: 100,
  beta: 1,
  padTokenId: 128256,
  bosTokenId: 128000,
  eosTokenId: 128001,
  aePath: '',
  extra: Object.freeze({}) as Record<string, unknown>,
});

// The energy-score exponent α of the head's loss.
const alpha: ConfigValueRule = (name, v) =>
  typeof v === 'number' && v > 0 && v <= 2
    ? null
    : `${name} must be in (0, 2] (the energy-score exponent; the paper uses 1), got ${JSON.stringify(v) ?? String(v)}`;

const LLAMA_FIELDS: ReadonlyArray<ConfigField> = [
  ['hiddenSize', 'hidden_size', 'posInt'],
  ['intermediateSize', 'intermediate_size', 'posInt'],
  ['numHiddenLayers', 'num_hidden_layers', 'nonNegInt'],
  ['numAttentionHeads', 'num_attention_heads', 'posInt'],
  ['numKeyValueHeads', 'num_key_value_heads', 'posInt'],
  ['ropeTheta', 'rope_theta', 'pos'],
  ['rmsNormEps', 'rms_norm_eps', 'pos'],
  ['maxPositionEmbeddings', 'max_position_embeddings', 'posInt'],
  ['initializerRange', 'initializer_range', 'nonNeg'],
];

function llamaCross(c: Record<string, unknown>, n: (k: string) => string): string[] {
  const problems: string[] = [];
  const h = c.hiddenSize as number;
  const nh = c.numAttentionHeads as number;
  const nkv = c.numKeyValueHeads as number;
  if (Number.isInteger(h) && Number.isInteger(nh) && nh > 0 && h % nh !== 0) {
    problems.push(
      `${n('hiddenSize')} (${h}) must be a multiple of ${n('numAttentionHeads')} (${nh}) so that head_dim = hidden / heads is an integer`,
    );
  } else if (Number.isInteger(h) && Number.isInteger(nh) && nh > 0 && (h / nh) % 2 !== 0) {
    problems.push(
      `head_dim = ${n('hiddenSize')} / ${n('numAttentionHeads')} = ${h / nh} must be even for rotary embeddings; change the number of heads`,
    );
  }
  if (Number.isInteger(nh) && Number.isInteger(nkv) && nkv > 0 && nh % nkv !== 0) {
    problems.push(
      `${n('numAttentionHeads')} (${nh}) must be a multiple of ${n('numKeyValueHeads')} (${nkv}) for grouped-query attention`,
    );
  }
  return problems;
}

function idChecks(c: Record<string, unknown>, n: (k: string) => string): string[] {
  const problems: string[] = [];
  const v = c.vocabSize as number;
  for (const key of ['padTokenId', 'bosTokenId', 'eosTokenId']) {
    const id = c[key];
    if (typeof id === 'number' && Number.isSafeInteger(v) && id >= v)
      problems.push(
        `${n(key)} = ${id} is outside the vocabulary (${n('vocabSize')} = ${v}); raise the vocabulary size or fix the id`,
      );
  }
  return problems;
}

function throwProblems(problems: string[], what: string): void {
  throwConfigProblems(problems, what, '@calm/trainer');
}

// How one model family maps to its official config.json: the field table, the fixed fields the
// official classes write (checked when read, not kept), the architecture and model_type written,
// and the defaults of absent keys. CALM and the AR baseline differ only in these.
interface ModelConfigFormat<C> {
  /** Names the configuration in messages (`CALM config`). */
  readonly what: string;
  readonly fields: ReadonlyArray<ConfigField>;
  /** Written as `architectures: [architecture]`; a file must name it when it has `architectures`. */
  readonly architecture: string;
  /** Ends the message about a file naming another architecture: `this is not <notThis>`. */
  readonly notThis: string;
  /** Written as `model_type`. */
  readonly modelType: string;
  readonly fixed: Readonly<Record<string, unknown>>;
  /** Bookkeeping keys whose value read from a file (kept in `extra`) replaces the written one. */
  readonly keptFromExtra: ReadonlyArray<string>;
  /** Values of the keys a file leaves out. */
  readonly defaults: () => C;
  /** Problems of a read file beyond the fields (its unknown keys are in `extra`). */
  readonly fileProblems?: (extra: Record<string, unknown>) => string[];
}

const CALM_FORMAT: ModelConfigFormat<CalmConfig> = {
  what: 'CALM config',
  fields: [
    ...LLAMA_FIELDS,
    ['vocabSize', 'vocab_size', 'posInt'],
    ['patchSize', 'patch_size', 'posInt'],
    ['latentSize', 'latent_size', 'posInt'],
    ['noiseSize', 'noise_size', 'posInt'],
    ['numMlpLayers', 'num_mlp_layers', 'nonNegInt'],
    ['numSamples', 'num_samples', 'posInt'],
    ['numTargetSamples', 'num_target_samples', 'posInt'],
    ['beta', 'beta', alpha],
    ['padTokenId', 'pad_token_id', 'tokenId'],
    ['bosTokenId', 'bos_token_id', 'tokenId'],
    ['eosTokenId', 'eos_token_id', 'tokenId'],
    ['aePath', 'ae_path', 'string'],
  ],
  architecture: 'EnergyTransformer',
  notThis: "a CALM language-model config (an autoencoder's config belongs to @calm/autoencoder)",
  modelType: '',
  fixed: {
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    pretraining_tp: 1,
    tie_word_embeddings: false,
    rope_scaling: null,
    attention_dropout: 0,
  },
  keptFromExtra: ['architectures', 'model_type', 'torch_dtype', 'transformers_version'],
  defaults: () => ({ ...CALM_M_CONFIG }),
  fileProblems: (extra) => {
    const mt = extra.model_type;
    return mt !== undefined && mt !== '' && mt !== 'energy' && mt !== null
      ? [
          `model_type ${JSON.stringify(mt)} is not supported: only the energy head ("" / "energy") is implemented; diffusion and flow CALM checkpoints were not released`,
        ]
      : [];
  },
};

const AR_FORMAT: ModelConfigFormat<ArConfig> = {
  what: 'AR config',
  fields: [
    ...LLAMA_FIELDS,
    ['vocabSize', 'vocab_size', 'posInt'],
    ['padTokenId', 'pad_token_id', 'tokenIdOrNull'],
    ['bosTokenId', 'bos_token_id', 'tokenIdOrNull'],
    ['eosTokenId', 'eos_token_id', 'tokenIdOrNull'],
    ['tieWordEmbeddings', 'tie_word_embeddings', 'bool'],
  ],
  architecture: 'LlamaForCausalLM',
  notThis: 'an AR-baseline config',
  modelType: 'llama',
  fixed: {
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    pretraining_tp: 1,
    rope_scaling: null,
    attention_dropout: 0,
  },
  keptFromExtra: ['architectures', 'torch_dtype', 'transformers_version'],
  defaults: () => arConfig({}),
};

function configProblems<C>(format: ModelConfigFormat<C>, config: C, jsonNames: boolean): string[] {
  const rec = config as unknown as Record<string, unknown>;
  const n = configFieldNamer(format.fields, jsonNames);
  const problems = collectConfigProblems(rec, format.fields, { jsonNames });
  if (typeof rec.extra !== 'object' || rec.extra === null || Array.isArray(rec.extra))
    problems.push('extra must be an object (use {} when there is nothing to carry)');
  return [...problems, ...llamaCross(rec, n), ...idChecks(rec, n)];
}

function validateWith<C>(format: ModelConfigFormat<C>, config: C): void {
  if (typeof config !== 'object' || config === null)
    throwProblems(['the configuration must be an object'], format.what);
  throwProblems(configProblems(format, config, false), format.what);
}

function readConfigJson<C>(format: ModelConfigFormat<C>, json: unknown, fileName: string): C {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throwProblems(
      [`the file must hold a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`],
      fileName,
    );
  }
  const problems: string[] = [];
  const config = format.defaults() as unknown as Record<string, unknown>;
  const extra: Record<string, unknown> = {};
  const known = new Map(format.fields.map(([camel, snake]) => [snake, camel]));
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const camel = known.get(key);
    if (camel !== undefined) config[camel] = value;
    else if (key in format.fixed) {
      const want = format.fixed[key];
      if (want !== value && !(want === null && value === undefined))
        problems.push(
          `${key} = ${JSON.stringify(value)} is not supported (only ${JSON.stringify(want)}, as in the official models)`,
        );
    } else {
      if (key === 'architectures') {
        if (!Array.isArray(value) || !value.every((a) => typeof a === 'string'))
          problems.push(`architectures must be a list of strings, got ${JSON.stringify(value)}`);
        else if (!value.includes(format.architecture))
          problems.push(
            `architectures ${JSON.stringify(value)} does not name "${format.architecture}"; this is not ${format.notThis}`,
          );
      }
      extra[key] = value;
    }
  }
  config.extra = extra;
  const c = config as unknown as C;
  throwProblems([...problems, ...(format.fileProblems?.(extra) ?? []), ...configProblems(format, c, true)], fileName);
  return c;
}

function writeConfigJson<C extends { extra: Record<string, unknown> }>(
  format: ModelConfigFormat<C>,
  config: C,
): Record<string, unknown> {
  validateWith(format, config);
  const rec = config as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { architectures: [format.architecture], model_type: format.modelType };
  for (const [camel, snake] of format.fields) out[snake] = rec[camel];
  Object.assign(out, format.fixed, { use_cache: true, torch_dtype: 'float32', transformers_version: '4.43.0' });
  for (const [k, v] of Object.entries(config.extra)) if (!(k in out) || format.keptFromExtra.includes(k)) out[k] = v;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Checks every field of a CALM configuration and reports all problems at once.
 * @param config - The configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem (also in `details.problems`).
 * @example
 * {@includeCode ../test/examples.test.ts#calm-config}
 * @category Config
 */
export function validateCalmConfig(config: CalmConfig): void {
  validateWith(CALM_FORMAT, config);
}

/**
 * Checks every field of an AR-baseline configuration and reports all problems at once.
 * @param config - The configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-config}
 * @category Config
 */
export function validateArConfig(config: ArConfig): void {
  validateWith(AR_FORMAT, config);
}

/**
 * Builds a complete, validated CALM configuration from CALM-M's values and your overrides.
 * @param overrides - Fields to change.
 * @returns A new configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-config}
 * @category Config
 */
export function calmConfig(overrides: Partial<CalmConfig> = {}): CalmConfig {
  const c: CalmConfig = { ...CALM_M_CONFIG, extra: {}, ...overrides };
  validateCalmConfig(c);
  return c;
}

/**
 * Builds a complete, validated AR-baseline configuration (Transformer-S backbone defaults,
 * spec §2.5) from your overrides.
 * @param overrides - Fields to change.
 * @returns A new configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-config}
 * @category Config
 */
export function arConfig(overrides: Partial<ArConfig> = {}): ArConfig {
  const c: ArConfig = {
    hiddenSize: 768,
    intermediateSize: 2048,
    numHiddenLayers: 12,
    numAttentionHeads: 16,
    numKeyValueHeads: 16,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    maxPositionEmbeddings: 2048,
    initializerRange: 0.02,
    vocabSize: 128257,
    padTokenId: 128256,
    bosTokenId: 128000,
    eosTokenId: 128001,
    tieWordEmbeddings: false,
    extra: {},
    ...overrides,
  };
  validateArConfig(c);
  return c;
}

/**
 * The head dimension of a backbone (hidden size / attention heads).
 * @param config - A Llama configuration.
 * @returns head_dim.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-config}
 * @category Config
 */
export function headDim(config: LlamaConfig): number {
  return config.hiddenSize / config.numAttentionHeads;
}

/**
 * Reads an official CALM `config.json` (parsed JSON) into a validated configuration.
 *
 * @remarks
 * Absent keys take CALM-M's values; `num_target_samples` (M) is not an official key and defaults
 * to 100. `model_type` absent, `""` or `"energy"` selects the energy head; `"diffusion"` and
 * `"flow"` are rejected (those heads are not released). Unknown keys go to `extra`.
 * @param json - The parsed `config.json`.
 * @param fileName - For error messages.
 * @returns The configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-config}
 * @category Config
 */
export function calmConfigFromJson(json: unknown, fileName = 'config.json'): CalmConfig {
  return readConfigJson(CALM_FORMAT, json, fileName);
}

/**
 * Writes a CALM configuration as an official `config.json` object (snake_case keys, HF fields).
 * @param config - The configuration.
 * @returns A JSON-serialisable object.
 * @throws `CalmError` `INVALID_CONFIG` when the configuration is invalid.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-config}
 * @category Config
 */
export function calmConfigToJson(config: CalmConfig): Record<string, unknown> {
  return writeConfigJson(CALM_FORMAT, config);
}

/**
 * Reads a `LlamaForCausalLM` `config.json` (the official AR baseline) into a validated configuration.
 * @param json - The parsed `config.json`.
 * @param fileName - For error messages.
 * @returns The configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-config}
 * @category Config
 */
export function arConfigFromJson(json: unknown, fileName = 'config.json'): ArConfig {
  return readConfigJson(AR_FORMAT, json, fileName);
}

/**
 * Writes an AR-baseline configuration as a `LlamaForCausalLM` `config.json` object.
 * @param config - The configuration.
 * @returns A JSON-serialisable object.
 * @throws `CalmError` `INVALID_CONFIG` when the configuration is invalid.
 * @example
 * {@includeCode ../test/examples.test.ts#ar-config}
 * @category Config
 */
export function arConfigToJson(config: ArConfig): Record<string, unknown> {
  return writeConfigJson(AR_FORMAT, config);
}
