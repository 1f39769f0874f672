import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  createRng,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  isCalmError,
  parseSafetensors,
  serializeSafetensors,
} from '@calm/core';
import { writeSafetensorsFile, writeTextAtomic } from '@calm/core/node';
import { expectNoLeak } from '@calm/testing/tfjs';
import {
  createParams,
  disposeParams,
  initBackend,
  loadParams,
  loadTensors,
  namedArraysToTensors,
  normalInit,
  paramsToNamedArrays,
  saveParams,
  zerosInit,
} from '../src/index.js';
import { randomValues, seeded } from '../../testing/src/nn-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'calm-nn-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const SPECS = {
  'encoder.embed_tokens.weight': { shape: [10, 4], init: normalInit(1) },
  'encoder.norm.weight': { shape: [4], init: normalInit(1) },
  'encoder.hidden_to_latent.weight': { shape: [6, 4], init: normalInit(1) },
  'encoder.hidden_to_latent.bias': { shape: [6], init: normalInit(1) },
};
const fresh = () =>
  createParams(
    Object.fromEntries(Object.entries(SPECS).map(([k, s]) => [k, { shape: s.shape, init: zerosInit() }])),
    createRng(0),
  );
const values = (p: Record<string, tf.Tensor>) =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float32Array.from(v.dataSync())]));

describe('safetensors round trips', () => {
  it('F32 is exact, F16 and BF16 round to nearest even and widen back on load', async () => {
    const src = createParams(SPECS, createRng(1));
    const want = values(src);
    for (const floatDtype of ['F32', 'F16', 'BF16'] as const) {
      const path = join(dir, `rt-${floatDtype}.safetensors`);
      expect(await saveParams(path, src, { format: 'pt' }, { floatDtype })).toEqual([path]);
      const header = JSON.parse(
        new TextDecoder().decode(readFileSync(path).subarray(8, 8 + Number(readFileSync(path).readBigUInt64LE(0)))),
      ) as Record<string, { dtype: string }>;
      expect(header['encoder.norm.weight']!.dtype).toBe(floatDtype);
      const dst = fresh();
      const report = await expectNoLeak(() => loadParams(path, dst));
      expect(report.loaded.sort()).toEqual(Object.keys(SPECS).sort());
      expect(report.metadata).toEqual({ format: 'pt' });
      for (const [k, v] of Object.entries(want)) {
        const expected =
          floatDtype === 'F32'
            ? v
            : floatDtype === 'F16'
              ? float16BitsToFloat32(float32ToFloat16Bits(v))
              : bfloat16BitsToFloat32(float32ToBfloat16Bits(v));
        expect(dst[k]!.dataSync(), `${floatDtype} ${k}`).toEqual(expected);
      }
      disposeParams(dst);
    }
    disposeParams(src);
  });

  it('I32 and I64 integers (and bool) round-trip through files and memory', async () => {
    const ids = tf.tensor2d(
      [
        [1, -2, 3],
        [2147483647, 0, -2147483648],
      ],
      [2, 3],
      'int32',
    );
    const mask = tf.tensor1d([1, 0, 1], 'bool');
    for (const intDtype of ['I32', 'I64'] as const) {
      const path = join(dir, `ints-${intDtype}.safetensors`);
      await saveParams(path, { ids, mask }, undefined, { intDtype });
      const { tensors } = await loadTensors(path);
      expect(tensors['ids']!.dtype).toBe('int32');
      expect(tensors['ids']!.arraySync()).toEqual(ids.arraySync());
      expect(tensors['mask']!.dtype).toBe('bool');
      expect(Array.from(tensors['mask']!.dataSync())).toEqual([1, 0, 1]);
      tf.dispose(Object.values(tensors));
      // Into an int32 variable.
      const v = { ids: tf.variable(tf.zeros([2, 3], 'int32')) };
      await loadParams(path, v, { ignore: ['mask'] });
      expect(v.ids.arraySync()).toEqual(ids.arraySync());
      v.ids.dispose();
    }
    const arrays = await paramsToNamedArrays({ ids }, { intDtype: 'I64' });
    const back = namedArraysToTensors(parseSafetensors(serializeSafetensors(arrays)).tensors);
    expect(back['ids']!.arraySync()).toEqual(ids.arraySync());
    tf.dispose([ids, mask, ...Object.values(back)]);
  });

  it('loads sharded checkpoints through their index (written by us or by hand), from the file or the folder', async () => {
    const src = createParams(SPECS, createRng(2));
    const sub = join(dir, 'sharded');
    const files = await saveParams(join(sub, 'model.safetensors'), src, { format: 'pt' }, { maxShardBytes: 200 });
    expect(files.at(-1)).toBe(join(sub, 'model.safetensors.index.json'));
    expect(files.length).toBeGreaterThan(2);
    expect(readdirSync(sub).sort()).toEqual(files.map((f) => f.slice(sub.length + 1)).sort());
    const index = JSON.parse(readFileSync(files.at(-1)!, 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    expect(index.metadata.total_size).toBe((40 + 4 + 24 + 6) * 4);
    expect(new Set(Object.values(index.weight_map)).size).toBe(files.length - 1);
    for (const from of [sub, files.at(-1)!]) {
      const dst = fresh();
      const r = await loadParams(from, dst);
      expect(r.file).toBe(join(sub, 'model.safetensors.index.json'));
      expect(values(dst)).toEqual(values(src));
      disposeParams(dst);
    }
    // A hand-made two-shard checkpoint with HF names.
    const hand = join(dir, 'hand');
    const v = values(src);
    await writeSafetensorsFile(join(hand, 'a.safetensors'), {
      'encoder.embed_tokens.weight': { shape: [10, 4], data: v['encoder.embed_tokens.weight']!, dtype: 'BF16' },
    });
    await writeSafetensorsFile(
      join(hand, 'b.safetensors'),
      Object.fromEntries(
        Object.entries(v)
          .filter(([k]) => k !== 'encoder.embed_tokens.weight')
          .map(([k, d]) => [k, { shape: SPECS[k as keyof typeof SPECS].shape, data: d }]),
      ),
    );
    await writeTextAtomic(
      join(hand, 'weights.safetensors.index.json'),
      JSON.stringify({
        metadata: {},
        weight_map: {
          'encoder.embed_tokens.weight': 'a.safetensors',
          'encoder.norm.weight': 'b.safetensors',
          'encoder.hidden_to_latent.weight': 'b.safetensors',
          'encoder.hidden_to_latent.bias': 'b.safetensors',
        },
      }),
    );
    const dst = fresh();
    await loadParams(hand, dst); // the folder's only index
    expect(dst['encoder.norm.weight']!.dataSync()).toEqual(v['encoder.norm.weight']);
    expect(dst['encoder.embed_tokens.weight']!.dataSync()).toEqual(
      bfloat16BitsToFloat32(float32ToBfloat16Bits(v['encoder.embed_tokens.weight']!)),
    );
    disposeParams(dst);
    disposeParams(src);
  });
});

describe('key mapping and strictness', () => {
  const path = join(dir, 'mapped.safetensors');
  const rng = seeded('ckpt');
  const emb = randomValues([10, 4], rng);
  beforeAll(async () => {
    // An AE-like file: prefixed keys, a tied alias, an inv_freq buffer, an unknown key.
    await writeSafetensorsFile(path, {
      'model.encoder.embed_tokens.weight': { shape: [10, 4], data: emb },
      'model.decoder.lm_head_weight': { shape: [10, 4], data: emb },
      'model.encoder.norm.weight': { shape: [4], data: Float32Array.of(1, 2, 3, 4) },
      'model.encoder.hidden_to_latent.weight': { shape: [6, 4], data: new Float32Array(24).fill(0.5) },
      'model.layers.0.rotary_emb.inv_freq': { shape: [2], data: Float32Array.of(1, 0.1) },
      'model.extra.weight': { shape: [1], data: Float32Array.of(9) },
    });
  });

  it('strict loading lists every missing and unexpected key in one CalmError and assigns nothing', async () => {
    const dst = fresh();
    const err = await loadParams(path, dst, { rename: (k) => k.replace(/^model\./, '') }).catch((e: unknown) => e);
    expect(isCalmError(err, 'MISSING_PARAMETER')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toMatch(/1 missing parameter\(s\): encoder\.hidden_to_latent\.bias/);
    expect(msg).toMatch(
      /3 unexpected key\(s\): model\.decoder\.lm_head_weight \(as decoder\.lm_head_weight\), model\.layers\.0\.rotary_emb\.inv_freq \(as layers\.0\.rotary_emb\.inv_freq\), model\.extra\.weight \(as extra\.weight\)/,
    );
    expect((err as { details: { missing: string[] } }).details.missing).toEqual(['encoder.hidden_to_latent.bias']);
    expect(Array.from(dst['encoder.norm.weight']!.dataSync())).toEqual([0, 0, 0, 0]);
    disposeParams(dst);
  });

  it('non-strict loading with aliases, rename and ignore reports what happened', async () => {
    const dst = fresh();
    const report = await loadParams(path, dst, {
      strict: false,
      rename: (k) => (k === 'model.extra.weight' ? null : k.replace(/^model\./, '')),
      aliases: { 'decoder.lm_head_weight': 'encoder.embed_tokens.weight' },
      ignore: [/\.rotary_emb\.inv_freq$/],
    });
    expect(report.loaded.sort()).toEqual([
      'encoder.embed_tokens.weight',
      'encoder.hidden_to_latent.weight',
      'encoder.norm.weight',
    ]);
    expect(report.missing).toEqual(['encoder.hidden_to_latent.bias']);
    expect(report.unexpected).toEqual([]);
    expect(report.ignored.sort()).toEqual(['model.extra.weight', 'model.layers.0.rotary_emb.inv_freq']);
    expect(report.duplicates).toEqual(['model.decoder.lm_head_weight']);
    expect(dst['encoder.embed_tokens.weight']!.dataSync()).toEqual(emb);
    expect(Array.from(dst['encoder.norm.weight']!.dataSync())).toEqual([1, 2, 3, 4]);
    disposeParams(dst);
  });

  it('prefix aliases map whole sub-modules; shape mismatches are reported together', async () => {
    const dst = {
      'enc.norm.weight': tf.variable(tf.zeros([4])),
      'enc.hidden_to_latent.weight': tf.variable(tf.zeros([4, 6])),
    };
    const err = await loadParams(path, dst, { strict: false, aliases: { 'model.encoder.': 'enc.' } }).catch(
      (e: unknown) => e,
    );
    expect(isCalmError(err, 'SHAPE_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(
      /"model\.encoder\.hidden_to_latent\.weight" has shape \[6, 4\] but parameter "enc\.hidden_to_latent\.weight" is \[4, 6\]/,
    );
    const ok = { 'enc.norm.weight': dst['enc.norm.weight'] };
    const report = await loadParams(path, ok, { strict: false, aliases: { 'model.encoder.': 'enc.' } });
    expect(report.loaded).toEqual(['enc.norm.weight']);
    expect(Array.from(ok['enc.norm.weight'].dataSync())).toEqual([1, 2, 3, 4]);
    tf.dispose(Object.values(dst));
  });

  it('loadTensors maps keys and refuses collisions; bad paths are CalmErrors', async () => {
    const { tensors, metadata } = await loadTensors(path, {
      rename: (k) => k.replace(/^model\./, ''),
      ignore: [/inv_freq/],
    });
    expect(metadata).toEqual({});
    expect(Object.keys(tensors).sort()).toEqual([
      'decoder.lm_head_weight',
      'encoder.embed_tokens.weight',
      'encoder.hidden_to_latent.weight',
      'encoder.norm.weight',
      'extra.weight',
    ]);
    tf.dispose(Object.values(tensors));
    await expect(
      loadTensors(path, { aliases: { 'model.decoder.lm_head_weight': 'model.encoder.embed_tokens.weight' } }),
    ).rejects.toThrow(/twice/);
    await expect(loadParams(join(dir, 'nope.safetensors'), {})).rejects.toThrow(/no checkpoint/);
    await expect(saveParams(join(dir, 'x.bin'), {})).rejects.toThrow(/\.safetensors/);
    await expect(loadParams(dir, {})).rejects.toThrow(/pass the file or index path/);
  });
});

describe('PyTorch .bin state dicts', () => {
  // A torch.save(state_dict) file written with PyTorch (copied from @calm/core's fixtures): fp32,
  // fp16, bf16, int64, bool tensors and a tied alias `tied.a` of `layer.weight`.
  const bin = join(import.meta.dirname, 'fixtures', 'torch-state-dict.bin');

  it('loads into parameters through the safe unpickler, aliases counted as duplicates', async () => {
    const params = {
      'layer.weight': tf.variable(tf.zeros([4, 6])),
      'layer.bias': tf.variable(tf.zeros([3])),
      half: tf.variable(tf.zeros([4])),
      ids: tf.variable(tf.zeros([2, 2], 'int32')),
    };
    const report = await loadParams(bin, params, { strict: false, aliases: { 'tied.a': 'layer.weight' } });
    expect(report.loaded.sort()).toEqual(['half', 'ids', 'layer.bias', 'layer.weight']);
    expect(report.duplicates).toEqual(['tied.a']);
    expect(report.unexpected.length).toBeGreaterThan(0); // bf16, flag, param, scalar, …
    expect(Array.from(params['layer.bias'].dataSync())).toEqual([0.5, -1.25, 3]);
    expect(Array.from(params.half.dataSync())).toEqual([
      1,
      -2.5,
      65504,
      float16BitsToFloat32(float32ToFloat16Bits(Float32Array.of(0.0001)))[0],
    ]);
    expect(params.ids.arraySync()).toEqual([
      [1, -2],
      [3, 2147483647],
    ]);
    expect(params['layer.weight'].dataSync()[7]).toBe(1);
    tf.dispose(Object.values(params));
    const { tensors } = await loadTensors(bin, { ignore: ['tied.a'] });
    expect(tensors['flag']!.dtype).toBe('bool');
    expect(tensors['scalar']!.shape).toEqual([]);
    tf.dispose(Object.values(tensors));
  });
});
