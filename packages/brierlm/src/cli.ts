// The `brierlm` command line: evaluates a generator (a module exporting a sampler, or an
// OpenAI-compatible HTTP endpoint) on a JSON-lines eval set, with a progress bar on stderr, a
// human summary on stdout, and lm-evaluation-harness JSON plus optional samples JSONL.

import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CalmError, LLAMA3_SPECIAL_TOKENS } from '@calm/core';
import { createProgressBar, readJsonFile, type ProgressStream } from '@calm/core/node';
import { toBrierGenerator } from './adapters.js';
import { evaluateBrierLM } from './evaluate.js';
import type { BrierLMResult } from './types.js';
import { formatSummary, toHarnessResults, type HarnessMetadata } from './harness.js';
import { createOpenAICompletionsSampler, createServerTokenizer } from './http.js';
import { readJsonlTexts, writeResultFiles } from './node.js';
import { OFFICIAL_PROTOCOL, byteTokenizer, makeEvalBlocks, type TokenizerLike } from './protocol.js';
import type { BrierGenerator, EstimatorKind } from './types.js';
import { fail } from './internal/util.js';

/** Where the CLI writes; injectable for tests. */
export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
  env: Record<string, string | undefined>;
}

/** This package's version, from its package.json (`unknown` when that cannot be read). */
async function packageVersion(): Promise<string> {
  const pkg = await readJsonFile(fileURLToPath(new URL('../package.json', import.meta.url))).catch(() => null);
  const version = (pkg as { version?: unknown } | null)?.version;
  return typeof version === 'string' ? version : 'unknown';
}

// ---------------------------------------------------------------------------------------------
// Arguments: node:util parseArgs (strict), then conversion and validation into CliOptions. Usage
// errors are collected, printed with the option that is wrong and how to fix it, and exit 2.

/** Defaults of the options that have one (shown in --help). */
const DEFAULTS = {
  field: 'text',
  promptFormat: 'token-ids',
  concurrency: 4,
  retries: 3,
  timeout: 60_000,
  seed: 0,
  batchSize: 64,
  samplesPerPosition: 2,
  stderr: 'delta',
  stderrUnit: 'auto',
  confidence: 0.95,
  task: 'wikitext103_brierlm',
} as const;

const PROMPT_FORMATS = ['token-ids', 'text'] as const;
const KINDS = ['chunk', 'token', 'explicit'] as const;
const PRESETS = ['calm', 'ar'] as const;
const STDERR_METHODS = ['delta', 'bootstrap'] as const;
const STDERR_UNITS = ['auto', 'position', 'block'] as const;

/** The options as node:util parseArgs sees them (values stay strings until `parseCli` converts them). */
const PARSE_OPTIONS = {
  data: { type: 'string' },
  field: { type: 'string' },
  module: { type: 'string' },
  export: { type: 'string' },
  endpoint: { type: 'string' },
  model: { type: 'string' },
  'prompt-format': { type: 'string' },
  concurrency: { type: 'string' },
  retries: { type: 'string' },
  timeout: { type: 'string' },
  kind: { type: 'string' },
  tokenizer: { type: 'string' },
  bos: { type: 'string' },
  preset: { type: 'string' },
  'block-size': { type: 'string' },
  limit: { type: 'string' },
  seed: { type: 'string' },
  'batch-size': { type: 'string' },
  'samples-per-position': { type: 'string' },
  stderr: { type: 'string' },
  'stderr-unit': { type: 'string' },
  confidence: { type: 'string' },
  output: { type: 'string' },
  samples: { type: 'string' },
  task: { type: 'string' },
  json: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  version: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type OptionName = keyof typeof PARSE_OPTIONS;

/** What each value option is called in --help and in messages (`--data <path>`). */
const ARG_NAMES: { [K in OptionName]?: string } = {
  data: 'path',
  field: 'name',
  module: 'path',
  export: 'name',
  endpoint: 'url',
  model: 'name',
  'prompt-format': 'format',
  concurrency: 'n',
  retries: 'n',
  timeout: 'ms',
  kind: 'kind',
  tokenizer: 'spec',
  bos: 'id',
  preset: 'preset',
  'block-size': 'n',
  limit: 'n',
  seed: 'n',
  'batch-size': 'n',
  'samples-per-position': 'n',
  stderr: 'method',
  'stderr-unit': 'unit',
  confidence: 'level',
  output: 'path',
  samples: 'path',
  task: 'name',
};

const flag = (name: OptionName): string => (ARG_NAMES[name] ? `--${name} <${ARG_NAMES[name]}>` : `--${name}`);
const choices = (list: readonly string[]): string => list.map((c) => `"${c}"`).join(', ');

/** The --help text (the options and defaults of commander's help, which the CLI used before). */
export const HELP = `Usage: brierlm --data <path> (--module <path> | --endpoint <url>) [options]

Evaluate a language model with BrierLM (likelihood-free; reported x100) on a
JSON-lines eval set.

Options:
  -V, --version               output the version number
  --data <path>               JSON-lines eval set, one {"text": ...} per line
                              (e.g. wikitext-103-document-test.jsonl); required
  --field <name>              JSON field holding each document (default:
                              "${DEFAULTS.field}")
  --module <path>             ES module exporting a ChunkSampler, TokenSampler
                              or NextTokenModel (or a factory ({ seed }) =>
                              sampler); may export \`tokenizer\`
  --export <name>             which export of --module to use (default: default,
                              generator, sampler, model)
  --endpoint <url>            OpenAI-compatible server (llama.cpp, vLLM): its
                              /v1/completions is sampled
  --model <name>              model name sent to --endpoint
  --prompt-format <format>    how --endpoint receives contexts (choices:
                              ${choices(PROMPT_FORMATS)}, default: "${DEFAULTS.promptFormat}")
  --concurrency <n>           requests in flight (--endpoint) (default: ${DEFAULTS.concurrency})
  --retries <n>               retries after transient HTTP failures (default: ${DEFAULTS.retries})
  --timeout <ms>              per-request timeout in ms (default: ${DEFAULTS.timeout})
  --kind <kind>               estimator (default: detected from the sampler)
                              (choices: ${choices(KINDS)})
  --tokenizer <spec>          dataset tokenizer: bytes | server | module |
                              <module path exporting tokenizer>
  --bos <id>                  BOS id prepended to every document, or "none"
                              (default: tokenizer.bosId, else Llama 3 128000)
  --preset <preset>           official block size: calm = 8192, ar = 2048
                              (default: calm for chunk samplers, else ar)
                              (choices: ${choices(PRESETS)})
  --block-size <n>            tokens per eval block (overrides --preset)
  --limit <n>                 evaluate only the first n blocks
  --seed <n>                  seed of the evaluation RNG (and of a module
                              factory) (default: ${DEFAULTS.seed})
  --batch-size <n>            contexts per sampler call (default: ${DEFAULTS.batchSize})
  --samples-per-position <n>  independent samples per scored position (2 = the
                              paper; more lowers the variance, for weak models)
                              (default: ${DEFAULTS.samplesPerPosition})
  --stderr <method>           standard errors (choices: ${choices(STDERR_METHODS)},
                              default: "${DEFAULTS.stderr}")
  --stderr-unit <unit>        independent unit for standard errors (choices:
                              ${choices(STDERR_UNITS)}, default: "${DEFAULTS.stderrUnit}")
  --confidence <level>        confidence level of the intervals (default: ${DEFAULTS.confidence})
  --output <path>             write lm-evaluation-harness results JSON here
  --samples <path>            write per-position samples JSONL here
  --task <name>               task name in the results JSON (default:
                              "${DEFAULTS.task}")
  --json                      print the results JSON on stdout instead of the
                              summary (default: false)
  --no-progress               no progress bar on stderr
  -h, --help                  display help for command

The API key for --endpoint is read from BRIERLM_API_KEY.
Exit codes: 0 success, 1 evaluation error, 2 usage error.
`;

const HELP_HINT = 'Run "brierlm --help" to see every option.';

/** A usage error: wrong command-line arguments (exit code 2). */
class UsageError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'UsageError';
  }
}

/** Edit distance, for "did you mean" on unknown options. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function suggestion(name: string): string {
  let best: OptionName | undefined;
  let bestD = Infinity;
  for (const o of Object.keys(PARSE_OPTIONS) as OptionName[]) {
    const d = editDistance(name, o);
    if (d < bestD) [best, bestD] = [o, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(name.length / 3)) ? ` (did you mean --${best}?)` : '';
}

/** Explains why strict parsing failed, from a lenient pass over the same arguments. */
function diagnose(tokens: NonNullable<ReturnType<typeof parseArgs>['tokens']>, fallback: string): string[] {
  const problems: string[] = [];
  let afterUnknown = false; // the lenient pass reads an unknown option's value as an argument
  for (const t of tokens) {
    const skip = afterUnknown;
    afterUnknown = false;
    if (t.kind === 'positional') {
      if (skip) continue;
      problems.push(
        `unexpected argument ${JSON.stringify(t.value)}: brierlm takes only options; a value goes right after its option (e.g. --data <path>).`,
      );
    } else if (t.kind === 'option') {
      const spec = (PARSE_OPTIONS as Record<string, { type: 'string' | 'boolean' }>)[t.name];
      if (spec === undefined) {
        problems.push(`unknown option ${t.rawName}${suggestion(t.name)}.`);
        afterUnknown = t.value === undefined;
      } else if (spec.type === 'boolean' && t.inlineValue)
        problems.push(`${t.rawName} takes no value (got ${t.rawName}=${t.value}).`);
      else if (spec.type === 'string' && t.value === undefined)
        problems.push(`${flag(t.name as OptionName)} needs a value.`);
      else if (spec.type === 'string' && !t.inlineValue && t.value?.startsWith('-'))
        problems.push(
          `${flag(t.name as OptionName)} is followed by ${JSON.stringify(t.value)}, which looks like an option: give the value, or write ${t.rawName}=${t.value} for a value starting with "-".`,
        );
    }
  }
  return problems.length > 0 ? problems : [fallback];
}

/** The options after validation. */
interface CliOptions {
  data: string;
  field: string;
  module?: string;
  export?: string;
  endpoint?: string;
  model?: string;
  promptFormat: (typeof PROMPT_FORMATS)[number];
  concurrency: number;
  retries: number;
  timeout: number;
  kind?: EstimatorKind;
  tokenizer?: string;
  bos?: string;
  preset?: (typeof PRESETS)[number];
  blockSize?: number;
  limit?: number;
  seed: number;
  batchSize: number;
  samplesPerPosition: number;
  stderr: (typeof STDERR_METHODS)[number];
  stderrUnit: (typeof STDERR_UNITS)[number];
  confidence: number;
  output?: string;
  samples?: string;
  json: boolean;
  progress: boolean;
  task: string;
}

type Parsed = { help: true } | { version: true } | { options: CliOptions };

/** Parses and validates the arguments; throws a `UsageError` listing every problem. */
function parseCli(argv: readonly string[]): Parsed {
  let values: Partial<Record<OptionName, string | boolean>>;
  try {
    values = parseArgs({ args: [...argv], options: PARSE_OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const loose = parseArgs({
      args: [...argv],
      options: PARSE_OPTIONS,
      strict: false,
      allowPositionals: true,
      tokens: true,
    });
    if (loose.values.help === true) return { help: true };
    if (loose.values.version === true) return { version: true };
    throw new UsageError(diagnose(loose.tokens, (e as Error).message));
  }
  if (values.help === true) return { help: true };
  if (values.version === true) return { version: true };

  const problems: string[] = [];
  const str = (name: OptionName): string | undefined => values[name] as string | undefined;
  const invalid = (name: OptionName, why: string): undefined => {
    problems.push(`invalid ${flag(name)} ${JSON.stringify(str(name))}: ${why}`);
    return undefined;
  };
  const int = (name: OptionName, min: number): number | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    return Number.isInteger(n) && n >= min ? n : invalid(name, `--${name} must be an integer >= ${min}.`);
  };
  const num = (name: OptionName, min: number, max: number): number | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    return Number.isFinite(n) && n >= min && n <= max
      ? n
      : invalid(name, `--${name} must be a number in [${min}, ${max}].`);
  };
  const choice = <T extends string>(name: OptionName, list: readonly T[]): T | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    return (list as readonly string[]).includes(raw)
      ? (raw as T)
      : invalid(name, `allowed choices are ${list.join(', ')}.`);
  };

  const data = str('data');
  if (data === undefined)
    problems.push(`missing the required option --data <path>: the JSON-lines eval set, one {"text": ...} per line.`);
  const optional = <K extends string, V>(key: K, v: V | undefined) =>
    (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
  const options: CliOptions = {
    data: data ?? '',
    field: str('field') ?? DEFAULTS.field,
    ...optional('module', str('module')),
    ...optional('export', str('export')),
    ...optional('endpoint', str('endpoint')),
    ...optional('model', str('model')),
    promptFormat: choice('prompt-format', PROMPT_FORMATS) ?? DEFAULTS.promptFormat,
    concurrency: int('concurrency', 1) ?? DEFAULTS.concurrency,
    retries: int('retries', 0) ?? DEFAULTS.retries,
    timeout: int('timeout', 1) ?? DEFAULTS.timeout,
    ...optional('kind', choice('kind', KINDS)),
    ...optional('tokenizer', str('tokenizer')),
    ...optional('bos', str('bos')),
    ...optional('preset', choice('preset', PRESETS)),
    ...optional('blockSize', int('block-size', 2)),
    ...optional('limit', int('limit', 1)),
    seed: int('seed', 0) ?? DEFAULTS.seed,
    batchSize: int('batch-size', 1) ?? DEFAULTS.batchSize,
    samplesPerPosition: int('samples-per-position', 2) ?? DEFAULTS.samplesPerPosition,
    stderr: choice('stderr', STDERR_METHODS) ?? DEFAULTS.stderr,
    stderrUnit: choice('stderr-unit', STDERR_UNITS) ?? DEFAULTS.stderrUnit,
    confidence: num('confidence', 0.5, 0.999) ?? DEFAULTS.confidence,
    ...optional('output', str('output')),
    ...optional('samples', str('samples')),
    task: str('task') ?? DEFAULTS.task,
    json: values.json === true,
    progress: values['no-progress'] !== true,
  };
  if (problems.length > 0) throw new UsageError(problems);
  return { options };
}

async function importModule(path: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (e) {
    return fail('IO_ERROR', `cannot import --module ${path}: ${(e as Error).message}`, { cause: e });
  }
}

async function loadGenerator(mod: Record<string, unknown>, opts: CliOptions): Promise<BrierGenerator> {
  const names = opts.export ? [opts.export] : ['default', 'generator', 'sampler', 'model'];
  const name = names.find((n) => mod[n] !== undefined);
  if (name === undefined) {
    fail(
      'INVALID_ARGUMENT',
      `--module ${opts.module} exports none of ${names.join(', ')}; export a ChunkSampler, TokenSampler or NextTokenModel (or a factory returning one), or name it with --export.`,
    );
  }
  let value = mod[name];
  if (typeof value === 'function') value = await (value as (o: { seed: number }) => unknown)({ seed: opts.seed });
  return toBrierGenerator(value, opts.kind);
}

function tokenizerOf(x: unknown, what: string): TokenizerLike & { bosId?: number } {
  if (x === null || typeof x !== 'object' || typeof (x as TokenizerLike).encode !== 'function') {
    fail('INVALID_ARGUMENT', `${what} is not a tokenizer; it must be an object with encode(text) returning token ids.`);
  }
  return x as TokenizerLike & { bosId?: number };
}

async function loadTokenizer(
  opts: CliOptions,
  mod: Record<string, unknown> | undefined,
  io: CliIO,
): Promise<TokenizerLike & { bosId?: number }> {
  const spec = opts.tokenizer ?? (mod?.['tokenizer'] !== undefined ? 'module' : opts.endpoint ? 'server' : undefined);
  if (spec === undefined) {
    fail(
      'INVALID_ARGUMENT',
      'no tokenizer for the dataset: pass --tokenizer bytes|server|<module path>, or export `tokenizer` from --module.',
    );
  }
  if (spec === 'bytes') return byteTokenizer();
  if (spec === 'module') {
    if (!mod) fail('INVALID_ARGUMENT', '--tokenizer module needs --module.');
    return tokenizerOf(mod['tokenizer'], `the "tokenizer" export of ${opts.module}`);
  }
  if (spec === 'server') {
    if (!opts.endpoint) fail('INVALID_ARGUMENT', '--tokenizer server needs --endpoint.');
    const key = io.env['BRIERLM_API_KEY'];
    return createServerTokenizer({
      baseUrl: opts.endpoint,
      timeoutMs: opts.timeout,
      retries: opts.retries,
      ...(opts.model === undefined ? {} : { model: opts.model }),
      ...(key ? { apiKey: key } : {}),
    });
  }
  const tmod = await importModule(spec);
  return tokenizerOf(tmod['tokenizer'] ?? tmod['default'], `the tokenizer module ${spec}`);
}

/**
 * Runs the `brierlm` command line.
 * @param argv - Arguments after the program name.
 * @param io - Output streams and environment.
 * @returns The exit code: 0 on success, 1 on an evaluation error, 2 on a usage error.
 */
export async function runCli(
  argv: readonly string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  const run = async (opts: CliOptions): Promise<void> => {
    if ((opts.module === undefined) === (opts.endpoint === undefined))
      fail('INVALID_ARGUMENT', 'pass exactly one of --module <path> or --endpoint <url>.');
    const mod = opts.module !== undefined ? await importModule(opts.module) : undefined;
    const key = io.env['BRIERLM_API_KEY'];
    const generator: BrierGenerator = mod
      ? await loadGenerator(mod, opts)
      : toBrierGenerator(
          createOpenAICompletionsSampler({
            baseUrl: opts.endpoint!,
            prompt: opts.promptFormat,
            concurrency: opts.concurrency,
            retries: opts.retries,
            timeoutMs: opts.timeout,
            seed: opts.seed,
            ...(opts.model === undefined ? {} : { model: opts.model }),
            ...(key ? { apiKey: key } : {}),
          }),
          opts.kind ?? 'token',
        );
    const tokenizer = await loadTokenizer(opts, mod, io);
    const preset = OFFICIAL_PROTOCOL[opts.preset ?? (generator.kind === 'chunk' ? 'calm' : 'ar')];
    const blockSize = opts.blockSize ?? preset.blockSize;
    let bosId: number | null = typeof tokenizer.bosId === 'number' ? tokenizer.bosId : LLAMA3_SPECIAL_TOKENS.bos;
    if (opts.bos !== undefined) {
      if (opts.bos === 'none') bosId = null;
      else if (/^\d+$/.test(opts.bos)) bosId = Number(opts.bos);
      else fail('INVALID_ARGUMENT', `--bos must be a token id or "none", got ${JSON.stringify(opts.bos)}.`);
    }
    const texts = await readJsonlTexts(opts.data, opts.field);
    const { blocks, totalTokens, droppedTokens } = await makeEvalBlocks(texts, tokenizer, { blockSize, bosId });
    if (blocks.length === 0)
      fail(
        'INVALID_ARGUMENT',
        `${opts.data} gives ${totalTokens} tokens, fewer than one block of ${blockSize}; use a smaller --block-size.`,
      );
    const evaluated = Math.min(blocks.length, opts.limit ?? Infinity);

    const bar =
      opts.progress && !opts.json && io.stderr.isTTY === true
        ? createProgressBar({ label: 'BrierLM', total: evaluated, stream: io.stderr })
        : undefined;
    const started = Date.now();
    let result: BrierLMResult;
    try {
      result = await evaluateBrierLM(generator, blocks, {
        seed: opts.seed,
        batchSize: opts.batchSize,
        samplesPerPosition: opts.samplesPerPosition,
        ...(opts.limit === undefined ? {} : { limit: opts.limit }),
        keepPositions: opts.samples !== undefined,
        stderr: { method: opts.stderr, unit: opts.stderrUnit, confidence: opts.confidence },
        onProgress: (p) =>
          bar?.update(p.blocksDone + p.blockFraction, { note: `${p.positionsDone} positions | ${p.calls} calls` }),
      });
    } finally {
      bar?.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    const meta: HarnessMetadata = {
      task: opts.task,
      model: opts.module ?? opts.endpoint ?? 'unknown',
      modelArgs: [
        opts.export && `export=${opts.export}`,
        opts.model && `model=${opts.model}`,
        opts.kind && `kind=${opts.kind}`,
      ]
        .filter(Boolean)
        .join(','),
      dataset: opts.data,
      blockSize,
      totalBlocks: blocks.length,
      limit: opts.limit ?? null,
      batchSize: opts.batchSize,
      version: await packageVersion(),
      evaluationSeconds: seconds,
      extra: { bos_id: bosId, total_tokens: totalTokens, dropped_tokens: droppedTokens },
    };
    const files = {
      ...(opts.output === undefined ? {} : { output: opts.output }),
      ...(opts.samples === undefined ? {} : { samples: opts.samples }),
    };
    await writeResultFiles(result, files, meta);
    if (opts.json) io.stdout.write(JSON.stringify(toHarnessResults(result, meta), null, 2) + '\n');
    else {
      io.stdout.write(formatSummary(result) + '\n');
      io.stdout.write(
        `  data: ${opts.data}: ${totalTokens} tokens, ${blocks.length} block(s) of ${blockSize} (${droppedTokens} dropped), ${evaluated} evaluated; ${seconds.toFixed(1)} s\n`,
      );
      if (opts.output) io.stdout.write(`  results: ${opts.output}\n`);
      if (opts.samples) io.stdout.write(`  samples: ${opts.samples}\n`);
    }
  };
  try {
    const parsed = parseCli(argv);
    if ('help' in parsed) io.stdout.write(HELP);
    else if ('version' in parsed) io.stdout.write(`${await packageVersion()}\n`);
    else await run(parsed.options);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      for (const p of e.problems) io.stderr.write(`brierlm: ${p}\n`);
      io.stderr.write(`${HELP_HINT}\n`);
      return 2;
    }
    if (e instanceof CalmError) {
      io.stderr.write(`brierlm: ${e.message}\n`);
      return 1;
    }
    io.stderr.write(`brierlm: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
