// Run configs: defaults per stage, whole-config validation that reports every problem at once, and
// the example configs under configs/.
import { describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { defaultRunConfig, resolveRunConfig } from '../src/index.js';

function problemsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    expect(isCalmError(e, 'INVALID_CONFIG')).toBe(true);
    return (e as { details: { problems: string[] } }).details.problems;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('resolveRunConfig', () => {
  it('fills stage defaults and keeps overrides', () => {
    const c = resolveRunConfig(
      { outDir: 'r', tokenizer: 't.json', train: { steps: 5 }, model: { hiddenSize: 64 } },
      { stage: 'ar' },
    );
    expect(c.stage).toBe('ar');
    expect(c.train.steps).toBe(5);
    expect(c.train.beta2).toBe(0.95);
    expect(c.train.weightDecay).toBe(0.1);
    expect(c.model.hiddenSize).toBe(64);
    expect(c.model.numHiddenLayers).toBe(defaultRunConfig('ar').model.numHiddenLayers);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(() =>
      resolveRunConfig(
        {
          tokenizer: 3,
          bogus: 1,
          data: { blockSize: 30, color: 'red' },
          train: { lr: -1, schedule: 'linear', beta1: 1.2 },
          eval: { corpus: 'wikitext' },
          model: { vocabSize: 10 },
        },
        { stage: 'calm', source: 'x.json' },
      ),
    );
    const text = problems.join('\n');
    for (const want of [
      'unknown key "bogus"',
      'unknown key "data.color"',
      'tokenizer must be a string',
      'train.lr',
      'train.schedule',
      'train.beta1',
      'outDir is required',
      'autoencoder is required',
      'data.blockSize 30 must be a multiple',
      'eval.files',
      'model.vocabSize comes from the tokenizer',
    ]) {
      expect(text).toContain(want);
    }
    expect(problems.length).toBeGreaterThanOrEqual(11);
  });

  it('names the field, what it expects and the value it got', () => {
    const problems = problemsOf(() =>
      resolveRunConfig(
        {
          outDir: 'r',
          tokenizer: 't',
          seed: 1.5,
          backend: 'gpu',
          data: { files: ['a', 3], maxChars: 0 },
          train: { workers: 0, maxGradNorm: 0 },
          eval: { corpus: 'pile' },
        },
        { stage: 'ar' },
      ),
    );
    expect(problems).toEqual([
      'seed must be an integer, got 1.5',
      'backend must be one of "wasm", "cpu", "webgpu", "tensorflow" or null, got "gpu"',
      'data.files must be a list of strings, got ["a",3]',
      'data.maxChars must be a positive integer or null, got 0',
      'train.workers must be a positive integer or null, got 0',
      'train.maxGradNorm must be a finite number > 0 or null, got 0',
      'eval.corpus must be one of "sotu", "jsonl", "wikitext", got "pile"',
    ]);
    expect(() => resolveRunConfig({ stage: 'lm' })).toThrow(/stage must be one of "ae", "calm", "ar", got "lm"/);
  });

  it('takes the CALM head kind and its settings in model (energy by default)', () => {
    const base = { outDir: 'r', tokenizer: 't.json', autoencoder: 'ae' };
    expect(resolveRunConfig(base, { stage: 'calm' }).model.head).toBe('energy');
    const flow = resolveRunConfig({ ...base, model: { head: 'flow', flowSteps: 4 } }, { stage: 'calm' });
    expect(flow.model).toMatchObject({ head: 'flow', flowSteps: 4, hiddenSize: 128 });
    expect(resolveRunConfig({ ...base, model: { head: 'diffusion' } }, { stage: 'calm' }).model.head).toBe('diffusion');
    expect(
      problemsOf(() => resolveRunConfig({ ...base, model: { head: 'gaussian' } }, { stage: 'calm' })).join(),
    ).toMatch(/model\.head must be "energy", "flow", "diffusion"/);
    expect(
      problemsOf(() =>
        resolveRunConfig({ outDir: 'r', tokenizer: 't', model: { head: 'flow' } }, { stage: 'ar' }),
      ).join(),
    ).toMatch(/model\.head is only used by stage "calm"/);
  });

  it('rejects a stage that contradicts the command', () => {
    expect(
      problemsOf(() => resolveRunConfig({ stage: 'ae', outDir: 'r', tokenizer: 't' }, { stage: 'ar' })).join(),
    ).toContain('the command trains "ar"');
  });
});

describe('example configs (configs/*.json)', () => {
  it('all resolve without problems', async () => {
    const { readFileSync } = await import('node:fs');
    for (const [file, stage] of [
      ['ae', 'ae'],
      ['calm', 'calm'],
      ['ar', 'ar'],
    ] as const) {
      const json = JSON.parse(readFileSync(new URL(`../configs/${file}.json`, import.meta.url), 'utf8')) as unknown;
      expect(resolveRunConfig(json, { stage, source: `${file}.json` }).stage).toBe(stage);
    }
  });
});
