// Checkpoints: the PyTorch .bin state dict (fp32/bf16/fp16) loads identically to safetensors
// through the safe reader, hostile pickles are refused, the tied alias is tolerated, key problems
// are reported all at once, and the Hugging Face layout round-trips (save/load/convert/CLI).
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, isCalmError, parseSafetensors, type NamedArray } from '@calm/core';
import { readSafetensorsFile, readTorchBinFile } from '@calm/core/node';
import { disposeParams, saveParams } from '@calm/nn';
import {
  autoencoderConfig,
  autoencoderConfigToJson,
  autoencoderParamShapes,
  checkAutoencoderStateDict,
  createAutoencoderParams,
  inferAutoencoderConfig,
} from '../src/index.js';
import {
  convertAutoencoderCheckpoint,
  loadAutoencoder,
  readAutoencoderCheckpoint,
  saveAutoencoder,
} from '../src/node.js';
import { fixturePath, useWasm } from './helpers.js';

const TINY = { vocabSize: 96, hiddenSize: 32, intermediateSize: 48, latentSize: 8, patchSize: 4 };

async function expectCalmError(p: Promise<unknown> | (() => unknown), code: string): Promise<Error> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (e) {
    expect(isCalmError(e), String(e)).toBe(true);
    expect((e as { code: string }).code, (e as Error).message).toBe(code);
    return e as Error;
  }
  throw new Error(`expected a CalmError ${code}`);
}

function sameArrays(a: Map<string, NamedArray>, b: Map<string, NamedArray>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, v] of a) {
    const w = b.get(k)!;
    expect(v.shape, k).toEqual(w.shape);
    expect(
      Buffer.from(new Float32Array(v.data).buffer).equals(Buffer.from(new Float32Array(w.data).buffer)),
      `${k} bit-identical`,
    ).toBe(true);
  }
}

let tmp: string;
beforeAll(async () => {
  await useWasm();
  tmp = await mkdtemp(join(tmpdir(), 'calm-ae-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('PyTorch .bin state dicts', () => {
  it('loads torch.save(state_dict) identically to the safetensors file, alias tolerated', async () => {
    const bin = await readAutoencoderCheckpoint(fixturePath('ae-tiny-statedict.bin'));
    const st = await readAutoencoderCheckpoint(fixturePath('ae-tiny-statedict.safetensors'));
    expect(bin.report.format).toBe('pytorch-bin');
    expect(st.report.format).toBe('safetensors');
    // The .bin carries decoder.lm_head_weight (sharing the embedding's storage); the safetensors does not.
    expect(bin.report.aliases).toEqual(['decoder.lm_head_weight']);
    expect(st.report.aliases).toEqual([]);
    expect(bin.report.configSource).toBe('inferred');
    expect(bin.config).toEqual(st.config);
    expect(bin.config).toMatchObject({ ...TINY, numEncoderLayers: 2, numDecoderLayers: 2 });
    sameArrays(bin.tensors, st.tensors);
    expect(bin.tensors.size).toBe(Object.keys(autoencoderParamShapes(bin.config)).length);
  });

  for (const tag of ['bf16', 'fp16']) {
    it(`loads the ${tag} .bin to the same widened values as its safetensors twin`, async () => {
      const bin = await readAutoencoderCheckpoint(fixturePath(`ae-tiny-statedict-${tag}.bin`));
      const st = await readAutoencoderCheckpoint(fixturePath(`ae-tiny-statedict-${tag}.safetensors`));
      expect(bin.report.dtypes).toEqual([tag === 'bf16' ? 'BF16' : 'F16']);
      sameArrays(bin.tensors, st.tensors);
    });
  }

  for (const name of ['malicious-os-system.bin', 'malicious-global.bin', 'malicious-stack-global.bin']) {
    it(`refuses ${name} without executing it`, async () => {
      const err = await expectCalmError(readAutoencoderCheckpoint(fixturePath(name)), 'UNSAFE_PICKLE');
      expect(err.message).toMatch(/posix|system|eval|builtins|global/i);
      await expectCalmError(loadAutoencoder(fixturePath(name)), 'UNSAFE_PICKLE');
    });
  }

  it('refuses a file that is neither safetensors nor a torch zip', async () => {
    const bogus = join(tmp, 'weights.pt');
    await writeFile(bogus, 'not a checkpoint at all, just text that is long enough');
    await expectCalmError(readAutoencoderCheckpoint(bogus), 'FORMAT_ERROR');
  });
});

describe('state-dict checks', () => {
  it('reports every missing, unexpected and mis-shaped key at once', async () => {
    const { tensors } = await readSafetensorsFile(fixturePath('ae-tiny-statedict.safetensors'));
    const config = autoencoderConfig(TINY);
    const broken = new Map(tensors);
    broken.delete('encoder.norm.weight');
    broken.delete('decoder.expand_layer.bias');
    broken.set('decoder.extra.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    broken.set('encoder.squeeze_layer.bias', { dtype: 'F32', shape: [3], data: new Float32Array(3) });
    const err = (await expectCalmError(
      () => checkAutoencoderStateDict(config, broken),
      'MISSING_PARAMETER',
    )) as Error & { details: Record<string, string[]> };
    expect(err.details.missing).toEqual(['encoder.norm.weight', 'decoder.expand_layer.bias']);
    expect(err.details.unexpected).toEqual(['decoder.extra.weight']);
    expect(err.details.problems!.join()).toMatch(/squeeze_layer\.bias.*\[3\]/);
    // A config with other layer counts names the layers that are not there.
    const four = autoencoderConfig({ ...TINY, numEncoderLayers: 4 });
    const e2 = (await expectCalmError(() => checkAutoencoderStateDict(four, tensors), 'MISSING_PARAMETER')) as Error & {
      details: Record<string, string[]>;
    };
    expect(e2.details.missing).toContain('encoder.encoder_layers.3.mlp.gate_proj.weight');
  });

  it('accepts the alias alone as the embedding, and rejects an alias that differs', async () => {
    const { tensors } = await readSafetensorsFile(fixturePath('ae-tiny-statedict.safetensors'));
    const config = autoencoderConfig(TINY);
    const emb = tensors.get('encoder.embed_tokens.weight')!;
    const onlyAlias = new Map(tensors);
    onlyAlias.delete('encoder.embed_tokens.weight');
    onlyAlias.set('decoder.lm_head_weight', emb);
    const { tensors: out, report } = checkAutoencoderStateDict(config, onlyAlias);
    expect(out.get('encoder.embed_tokens.weight')!.data).toEqual(emb.data);
    expect(report.aliases).toEqual(['decoder.lm_head_weight']);
    const differs = new Map(tensors);
    const other = Float32Array.from(emb.data);
    other[5]! += 1;
    differs.set('decoder.lm_head_weight', { ...emb, data: other });
    await expectCalmError(() => checkAutoencoderStateDict(config, differs), 'FORMAT_ERROR');
  });

  it('rejects integer weights', async () => {
    const { tensors } = await readSafetensorsFile(fixturePath('ae-tiny-statedict.safetensors'));
    const t = new Map(tensors);
    t.set('encoder.norm.weight', { dtype: 'I32', shape: [32], data: new Int32Array(32) });
    await expectCalmError(() => checkAutoencoderStateDict(autoencoderConfig(TINY), t), 'DTYPE_UNSUPPORTED');
  });

  it('infers the config from shapes (K, latent, layer counts)', () => {
    const config = autoencoderConfig({
      vocabSize: 50,
      hiddenSize: 16,
      intermediateSize: 24,
      latentSize: 6,
      patchSize: 2,
      numEncoderLayers: 4,
      numDecoderLayers: 0,
    });
    const shapes = new Map(Object.entries(autoencoderParamShapes(config)).map(([k, shape]) => [k, { shape }]));
    expect(inferAutoencoderConfig(shapes)).toEqual(config);
    shapes.delete('encoder.squeeze_layer.weight');
    return expectCalmError(() => inferAutoencoderConfig(shapes), 'MISSING_PARAMETER');
  });
});

describe('Hugging Face layout', () => {
  it('saves config.json + model.safetensors and loads them back exactly', async () => {
    const config = autoencoderConfig({ ...TINY, extra: { torch_dtype: 'float32', transformers_version: '4.43.0' } });
    const params = createAutoencoderParams(config, createRng(3));
    const dir = join(tmp, 'saved');
    try {
      const files = await saveAutoencoder(dir, params, config);
      const json = JSON.parse(await readFile(files.configFile, 'utf8')) as Record<string, unknown>;
      expect(json).toMatchObject({
        architectures: ['Autoencoder'],
        vocab_size: 96,
        patch_size: 4,
        latent_size: 8,
        ae_dropout: 0.15,
        kl_clamp: 0.5,
        kl_weight: 0.001,
        transformers_version: '4.43.0',
      });
      const { tensors, metadata } = parseSafetensors(new Uint8Array(await readFile(files.weightsFile)));
      expect(metadata).toEqual({ format: 'pt' });
      expect([...tensors.keys()]).toEqual(Object.keys(autoencoderParamShapes(config)));
      const loaded = await loadAutoencoder(dir);
      try {
        expect(loaded.report.configSource).toBe('config.json');
        expect(loaded.config).toEqual(config);
        for (const [k, v] of Object.entries(params)) expect(loaded.params[k]!.dataSync(), k).toEqual(v.dataSync());
      } finally {
        disposeParams(loaded.params);
      }
      // BF16 storage rounds, and says so in config.json.
      const bf = await saveAutoencoder(join(tmp, 'saved-bf16'), params, config, { floatDtype: 'BF16' });
      expect(JSON.parse(await readFile(bf.configFile, 'utf8')).torch_dtype).toBe('bfloat16');
      expect((await readSafetensorsFile(bf.weightsFile)).tensors.get('encoder.norm.weight')!.dtype).toBe('BF16');
    } finally {
      disposeParams(params);
    }
  });

  it('loads an official-style folder (config.json + pytorch_model.bin) and converts it to safetensors', async () => {
    const dir = join(tmp, 'CALM-Autoencoder');
    const config = autoencoderConfig({ ...TINY, padTokenId: 95, bosTokenId: 93, eosTokenId: 94 });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify(autoencoderConfigToJson(config)));
    await copyFile(fixturePath('ae-tiny-statedict.bin'), join(dir, 'pytorch_model.bin'));
    const loaded = await loadAutoencoder(dir);
    try {
      expect(loaded.report).toMatchObject({
        format: 'pytorch-bin',
        configSource: 'config.json',
        aliases: ['decoder.lm_head_weight'],
      });
      expect(loaded.config.padTokenId).toBe(95);
      const report = await convertAutoencoderCheckpoint(dir, join(tmp, 'converted'));
      expect(report).toMatchObject({ tensorCount: 27, storedDtype: 'F32', configSource: 'config.json' });
      const back = await readAutoencoderCheckpoint(join(tmp, 'converted'));
      expect(back.report.format).toBe('safetensors');
      expect(back.config).toEqual({ ...config, extra: { torch_dtype: 'float32' } });
      const ref = (await readTorchBinFile(fixturePath('ae-tiny-statedict.bin'))).tensors;
      ref.delete('decoder.lm_head_weight');
      sameArrays(back.tensors, ref);
      for (const [k, v] of back.tensors) expect(loaded.params[k]!.dataSync(), k).toEqual(v.data);
    } finally {
      disposeParams(loaded.params);
    }
  });

  it('loads a sharded safetensors checkpoint through model.safetensors.index.json', async () => {
    const config = autoencoderConfig(TINY);
    const params = createAutoencoderParams(config, createRng(8));
    const dir = join(tmp, 'sharded');
    try {
      const files = await saveParams(
        join(dir, 'model.safetensors'),
        params,
        { format: 'pt' },
        { maxShardBytes: 20_000 },
      );
      expect(files.at(-1)).toMatch(/model\.safetensors\.index\.json$/);
      expect(files.length).toBeGreaterThan(3);
      await writeFile(join(dir, 'config.json'), JSON.stringify(autoencoderConfigToJson(config)));
      const loaded = await loadAutoencoder(dir);
      try {
        expect(loaded.report.weightsFile).toMatch(/index\.json$/);
        for (const [k, v] of Object.entries(params)) expect(loaded.params[k]!.dataSync(), k).toEqual(v.dataSync());
      } finally {
        disposeParams(loaded.params);
      }
    } finally {
      disposeParams(params);
    }
  });

  it('keeps bf16 storage when converting a bf16 .bin', async () => {
    const report = await convertAutoencoderCheckpoint(
      fixturePath('ae-tiny-statedict-bf16.bin'),
      join(tmp, 'conv-bf16'),
    );
    expect(report.storedDtype).toBe('BF16');
    const a = (await readAutoencoderCheckpoint(join(tmp, 'conv-bf16'))).tensors;
    const b = (await readAutoencoderCheckpoint(fixturePath('ae-tiny-statedict-bf16.safetensors'))).tensors;
    sameArrays(a, b);
  });

  it('the CLI converts a .bin and prints JSON; errors are JSON with a code', async () => {
    const run = promisify(execFile);
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const args = ['--conditions=@calm/source', '--import', 'tsx', cli];
    const out = join(tmp, 'cli-out');
    const { stdout } = await run(process.execPath, [
      ...args,
      'convert',
      fixturePath('ae-tiny-statedict.bin'),
      out,
      '--dtype',
      'f32',
    ]);
    const res = JSON.parse(stdout) as Record<string, unknown>;
    expect(res).toMatchObject({
      ok: true,
      command: 'convert',
      tensorCount: 27,
      storedDtype: 'F32',
      aliases: ['decoder.lm_head_weight'],
    });
    expect((await readAutoencoderCheckpoint(out)).report.configSource).toBe('config.json');
    const inspected = JSON.parse((await run(process.execPath, [...args, 'inspect', out])).stdout) as {
      ok: boolean;
      format: string;
      parameterCount: number;
      config: { vocab_size: number };
      tensors: unknown[];
    };
    expect(inspected).toMatchObject({ ok: true, format: 'safetensors', config: { vocab_size: 96 } });
    expect(inspected.tensors).toHaveLength(27);
    const bad = await run(process.execPath, [
      ...args,
      'convert',
      fixturePath('malicious-os-system.bin'),
      join(tmp, 'never'),
    ]).then(
      () => null,
      (e: { code: number; stdout: string }) => e,
    );
    expect(bad?.code).toBe(1);
    expect(JSON.parse(bad!.stdout)).toMatchObject({ ok: false, error: { code: 'UNSAFE_PICKLE' } });
  });
});
