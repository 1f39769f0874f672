// The `calm` command line, run as a child process: `convert` on the official-layout tiny checkpoint
// (summary on stderr, JSON on stdout) and a whole-config validation error (every problem, exit code 2).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturePath } from '../../model/test/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'calm-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cli = new URL('../src/cli.ts', import.meta.url).pathname;

function calm(...args: string[]) {
  const r = spawnSync(process.execPath, ['--conditions=@calm/source', '--import', 'tsx', cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CALM_BACKEND: 'wasm' },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('calm CLI', () => {
  it('convert: official pytorch_model.bin to safetensors', () => {
    const out = join(tmp, 'calm-st');
    const r = calm(
      'convert',
      fixturePath('tiny-official/CALM-M'),
      out,
      '--ae',
      fixturePath('tiny-official/CALM-Autoencoder'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/converted calm .* \(87 tensors, F32\)/);
    const json = JSON.parse(r.stdout) as { kind: string; tensorCount: number };
    expect(json).toMatchObject({ kind: 'calm', tensorCount: 87 });
  });

  it('train-ae: reports every config problem at once with exit code 2', () => {
    const cfg = join(tmp, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ train: { lr: -1, warmupSteps: 1.5 }, data: { blockSize: 30 }, extra: true }));
    const r = calm('train-ae', '--config', cfg);
    expect(r.code).toBe(2);
    const json = JSON.parse(r.stdout) as { error: { code: string; details: { problems: string[] } } };
    expect(json.error.code).toBe('INVALID_CONFIG');
    expect(json.error.details.problems.length).toBeGreaterThanOrEqual(5);
    expect(r.stderr).toContain('unknown key "extra"');
  });
});
