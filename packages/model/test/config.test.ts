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
});
