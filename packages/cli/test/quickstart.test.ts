// A smoke run of the quickstart with a tiny budget: every phase runs on the embedded corpus and
// the report, metrics and plots (SVG and PNG) are written; a foreign non-empty folder is refused.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '@calm/testing/tfjs';
import { runQuickstart, type QuickstartResult } from '../src/index.js';

beforeAll(useWasm);
const tmp = mkdtempSync(join(tmpdir(), 'calm-quickstart-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('runQuickstart (smoke, 0.3-minute budget)', () => {
  it('runs every phase and writes the report, metrics and plots', { timeout: 300_000 }, async () => {
    const out = join(tmp, 'qs');
    const phases: string[] = [];
    // #region quickstart
    // The README's `npm run quickstart` uses budgetMinutes: 10; a tiny budget shows every phase.
    const r: QuickstartResult = await runQuickstart({
      outDir: out,
      budgetMinutes: 0.3,
      seed: 3,
      evalBlocks: 2,
      onEvent: (e) => {
        if (e.type === 'phase') phases.push(e.phase);
      },
    });
    const { calm, unigram } = r.likeForLike; // Brier-1..4 and standard errors, same estimator and positions
    console.log(
      `Brier-1 CALM ${calm.brier[0]} vs unigram ${unigram.brier[0]}; learned context: ${r.calmLearnedContext}`,
    );
    // #endregion quickstart
    expect(phases).toEqual(['tokenizer', 'autoencoder', 'CALM', 'AR baseline', 'evaluation']);
    expect(r.workers).toBe(availableParallelism());
    expect(r.likeForLike.samplesPerPosition).toBe(8);
    expect(r.likeForLike.positions).toBe(2 * 63);
    for (const m of ['calm', 'ar', 'unigram', 'bigram'] as const) {
      expect(r.likeForLike[m].brier).toHaveLength(4);
      expect(r.likeForLike[m].brierStderr.every((x) => x >= 0)).toBe(true);
    }
    expect(r.energyBounds.oracle).toBeLessThan(r.energyBounds.unconditional);
    expect(typeof r.calmLearnedContext).toBe('boolean');
    expect(r.autoencoder.robustness.map((p) => p.scale)).toEqual([0, 0.1, 0.25, 0.5, 1]);
    for (const f of [
      'report.md',
      'metrics.json',
      'tokenizer.json',
      'plots/training-curves.svg',
      'plots/training-curves.png',
      'plots/brier1-vs-flops.png',
      'calm/final/model.safetensors',
      'ae/final/config.json',
      'ar/metrics.jsonl',
    ]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(readFileSync(join(out, 'plots/training-curves.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(r.autoencoder.steps).toBeGreaterThan(0);
    expect(r.calm.steps).toBeGreaterThan(0);
    expect(r.ar.steps).toBeGreaterThan(0);
    expect(r.calm.brier.positions).toBe(2 * 63);
    expect(r.ngram.order).toBe(2);
    expect(r.sample.text.length).toBeGreaterThan(0);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('| CALM (K = 4) |');
    expect(report).toContain('## What CALM learned');
    expect(report).toContain('plots/brier1-vs-flops.png');
    expect(report).toContain(`lr ${r.settings.calm.lr}`);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.calm.steps).toBe(r.calm.steps);
    expect(Object.keys(metrics)).toEqual(expect.arrayContaining(['likeForLike', 'energyBounds', 'calmLearnedContext']));
  });

  it('refuses a non-empty folder that is not a previous quickstart', async () => {
    const out = join(tmp, 'foreign');
    mkdirSync(out);
    writeFileSync(join(out, 'precious.txt'), 'keep me');
    await expect(runQuickstart({ outDir: out, budgetMinutes: 0.2, initBackend: false })).rejects.toThrow(/not empty/);
    expect(existsSync(join(out, 'precious.txt'))).toBe(true);
  });

  it('reports every bad option at once, before touching the folder', async () => {
    const out = join(tmp, 'bad-options');
    await expect(
      runQuickstart({ outDir: out, budgetMinutes: 0, seed: 1.5, evalBlocks: 1, workers: 0, initBackend: false }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: {
        problems: [
          'budgetMinutes must be a finite number > 0, got 0',
          'seed must be an integer, got 1.5',
          'evalBlocks must be an integer >= 2 or absent, got 1',
          'workers must be a positive integer, got 0',
        ],
      },
    });
    expect(existsSync(out)).toBe(false);
  });
});
