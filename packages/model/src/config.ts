// Model configurations of the CALM language model and of the AR baseline (camelCase TypeScript
// shapes), their whole-object validation (every problem reported at once) and the round trip to
// the official Hugging Face `config.json` files (`CALMConfig`, `LlamaConfig`; snake_case names).

import {
  checkConfigValue,
  collectConfigProblems,
  configFieldNamer,
  configRule,
  LLAMA3_SPECIAL_TOKENS,
  throwConfigProblems,
  type ConfigField,
} from '@calm/core';
import type { DiffusionNoiseSchedule, FlowSolver } from '@calm/energy-head';
import { CUSTOM_HEAD_ARCHITECTURE, HEAD_KINDS, isBuiltinHead, type CalmHeadKind } from './heads.js';

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
 * Configuration of the CALM language model (official `CALMConfig` of an `EnergyTransformer`,
 * `FlowTransformer` or `DiffusionTransformer`).
 * @see {@link calmConfig}
 * @category Config
 */
export interface CalmConfig extends LlamaConfig {
  /** V, token vocabulary size (`vocab_size`; 128257 for Llama 3 + PAD). */
  vocabSize: number;
  /** K, tokens per chunk (`patch_size`). */
  patchSize: number;
  /** L, the autoencoder's latent size (`latent_size`). */
  latentSize: number;
  /**
   * The generative head (official `model_type`): `'energy'` (official default), `'flow'` or
   * `'diffusion'` build the official heads of `@calm/energy-head`; any other name is a custom head,
   * which {@link CalmModel} takes as an instance (`options.head`, whose `kind` it is).
   * @defaultValue `'energy'`
   */
  head: CalmHeadKind | (string & Record<never, never>);
  /** Energy head: dimension of its uniform noise (`noise_size`). */
  noiseSize: number;
  /** Residual blocks of the head, MLP blocks (energy) or AdaLN blocks (flow, diffusion) (`num_mlp_layers`). */
  numMlpLayers: number;
  /** N: head samples per position in the energy loss; replicas per position in the flow and diffusion losses (`num_samples`). */
  numSamples: number;
  /** Energy head: M, posterior samples per target chunk in the loss (hard-coded 100 in the official code). */
  numTargetSamples: number;
  /** Energy head: α, the energy-score exponent (`beta`), in (0, 2]. */
  beta: number;
  /** Flow head: the ODE solver (`flow_solver`; the official `FlowLoss.solver`). @defaultValue `'midpoint'` */
  flowSolver: FlowSolver;
  /**
   * Flow head: solver steps from t = 0 to 1, a midpoint step costing two network calls (`flow_steps`;
   * official: 20 nominal steps, halved for the midpoint solver). @defaultValue 10
   */
  flowSteps: number;
  /** Diffusion head: T, the diffusion timesteps of training (`diffusion_steps`; official 1000). @defaultValue 1000 */
  diffusionSteps: number;
  /** Diffusion head: the sampler's steps, T respaced (`num_sampling_steps`; official `'100'`). @defaultValue 100 */
  diffusionSamplingSteps: number;
  /** Diffusion head: the β schedule (`noise_schedule`; official `'cosine'`). @defaultValue `'cosine'` */
  diffusionNoiseSchedule: DiffusionNoiseSchedule;
  /** Diffusion head: learned variance and the variational-bound loss term (`learn_sigma`; official true). @defaultValue true */
  diffusionLearnSigma: boolean;
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

// The backbone settings CALM-M and the AR baseline share (the official Llama 3 setup, whose
// vocabulary plus [PAD] both models use).
const LLAMA3_BACKBONE_DEFAULTS = {
  ropeTheta: 10000,
  rmsNormEps: 1e-6,
  maxPositionEmbeddings: 2048,
  initializerRange: 0.02,
  vocabSize: LLAMA3_SPECIAL_TOKENS.vocabSize,
} as const;

/**
 * The backbone of the released CALM-M (spec §2.5): 16 layers, H = 1024, I = 2752, 16 heads, with
 * the energy head; the flow and diffusion settings are the official modules' values.
 * @see {@link calmConfig}
 * @category Config
 */
export const CALM_M_CONFIG: Readonly<CalmConfig> = Object.freeze({
  hiddenSize: 1024,
  intermediateSize: 2752,
  numHiddenLayers: 16,
  numAttentionHeads: 16,
  numKeyValueHeads: 16,
  ...LLAMA3_BACKBONE_DEFAULTS,
  patchSize: 4,
  latentSize: 128,
  head: 'energy',
  noiseSize: 64,
  numMlpLayers: 4,
  numSamples: 8,
  numTargetSamples: 100,
  beta: 1,
  flowSolver: 'midpoint',
  flowSteps: 10,
  diffusionSteps: 1000,
  diffusionSamplingSteps: 100,
  diffusionNoiseSchedule: 'cosine',
  diffusionLearnSigma: true,
  padTokenId: LLAMA3_SPECIAL_TOKENS.pad,
  bosTokenId: LLAMA3_SPECIAL_TOKENS.bos,
  eosTokenId: LLAMA3_SPECIAL_TOKENS.eos,
  aePath: '',
  extra: Object.freeze({}) as Record<string, unknown>,
});

// The energy-score exponent α of the head's loss.
const alpha = configRule(
  'in (0, 2] (the energy-score exponent; the paper uses 1)',
  (v) => typeof v === 'number' && v > 0 && v <= 2,
);

// The head kind: a built-in kind or the name of a custom head.
const headKind = configRule(
  "'energy', 'flow', 'diffusion' or the kind of a custom head (a name such as 'my-head')",
  (v) => typeof v === 'string' && /^[A-Za-z][\w.-]*$/.test(v),
);

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
  /** Accepted `architectures` entries; a file must name one of them when it has `architectures`. */
  readonly architectures: readonly string[];
  /** The `architectures` entry written for a configuration. */
  readonly architectureOf: (config: C) => string;
  /** Ends the message about a file naming another architecture: `this is not <notThis>`. */
  readonly notThis: string;
  /** Written as `model_type` unless a field maps to it. */
  readonly modelType: string;
  /** JSON names of fields not written for this configuration (settings of another head kind). */
  readonly omitOnWrite?: (config: C) => ReadonlySet<string>;
  /** Adjusts a configuration read from a file (its unknown keys are in `extra`) and returns problems. */
  readonly adjustRead?: (config: Record<string, unknown>, extra: Record<string, unknown>) => string[];
  /** Cross-field problems beyond the Llama and token-id checks. */
  readonly crossProblems?: (config: C, name: (key: string) => string) => string[];
  readonly fixed: Readonly<Record<string, unknown>>;
  /** Bookkeeping keys whose value read from a file (kept in `extra`) replaces the written one. */
  readonly keptFromExtra: ReadonlyArray<string>;
  /** Values of the keys a file leaves out. */
  readonly defaults: () => C;
}

// The config.json keys of the Llama backbone that the official classes write with one value only
// (checked when read, never kept): SiLU MLPs, no biases, no tensor parallelism, RoPE unscaled.
const LLAMA_FIXED: Readonly<Record<string, unknown>> = {
  hidden_act: 'silu',
  attention_bias: false,
  mlp_bias: false,
  pretraining_tp: 1,
  rope_scaling: null,
  attention_dropout: 0,
};

const HEAD_FIELDS: ReadonlyArray<ConfigField> = Object.values(HEAD_KINDS).flatMap((e) => e.fields);

/** Which head an `architectures` entry implies (`'custom'` for the official base class `CALM`). */
function kindOfArchitectures(arch: unknown): CalmHeadKind | 'custom' | undefined {
  if (!Array.isArray(arch)) return undefined;
  for (const [kind, entry] of Object.entries(HEAD_KINDS))
    if (arch.includes(entry.architecture)) return kind as CalmHeadKind;
  return arch.includes(CUSTOM_HEAD_ARCHITECTURE) ? 'custom' : undefined;
}

const CALM_FORMAT: ModelConfigFormat<CalmConfig> = {
  what: 'CALM config',
  fields: [
    ...LLAMA_FIELDS,
    ['vocabSize', 'vocab_size', 'posInt'],
    ['patchSize', 'patch_size', 'posInt'],
    ['latentSize', 'latent_size', 'posInt'],
    ['head', 'model_type', headKind],
    ['noiseSize', 'noise_size', 'posInt'],
    ['numMlpLayers', 'num_mlp_layers', 'nonNegInt'],
    ['numSamples', 'num_samples', 'posInt'],
    ['numTargetSamples', 'num_target_samples', 'posInt'],
    ['beta', 'beta', alpha],
    ...HEAD_FIELDS,
    ['padTokenId', 'pad_token_id', 'tokenId'],
    ['bosTokenId', 'bos_token_id', 'tokenId'],
    ['eosTokenId', 'eos_token_id', 'tokenId'],
    ['aePath', 'ae_path', 'string'],
  ],
  architectures: [...Object.values(HEAD_KINDS).map((e) => e.architecture), CUSTOM_HEAD_ARCHITECTURE],
  architectureOf: (c) => (isBuiltinHead(c.head) ? HEAD_KINDS[c.head].architecture : CUSTOM_HEAD_ARCHITECTURE),
  notThis: "a CALM language-model config (an autoencoder's config belongs to @calm/autoencoder)",
  modelType: '',
  fixed: { ...LLAMA_FIXED, tie_word_embeddings: false },
  keptFromExtra: ['torch_dtype', 'transformers_version'],
  defaults: () => ({ ...CALM_M_CONFIG }),
  omitOnWrite: (c) => {
    const own = isBuiltinHead(c.head) ? HEAD_KINDS[c.head].fields : [];
    return new Set(HEAD_FIELDS.filter((f) => !own.includes(f)).map(([, json]) => json));
  },
  // model_type: the official class writes "" for every head (HF's class attribute), so an absent or
  // empty value takes the kind from `architectures` (FlowTransformer, DiffusionTransformer), else energy.
  adjustRead: (config, extra) => {
    const fromArch = kindOfArchitectures(extra.architectures);
    const mt = config.head;
    if (mt === undefined || mt === null || mt === '') {
      if (fromArch === 'custom')
        return [
          `architectures ["${CUSTOM_HEAD_ARCHITECTURE}"] needs model_type naming the custom head's kind (the kind of the head instance to load it with)`,
        ];
      config.head = fromArch ?? 'energy';
      return [];
    }
    if (typeof mt !== 'string' || fromArch === undefined) return [];
    const want = isBuiltinHead(mt) ? mt : 'custom';
    return want === fromArch
      ? []
      : [
          `model_type ${JSON.stringify(mt)} contradicts architectures ${JSON.stringify(extra.architectures)} (${isBuiltinHead(mt) ? `the ${mt} head is "${HEAD_KINDS[mt].architecture}"` : `a custom head is "${CUSTOM_HEAD_ARCHITECTURE}"`}); fix one of the two`,
        ];
  },
  crossProblems: (c, n) => (isBuiltinHead(c.head) ? HEAD_KINDS[c.head].problems(c, n) : []),
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
  architectures: ['LlamaForCausalLM'],
  architectureOf: () => 'LlamaForCausalLM',
  notThis: 'an AR-baseline config',
  modelType: 'llama',
  fixed: LLAMA_FIXED,
  keptFromExtra: ['architectures', 'torch_dtype', 'transformers_version'],
  defaults: () => arConfig({}),
};

function configProblems<C>(format: ModelConfigFormat<C>, config: C, jsonNames: boolean): string[] {
  const rec = config as unknown as Record<string, unknown>;
  const n = configFieldNamer(format.fields, jsonNames);
  const problems = collectConfigProblems(rec, format.fields, { jsonNames });
  if (typeof rec.extra !== 'object' || rec.extra === null || Array.isArray(rec.extra))
    problems.push('extra must be an object (use {} when there is nothing to carry)');
  return [...problems, ...llamaCross(rec, n), ...idChecks(rec, n), ...(format.crossProblems?.(config, n) ?? [])];
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
        const notList = checkConfigValue('architectures', 'stringList', value);
        if (notList !== null) problems.push(notList);
        else if (!format.architectures.some((a) => (value as string[]).includes(a)))
          problems.push(
            `architectures ${JSON.stringify(value)} does not name ${format.architectures.map((a) => `"${a}"`).join(' or ')}; this is not ${format.notThis}`,
          );
      }
      extra[key] = value;
    }
  }
  config.extra = extra;
  problems.push(...(format.adjustRead?.(config, extra) ?? []));
  const c = config as unknown as C;
  throwProblems([...problems, ...configProblems(format, c, true)], fileName);
  return c;
}

function writeConfigJson<C extends { extra: Record<string, unknown> }>(
  format: ModelConfigFormat<C>,
  config: C,
): Record<string, unknown> {
  validateWith(format, config);
  const rec = config as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { architectures: [format.architectureOf(config)], model_type: format.modelType };
  const omit = format.omitOnWrite?.(config);
  for (const [camel, snake] of format.fields) if (!omit?.has(snake)) out[snake] = rec[camel];
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
 * @param overrides - Fields to change (`head: 'flow'` or `'diffusion'` picks another head).
 * @returns A new configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem.
 * @example
 * {@includeCode ../test/examples.test.ts#calm-config}
 * @example
 * {@includeCode ../test/examples.test.ts#head-kinds}
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
    ...LLAMA3_BACKBONE_DEFAULTS,
    padTokenId: LLAMA3_SPECIAL_TOKENS.pad,
    bosTokenId: LLAMA3_SPECIAL_TOKENS.bos,
    eosTokenId: LLAMA3_SPECIAL_TOKENS.eos,
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
 * Absent keys take CALM-M's values; `num_target_samples` (M) and the flow and diffusion settings
 * (`flow_solver`, `flow_steps`, `diffusion_steps`, `num_sampling_steps`, `noise_schedule`,
 * `learn_sigma`) are not official keys and default to the official modules' values. The head
 * (`model_type`): `"energy"`, `"flow"`, `"diffusion"`, or the kind of a custom head; absent or `""`
 * (what the official classes write) takes it from `architectures` (`FlowTransformer`,
 * `DiffusionTransformer`), else the energy head. Unknown keys go to `extra`.
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
 * Writes a CALM configuration as an official `config.json` object (snake_case keys, HF fields):
 * `architectures` names the head's official class (`EnergyTransformer`, `FlowTransformer`,
 * `DiffusionTransformer`, or `CALM` for a custom head), `model_type` the head kind, and only the
 * settings of that head are written.
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
