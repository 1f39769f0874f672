// The generative heads a CALM model is built with, by kind: for each built-in kind (the official
// energy, flow-matching and diffusion heads of @calm/energy-head) the official class name written to
// config.json, the state-dict prefix and its aliases, the kind's own config fields, and how to
// build its parameter specs and the head from a CALM config. Adding a kind is one entry here (and
// its fields in `CalmConfig`). Heads of other kinds come from the caller as instances.

import { configOneOf, type ConfigField } from '@calm/core';
import {
  DiffusionHead,
  EnergyHead,
  FlowMatchingHead,
  diffusionHeadParamSpecs,
  diffusionScheduleProblems,
  energyHeadParamSpecs,
  flowHeadParamSpecs,
  type DiffusionHeadConfig,
  type EnergyHeadConfig,
  type FlowHeadConfig,
  type GenerativeHead,
} from '@calm/energy-head';
import type { ParamRecord, ParamSpec } from '@calm/nn';
import type { CalmConfig } from './config.js';

/**
 * The generative heads built into CALM (official `model_type`): `'energy'` (the default, official
 * `EnergyTransformer`), `'flow'` (`FlowTransformer`) and `'diffusion'` (`DiffusionTransformer`).
 * @see {@link CalmConfig.head}, {@link calmConfig}
 * @category Config
 */
export type CalmHeadKind = 'energy' | 'flow' | 'diffusion';

/** What the model needs to know about one built-in head kind. */
export interface HeadKindEntry {
  /** The official model class, written as `architectures` in config.json. */
  readonly architecture: string;
  /** State-dict prefix of the head's parameters, without trailing dot. */
  readonly prefix: string;
  /** Other prefixes official checkpoints store the same tensors under (accepted on load, never written). */
  readonly aliases: readonly string[];
  /** The kind's own config fields (camelCase key, config.json name, rule); written only for this kind. */
  readonly fields: ReadonlyArray<ConfigField>;
  /** Cross-field problems of the kind's settings (checked when the config uses this kind). */
  readonly problems: (config: CalmConfig, name: (key: string) => string) => string[];
  /** The head's parameter specs (official names and initialisation) under `prefix`. */
  readonly specs: (config: CalmConfig) => Record<string, ParamSpec>;
  /** The head over existing parameters (the model owns them; the head does not). */
  readonly create: (config: CalmConfig, params: ParamRecord) => GenerativeHead;
}

// The settings every head takes from a CALM config (the head's width is the backbone's).
function sharedHeadConfig(c: CalmConfig) {
  return { hiddenSize: c.hiddenSize, latentSize: c.latentSize, numMlpLayers: c.numMlpLayers, numSamples: c.numSamples };
}

function energyConfig(c: CalmConfig): EnergyHeadConfig {
  return {
    ...sharedHeadConfig(c),
    noiseSize: c.noiseSize,
    numTargetSamples: c.numTargetSamples,
    beta: c.beta,
    initializerRange: c.initializerRange,
  };
}

function flowConfig(c: CalmConfig): FlowHeadConfig {
  return { ...sharedHeadConfig(c), solver: c.flowSolver, numSteps: c.flowSteps };
}

function diffusionConfig(c: CalmConfig): DiffusionHeadConfig {
  return {
    ...sharedHeadConfig(c),
    numTimesteps: c.diffusionSteps,
    samplingSteps: c.diffusionSamplingSteps,
    noiseSchedule: c.diffusionNoiseSchedule,
    learnSigma: c.diffusionLearnSigma,
  };
}

// The CALM config keys of the diffusion head's schedule settings, for naming them in problems.
const DIFFUSION_KEYS = {
  numTimesteps: 'diffusionSteps',
  samplingSteps: 'diffusionSamplingSteps',
  noiseSchedule: 'diffusionNoiseSchedule',
} as const;

/** The built-in head kinds. */
export const HEAD_KINDS: Readonly<Record<CalmHeadKind, HeadKindEntry>> = Object.freeze({
  energy: {
    architecture: 'EnergyTransformer',
    prefix: 'mlp_generator',
    aliases: ['generative_head'], // official: `self.generative_head = self.mlp_generator`, saved twice
    fields: [],
    problems: () => [],
    specs: (c) => energyHeadParamSpecs(energyConfig(c), 'mlp_generator'),
    create: (c, params) => new EnergyHead(energyConfig(c), { params, prefix: 'mlp_generator' }),
  },
  flow: {
    architecture: 'FlowTransformer',
    prefix: 'generative_head.net',
    aliases: [],
    fields: [
      ['flowSolver', 'flow_solver', configOneOf('midpoint', 'euler')],
      ['flowSteps', 'flow_steps', 'posInt'],
    ],
    problems: () => [],
    specs: (c) => flowHeadParamSpecs(flowConfig(c), 'generative_head.net'),
    create: (c, params) => new FlowMatchingHead(flowConfig(c), { params, prefix: 'generative_head.net' }),
  },
  diffusion: {
    architecture: 'DiffusionTransformer',
    prefix: 'generative_head.net',
    aliases: [],
    fields: [
      ['diffusionSteps', 'diffusion_steps', 'posInt'],
      ['diffusionSamplingSteps', 'num_sampling_steps', 'posInt'],
      ['diffusionNoiseSchedule', 'noise_schedule', configOneOf('cosine', 'linear')],
      ['diffusionLearnSigma', 'learn_sigma', 'bool'],
    ],
    problems: (c, n) => diffusionScheduleProblems(diffusionConfig(c), (key) => n(DIFFUSION_KEYS[key])),
    specs: (c) => diffusionHeadParamSpecs(diffusionConfig(c), 'generative_head.net'),
    create: (c, params) => new DiffusionHead(diffusionConfig(c), { params, prefix: 'generative_head.net' }),
  },
});

/**
 * Whether a head kind is one of the built-in heads, which a configuration alone rebuilds
 * (a custom head needs its instance).
 * @param kind - A head kind, e.g. `CalmConfig.head`.
 * @returns `true` for `'energy'`, `'flow'` and `'diffusion'`.
 * @see {@link CalmModel}
 * @category CALM
 */
export function isBuiltinHead(kind: unknown): kind is CalmHeadKind {
  return typeof kind === 'string' && Object.hasOwn(HEAD_KINDS, kind);
}

/** The config.json `architectures` entry of models whose head is not built in (the official base class). */
export const CUSTOM_HEAD_ARCHITECTURE = 'CALM';

/** The head prefix without a trailing dot (custom heads may write `'my_head.'`). */
export function headPrefix(head: GenerativeHead): string {
  return head.prefix.endsWith('.') ? head.prefix.slice(0, -1) : head.prefix;
}
