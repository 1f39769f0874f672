import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CalmError,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  bfloat16BitsToFloat32,
  parseSafetensors,
  serializeSafetensors,
  parseShardIndex,
} from '../src/index.js';
import { openSafetensorsFile, readSafetensorsFile, writeSafetensorsFile } from '../src/node.js';

/** Builds a file by the format's rules by hand, as the Python library lays it out. */
function handMade(header: Record<string, unknown>, data: Uint8Array, pad = 0): Uint8Array {
  let json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  json = new Uint8Array();
  return out;
}

function expectFormatError(f: () => unknown, pattern: RegExp, code = 'FORMAT_ERROR') {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CalmError);
    expect((e as CalmError).code).toBe(code);
    expect((e as CalmError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected a CalmError');
}

describe('safetensors', () => {
  it('round-trips every dtype', () => {
    const f32 = new Float32Array([1.5, -2.25, 3e-3, 65504, 0, -0]);
    const bytes = serializeSafetensors(
      {
        a: { shape: [2, 3], data: f32 },
        h: { shape: [6], data: f32, dtype: 'F16' },
        b: { shape: [6], data: f32, dtype: 'BF16' },
        i: { shape: [3], data: new Int32Array([-5, 0, 2147483647]) },
        l: { shape: [3], data: new Int32Array([-5, 0, 7]), dtype: 'I64' },
        u: { shape: [2], data: new Uint8Array([0, 255]) },
        d: { shape: [1], data: new Float64Array([Math.PI]) },
        e: { shape: [0, 4], data: new Float32Array(0) },
      },
      { format: 'pt' },
    );
    expect((bytes.length - 8) % 8).toBe(bytes.length % 8 === 0 ? 0 : (bytes.length - 8) % 8);
    const { metadata, tensors } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['a', 'h', 'b', 'i', 'l', 'u', 'd', 'e']);
    expect(tensors.get('a')).toEqual({ dtype: 'F32', shape: [2, 3], data: f32 });
    expect(Array.from(tensors.get('h')!.data)).toEqual([1.5, -2.25, 0.0030002593994140625, 65504, 0, -0]);
    expect(tensors.get('b')!.data[0]).toBe(1.5);
    expect(Array.from(tensors.get('i')!.data)).toEqual([-5, 0, 2147483647]);
    expect(tensors.get('l')).toEqual({ dtype: 'I64', shape: [3], data: new Int32Array([-5, 0, 7]) });
    expect(tensors.get('u')!.data).toEqual(new Uint8Array([0, 255]));
    expect(tensors.get('d')!.data[0]).toBe(Math.PI);
    expect(tensors.get('e')!.shape).toEqual([0, 4]);
  });

  it('reads a file laid out by the Python library rules (unsorted keys, unpadded header, unaligned data)', () => {
    const data = new Uint8Array(4 * 2 + 2 * 3);
    const dv = new DataView(data.buffer);
    // "y" first in the data section but second in the JSON, as serde may order it.
    dv.setUint16(0, 0x3c00, true); // 1.0 in F16
    dv.setUint16(2, 0xc000, true); // -2.0
    dv.setUint16(4, 0x7c00, true); // +Inf
    dv.setFloat32(6, 0.5, true);
    dv.setFloat32(10, -8, true);
    const file = handMade(
      {
        x: { dtype: 'F32', shape: [2], data_offsets: [6, 14] },
        y: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
        __metadata__: { format: 'pt' },
      },
      data,
    );
    const { tensors } = parseSafetensors(file);
    expect(Array.from(tensors.get('x')!.data)).toEqual([0.5, -8]);
    expect(Array.from(tensors.get('y')!.data)).toEqual([1, -2, Infinity]);
  });

  it('rejects truncated files, bad offsets, overlaps, gaps and oversized headers', () => {
    const good = serializeSafetensors({ w: { shape: [4], data: new Float32Array(4) } });
    expectFormatError(() => parseSafetensors(good.subarray(0, 5)), /truncated/);
    expectFormatError(() => parseSafetensors(good.subarray(0, 20)), /truncated/);
    expectFormatError(() => parseSafetensors(good.subarray(0, good.length - 1)), /past the end|truncated/);
    expectFormatError(
      () => parseSafetensors(handMade({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4))),
      /past the end/,
    );
    expectFormatError(
      () =>
        parseSafetensors(
          handMade(
            {
              a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
              b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
            },
            new Uint8Array(12),
          ),
        ),
      /overlap/,
    );
    expectFormatError(
      () => parseSafetensors(handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8))),
      /gap/,
    );
    expectFormatError(
      () => parseSafetensors(handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8))),
      /needs 12/,
    );
    expectFormatError(
      () => parseSafetensors(handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8))),
      /trailing/,
    );
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 200_000_000n, true);
    expectFormatError(() => parseSafetensors(huge), /exceeds the limit/);
    expectFormatError(() => parseSafetensors(handMade({ a: 1 } as never, new Uint8Array(0))), /must be an object/);
    expectFormatError(
      () => parseSafetensors(handMade({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8))),
      /dtype C64/,
      'DTYPE_UNSUPPORTED',
    );
    const notJson = handMade({}, new Uint8Array(0));
    notJson[8] = 0x7b + 1;
    expectFormatError(() => parseSafetensors(notJson), /not valid UTF-8 JSON/);
  });

  it('refuses I64 values that do not fit in int32', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigInt64(0, 1n << 40n, true);
    expectFormatError(
      () => parseSafetensors(handMade({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, data)),
      /outside int32/,
      'DTYPE_UNSUPPORTED',
    );
  });

  it('reads files lazily and through a sharded index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'calm-st-'));
    await writeSafetensorsFile(join(dir, 'model-00001-of-00002.safetensors'), {
      a: { shape: [2], data: new Float32Array([1, 2]) },
    });
    await writeSafetensorsFile(join(dir, 'model-00002-of-00002.safetensors'), {
      b: { shape: [1], data: new Int32Array([9]) },
    });
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({
        metadata: { total_size: 12 },
        weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
      }),
    );
    const { tensors } = await readSafetensorsFile(join(dir, 'model.safetensors.index.json'));
    expect(Array.from(tensors.get('a')!.data)).toEqual([1, 2]);
    expect(Array.from(tensors.get('b')!.data)).toEqual([9]);
    const reader = await openSafetensorsFile(join(dir, 'model-00001-of-00002.safetensors'));
    expect(reader.names()).toEqual(['a']);
    await expect(reader.read('zzz')).rejects.toThrow(/no tensor "zzz"/);
    await reader.close();
    const bytes = await readFile(join(dir, 'model-00001-of-00002.safetensors'));
    await writeFile(join(dir, 'cut.safetensors'), bytes.subarray(0, bytes.length - 2));
    await expect(openSafetensorsFile(join(dir, 'cut.safetensors'))).rejects.toThrow(/truncated|past the end/);
    await expect(openSafetensorsFile(join(dir, 'missing.safetensors'))).rejects.toThrow(/cannot open/);
    expect(() => parseShardIndex('{"weight_map": {"a": "../etc/passwd"}}')).toThrow(/plain file name/);
  });
});

describe('16-bit float conversions', () => {
  it('round to nearest even and handle specials', () => {
    const v = new Float32Array([
      0,
      -0,
      1,
      65504,
      65520,
      1e-8,
      2 ** -24,
      2 ** -25,
      NaN,
      Infinity,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
    ]);
    const back = float16BitsToFloat32(float32ToFloat16Bits(v));
    expect(Array.from(back.subarray(0, 8))).toEqual([0, -0, 1, 65504, Infinity, 0, 2 ** -24, 0]);
    expect(Number.isNaN(back[8])).toBe(true);
    expect(back[9]).toBe(Infinity);
    expect(back[10]).toBe(1); // tie → even
    expect(back[11]).toBe(1 + 2 ** -9); // tie → even (up)
    const bf = bfloat16BitsToFloat32(float32ToBfloat16Bits(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.14159])));
    expect(Array.from(bf)).toEqual([1, 1 + 2 ** -6, 3.140625]);
  });

  it('widens every half-precision pattern exactly', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = float16BitsToFloat32(all);
    const again = float32ToFloat16Bits(f);
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!nan) expect(again[i]).toBe(i);
    }
  });
});
