import { readFile } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CalmError, bytesSource, openTorchStateDict, parseTorchStateDict, unpickleStateDict } from '../src/index.js';
import { readTorchBinFile } from '../src/node.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const expected = JSON.parse(await readFile(join(fixtures, 'torch-state-dict.expected.json'), 'utf8')) as Record<
  string,
  { shape: number[]; dtype: string; values: number[] }
>;

async function expectRefused(file: string, pattern: RegExp) {
  const bytes = new Uint8Array(await readFile(join(fixtures, file)));
  const err = await parseTorchStateDict(bytes, file).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CalmError);
  expect((err as CalmError).code).toBe('UNSAFE_PICKLE');
  expect((err as CalmError).message).toMatch(pattern);
}

describe('PyTorch .bin state dicts', () => {
  it('reads every tensor of a torch.save(state_dict) file exactly (fp32, fp16, bf16, int64, bool, views, parameters)', async () => {
    const { tensors, aliases } = await readTorchBinFile(join(fixtures, 'torch-state-dict.bin'));
    expect([...tensors.keys()].slice(0, 3)).toEqual(['layer.weight', 'layer.bias', 'tied.a']); // file order
    expect(new Set(tensors.keys())).toEqual(new Set(Object.keys(expected)));
    for (const [name, want] of Object.entries(expected)) {
      const got = tensors.get(name)!;
      expect(got.shape, name).toEqual(want.shape);
      const values = Array.from(got.data as ArrayLike<number>);
      if (want.dtype === 'float16' || want.dtype === 'bfloat16' || want.dtype === 'float32') {
        values.forEach((v, i) => expect(v, `${name}[${i}]`).toBeCloseTo(want.values[i]!, 6));
      } else expect(values, name).toEqual(want.values);
    }
    expect(tensors.get('half')!.dtype).toBe('F16');
    expect(tensors.get('bf16')!.dtype).toBe('BF16');
    expect(tensors.get('ids')!.dtype).toBe('I64');
    expect(aliases.get('tied.a')).toBe('layer.weight');
  });

  it('refuses a pickle that tries to call os.system, and never runs it', async () => {
    rmSync('/tmp/calm-pwned', { force: true });
    await expectRefused('torch-malicious-os-system.bin', /global posix\.system|global os\.system/);
    expect(existsSync('/tmp/calm-pwned')).toBe(false);
  });

  it('refuses non-allow-listed globals and the INST opcode', async () => {
    await expectRefused('torch-malicious-eval.bin', /builtins\.eval/);
    await expectRefused('torch-malicious-inst.bin', /INST/);
  });

  it('rejects truncated archives and non-dict pickles with FORMAT_ERROR', async () => {
    const bytes = new Uint8Array(await readFile(join(fixtures, 'torch-state-dict.bin')));
    await expect(parseTorchStateDict(bytes.subarray(0, bytes.length - 30))).rejects.toMatchObject({
      code: 'FORMAT_ERROR',
    });
    await expect(parseTorchStateDict(new Uint8Array(100))).rejects.toThrow(/not a zip archive/);
    // protocol 2: EMPTY_LIST STOP
    expect(() => unpickleStateDict(Uint8Array.from([0x80, 0x02, 0x5d, 0x2e]))).toThrow(/not a dict/);
    expect(() => unpickleStateDict(Uint8Array.from([0x80, 0x02, 0x5d]))).toThrow(/unexpected end/);
  });

  it('reads lazily: tensors are decoded on demand', async () => {
    const bytes = new Uint8Array(await readFile(join(fixtures, 'torch-state-dict.bin')));
    const reader = await openTorchStateDict(bytesSource(bytes));
    expect(reader.refs.get('view.transposed')).toMatchObject({ shape: [6, 4], stride: [1, 6] });
    const t = await reader.read('view.transposed');
    expect(
      Array.from(t.data)
        .slice(0, 4)
        .map((x) => Math.round(x * 7)),
    ).toEqual([0, 6, 12, 18]);
    await expect(reader.read('nope')).rejects.toMatchObject({ code: 'MISSING_PARAMETER' });
  });
});
