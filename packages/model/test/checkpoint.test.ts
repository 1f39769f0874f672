// Loading the official-layout tiny checkpoints (pytorch_model.bin with aliases, a server ae_path),
// with and without an explicit autoencoder folder; conversion to safetensors and reload; saving
// and reloading our own CALM and AR checkpoints.
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { loadCalmFromBytes, readCalmCheckpointBytes } from '../src/index.js';
import { convertCheckpoint, loadAr, loadCalm, readCalmCheckpoint, saveAr, saveCalm } from '../src/node.js';
import { fixturePath, loadFixture, tinyArFromFixture, useWasm } from './helpers.js';

beforeAll(useWasm);
const tmp = mkdtempSync(join(tmpdir(), 'calm-trainer-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const official = fixturePath('tiny-official/CALM-M');
const officialAe = fixturePath('tiny-official/CALM-Autoencoder');

function expectSameWeights(
  params: Record<string, tf.Tensor>,
  prefix: string,
  fixture: Record<string, Float32Array | Int32Array>,
): void {
  for (const [k, v] of Object.entries(params)) {
    const want = fixture[prefix + k];
    expect(want, `fixture has ${prefix + k}`).toBeDefined();
    expect(Array.from(v.dataSync())).toEqual(Array.from(want!));
  }
}

describe('CALM checkpoints', () => {
  const fx = loadFixture('calm-tiny.safetensors');
  const weights: Record<string, Float32Array | Int32Array> = Object.fromEntries(fx.names.map((n) => [n, fx.values(n)]));

  it('loads the official .bin layout (aliases, server ae_path) using the ae_model.* copy', async () => {
    const { model, report } = await loadCalm(official);
    expect(report.format).toBe('pytorch-bin');
    expect(report.aeWeights).toBe('checkpoint');
    expect(report.aeConfigSource).toBe('inferred');
    expect(report.aliases.filter((a) => a.startsWith('generative_head.')).length).toBe(34);
    expect(report.aliases).toContain('ae_model.decoder.lm_head_weight');
    expect(model.config.aePath).toBe('/mnt/share/calm/autoencoder');
    expect(model.config.hiddenSize).toBe(32);
    expect(Object.keys(model.params).length).toBe(20 + 34 + 6);
    expectSameWeights(model.params, '', weights);
    expectSameWeights(model.aeParams, 'ae_model.', weights);
    model.dispose();
  });

  it('takes the autoencoder config from aePath when given', async () => {
    const read = await readCalmCheckpoint(official, { aePath: officialAe });
    expect(read.report.aeConfigSource).toBe('aePath');
    expect(read.aeConfig.intermediateSize).toBe(48);
    expect(read.aeConfig.klWeight).toBe(0.001);
  });

  it('converts .bin to safetensors and reloads the same weights', async () => {
    const out = join(tmp, 'calm-st');
    const r = await convertCheckpoint(official, out, { aePath: officialAe });
    expect(r.kind).toBe('calm');
    expect(r.tensorCount).toBe(27 + 20 + 34 + 6);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg.architectures).toEqual(['EnergyTransformer']);
    expect(cfg.ae_path).toBe(officialAe);
    const { model, report } = await loadCalm(out);
    expect(report.format).toBe('safetensors');
    expectSameWeights(model.params, '', weights);
    expectSameWeights(model.aeParams, 'ae_model.', weights);
    // Save our own and reload: identical.
    const again = join(tmp, 'calm-saved');
    await saveCalm(again, model);
    const { model: m2 } = await loadCalm(again);
    expectSameWeights(m2.params, '', weights);
    model.dispose();
    m2.dispose();
  });

  it('converts the official autoencoder folder', async () => {
    const r = await convertCheckpoint(officialAe, join(tmp, 'ae-st'));
    expect(r.kind).toBe('autoencoder');
    expect(r.tensorCount).toBe(27);
  });

  it('reports a missing autoencoder with the fix', async () => {
    const out = join(tmp, 'lm-only');
    const { model } = await loadCalm(official);
    await saveCalm(out, model);
    model.dispose();
    // Strip ae_model.* from the saved file and try again without aePath.
    const { readSafetensorsFile, writeSafetensorsFile } = await import('@calm/core/node');
    const { tensors } = await readSafetensorsFile(join(out, 'model.safetensors'));
    const kept = new Map([...tensors].filter(([k]) => !k.startsWith('ae_model.')));
    await writeSafetensorsFile(join(out, 'model.safetensors'), kept);
    await expect(readCalmCheckpoint(out)).rejects.toSatisfy(
      (e: unknown) => isCalmError(e, 'MISSING_PARAMETER') && /aePath/.test((e as Error).message),
    );
    const ok = await readCalmCheckpoint(out, { aePath: officialAe });
    expect(ok.report.aeWeights).toBe('aePath');
  });
});

describe('CALM checkpoints from bytes (browser-safe)', () => {
  const fx = loadFixture('calm-tiny.safetensors');
  const weights: Record<string, Float32Array | Int32Array> = Object.fromEntries(fx.names.map((n) => [n, fx.values(n)]));
  const bytesOf = (dir: string) => ({
    config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as unknown,
    weights: new Uint8Array(readFileSync(join(dir, 'model.safetensors'))),
  });
  let folder: string;
  let aeFolder: string;
  beforeAll(async () => {
    folder = join(tmp, 'bytes-calm');
    aeFolder = join(tmp, 'bytes-ae');
    await convertCheckpoint(official, folder, { aePath: officialAe });
    await convertCheckpoint(officialAe, aeFolder);
  });

  it('reads the same arrays and report as the Node loader of the folder', async () => {
    const fromFiles = await readCalmCheckpoint(folder);
    const fromBytes = readCalmCheckpointBytes(bytesOf(folder));
    expect(fromBytes.config).toEqual(fromFiles.config);
    expect(fromBytes.aeConfig).toEqual(fromFiles.aeConfig);
    expect([...fromBytes.lm.keys()]).toEqual([...fromFiles.lm.keys()]);
    expect([...fromBytes.ae.keys()]).toEqual([...fromFiles.ae.keys()]);
    for (const [k, a] of fromFiles.lm) expect(fromBytes.lm.get(k)!.data).toEqual(a.data);
    expect({ ...fromBytes.report, weightsFile: '' }).toEqual({ ...fromFiles.report, weightsFile: '' });
    expect(fromBytes.report.weightsFile).toBe('model.safetensors');
  });

  it('loads a model with the checkpoint weights; the autoencoder config from its own config.json when given', async () => {
    const { model, report } = loadCalmFromBytes(bytesOf(folder));
    expect(report.aeConfigSource).toBe('inferred');
    expectSameWeights(model.params, '', weights);
    expectSameWeights(model.aeParams, 'ae_model.', weights);
    model.dispose();
    const ae = bytesOf(aeFolder);
    const withAe = readCalmCheckpointBytes({ ...bytesOf(folder), aeConfig: ae.config });
    expect(withAe.report).toMatchObject({ aeConfigSource: 'aePath', aeWeights: 'checkpoint' });
    expect(withAe.aeConfig.klWeight).toBe(0.001);
  });

  it('takes the autoencoder weights from their own bytes when the checkpoint has no copy, and says so when absent', async () => {
    const { readSafetensorsFile, writeSafetensorsFile } = await import('@calm/core/node');
    const lmOnly = join(tmp, 'bytes-lm-only');
    await convertCheckpoint(official, lmOnly, { aePath: officialAe });
    const { tensors } = await readSafetensorsFile(join(lmOnly, 'model.safetensors'));
    await writeSafetensorsFile(
      join(lmOnly, 'model.safetensors'),
      new Map([...tensors].filter(([k]) => !k.startsWith('ae_model.'))),
    );
    const ae = bytesOf(aeFolder);
    const read = readCalmCheckpointBytes({ ...bytesOf(lmOnly), aeConfig: ae.config, aeWeights: ae.weights });
    expect(read.report).toMatchObject({ aeWeights: 'aePath', aeConfigSource: 'aePath' });
    expect(read.ae.get('encoder.embed_tokens.weight')!.data).toEqual(weights['ae_model.encoder.embed_tokens.weight']);
    expect(() => readCalmCheckpointBytes(bytesOf(lmOnly))).toThrow(/no ae_model\.\* weights.*pass aeWeights/);
    expect(() => readCalmCheckpointBytes({ ...bytesOf(lmOnly), weights: new Uint8Array(8) })).toSatisfy(
      (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          return isCalmError(e, 'FORMAT_ERROR');
        }
        return false;
      },
    );
  });
});

describe('AR checkpoints', () => {
  it('saves and reloads', async () => {
    const model = tinyArFromFixture(loadFixture('ar-tiny.safetensors'));
    const out = join(tmp, 'ar');
    await saveAr(out, model);
    const { model: back } = await loadAr(out);
    for (const [k, v] of Object.entries(model.params))
      expect(Array.from(back.params[k]!.dataSync())).toEqual(Array.from(v.dataSync()));
    expect({ ...back.config, extra: {} }).toEqual({ ...model.config, extra: {} });
    model.dispose();
    back.dispose();
  });
});
