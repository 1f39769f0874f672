// The `brierlm` CLI in-process: a module generator and an HTTP endpoint on WikiText, the
// lm-evaluation-harness JSON and samples JSONL, the summary on stdout, and usage errors.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { SHARED_DATA_DIR } from '@calm/testing';
import { NGramModel, byteTokenizer } from '../src/index.js';
import { HELP, runCli } from '../src/cli.js';
import { ngramHandler, startServer, type TestServer } from './fixtures/server.js';

const DATA = join(SHARED_DATA_DIR, 'wikitext-103-document-test.jsonl');
const FIXTURE = new URL('./fixtures/ngram-generator.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'brierlm-cli-'));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stderr = new PassThrough();
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runCli(args, { stdout: { write: (s: string) => (out += s) }, stderr, env: {} });
  return { code, out, err };
}

describe('brierlm CLI', () => {
  let server: TestServer | undefined;
  afterAll(async () => server?.close());

  it('evaluates a module generator and writes harness JSON and samples JSONL', async () => {
    const output = join(dir, 'results.json');
    const samples = join(dir, 'samples.jsonl');
    const r = await cli([
      '--data',
      DATA,
      '--module',
      FIXTURE,
      '--block-size',
      '256',
      '--limit',
      '2',
      '--seed',
      '3',
      '--output',
      output,
      '--samples',
      samples,
      '--no-progress',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/BrierLM \(x100\): \d+\.\d\d ± \d+\.\d\d/);
    expect(r.out).toMatch(/Brier-4: /);
    expect(r.out).toMatch(/estimator: chunk \(K = 4\); 126 positions in 2 block\(s\)/);
    const json = JSON.parse(readFileSync(output, 'utf8'));
    const m = json.results.wikitext103_brierlm;
    for (const k of [
      'brier1,none',
      'brier1_stderr,none',
      'brier4,none',
      'brier4_stderr,none',
      'brierlm,none',
      'brierlm_stderr,none',
    ])
      expect(typeof m[k]).toBe('number');
    expect(m['brierlm,none']).toBeGreaterThan(0);
    expect(json.versions).toEqual({ wikitext103_brierlm: 1 });
    expect(json.config).toMatchObject({
      random_seed: 3,
      estimator: 'chunk',
      chunk_size: 4,
      limit: 2,
      brierlm_scale: 100,
      bos_id: 256,
    });
    expect(json.configs.wikitext103_brierlm.metadata.brierlm_note).toMatch(/multiplied by 100/);
    expect(json['n-samples'].wikitext103_brierlm).toMatchObject({ effective: 2, positions: 126 });
    expect(typeof json.date).toBe('number');
    const lines = readFileSync(samples, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(126);
    expect(lines[0]).toMatchObject({ block: 0, position: 0, tokenIndex: 4 });
    expect(lines[0].sample1).toHaveLength(4);
  });

  it('--export picks another export, --kind and --json', async () => {
    const r = await cli([
      '--data',
      DATA,
      '--module',
      FIXTURE,
      '--export',
      'explicit',
      '--block-size',
      '128',
      '--limit',
      '1',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.config.estimator).toBe('explicit');
    expect(json.results.wikitext103_brierlm['brier1,none']).toBeGreaterThan(-1);
    const asChunk = await cli([
      '--data',
      DATA,
      '--module',
      FIXTURE,
      '--export',
      'explicit',
      '--kind',
      'chunk',
      '--block-size',
      '128',
      '--limit',
      '1',
    ]);
    expect(asChunk.code).toBe(1);
    expect(asChunk.err).toMatch(/ChunkSampler/);
  });

  it('evaluates an HTTP endpoint (token estimator)', async () => {
    const tok = byteTokenizer();
    const lm = NGramModel.fit([tok.encode('Robert Boulter is an English film , television and theatre actor . ')], {
      order: 2,
      vocabSize: 257,
    });
    server = await startServer(ngramHandler(lm));
    const r = await cli([
      '--data',
      DATA,
      '--endpoint',
      server.url,
      '--tokenizer',
      'bytes',
      '--block-size',
      '24',
      '--limit',
      '2',
      '--concurrency',
      '4',
      '--no-progress',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/estimator: token; 40 positions in 2 block\(s\)/);
    expect(server.bodies).toHaveLength(40);
  });

  it('--samples-per-position n: stated in the summary and the harness JSON', async () => {
    const output = join(dir, 'results-n8.json');
    const r = await cli([
      '--data',
      DATA,
      '--module',
      FIXTURE,
      '--block-size',
      '256',
      '--limit',
      '1',
      '--samples-per-position',
      '8',
      '--output',
      output,
      '--no-progress',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/estimator: chunk \(K = 4\); 63 positions in 1 block\(s\); 8 samples per position;/);
    const json = JSON.parse(readFileSync(output, 'utf8'));
    expect(json.config.samples_per_position).toBe(8);
    expect(json.configs.wikitext103_brierlm.metadata.samples_per_position).toBe(8);
    const bad = await cli(['--data', DATA, '--module', FIXTURE, '--samples-per-position', '1']);
    expect(bad.code).toBe(2);
  });

  it('usage errors: exit code 2 with a message naming the option; 1 with a message for CalmErrors', async () => {
    const noData = await cli(['--module', FIXTURE]);
    expect(noData.code).toBe(2);
    expect(noData.err).toMatch(/missing the required option --data <path>/);
    expect(noData.err).toMatch(/Run "brierlm --help" to see every option\./);
    const both = await cli(['--data', DATA, '--module', FIXTURE, '--endpoint', 'http://127.0.0.1:9']);
    expect(both.code).toBe(1);
    expect(both.err).toMatch(/exactly one of --module <path> or --endpoint <url>/);
    const noExport = await cli(['--data', DATA, '--module', FIXTURE, '--export', 'missing']);
    expect(noExport.err).toMatch(/exports none of missing/);
    const notSampler = await cli([
      '--data',
      DATA,
      '--module',
      FIXTURE,
      '--export',
      'notASampler',
      '--tokenizer',
      'bytes',
    ]);
    expect(notSampler.err).toMatch(/none of ChunkSampler/);
    const missingFile = await cli(['--data', join(dir, 'missing.jsonl'), '--module', FIXTURE]);
    expect(missingFile.code).toBe(1);
    expect(missingFile.err).toMatch(/cannot read .*missing\.jsonl: .*; pass the path of a JSON-lines file/);
    const badLimit = await cli(['--data', DATA, '--module', FIXTURE, '--limit', '0']);
    expect(badLimit.code).toBe(2);
    expect(badLimit.err).toMatch(/invalid --limit <n> "0": --limit must be an integer >= 1\./);
  });

  it('usage errors name the option and the fix, for every kind of mistake, all at once', async () => {
    const usage = async (args: string[]) => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      const lines = r.err.trimEnd().split('\n');
      expect(lines.at(-1)).toBe('Run "brierlm --help" to see every option.');
      return lines.slice(0, -1);
    };
    expect(await usage(['--data', DATA, '--kind', 'foo'])).toEqual([
      'brierlm: invalid --kind <kind> "foo": allowed choices are chunk, token, explicit.',
    ]);
    expect(await usage(['--data', DATA, '--prompt-format', 'json', '--preset', 'x'])).toEqual([
      'brierlm: invalid --prompt-format <format> "json": allowed choices are token-ids, text.',
      'brierlm: invalid --preset <preset> "x": allowed choices are calm, ar.',
    ]);
    expect(
      await usage(['--data', DATA, '--stderr', 'jackknife', '--stderr-unit', 'doc', '--confidence', '0.9999']),
    ).toEqual([
      'brierlm: invalid --stderr <method> "jackknife": allowed choices are delta, bootstrap.',
      'brierlm: invalid --stderr-unit <unit> "doc": allowed choices are auto, position, block.',
      'brierlm: invalid --confidence <level> "0.9999": --confidence must be a number in [0.5, 0.999].',
    ]);
    expect(
      await usage([
        '--data',
        DATA,
        '--concurrency',
        '0',
        '--retries',
        '-1',
        '--timeout',
        '1.5',
        '--block-size',
        '1',
        '--seed',
        'x',
        '--batch-size',
        '0',
        '--samples-per-position',
        '1',
      ]),
    ).toEqual([
      'brierlm: --retries <n> is followed by "-1", which looks like an option: give the value, or write --retries=-1 for a value starting with "-".',
    ]);
    expect(
      await usage([
        '--data',
        DATA,
        '--concurrency',
        '0',
        '--retries=-1',
        '--timeout',
        '1.5',
        '--block-size',
        '1',
        '--seed',
        'x',
        '--batch-size',
        '0',
        '--samples-per-position',
        '1',
      ]),
    ).toEqual([
      'brierlm: invalid --concurrency <n> "0": --concurrency must be an integer >= 1.',
      'brierlm: invalid --retries <n> "-1": --retries must be an integer >= 0.',
      'brierlm: invalid --timeout <ms> "1.5": --timeout must be an integer >= 1.',
      'brierlm: invalid --block-size <n> "1": --block-size must be an integer >= 2.',
      'brierlm: invalid --seed <n> "x": --seed must be an integer >= 0.',
      'brierlm: invalid --batch-size <n> "0": --batch-size must be an integer >= 1.',
      'brierlm: invalid --samples-per-position <n> "1": --samples-per-position must be an integer >= 2.',
    ]);
    expect(await usage(['--data', DATA, '--limt', '3'])).toEqual([
      'brierlm: unknown option --limt (did you mean --limit?).',
    ]);
    expect(await usage(['--data', DATA, '--frobnicate'])).toEqual(['brierlm: unknown option --frobnicate.']);
    expect(await usage(['--data'])).toEqual(['brierlm: --data <path> needs a value.']);
    expect(await usage(['--data', DATA, 'extra'])).toEqual([
      'brierlm: unexpected argument "extra": brierlm takes only options; a value goes right after its option (e.g. --data <path>).',
    ]);
    expect(await usage(['--data', DATA, '--json=yes'])).toEqual(['brierlm: --json takes no value (got --json=yes).']);
  });

  it('--help lists every option with its default and choices; --version prints the version', async () => {
    for (const args of [['--help'], ['-h'], ['--data', DATA, '--bogus', '--help']]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      expect(r.out).toBe(HELP);
    }
    expect(HELP).toMatch(/^Usage: brierlm --data <path> \(--module <path> \| --endpoint <url>\) \[options\]\n/);
    for (const option of [
      '-V, --version',
      '--data <path>',
      '--field <name>',
      '--module <path>',
      '--export <name>',
      '--endpoint <url>',
      '--model <name>',
      '--prompt-format <format>',
      '--concurrency <n>',
      '--retries <n>',
      '--timeout <ms>',
      '--kind <kind>',
      '--tokenizer <spec>',
      '--bos <id>',
      '--preset <preset>',
      '--block-size <n>',
      '--limit <n>',
      '--seed <n>',
      '--batch-size <n>',
      '--samples-per-position <n>',
      '--stderr <method>',
      '--stderr-unit <unit>',
      '--confidence <level>',
      '--output <path>',
      '--samples <path>',
      '--task <name>',
      '--json',
      '--no-progress',
      '-h, --help',
    ])
      expect(HELP).toMatch(new RegExp(`\n  ${option.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `));
    // Each option's entry (up to the next option) states its default and choices.
    const entry = (option: string) =>
      HELP.split(/\n(?= {2}-)/)
        .find((e) => e.startsWith(`  ${option} `))!
        .replace(/\s+/g, ' ');
    expect(entry('--field')).toMatch(/\(default: "text"\)/);
    expect(entry('--prompt-format')).toMatch(/\(choices: "token-ids", "text", default: "token-ids"\)/);
    expect(entry('--concurrency')).toMatch(/\(default: 4\)/);
    expect(entry('--retries')).toMatch(/\(default: 3\)/);
    expect(entry('--timeout')).toMatch(/\(default: 60000\)/);
    expect(entry('--kind')).toMatch(/\(choices: "chunk", "token", "explicit"\)/);
    expect(entry('--preset')).toMatch(/\(choices: "calm", "ar"\)/);
    expect(entry('--seed')).toMatch(/\(default: 0\)/);
    expect(entry('--batch-size')).toMatch(/\(default: 64\)/);
    expect(entry('--samples-per-position')).toMatch(/\(default: 2\)/);
    expect(entry('--stderr')).toMatch(/\(choices: "delta", "bootstrap", default: "delta"\)/);
    expect(entry('--stderr-unit')).toMatch(/\(choices: "auto", "position", "block", default: "auto"\)/);
    expect(entry('--confidence')).toMatch(/\(default: 0\.95\)/);
    expect(entry('--task')).toMatch(/\(default: "wikitext103_brierlm"\)/);
    expect(entry('--json')).toMatch(/\(default: false\)/);
    // Fits 80 columns.
    expect(Math.max(...HELP.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);

    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V'])
      expect(await cli([flag])).toEqual({ code: 0, out: `${pkg.version}\n`, err: '' });
  });

  it('draws a progress bar on a terminal, and none with --no-progress, --json or off a terminal', async () => {
    const run = async (extra: string[], isTTY: boolean) => {
      let err = '';
      let out = '';
      const stderr = { isTTY, columns: 200, write: (s: string) => (err += s) };
      const code = await runCli(
        ['--data', DATA, '--module', FIXTURE, '--block-size', '128', '--limit', '2', ...extra],
        { stdout: { write: (s: string) => (out += s) }, stderr, env: {} },
      );
      expect(code).toBe(0);
      return { err, out };
    };
    const tty = await run([], true);
    // Frames redrawn in place: each starts with carriage return + erase line; the last ends the line.
    const frames = tty.err.split('\r\x1b[K');
    expect(frames[0]).toBe('');
    expect(frames[1]).toMatch(/^BrierLM ░{30}\s+0% 0\/2 \| ETA --$/);
    expect(frames.at(-1)).toMatch(/^BrierLM █{30} 100% 2\/2 \| ETA 0s \| 62 positions \| \d+ calls\n$/);
    expect(tty.out).toMatch(/BrierLM \(x100\): /);
    for (const [extra, isTTY] of [
      [['--no-progress'], true],
      [['--json'], true],
      [[], false],
    ] as const)
      expect((await run([...extra], isTTY)).err).toBe('');
  });
});
