// Model configs: CALM / AR config.json round trips, every problem listed at once.
import { describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import {
  arConfigFromJson,
  arConfigToJson,
  calmConfig,
  calmConfigFromJson,
  calmConfigToJson,
  validateCalmConfig,
} from '../src/index.js';

function problemsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    expect(isCalmError(e, 'INVALID_CONFIG')).toBe(true);
    return (e as { details: { problems: string[] } }).details.problems;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('model configs', () => {
  it('lists every problem of a CALM config', () => {
    const problems = problemsOf(() =>
      validateCalmConfig({
        ...calmConfig({}),
        hiddenSize: 100,
        numAttentionHeads: 16,
        numKeyValueHeads: 5,
        beta: 3,
        padTokenId: 999999,
      }),
    );
    expect(problems.length).toBe(4);
  });

  it('round-trips config.json (CALM and AR) and rejects unsupported fields', () => {
    const c = calmConfig({
      hiddenSize: 64,
      intermediateSize: 128,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      aePath: '/x',
    });
    expect(calmConfigFromJson(calmConfigToJson(c))).toEqual({ ...c, extra: expect.any(Object) });
    const json = { ...calmConfigToJson(c), mlp_bias: true, model_type: 'flow' };
    expect(problemsOf(() => calmConfigFromJson(json)).length).toBe(2);
    const arJson = arConfigToJson({
      ...calmConfig({}),
      padTokenId: 1,
      bosTokenId: 2,
      eosTokenId: 3,
      tieWordEmbeddings: false,
      extra: {},
    } as never);
    expect(arConfigFromJson(arJson).hiddenSize).toBe(1024);
    expect(problemsOf(() => calmConfigFromJson({ ...arJson })).join()).toContain('EnergyTransformer');
  });

  it("round-trips every head kind; config.json names the official class and only that head's settings", () => {
    const base = { hiddenSize: 64, intermediateSize: 128, numAttentionHeads: 4, numKeyValueHeads: 2 };
    const energy = calmConfigToJson(calmConfig(base));
    expect(energy).toMatchObject({ architectures: ['EnergyTransformer'], model_type: 'energy', noise_size: 64 });
    expect(Object.keys(energy).some((k) => /flow_|diffusion_|sampling|noise_schedule|learn_sigma/.test(k))).toBe(false);
    const flow = calmConfig({ ...base, head: 'flow', flowSolver: 'euler', flowSteps: 4 });
    const flowJson = calmConfigToJson(flow);
    expect(flowJson).toMatchObject({
      architectures: ['FlowTransformer'],
      model_type: 'flow',
      flow_solver: 'euler',
      flow_steps: 4,
    });
    expect('diffusion_steps' in flowJson).toBe(false);
    expect(calmConfigFromJson(flowJson)).toEqual({ ...flow, extra: expect.any(Object) });
    const diffusion = calmConfig({
      ...base,
      head: 'diffusion',
      diffusionSamplingSteps: 10,
      diffusionLearnSigma: false,
    });
    const diffusionJson = calmConfigToJson(diffusion);
    expect(diffusionJson).toMatchObject({
      architectures: ['DiffusionTransformer'],
      model_type: 'diffusion',
      diffusion_steps: 1000,
      num_sampling_steps: 10,
      noise_schedule: 'cosine',
      learn_sigma: false,
    });
    expect(calmConfigFromJson(diffusionJson)).toEqual({ ...diffusion, extra: expect.any(Object) });
    // What the official classes write: model_type "" (HF's class attribute); the kind comes from architectures.
    for (const [arch, kind] of [
      ['EnergyTransformer', 'energy'],
      ['FlowTransformer', 'flow'],
      ['DiffusionTransformer', 'diffusion'],
    ] as const) {
      expect(calmConfigFromJson({ ...energy, architectures: [arch], model_type: '' }).head).toBe(kind);
      expect(calmConfigFromJson({ ...energy, architectures: [arch], model_type: undefined }).head).toBe(kind);
    }
    const { architectures: _a, model_type: _m, ...bare } = energy;
    expect(calmConfigFromJson(bare).head).toBe('energy');
    // A custom head: its kind as model_type, architectures the official base class CALM.
    const custom = calmConfig({ ...base, head: 'gaussian' });
    const customJson = calmConfigToJson(custom);
    expect(customJson).toMatchObject({ architectures: ['CALM'], model_type: 'gaussian' });
    expect(calmConfigFromJson(customJson).head).toBe('gaussian');
  });

  it('reports head problems: contradictions, bad kinds and bad diffusion settings', () => {
    const base = calmConfigToJson(calmConfig({}));
    expect(problemsOf(() => calmConfigFromJson({ ...base, model_type: 'diffusion' })).join()).toMatch(
      /contradicts architectures/,
    );
    expect(problemsOf(() => calmConfigFromJson({ ...base, architectures: ['CALM'], model_type: '' })).join()).toMatch(
      /needs model_type/,
    );
    const problems = problemsOf(() =>
      validateCalmConfig({
        ...calmConfig({}),
        head: 'diffusion',
        diffusionSteps: 10,
        diffusionSamplingSteps: 20,
        diffusionNoiseSchedule: 'linear',
        flowSolver: 'rk4' as never,
      }),
    );
    expect(problems).toHaveLength(3); // flowSolver; sampling steps > steps; linear needs >= 20 steps
    expect(problemsOf(() => validateCalmConfig({ ...calmConfig({}), head: '' })).join()).toMatch(/head must be/);
  });
});
