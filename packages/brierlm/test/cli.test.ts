// The `brierlm` CLI in-process: a module generator and an HTTP endpoint on WikiText, the
// lm-evaluation-harness JSON and samples JSONL, the summary on stdout, and usage errors.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { SHARED_DATA_DIR } from '@calm/testing';
import { NGramModel, byteTokenizer } from '../src/index.js';
import { runCli } from '../src/cli.js';
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

  it('usage errors: exit code 2 for commander, 1 with a message for CalmErrors', async () => {
    expect((await cli(['--module', FIXTURE])).code).toBe(2);
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
    const noData = await cli(['--data', join(dir, 'missing.jsonl'), '--module', FIXTURE]);
    expect(noData.code).toBe(1);
    expect(noData.err).toMatch(/cannot read the eval set/);
    const badLimit = await cli(['--data', DATA, '--module', FIXTURE, '--limit', '0']);
    expect(badLimit.code).toBe(2);
  });
});
