// The `calm` command line, run as a child process: `convert` on the official-layout tiny checkpoint
// (summary on stderr, JSON on stdout), a whole-config validation error (every problem, exit code 2),
// and `eval` / `generate` on tiny checkpoints with the flow and diffusion heads.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import { autoencoderConfig, createAutoencoderParams } from '@calm/autoencoder';
import { trainBpeTokenizer } from '@calm/data-pile/node';
import { CalmModel, calmConfig } from '@calm/model';
import { saveCalm } from '@calm/model/node';
import { syntheticTexts } from '@calm/testing/models';
import { useWasm } from '@calm/testing/tfjs';
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

  it('train-ae: a config file that is not JSON is a config error (exit code 2), naming the file', () => {
    const cfg = join(tmp, 'broken.json');
    writeFileSync(cfg, '{"train": {"lr": 0.001,}}');
    const r = calm('train-ae', '--config', cfg);
    expect(r.code).toBe(2);
    const json = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(json.error.code).toBe('INVALID_CONFIG');
    expect(json.error.message).toContain('broken.json is not valid JSON');
  });
});

describe('calm eval and calm generate with every head kind', () => {
  // Tiny untrained checkpoints (V from a 260-id BPE tokenizer, H = 16, K = 4) saved by saveCalm.
  const tokenizerPath = join(tmp, 'tokenizer.json');
  beforeAll(async () => {
    await useWasm();
    const { tokenizer } = await trainBpeTokenizer({
      texts: syntheticTexts(20),
      vocabSize: 260,
      outPath: tokenizerPath,
    });
    const special = {
      vocabSize: tokenizer.vocabSize,
      bosTokenId: tokenizer.bos,
      eosTokenId: tokenizer.eos,
      padTokenId: tokenizer.pad,
    };
    const ae = autoencoderConfig({ hiddenSize: 16, intermediateSize: 32, latentSize: 4, patchSize: 4, ...special });
    for (const head of ['flow', 'diffusion'] as const) {
      const config = calmConfig({
        ...special,
        hiddenSize: 16,
        intermediateSize: 32,
        numHiddenLayers: 1,
        numAttentionHeads: 2,
        numKeyValueHeads: 2,
        patchSize: 4,
        latentSize: 4,
        numMlpLayers: 1,
        numSamples: 2,
        head,
        flowSteps: 2,
        diffusionSteps: 20,
        diffusionSamplingSteps: 3,
      });
      const model = new CalmModel(config, ae, {
        rng: createRng(1),
        aeParams: createAutoencoderParams(ae, createRng(2)),
      });
      await saveCalm(join(tmp, head), model);
      model.dispose();
    }
  }, 120_000);

  for (const head of ['flow', 'diffusion'] as const) {
    it(`eval: BrierLM of a ${head}-head checkpoint`, () => {
      const r = calm(
        'eval',
        '--model',
        join(tmp, head),
        '--tokenizer',
        tokenizerPath,
        '--blocks',
        '2',
        '--block-size',
        '32',
        '--samples-per-position',
        '4',
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`${head} head`);
      expect(r.stderr).toContain('4 samples per position');
      const json = JSON.parse(r.stdout) as {
        kind: string;
        head: string;
        brierLM: number;
        positions: number;
        energy: { model: number; oracle: number; unconditional: number };
      };
      expect(json).toMatchObject({ kind: 'calm', head });
      // An untrained model: the three losses exist; their order needs a trained autoencoder.
      for (const v of Object.values(json.energy)) expect(Number.isFinite(v)).toBe(true);
      expect(Number.isFinite(json.brierLM)).toBe(true);
      expect(json.positions).toBeGreaterThan(0);
    });

    it(`generate: a continuation from a ${head}-head checkpoint at T = 1/2`, () => {
      const r = calm(
        'generate',
        '--model',
        join(tmp, head),
        '--tokenizer',
        tokenizerPath,
        '--prompt',
        'the cat',
        '--max-new-tokens',
        '8',
        '--temperature',
        '0.5',
        '--pool',
        '8',
      );
      expect(r.code, r.stderr).toBe(0);
      const json = JSON.parse(r.stdout) as { kind: string; head: string; tokens: number[]; temperatureStats: unknown };
      expect(json).toMatchObject({ kind: 'calm', head });
      expect(json.tokens.length).toBeLessThanOrEqual(8);
      expect(json.temperatureStats).not.toBeNull();
    });
  }
});
