// The JSON configuration of a training run (`calm train-ae | train | train-ar --config file.json`):
// defaults per stage, and whole-config validation that reports every problem at once (unknown
// keys, wrong types, out-of-range values, cross-field constraints) as one INVALID_CONFIG error.

import {
  checkConfigValue,
  collectConfigProblems,
  configOneOf,
  configOrNull,
  configRule,
  throwConfigProblems,
  type ConfigField,
  type ConfigValueKind,
  type ConfigValueRule,
} from '@calm/core';
import { fail } from './internal/errors.js';

/**
 * Where training or evaluation text comes from.
 * @remarks `sotu`: the embedded State of the Union corpus of `@calm/data-pile` (train split for
 * training, held-out split for evaluation); `jsonl`: JSON-lines files with a `text` field
 * (`.jsonl` or `.jsonl.zst`); `wikitext`: the WikiText-103 document-level test file (eval only).
 * @see {@link resolveRunConfig}
 * @category Run config
 */
export type CorpusName = 'sotu' | 'jsonl' | 'wikitext';

/**
 * A training run's configuration (JSON file; camelCase keys).
 * @see {@link resolveRunConfig}
 * @category Run config
 */
export interface RunConfig {
  /** Which model to train: `ae` (stage 1), `calm` (stage 2), `ar` (the baseline). */
  stage: 'ae' | 'calm' | 'ar';
  /** Run folder (checkpoints, metrics, final model). */
  outDir: string;
  /** Seed of every random draw (init, training noise, data shuffle, evaluation). */
  seed: number;
  /** Compute backend (`@calm/nn` `initBackend`); `null` follows `CALM_BACKEND`, else wasm. */
  backend: 'wasm' | 'cpu' | 'webgpu' | 'tensorflow' | null;
  /** Tokenizer: a HF `tokenizer.json`, a tiktoken `tokenizer.model`, or a folder with either. */
  tokenizer: string;
  /** Stage `calm` only: the trained autoencoder folder (frozen during training). */
  autoencoder: string | null;
  /**
   * Model hyper-parameters (camelCase fields of `CalmConfig`, `ArConfig` or the autoencoder's
   * config). Vocabulary size and special ids always come from the tokenizer. Stage `calm`: `head`
   * picks the generative head — `"energy"` (default), `"flow"` or `"diffusion"` — with its
   * settings (`numMlpLayers`, `numSamples`; energy `noiseSize`, `numTargetSamples`, `beta`; flow
   * `flowSolver`, `flowSteps`; diffusion `diffusionSteps`, `diffusionSamplingSteps`,
   * `diffusionNoiseSchedule`, `diffusionLearnSigma`).
   */
  model: Record<string, unknown>;
  /** Training data. */
  data: {
    /** The corpus. */
    corpus: 'sotu' | 'jsonl';
    /** Files for `jsonl`. */
    files: string[];
    /** Cap on characters read from `sotu` (whole addresses). */
    maxChars: number | null;
    /** Tokens per training block (a multiple of K for `ae` and `calm`). */
    blockSize: number;
    /** Shuffle buffer in blocks (0 keeps the corpus order). */
    shuffleBuffer: number;
    /** Documents per packing group (the official map batch). */
    groupSize: number;
  };
  /** Optimisation. */
  train: {
    /** Optimiser steps. */
    steps: number;
    /** Blocks per micro-batch. */
    batchSize: number;
    /** Micro-batches per step. */
    gradAccum: number;
    /** Data-parallel worker threads (`null`: the available cores, at most a divisor of `batchSize`). */
    workers: number | null;
    /** Peak learning rate. */
    lr: number;
    /** AdamW β1. */
    beta1: number;
    /** AdamW β2. */
    beta2: number;
    /** AdamW ε. */
    eps: number;
    /** Decoupled weight decay (not on biases and norm weights). */
    weightDecay: number;
    /** Linear warm-up steps from 0. */
    warmupSteps: number;
    /** `constant_with_warmup` (the paper's), `constant` (the scripts as run: no warm-up), or `cosine` to `minLr` at `steps`. */
    schedule: 'constant' | 'constant_with_warmup' | 'cosine';
    /** Final learning rate of `cosine`. */
    minLr: number;
    /** Global-norm clipping threshold, `null` to disable. */
    maxGradNorm: number | null;
    /** Stop after this many minutes of training (`null`: no limit). */
    maxMinutes: number | null;
  };
  /** Logging. */
  log: {
    /** Steps between training records. */
    every: number;
  };
  /** Checkpoints. */
  checkpoint: {
    /** Steps between checkpoints (0: only at the end). */
    every: number;
    /** Checkpoints kept. */
    keep: number;
  };
  /** Periodic evaluation (BrierLM for `calm` and `ar`, reconstruction accuracy for `ae`). */
  eval: {
    /** Steps between evaluations (0: only at the end). */
    every: number;
    /** Held-out blocks evaluated. */
    blocks: number;
    /** Tokens per evaluation block. */
    blockSize: number;
    /** Held-out text. */
    corpus: CorpusName;
    /** Files for `jsonl` / `wikitext`. */
    files: string[];
  };
}

/**
 * The defaults of a stage (a small CPU-sized model, the official optimiser settings).
 * @param stage - `ae`, `calm` or `ar`.
 * @returns A complete configuration except `outDir` and `tokenizer` (empty strings).
 * @example
 * {@includeCode ../test/examples.test.ts#run-config}
 * @category Run config
 */
export function defaultRunConfig(stage: RunConfig['stage']): RunConfig {
  const model: Record<string, unknown> =
    stage === 'ae'
      ? { hiddenSize: 128, intermediateSize: 256, latentSize: 32, patchSize: 4 }
      : stage === 'calm'
        ? {
            head: 'energy',
            hiddenSize: 128,
            intermediateSize: 320,
            numHiddenLayers: 4,
            numAttentionHeads: 4,
            numKeyValueHeads: 4,
            noiseSize: 32,
            numMlpLayers: 2,
            numSamples: 8,
            numTargetSamples: 100,
          }
        : { hiddenSize: 128, intermediateSize: 320, numHiddenLayers: 4, numAttentionHeads: 4, numKeyValueHeads: 4 };
  return {
    stage,
    outDir: '',
    seed: 1,
    backend: null,
    tokenizer: '',
    autoencoder: null,
    model,
    data: { corpus: 'sotu', files: [], maxChars: null, blockSize: 256, shuffleBuffer: 64, groupSize: 1000 },
    train: {
      steps: 1000,
      batchSize: 16,
      gradAccum: 1,
      workers: null,
      lr: stage === 'ae' ? 3e-3 : 1e-3,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: 0.1,
      warmupSteps: 50,
      schedule: 'constant_with_warmup',
      minLr: 0,
      maxGradNorm: 1.0,
      maxMinutes: null,
    },
    log: { every: 10 },
    checkpoint: { every: 100, keep: 2 },
    eval: { every: 0, blocks: 16, blockSize: 256, corpus: 'sotu', files: [] },
  };
}

/** The heads a `calm train` run can build from its config. */
const CALM_TRAIN_HEADS: readonly string[] = ['energy', 'flow', 'diffusion'];

type Rule = ConfigValueKind | ConfigValueRule;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const STAGE = configOneOf('ae', 'calm', 'ar');

/** The rules of the top-level values. */
const TOP: Readonly<Record<string, Rule>> = {
  stage: STAGE,
  outDir: 'string',
  seed: 'int',
  backend: configOrNull(configOneOf('wasm', 'cpu', 'webgpu', 'tensorflow')),
  tokenizer: 'string',
  autoencoder: configOrNull('string'),
  model: configRule('an object of model hyper-parameters', isObject),
};

/** The rules of each section's values. */
const SECTIONS: Readonly<Record<string, Readonly<Record<string, Rule>>>> = {
  data: {
    corpus: configOneOf('sotu', 'jsonl'),
    files: 'stringList',
    maxChars: configOrNull('posInt'),
    blockSize: 'posInt',
    shuffleBuffer: 'nonNegInt',
    groupSize: 'posInt',
  },
  train: {
    steps: 'nonNegInt',
    batchSize: 'posInt',
    gradAccum: 'posInt',
    workers: configOrNull('posInt'),
    lr: 'nonNeg',
    beta1: 'prob',
    beta2: 'prob',
    eps: 'nonNeg',
    weightDecay: 'nonNeg',
    warmupSteps: 'nonNegInt',
    schedule: configOneOf('constant', 'constant_with_warmup', 'cosine'),
    minLr: 'nonNeg',
    maxGradNorm: configOrNull('pos'),
    maxMinutes: configOrNull('pos'),
  },
  log: { every: 'posInt' },
  checkpoint: { every: 'nonNegInt', keep: 'posInt' },
  eval: {
    every: 'nonNegInt',
    blocks: 'nonNegInt',
    blockSize: 'posInt',
    corpus: configOneOf('sotu', 'jsonl', 'wikitext'),
    files: 'stringList',
  },
};

/** Rules as a field table whose names are the dotted paths the messages use (`train.lr`). */
const fieldsOf = (rules: Readonly<Record<string, Rule>>, section?: string): ConfigField[] =>
  Object.entries(rules).map(([key, rule]) => [key, section === undefined ? key : `${section}.${key}`, rule]);

const TOP_FIELDS = fieldsOf(TOP);
const SECTION_FIELDS = Object.entries(SECTIONS).map(([section, rules]) => [section, fieldsOf(rules, section)] as const);

/**
 * Merges a partial configuration (parsed JSON) over the stage's defaults and validates the whole
 * result, reporting every problem at once.
 *
 * @param input - The parsed JSON (its `stage` picks the defaults; `stageOverride` wins).
 * @param options - `stage` forced by the command (`train-ae` → `ae`, …); `source` names the file in messages.
 * @returns The complete configuration.
 * @throws `CalmError` `INVALID_CONFIG` listing every problem (unknown keys, types, ranges,
 *   missing `outDir`/`tokenizer`/`autoencoder`, block sizes, schedule constraints).
 * @example
 * {@includeCode ../test/examples.test.ts#run-config}
 * @category Run config
 */
export function resolveRunConfig(
  input: unknown,
  options: { stage?: RunConfig['stage']; source?: string } = {},
): RunConfig {
  const source = options.source ?? 'run config';
  const problems: string[] = [];
  if (!isObject(input)) {
    fail('INVALID_CONFIG', `${source} must be a JSON object, got ${Array.isArray(input) ? 'an array' : typeof input}.`);
  }
  const obj = input as Record<string, unknown>;
  const stage = options.stage ?? obj.stage ?? 'calm';
  if (options.stage !== undefined && obj.stage !== undefined && obj.stage !== options.stage) {
    problems.push(
      `stage is ${JSON.stringify(obj.stage)} but the command trains "${options.stage}"; remove "stage" or use the matching command`,
    );
  }
  // The stage picks the defaults, so a bad one stops here.
  const badStage = checkConfigValue('stage', STAGE, stage);
  if (badStage !== null) fail('INVALID_CONFIG', `${source}: ${badStage}.`);
  const base = defaultRunConfig(stage as RunConfig['stage']) as unknown as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(obj)) {
    const rules = Object.hasOwn(SECTIONS, key) ? SECTIONS[key] : undefined;
    if (Object.hasOwn(TOP, key))
      merged[key] = key === 'model' && isObject(value) ? { ...(base.model as object), ...value } : value;
    else if (rules === undefined)
      problems.push(`unknown key "${key}" (known: ${[...Object.keys(TOP), ...Object.keys(SECTIONS)].join(', ')})`);
    else if (!isObject(value)) problems.push(`${key} must be an object with keys ${Object.keys(rules).join(', ')}`);
    else {
      const section = { ...(base[key] as Record<string, unknown>) };
      for (const [k, v] of Object.entries(value)) {
        if (!Object.hasOwn(rules, k))
          problems.push(`unknown key "${key}.${k}" (known: ${Object.keys(rules).join(', ')})`);
        else section[k] = v;
      }
      merged[key] = section;
    }
  }
  merged.stage = stage;
  problems.push(...collectConfigProblems(merged, TOP_FIELDS));
  for (const [key, fields] of SECTION_FIELDS) {
    const section = merged[key];
    if (isObject(section)) problems.push(...collectConfigProblems(section, fields, { jsonNames: true }));
  }
  const c = merged as unknown as RunConfig;
  if (c.outDir === '') problems.push('outDir is required (the run folder)');
  if (c.tokenizer === '') problems.push('tokenizer is required (a tokenizer.json / tokenizer.model path)');
  if (c.stage === 'calm' && !c.autoencoder)
    problems.push(
      'autoencoder is required for stage "calm" (the folder of a trained autoencoder, e.g. the train-ae run\'s final/)',
    );
  if (c.stage !== 'calm' && c.autoencoder)
    problems.push(`autoencoder is only used by stage "calm"; remove it for stage "${c.stage}"`);
  if (c.data?.corpus === 'jsonl' && Array.isArray(c.data.files) && c.data.files.length === 0)
    problems.push('data.files must list at least one .jsonl/.jsonl.zst file for corpus "jsonl"');
  if (
    c.eval &&
    (c.eval.corpus === 'jsonl' || c.eval.corpus === 'wikitext') &&
    Array.isArray(c.eval.files) &&
    c.eval.files.length === 0
  )
    problems.push(`eval.files must name the ${c.eval.corpus} file(s)`);
  const k = typeof c.model?.patchSize === 'number' ? c.model.patchSize : 4;
  if (c.stage !== 'ar' && Number.isInteger(c.data?.blockSize) && c.data.blockSize % k !== 0)
    problems.push(`data.blockSize ${c.data.blockSize} must be a multiple of the chunk size K = ${k}`);
  if (c.stage === 'calm' && Number.isInteger(c.data?.blockSize) && c.data.blockSize < 2 * k)
    problems.push(`data.blockSize must hold at least 2 chunks (>= ${2 * k} tokens) for stage "calm"`);
  if (c.stage !== 'ar' && Number.isInteger(c.eval?.blockSize) && c.eval.blockSize % k !== 0)
    problems.push(`eval.blockSize ${c.eval.blockSize} must be a multiple of the chunk size K = ${k}`);
  if (
    Number.isInteger(c.train?.workers) &&
    c.train.workers! >= 1 &&
    Number.isInteger(c.train?.batchSize) &&
    c.train.batchSize % c.train.workers! !== 0
  )
    problems.push(`train.batchSize (${c.train.batchSize}) must be a multiple of train.workers (${c.train.workers})`);
  if (c.train?.schedule === 'cosine' && Number.isInteger(c.train.steps) && c.train.steps <= c.train.warmupSteps)
    problems.push('train.steps must exceed train.warmupSteps for the cosine schedule');
  if (c.train?.schedule === 'cosine' && typeof c.train.minLr === 'number' && c.train.minLr > c.train.lr)
    problems.push('train.minLr must not exceed train.lr');
  const head = c.model?.head;
  if (c.stage === 'calm' && head !== undefined && !CALM_TRAIN_HEADS.includes(head as string))
    problems.push(
      `model.head must be ${CALM_TRAIN_HEADS.map((h) => JSON.stringify(h)).join(', ')} (a custom head trains through the @calm/model API, not a run config), got ${JSON.stringify(head)}`,
    );
  if (c.stage !== 'calm' && c.model && 'head' in c.model)
    problems.push(`model.head is only used by stage "calm"; remove it for stage "${c.stage}"`);
  for (const key of ['vocabSize', 'padTokenId', 'bosTokenId', 'eosTokenId'] as const) {
    if (c.model && key in c.model) problems.push(`model.${key} comes from the tokenizer; remove it`);
  }
  throwConfigProblems(problems, source, '@calm/trainer');
  return c;
}
