// The API examples of @calm/cli: every region below is included in the TSDoc of the export it
// shows (`{@includeCode ../test/examples.test.ts#name}`), so the documented code is the code CI
// runs. The metrics come from a two-step run of a tiny AR model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arraySource, createBlockStream, type BlockCursor } from '@calm/data-pile';
import { constantSchedule } from '@calm/nn';
import { arTrainTask, readMetrics, runTraining, type MetricRecord } from '@calm/trainer';
import { byteTokenizer, syntheticTexts, tinyAr } from '@calm/testing/models';
import { useWasm } from '@calm/testing/tfjs';
import { QUICKSTART_SETTINGS, brierVsFlopsSpec, renderVegaLite, trainingCurvesSpec, writePlot } from '../src/index.js';

const out = mkdtempSync(join(tmpdir(), 'calm-cli-examples-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

let records: MetricRecord[];
beforeAll(async () => {
  await useWasm();
  const ar = tinyAr(1);
  const tokenizer = byteTokenizer();
  const source = arraySource(syntheticTexts(10));
  await runTraining(arTrainTask(ar, { blockSize: 32 }), {
    outDir: join(out, 'run'),
    steps: 2,
    batchSize: 2,
    seed: 1,
    logEvery: 1,
    evalEvery: 1,
    evaluate: async ({ step }) => ({ brierLM: step, energy: { model: 5 - step, oracle: 1.5, unconditional: 5.5 } }),
    optimizer: { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
    schedule: constantSchedule(3e-3),
    data: (cursor?: BlockCursor) =>
      createBlockStream(source, tokenizer, { blockSize: 32, epochs: Infinity, ...(cursor ? { cursor } : {}) }),
  });
  ar.dispose();
  records = await readMetrics(join(out, 'run'));
});

describe('@calm/cli examples', () => {
  it('README quick start: the quickstart settings and a plot of a run folder', async () => {
    const runDir = join(out, 'run');
    const plotsDir = join(out, 'readme-plots');
    // #region readme
    // import { QUICKSTART_SETTINGS, trainingCurvesSpec, writePlot } from '@calm/cli';
    // import { readMetrics } from '@calm/trainer';
    const { calm, ar } = QUICKSTART_SETTINGS; // what `calm quickstart` trains: sizes, learning rates, batches
    // runDir: a run folder with metrics.jsonl (calm-quickstart/calm, or what `calm train` wrote)
    const records = await readMetrics(runDir);
    const files = await writePlot(`${plotsDir}/curves`, trainingCurvesSpec({ run: records })); // SVG and PNG
    // #endregion readme
    expect(calm.model.patchSize).toBe(4);
    expect(ar.model.hiddenSize).toBe(calm.model.hiddenSize);
    expect(existsSync(files.svg) && existsSync(files.png)).toBe(true);
  });

  it('plots training curves and BrierLM against training FLOPs', async () => {
    // #region plots
    // import { brierVsFlopsSpec, renderVegaLite, trainingCurvesSpec, writePlot } from '@calm/cli';
    // records: readMetrics(runDir) of @calm/trainer
    const curves = trainingCurvesSpec({ AR: records }); // a Vega-Lite spec, one panel per run
    const { svg, png } = await renderVegaLite(curves); // SVG text and PNG bytes
    const files = await writePlot(join(out, 'plots', 'curves'), curves); // curves.svg and curves.png
    const brierChart = brierVsFlopsSpec({ AR: records }, { '2-gram': 1.9 }); // BrierLM of eval records against FLOPs
    // #endregion plots
    expect(svg).toContain('<svg');
    expect(svg).toContain('oracle bound (held-out)');
    expect(svg).toContain('unconditional bound (held-out)');
    expect(Buffer.from(png.subarray(1, 4)).toString()).toBe('PNG');
    expect(existsSync(files.png)).toBe(true);
    expect(brierChart).toHaveProperty('$schema');
  });
});
