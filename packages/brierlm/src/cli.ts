// The `brierlm` command line: evaluates a generator (a module exporting a sampler, or an
// OpenAI-compatible HTTP endpoint) on a JSON-lines eval set, with a progress bar on stderr, a
// human summary on stdout, and lm-evaluation-harness JSON plus optional samples JSONL.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { CalmError, LLAMA3_SPECIAL_TOKENS } from '@calm/core';
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
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function intArg(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}.`);
    return n;
  };
}

function numArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}].`);
    return n;
  };
}

interface CliOptions {
  data: string;
  field: string;
  module?: string;
  export?: string;
  endpoint?: string;
  model?: string;
  promptFormat: 'token-ids' | 'text';
  concurrency: number;
  retries: number;
  timeout: number;
  kind?: EstimatorKind;
  tokenizer?: string;
  bos?: string;
  preset?: 'calm' | 'ar';
  blockSize?: number;
  limit?: number;
  seed: number;
  batchSize: number;
  samplesPerPosition: number;
  stderr: 'delta' | 'bootstrap';
  stderrUnit: 'auto' | 'position' | 'block';
  confidence: number;
  output?: string;
  samples?: string;
  json: boolean;
  progress: boolean;
  task: string;
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

function buildProgram(run: (opts: CliOptions) => Promise<void>, io: CliIO): Command {
  const program = new Command('brierlm');
  program
    .description('Evaluate a language model with BrierLM (likelihood-free; reported x100) on a JSON-lines eval set.')
    .version(packageVersion())
    .requiredOption(
      '--data <path>',
      'JSON-lines eval set, one {"text": ...} per line (e.g. wikitext-103-document-test.jsonl)',
    )
    .option('--field <name>', 'JSON field holding each document', 'text')
    .option(
      '--module <path>',
      'ES module exporting a ChunkSampler, TokenSampler or NextTokenModel (or a factory ({ seed }) => sampler); may export `tokenizer`',
    )
    .option('--export <name>', 'which export of --module to use (default: default, generator, sampler, model)')
    .option('--endpoint <url>', 'OpenAI-compatible server (llama.cpp, vLLM): its /v1/completions is sampled')
    .option('--model <name>', 'model name sent to --endpoint')
    .addOption(
      new Option('--prompt-format <format>', 'how --endpoint receives contexts')
        .choices(['token-ids', 'text'])
        .default('token-ids'),
    )
    .option('--concurrency <n>', 'requests in flight (--endpoint)', intArg('--concurrency', 1), 4)
    .option('--retries <n>', 'retries after transient HTTP failures', intArg('--retries', 0), 3)
    .option('--timeout <ms>', 'per-request timeout in ms', intArg('--timeout', 1), 60_000)
    .addOption(
      new Option('--kind <kind>', 'estimator (default: detected from the sampler)').choices([
        'chunk',
        'token',
        'explicit',
      ]),
    )
    .option('--tokenizer <spec>', 'dataset tokenizer: bytes | server | module | <module path exporting tokenizer>')
    .option(
      '--bos <id>',
      'BOS id prepended to every document, or "none" (default: tokenizer.bosId, else Llama 3 128000)',
    )
    .addOption(
      new Option(
        '--preset <preset>',
        'official block size: calm = 8192, ar = 2048 (default: calm for chunk samplers, else ar)',
      ).choices(['calm', 'ar']),
    )
    .option('--block-size <n>', 'tokens per eval block (overrides --preset)', intArg('--block-size', 2))
    .option('--limit <n>', 'evaluate only the first n blocks', intArg('--limit', 1))
    .option('--seed <n>', 'seed of the evaluation RNG (and of a module factory)', intArg('--seed', 0), 0)
    .option('--batch-size <n>', 'contexts per sampler call', intArg('--batch-size', 1), 64)
    .option(
      '--samples-per-position <n>',
      'independent samples per scored position (2 = the paper; more lowers the variance, for weak models)',
      intArg('--samples-per-position', 2),
      2,
    )
    .addOption(new Option('--stderr <method>', 'standard errors').choices(['delta', 'bootstrap']).default('delta'))
    .addOption(
      new Option('--stderr-unit <unit>', 'independent unit for standard errors')
        .choices(['auto', 'position', 'block'])
        .default('auto'),
    )
    .option('--confidence <level>', 'confidence level of the intervals', numArg('--confidence', 0.5, 0.999), 0.95)
    .option('--output <path>', 'write lm-evaluation-harness results JSON here')
    .option('--samples <path>', 'write per-position samples JSONL here')
    .option('--task <name>', 'task name in the results JSON', 'wikitext103_brierlm')
    .option('--json', 'print the results JSON on stdout instead of the summary', false)
    .option('--no-progress', 'no progress bar on stderr')
    .action(async (opts: CliOptions) => run(opts))
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride();
  return program;
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

    const useBar = opts.progress && !opts.json && io.stderr.isTTY === true;
    const bar = useBar
      ? new cliProgress.SingleBar(
          {
            stream: io.stderr,
            format:
              'BrierLM |{bar}| {percentage}% | block {block}/{blocks} | {positions} positions | {calls} calls | ETA {eta_formatted}',
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    bar?.start(evaluated * 1000, 0, { block: 0, blocks: evaluated, positions: 0, calls: 0 });
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
          bar?.update(Math.round((p.blocksDone + p.blockFraction) * 1000), {
            block: p.blocksDone,
            positions: p.positionsDone,
            calls: p.calls,
          }),
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
      version: packageVersion(),
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
    await buildProgram(run, io).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof CalmError) {
      io.stderr.write(`brierlm: ${e.message}\n`);
      return 1;
    }
    io.stderr.write(`brierlm: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
