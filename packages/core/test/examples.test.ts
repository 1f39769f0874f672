// The API examples of @calm/core: each `#region` is included into a TSDoc `@example` with
// `{@includeCode}`, so the documented code is the code that runs here. Assertions stay outside
// the regions.
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CalmError,
  NO_TOKEN,
  bytesSource,
  chunkKey,
  chunksEqual,
  createRng,
  errorFactory,
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  isCalmError,
  openTorchStateDict,
  padToMultiple,
  parseSafetensors,
  restoreRng,
  serializeSafetensors,
  toChunks,
  type ChunkSampler,
  type NextTokenModel,
  type TokenSampler,
} from '../src/index.js';
import {
  createProgressBar,
  openSafetensorsFile,
  pathExists,
  readSafetensorsFile,
  readJsonFile,
  readTorchBinFile,
  writeSafetensorsFile,
  writeTextAtomic,
} from '../src/node.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'calm-core-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('@calm/core examples', () => {
  it('README quick start: a seeded RNG, a ChunkSampler, chunks', async () => {
    // #region readme
    // import { createRng, restoreRng, toChunks, type ChunkSampler } from '@calm/core';
    const rng = createRng(42); // xoshiro128**, seeded
    const saved = rng.getState(); // plain JSON: store it with a checkpoint
    // Any model is a ChunkSampler if it can draw chunks of K token ids (here: uniform over 10 ids).
    const sampler: ChunkSampler = {
      chunkSize: 4,
      vocabSize: 10,
      async sample(contexts, numSamples) {
        const out = new Int32Array(contexts.length * numSamples * 4); // [B, numSamples, K]
        for (let i = 0; i < out.length; i++) out[i] = rng.int(10);
        return out;
      },
    };
    const draws = await sampler.sample([Int32Array.of(1, 2, 3, 4)], 2); // 1 context × 2 samples × 4 ids
    const again = restoreRng(saved).int(10); // the stream of `rng` from `saved` on: equals draws[0]
    const [first, second] = toChunks(Int32Array.of(5, 6, 7, 8), 2); // views [5, 6] and [7, 8]
    // #endregion readme
    expect(draws).toHaveLength(8);
    expect(draws.every((x) => x >= 0 && x < 10)).toBe(true);
    expect(again).toBe(draws[0]);
    expect([Array.from(first!), Array.from(second!)]).toEqual([
      [5, 6],
      [7, 8],
    ]);
  });

  it('draws reproducible random numbers and resumes from a saved state', () => {
    // #region rng
    // import { createRng, restoreRng } from '@calm/core';
    const rng = createRng(42);
    const u = rng.uniform(); // in [0, 1)
    const k = rng.categorical([0.2, 0.8]); // 0 or 1
    const saved = rng.getState(); // plain JSON: store it with a checkpoint
    const next = rng.normal();
    const resumed = restoreRng(saved);
    resumed.normal() === next; // true: the stream continues exactly
    // #endregion rng
    expect(u).toBeGreaterThanOrEqual(0);
    expect(u).toBeLessThan(1);
    expect([0, 1]).toContain(k);
    expect(JSON.parse(JSON.stringify(saved))).toEqual(saved);
    expect(restoreRng(saved).normal()).toBe(next);
  });

  it('cuts a token stream into chunks of K tokens', () => {
    // #region chunks
    // import { chunkKey, chunksEqual, padToMultiple, toChunks } from '@calm/core';
    const PAD = 128256;
    const ids = Int32Array.from([128000, 791, 8415, 7731, 389]); // 5 token ids, int32
    const padded = padToMultiple(ids, 4, PAD); // 8 ids: [..., PAD, PAD, PAD]
    const [first, second] = toChunks(padded, 4); // two views of K = 4 ids, no copies
    chunksEqual(first!, second!); // false
    chunkKey(second!); // '389,128256,128256,128256', usable as a Map key
    // #endregion chunks
    expect(padded.length).toBe(8);
    expect(Array.from(first!)).toEqual([128000, 791, 8415, 7731]);
    expect(chunksEqual(first!, second!)).toBe(false);
    expect(chunkKey(second!)).toBe('389,128256,128256,128256');
  });

  it('implements the ChunkSampler contract', async () => {
    // #region chunk-sampler
    // import { createRng, type ChunkSampler } from '@calm/core';
    // A toy sampler: ignores its contexts and draws K = 4 uniform ids from a vocabulary of 10.
    const rng = createRng(0);
    const sampler: ChunkSampler = {
      chunkSize: 4,
      vocabSize: 10,
      async sample(contexts, numSamples) {
        const out = new Int32Array(contexts.length * numSamples * 4); // [B, numSamples, K]
        for (let i = 0; i < out.length; i++) out[i] = rng.int(10);
        return out;
      },
    };
    const draws = await sampler.sample([Int32Array.from([1, 2, 3, 4])], 2); // 1 context × 2 samples × 4 ids
    // #endregion chunk-sampler
    expect(draws.length).toBe(8);
    expect(draws.every((x) => x >= 0 && x < 10)).toBe(true);
  });

  it('implements the TokenSampler contract, padding early stops with NO_TOKEN', async () => {
    // #region token-sampler
    // import { NO_TOKEN, type TokenSampler } from '@calm/core';
    // A toy sampler that always continues with token 7 and stops after two tokens.
    const sampler: TokenSampler = {
      async sample(contexts, maxTokens, numSamples) {
        const out = new Int32Array(contexts.length * numSamples * maxTokens).fill(NO_TOKEN); // [B, numSamples, maxTokens]
        for (let row = 0; row < contexts.length * numSamples; row++) {
          for (let t = 0; t < Math.min(2, maxTokens); t++) out[row * maxTokens + t] = 7;
        }
        return out;
      },
    };
    const draws = await sampler.sample([Int32Array.from([1, 2])], 4, 1); // [7, 7, NO_TOKEN, NO_TOKEN]
    // #endregion token-sampler
    expect(Array.from(draws)).toEqual([7, 7, NO_TOKEN, NO_TOKEN]);
  });

  it('implements the NextTokenModel contract', async () => {
    // #region next-token-model
    // import type { NextTokenModel } from '@calm/core';
    // A unigram model: the same next-token distribution after every context.
    const unigram = Float32Array.from([0.5, 0.25, 0.25]);
    const model: NextTokenModel = {
      vocabSize: 3,
      async nextTokenProbs(contexts) {
        const out = new Float32Array(contexts.length * 3); // [B, V], float32, rows sum to 1
        contexts.forEach((_, b) => out.set(unigram, b * 3));
        return out;
      },
    };
    const probs = await model.nextTokenProbs([Int32Array.from([0]), Int32Array.from([1, 2])]); // 2 rows of 3
    // #endregion next-token-model
    expect(Array.from(probs)).toEqual([0.5, 0.25, 0.25, 0.5, 0.25, 0.25]);
  });

  it('raises and matches CalmErrors by code', () => {
    // #region calm-error
    // import { errorFactory, isCalmError } from '@calm/core';
    const fail = errorFactory('@calm/my-package');
    let reported = '';
    try {
      fail('INVALID_ARGUMENT', 'chunkSize must be >= 1, got 0; pass a positive integer.');
    } catch (e) {
      if (!isCalmError(e, 'INVALID_ARGUMENT')) throw e;
      reported = e.message; // '[@calm/my-package] chunkSize must be >= 1, got 0; ...'
    }
    // #endregion calm-error
    expect(reported).toBe('[@calm/my-package] chunkSize must be >= 1, got 0; pass a positive integer.');
    expect(() => fail('INVALID_ARGUMENT', 'x')).toThrow(CalmError);
  });

  it('writes and reads safetensors in memory', () => {
    // #region safetensors
    // import { parseSafetensors, serializeSafetensors } from '@calm/core';
    const bytes = serializeSafetensors(
      {
        'lm_head.weight': { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]), dtype: 'BF16' },
        positions: { shape: [3], data: Int32Array.from([0, 1, 2]), dtype: 'I64' },
      },
      { format: 'pt' },
    );
    const { metadata, tensors } = parseSafetensors(bytes);
    const w = tensors.get('lm_head.weight')!; // { dtype: 'BF16', shape: [2, 3], data: Float32Array }
    // #endregion safetensors
    expect(metadata).toEqual({ format: 'pt' });
    expect(w.dtype).toBe('BF16');
    expect(Array.from(w.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensors.get('positions')!.data).toBeInstanceOf(Int32Array);
  });

  it('rounds float32 to half precision and back', () => {
    // #region half-floats
    // import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from '@calm/core';
    const values = Float32Array.from([1, 0.1, 70000]);
    const half = float16BitsToFloat32(float32ToFloat16Bits(values)); // [1, 0.0999755859375, Infinity]: F16 overflows at 65504
    const brain = bfloat16BitsToFloat32(float32ToBfloat16Bits(values)); // [1, 0.10009765625, 70144]: 8 mantissa bits
    // #endregion half-floats
    expect(Array.from(half)).toEqual([1, 0.0999755859375, Number.POSITIVE_INFINITY]);
    expect(Array.from(brain)).toEqual([1, 0.10009765625, 70144]);
  });

  it('reads a PyTorch state dict without executing its pickle', async () => {
    const path = join(fixtures, 'torch-state-dict.bin');
    // #region torch-bin
    // import { bytesSource, openTorchStateDict } from '@calm/core';
    // path: a pytorch_model.bin
    const bytes = new Uint8Array(await readFile(path)); // a torch.save(model.state_dict()) file
    const reader = await openTorchStateDict(bytesSource(bytes), path);
    const names = [...reader.refs.keys()]; // file order
    const bias = await reader.read('layer.bias'); // { dtype: 'F32', shape: [3], data: Float32Array }
    // #endregion torch-bin
    expect(names.slice(0, 2)).toEqual(['layer.weight', 'layer.bias']);
    expect(bias.shape).toEqual([3]);
    expect(Array.from(bias.data)).toEqual([0.5, -1.25, 3]);
  });
});

describe('@calm/core/node examples', () => {
  it('writes a safetensors file atomically and reads it whole or lazily', async () => {
    const dir = tmp;
    // #region safetensors-file
    // import { openSafetensorsFile, readSafetensorsFile, writeSafetensorsFile } from '@calm/core/node';
    // dir: an output folder
    const file = join(dir, 'model.safetensors');
    await writeSafetensorsFile(file, { 'embed.weight': { shape: [4, 2], data: new Float32Array(8).fill(0.5) } });
    const { tensors } = await readSafetensorsFile(file); // every tensor
    const reader = await openSafetensorsFile(file); // header only; tensors are read on demand
    const embed = await reader.read('embed.weight'); // { dtype: 'F32', shape: [4, 2], data: Float32Array }
    await reader.close();
    // #endregion safetensors-file
    expect(tensors.get('embed.weight')!.shape).toEqual([4, 2]);
    expect(embed.data).toEqual(new Float32Array(8).fill(0.5));
  });

  it('reads a PyTorch .bin file from disk', async () => {
    const path = join(fixtures, 'torch-state-dict.bin');
    // #region torch-bin-file
    // import { readTorchBinFile } from '@calm/core/node';
    const { tensors, aliases } = await readTorchBinFile(path, { filter: (name) => name.startsWith('layer.') });
    tensors.get('layer.weight'); // { dtype: 'F32', shape: [...], data: Float32Array }
    aliases; // tied weights: alias name → first name
    // #endregion torch-bin-file
    expect([...tensors.keys()]).toEqual(['layer.weight', 'layer.bias']);
    expect(aliases.get('tied.a')).toBe('layer.weight');
  });

  it('writes text atomically', async () => {
    const dir = tmp;
    // #region atomic-write
    // import { pathExists, readJsonFile, writeTextAtomic } from '@calm/core/node';
    // dir: an output folder
    const file = join(dir, 'runs', 'config.json'); // parent folders are created
    await writeTextAtomic(file, JSON.stringify({ chunkSize: 4 }));
    await pathExists(file); // true; a crash mid-write never leaves a partial file
    const back = await readJsonFile(file); // { chunkSize: 4 }; IO_ERROR / FORMAT_ERROR name the file
    // #endregion atomic-write
    expect(back).toEqual({ chunkSize: 4 });
    expect(await pathExists(file)).toBe(true);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ chunkSize: 4 });
  });

  it('shows a progress bar from a command line', () => {
    let written = '';
    const stderr = { isTTY: true, columns: 120, write: (s: string) => (written += s) };
    const evaluate = (o: { onProgress: (p: { blocksDone: number; calls: number }) => void }) =>
      [1, 2, 3, 4].forEach((b) => o.onProgress({ blocksDone: b, calls: 8 * b }));
    // #region progress-bar
    // import { createProgressBar } from '@calm/core/node';
    // In a command line (library code never prints): stderr defaults to process.stderr.
    const bar = createProgressBar({ label: 'BrierLM', total: 4, stream: stderr });
    evaluate({ onProgress: (p) => bar.update(p.blocksDone, { note: `${p.calls} calls` }) });
    bar.log('block 4 done'); // printed above the bar, which is redrawn below it
    bar.stop(); // final state, then a newline
    // On a terminal:  BrierLM ██████████████████████████████ 100% 4/4 | ETA 0s | 32 calls
    // Elsewhere (a log file, CI): plain lines at most every 5 s and at the end: BrierLM: 4/4 32 calls
    // #endregion progress-bar
    expect(written).toContain('block 4 done\n');
    expect(written.endsWith('100% 4/4 | ETA 0s | 32 calls\n')).toBe(true);
  });
});
