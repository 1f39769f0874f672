// Config validation: the built-in value rules, custom rules, whole-object problem lists under
// camelCase or JSON names, and the one INVALID_CONFIG error. The regions are the API examples.
import { describe, expect, it, vi } from 'vitest';
import {
  checkConfigValue,
  collectConfigProblems,
  configFieldNamer,
  configIntAtLeast,
  configOneOf,
  configOptional,
  configOrNull,
  configRule,
  isCalmError,
  throwConfigProblems,
  type CalmError,
  type ConfigField,
  type ConfigValueRule,
} from '../src/index.js';

describe('checkConfigValue', () => {
  it('applies built-in and custom rules', () => {
    // #region check-value
    // import { checkConfigValue, type ConfigValueRule } from '@calm/core';
    const ok = checkConfigValue('hiddenSize', 'posInt', 64); // null
    const bad = checkConfigValue('hiddenSize', 'posInt', 1.5); // 'hiddenSize must be a positive integer, got 1.5'
    const silu: ConfigValueRule = (name, v) =>
      v === 'silu' ? null : `${name} must be "silu", got ${JSON.stringify(v)}`;
    const act = checkConfigValue('hidden_act', silu, 'gelu'); // 'hidden_act must be "silu", got "gelu"'
    // #endregion check-value
    expect(ok).toBeNull();
    expect(bad).toBe('hiddenSize must be a positive integer, got 1.5');
    expect(act).toBe('hidden_act must be "silu", got "gelu"');
  });

  it('accepts exactly the values each kind describes', () => {
    const cases: Array<[Parameters<typeof checkConfigValue>[1], unknown[], unknown[]]> = [
      ['posInt', [1, 2 ** 40], [0, -1, 1.5, '3', null, Number.NaN, 2 ** 60]],
      ['nonNegInt', [0, 7], [-1, 0.5, '0', undefined]],
      ['pos', [1e-9, 3.5], [0, -1, Number.POSITIVE_INFINITY, Number.NaN, '1']],
      ['nonNeg', [0, 2.5], [-1e-9, Number.POSITIVE_INFINITY, null]],
      ['prob', [0, 0.15, 0.999], [1, -0.1, '0.5']],
      ['tokenId', [0, 128256], [null, -1, 2.5]],
      ['tokenIdOrNull', [null, 0, 128256], [undefined, -1, 2.5, '1']],
      ['bool', [true, false], [0, 1, 'true', null]],
      ['string', ['', 'x'], [1, null, undefined]],
      ['int', [0, -3, 2 ** 40], [1.5, '1', null, 2 ** 60]],
      ['stringList', [[], ['a', 'b']], ['a', [1], null, ['a', null]]],
    ];
    for (const [kind, good, bad] of cases) {
      for (const v of good) expect(checkConfigValue('f', kind, v), `${kind} ${String(v)}`).toBeNull();
      for (const v of bad) expect(checkConfigValue('f', kind, v), `${kind} ${String(v)}`).toMatch(/^f must be /);
    }
  });

  it('shows absent values as undefined and non-finite numbers as themselves', () => {
    expect(checkConfigValue('vocabSize', 'posInt', undefined)).toBe(
      'vocabSize must be a positive integer, got undefined',
    );
    expect(checkConfigValue('eps', 'pos', Number.NaN)).toBe('eps must be a finite number > 0, got NaN');
    expect(checkConfigValue('eps', 'pos', Number.NEGATIVE_INFINITY)).toBe(
      'eps must be a finite number > 0, got -Infinity',
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(checkConfigValue('files', 'stringList', cyclic)).toBe(
      'files must be a list of strings, got [object Object]',
    );
    const long = checkConfigValue('files', 'stringList', 'x'.repeat(500));
    expect(long).toMatch(/^files must be a list of strings, got "x+\.\.\.$/);
    expect(long!.length).toBeLessThan(200);
  });
});

describe('rule builders', () => {
  it('build rules for enumerations, lower bounds, nullable settings and custom tests', () => {
    // #region rule-builders
    // import { checkConfigValue, configIntAtLeast, configOneOf, configOptional, configOrNull, configRule } from '@calm/core';
    const solver = configOneOf('midpoint', 'euler');
    const samples = configIntAtLeast(2);
    const workers = configOrNull('posInt');
    const backend = configOrNull(configOneOf('wasm', 'cpu'));
    const outDir = configRule('a non-empty path', (v) => typeof v === 'string' && v !== '');
    const evalBlocks = configOptional(configIntAtLeast(2)); // may be left out
    checkConfigValue('solver', solver, 'rk4'); // 'solver must be one of "midpoint", "euler", got "rk4"'
    checkConfigValue('numSamples', samples, 1); // 'numSamples must be an integer >= 2, got 1'
    checkConfigValue('workers', workers, null); // null: switched off is fine
    checkConfigValue('backend', backend, 'gpu'); // 'backend must be one of "wasm", "cpu" or null, got "gpu"'
    checkConfigValue('outDir', outDir, ''); // 'outDir must be a non-empty path, got ""'
    checkConfigValue('evalBlocks', evalBlocks, 1); // 'evalBlocks must be an integer >= 2 or absent, got 1'
    // #endregion rule-builders
    expect(checkConfigValue('solver', solver, 'rk4')).toBe('solver must be one of "midpoint", "euler", got "rk4"');
    expect(checkConfigValue('solver', solver, 'euler')).toBeNull();
    expect(checkConfigValue('numSamples', samples, 1)).toBe('numSamples must be an integer >= 2, got 1');
    expect(checkConfigValue('numSamples', samples, 2.5)).toBe('numSamples must be an integer >= 2, got 2.5');
    expect(checkConfigValue('numSamples', samples, 2)).toBeNull();
    expect(checkConfigValue('workers', workers, null)).toBeNull();
    expect(checkConfigValue('workers', workers, 3)).toBeNull();
    expect(checkConfigValue('workers', workers, 0)).toBe('workers must be a positive integer or null, got 0');
    expect(checkConfigValue('workers', workers, undefined)).toBe(
      'workers must be a positive integer or null, got undefined',
    );
    expect(checkConfigValue('backend', backend, 'gpu')).toBe('backend must be one of "wasm", "cpu" or null, got "gpu"');
    expect(checkConfigValue('backend', backend, null)).toBeNull();
    expect(checkConfigValue('outDir', outDir, '')).toBe('outDir must be a non-empty path, got ""');
    expect(outDir.expected).toBe('a non-empty path');
    expect(outDir.test('runs/a')).toBe(true);
    expect(checkConfigValue('evalBlocks', evalBlocks, undefined)).toBeNull();
    expect(checkConfigValue('evalBlocks', evalBlocks, null)).toBe(
      'evalBlocks must be an integer >= 2 or absent, got null',
    );
    expect(checkConfigValue('evalBlocks', evalBlocks, 1)).toBe('evalBlocks must be an integer >= 2 or absent, got 1');
  });

  it('are plain ConfigValueRules in a field table', () => {
    const fields: ReadonlyArray<ConfigField> = [
      ['schedule', 'schedule', configOneOf('constant', 'cosine')],
      ['maxGradNorm', 'max_grad_norm', configOrNull('pos')],
    ];
    expect(collectConfigProblems({ schedule: 'linear', maxGradNorm: 0 }, fields, { jsonNames: true })).toEqual([
      'schedule must be one of "constant", "cosine", got "linear"',
      'max_grad_norm must be a finite number > 0 or null, got 0',
    ]);
  });
});

describe('collectConfigProblems and configFieldNamer', () => {
  const fields: ReadonlyArray<ConfigField> = [
    ['vocabSize', 'vocab_size', 'posInt'],
    ['rmsNormEps', 'rms_norm_eps', 'pos'],
  ];

  it('lists every problem in table order under either naming', () => {
    // #region collect-problems
    // import { collectConfigProblems, type ConfigField } from '@calm/core';
    const fields: ReadonlyArray<ConfigField> = [
      ['vocabSize', 'vocab_size', 'posInt'],
      ['rmsNormEps', 'rms_norm_eps', 'pos'],
      ['padTokenId', 'pad_token_id', 'tokenIdOrNull'],
    ];
    const config = { vocabSize: 0, rmsNormEps: 1e-6, padTokenId: -1 };
    const problems = collectConfigProblems(config, fields);
    // ['vocabSize must be a positive integer, got 0',
    //  'padTokenId must be a non-negative integer token id or null, got -1']
    const inFile = collectConfigProblems(config, fields, { jsonNames: true });
    // ['vocab_size must be a positive integer, got 0', 'pad_token_id must be … got -1']
    // #endregion collect-problems
    expect(problems).toEqual([
      'vocabSize must be a positive integer, got 0',
      'padTokenId must be a non-negative integer token id or null, got -1',
    ]);
    expect(inFile).toEqual([
      'vocab_size must be a positive integer, got 0',
      'pad_token_id must be a non-negative integer token id or null, got -1',
    ]);
  });

  it('returns no problems for a valid object and ignores keys outside the table', () => {
    expect(collectConfigProblems({ vocabSize: 259, rmsNormEps: 1e-5, other: 'x' }, fields)).toEqual([]);
  });

  it('names fields for cross-field checks', () => {
    // #region field-namer
    // import { configFieldNamer, type ConfigField } from '@calm/core';
    const fields: ReadonlyArray<ConfigField> = [
      ['vocabSize', 'vocab_size', 'posInt'],
      ['padTokenId', 'pad_token_id', 'tokenIdOrNull'],
    ];
    const n = configFieldNamer(fields, true);
    const message = `${n('padTokenId')} = 300 is outside the vocabulary (${n('vocabSize')} = 259)`;
    // 'pad_token_id = 300 is outside the vocabulary (vocab_size = 259)'
    // #endregion field-namer
    expect(message).toBe('pad_token_id = 300 is outside the vocabulary (vocab_size = 259)');
    expect(configFieldNamer(fields, false)('padTokenId')).toBe('padTokenId');
    expect(n('notAField')).toBe('notAField');
  });
});

describe('throwConfigProblems', () => {
  it('throws one INVALID_CONFIG error listing every problem', () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    let caught: unknown;
    // #region throw-problems
    // import { isCalmError, throwConfigProblems } from '@calm/core';
    try {
      throwConfigProblems(
        ['hiddenSize must be a positive integer, got 0', 'beta must be in (0, 2], got 3'],
        'config.json',
        '@calm/trainer',
      );
    } catch (e) {
      if (isCalmError(e, 'INVALID_CONFIG')) console.error(e.message, e.details?.problems);
      // [@calm/trainer] config.json has 2 problems:
      // - hiddenSize must be a positive integer, got 0
      // - beta must be in (0, 2], got 3
      caught = e;
    }
    // #endregion throw-problems
    expect(log).toHaveBeenCalledOnce();
    log.mockRestore();
    const err = caught as CalmError;
    expect(isCalmError(err, 'INVALID_CONFIG')).toBe(true);
    expect(err.message).toBe(
      '[@calm/trainer] config.json has 2 problems:\n- hiddenSize must be a positive integer, got 0\n- beta must be in (0, 2], got 3',
    );
    expect(err.details).toEqual({
      problems: ['hiddenSize must be a positive integer, got 0', 'beta must be in (0, 2], got 3'],
    });
  });

  it('says "problem" for one, omits the prefix without a source, and returns when there are none', () => {
    expect(() => throwConfigProblems(['x must be a string, got 1'], 'cfg')).toThrow(
      /^cfg has 1 problem:\n- x must be a string, got 1$/,
    );
    expect(() => throwConfigProblems([], 'cfg', '@calm/x')).not.toThrow();
    let e: unknown;
    try {
      throwConfigProblems(
        ['batchSize must be a positive integer, got 0'],
        'evaluate options',
        '@calm/x',
        'INVALID_ARGUMENT',
      );
    } catch (caught) {
      e = caught;
    }
    expect(isCalmError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect((e as CalmError).details).toEqual({ problems: ['batchSize must be a positive integer, got 0'] });
  });
});
