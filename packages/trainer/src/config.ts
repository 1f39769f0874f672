// Model configurations of the CALM language model and of the AR baseline (camelCase TypeScript
// shapes), their whole-object validation (every problem reported at once) and the round trip to
// the official Hugging Face `config.json` files (`CALMConfig`, `LlamaConfig`; snake_case names).

import { fail } from './internal/errors.js';

/**
 * Hyper-parameters of the Llama backbone (HF `LlamaModel`) shared by CALM and the AR baseline.
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

type Kind = 'posInt' | 'nonNegInt' | 'pos' | 'nonNeg' | 'alpha' | 'tokenId' | 'tokenIdOrNull' | 'bool' | 'string';

const LLAMA_FIELDS: ReadonlyArray<readonly [string, string, Kind]> = [
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

const CALM_FIELDS: ReadonlyArray<readonly [string, string, Kind]> = [
  ...LLAMA_FIELDS,
  ['vocabSize', 'vocab_size', 'posInt'],
  ['patchSize', 'patch_size', 'posInt'],
  ['latentSize', 'latent_size', 'posInt'],
  ['noiseSize', 'noise_size', 'posInt'],
  ['numMlpLayers', 'num_mlp_layers', 'nonNegInt'],
  ['numSamples', 'num_samples', 'posInt'],
  ['numTargetSamples', 'num_target_samples', 'posInt'],
  ['beta', 'beta', 'alpha'],
  ['padTokenId', 'pad_token_id', 'tokenId'],
  ['bosTokenId', 'bos_token_id', 'tokenId'],
  ['eosTokenId', 'eos_token_id', 'tokenId'],
  ['aePath', 'ae_path', 'string'],
];

const AR_FIELDS: ReadonlyArray<readonly [string, string, Kind]> = [
  ...LLAMA_FIELDS,
  ['vocabSize', 'vocab_size', 'posInt'],
  ['padTokenId', 'pad_token_id', 'tokenIdOrNull'],
  ['bosTokenId', 'bos_token_id', 'tokenIdOrNull'],
  ['eosTokenId', 'eos_token_id', 'tokenIdOrNull'],
  ['tieWordEmbeddings', 'tie_word_embeddings', 'bool'],
];

function checkValue(name: string, kind: Kind, v: unknown): string | null {
  const show = JSON.stringify(v) ?? String(v);
  switch (kind) {
    case 'posInt':
      return Number.isSafeInteger(v) && (v as number) >= 1 ? null : `${name} must be a positive integer, got ${show}`;
    case 'nonNegInt':
      return Number.isSafeInteger(v) && (v as number) >= 0 ? null : `${name} must be a non-negative integer, got ${show}`;
    case 'pos':
      return typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : `${name} must be a finite number > 0, got ${show}`;
    case 'nonNeg':
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? null : `${name} must be a finite number >= 0, got ${show}`;
    case 'alpha':
      return typeof v === 'number' && v > 0 && v <= 2 ? null : `${name} must be in (0, 2] (the energy-score exponent; the paper uses 1), got ${show}`;
    case 'tokenId':
      return Number.isSafeInteger(v) && (v as number) >= 0 ? null : `${name} must be a non-negative integer token id, got ${show}`;
    case 'tokenIdOrNull':
      return v === null || (Number.isSafeInteger(v) && (v as number) >= 0) ? null : `${name} must be a non-negative integer token id or null, got ${show}`;
    case 'bool':
      return typeof v === 'boolean' ? null : `${name} must be true or false, got ${show}`;
    case 'string':
      return typeof v === 'string' ? null : `${name} must be a string, got ${show}`;
  }
}

function llamaCross(c: Record<string, unknown>, n: (k: string) => string): string[] {
  const problems: string[] = [];
  const h = c.hiddenSize as number;
  const nh = c.numAttentionHeads as number;
  const nkv = c.numKeyValueHeads as number;
  if (Number.isInteger(h) && Number.isInteger(nh) && nh > 0 && h % nh !== 0) {
    problems.push(`${n('hiddenSize')} (${h}) must be a multiple of ${n('numAttentionHeads')} (${nh}) so that head_dim = hidden / heads is an integer`);
  } else if (Number.isInteger(h) && Number.isInteger(nh) && nh > 0 && (h / nh) % 2 !== 0) {
    problems.push(`head_dim = ${n('hiddenSize')} / ${n('numAttentionHeads')} = ${h / nh} must be even for rotary embeddings; change the number of heads`);
  }
  if (Number.isInteger(nh) && Number.isInteger(nkv) && nkv > 0 && nh % nkv !== 0) {
    problems.push(`${n('numAttentionHeads')} (${nh}) must be a multiple of ${n('numKeyValueHeads')} (${nkv}) for grouped-query attention`);
  }
  return problems;
}

function idChecks(c: Record<string, unknown>, n: (k: string) => string): string[] {
  const problems: string[] = [];
  const v = c.vocabSize as number;
  for (const key of ['padTokenId', 'bosTokenId', 'eosTokenId']) {
    const id = c[key];
    if (typeof id === 'number' && Number.isSafeInteger(v) && id >= v) problems.push(`${n(key)} = ${id} is outside the vocabulary (${n('vocabSize')} = ${v}); raise the vocabulary size or fix the id`);
  }
  return problems;
}

function collect(obj: Record<string, unknown>, fields: ReadonlyArray<readonly [string, string, Kind]>, json: boolean): string[] {
  const problems: string[] = [];
  for (const [camel, snake, kind] of fields) {
    const p = checkValue(json ? snake : camel, kind, obj[camel]);
    if (p) problems.push(p);
  }
  if (typeof obj.extra !== 'object' || obj.extra === null || Array.isArray(obj.extra)) problems.push('extra must be an object (use {} when there is nothing to carry)');
  return problems;
}

function namer(fields: ReadonlyArray<readonly [string, string, Kind]>, json: boolean): (k: string) => string {
  return (k) => (json ? (fields.find((f) => f[0] === k)?.[1] ?? k) : k);
}

function throwProblems(problems: string[], what: string): void {
  if (problems.length === 0) return;
  fail('INVALID_CONFIG', `${what} has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n- ${problems.join('\n- ')}`, { details: { problems } });
}

function calmProblems(c: CalmConfig, json: boolean): string[] {
  const rec = c as unknown as Record<string, unknown>;
  const n = namer(CALM_FIELDS, json);
  return [...collect(rec, CALM_FIELDS, json), ...llamaCross(rec, n), ...idChecks(rec, n)];
}

function arProblems(c: ArConfig, json: boolean): string[] {
  const rec = c as unknown as Record<string, unknown>;
  const n = namer(AR_FIELDS, json);
  return [...collect(rec, AR_FIELDS, json), ...llamaCross(rec, n), ...idChecks(rec, n)];
}

/**
 * Checks every field of a CALM configuration and reports all problems at once.
 * @param config - The configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem (also in `details.problems`).
 * @category Config
 */
export function validateCalmConfig(config: CalmConfig): void {
  if (typeof config !== 'object' || config === null) throwProblems(['the configuration must be an object'], 'CALM config');
  throwProblems(calmProblems(config, false), 'CALM config');
}

/**
 * Checks every field of an AR-baseline configuration and reports all problems at once.
 * @param config - The configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @category Config
 */
export function validateArConfig(config: ArConfig): void {
  if (typeof config !== 'object' || config === null) throwProblems(['the configuration must be an object'], 'AR config');
  throwProblems(arProblems(config, false), 'AR config');
}

/**
 * Builds a complete, validated CALM configuration from CALM-M's values and your overrides.
 * @param overrides - Fields to change.
 * @returns A new configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @example
 * ```ts
 * const cfg = calmConfig({ vocabSize: 512, hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 2,
 *   numAttentionHeads: 4, numKeyValueHeads: 4, latentSize: 16, noiseSize: 16, numMlpLayers: 1,
 *   padTokenId: 511, bosTokenId: 509, eosTokenId: 510 });
 * ```
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
 * @category Config
 */
export function headDim(config: LlamaConfig): number {
  return config.hiddenSize / config.numAttentionHeads;
}

// Fields the official classes write that we model implicitly; they are checked, not kept.
const FIXED_CALM: Record<string, unknown> = { hidden_act: 'silu', attention_bias: false, mlp_bias: false, pretraining_tp: 1, tie_word_embeddings: false, rope_scaling: null, attention_dropout: 0 };
const FIXED_AR: Record<string, unknown> = { hidden_act: 'silu', attention_bias: false, mlp_bias: false, pretraining_tp: 1, rope_scaling: null, attention_dropout: 0 };

function fromJson(
  json: unknown,
  fields: ReadonlyArray<readonly [string, string, Kind]>,
  defaults: Record<string, unknown>,
  fixed: Record<string, unknown>,
  fileName: string,
  archCheck: (arch: string[], problems: string[]) => void,
): { config: Record<string, unknown>; problems: string[] } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throwProblems([`the file must hold a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`], fileName);
  }
  const obj = json as Record<string, unknown>;
  const problems: string[] = [];
  const config: Record<string, unknown> = { ...defaults };
  const extra: Record<string, unknown> = {};
  const known = new Map(fields.map(([camel, snake]) => [snake, camel]));
  for (const [key, value] of Object.entries(obj)) {
    const camel = known.get(key);
    if (camel !== undefined) config[camel] = value;
    else if (key in fixed) {
      const want = fixed[key];
      const same = want === value || (typeof want === 'number' && typeof value === 'number' && want === value) || (want === null && value === undefined);
      if (!same && !(key === 'attention_dropout' && value === 0.0)) problems.push(`${key} = ${JSON.stringify(value)} is not supported (only ${JSON.stringify(want)}, as in the official models)`);
    } else if (key === 'architectures') {
      if (!Array.isArray(value) || !value.every((a) => typeof a === 'string')) problems.push(`architectures must be a list of strings, got ${JSON.stringify(value)}`);
      else archCheck(value as string[], problems);
      extra[key] = value;
    } else extra[key] = value;
  }
  config.extra = extra;
  return { config, problems };
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
 * @category Config
 */
export function calmConfigFromJson(json: unknown, fileName = 'config.json'): CalmConfig {
  const { config, problems } = fromJson(json, CALM_FIELDS, { ...CALM_M_CONFIG }, FIXED_CALM, fileName, (arch, p) => {
    if (!arch.includes('EnergyTransformer')) p.push(`architectures ${JSON.stringify(arch)} does not name "EnergyTransformer"; this is not a CALM language-model config (an autoencoder's config belongs to @calm/autoencoder)`);
  });
  const extra = config.extra as Record<string, unknown>;
  const mt = extra.model_type;
  if (mt !== undefined && mt !== '' && mt !== 'energy' && mt !== null) {
    problems.push(`model_type ${JSON.stringify(mt)} is not supported: only the energy head ("" / "energy") is implemented; diffusion and flow CALM checkpoints were not released`);
  }
  const c = config as unknown as CalmConfig;
  throwProblems([...problems, ...calmProblems(c, true)], fileName);
  return c;
}

/**
 * Writes a CALM configuration as an official `config.json` object (snake_case keys, HF fields).
 * @param config - The configuration.
 * @returns A JSON-serialisable object.
 * @throws `CalmError` `INVALID_CONFIG` when the configuration is invalid.
 * @category Config
 */
export function calmConfigToJson(config: CalmConfig): Record<string, unknown> {
  validateCalmConfig(config);
  const rec = config as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { architectures: ['EnergyTransformer'], model_type: '' };
  for (const [camel, snake] of CALM_FIELDS) out[snake] = rec[camel];
  Object.assign(out, FIXED_CALM, { use_cache: true, torch_dtype: 'float32', transformers_version: '4.43.0' });
  for (const [k, v] of Object.entries(config.extra)) if (!(k in out) || k === 'architectures' || k === 'model_type' || k === 'torch_dtype' || k === 'transformers_version') out[k] = v;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Reads a `LlamaForCausalLM` `config.json` (the official AR baseline) into a validated configuration.
 * @param json - The parsed `config.json`.
 * @param fileName - For error messages.
 * @returns The configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @category Config
 */
export function arConfigFromJson(json: unknown, fileName = 'config.json'): ArConfig {
  const defaults = arConfig({});
  const { config, problems } = fromJson(json, AR_FIELDS, { ...defaults }, FIXED_AR, fileName, (arch, p) => {
    if (!arch.includes('LlamaForCausalLM')) p.push(`architectures ${JSON.stringify(arch)} does not name "LlamaForCausalLM"; this is not an AR-baseline config`);
  });
  const c = config as unknown as ArConfig;
  throwProblems([...problems, ...arProblems(c, true)], fileName);
  return c;
}

/**
 * Writes an AR-baseline configuration as a `LlamaForCausalLM` `config.json` object.
 * @param config - The configuration.
 * @returns A JSON-serialisable object.
 * @throws `CalmError` `INVALID_CONFIG` when the configuration is invalid.
 * @category Config
 */
export function arConfigToJson(config: ArConfig): Record<string, unknown> {
  validateArConfig(config);
  const rec = config as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { architectures: ['LlamaForCausalLM'], model_type: 'llama' };
  for (const [camel, snake] of AR_FIELDS) out[snake] = rec[camel];
  Object.assign(out, FIXED_AR, { use_cache: true, torch_dtype: 'float32', transformers_version: '4.43.0' });
  for (const [k, v] of Object.entries(config.extra)) if (!(k in out) || k === 'architectures' || k === 'torch_dtype' || k === 'transformers_version') out[k] = v;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
