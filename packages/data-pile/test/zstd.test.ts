// Streaming zstd: the committed fixture, crafted raw/skippable frames, truncation and corruption.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { isCalmError } from '@calm/core';
import { ZstdStreamDecoder } from '../src/node/zstd.js';
import { xxh64Hex } from '../src/internal/xxh64.js';
import { FIXTURES, hasZstdCli, makePileLines, tempDir } from './helpers.js';

const FIXTURE = readFileSync(join(FIXTURES, 'pile-sample.jsonl.zst'));
const PLAIN = Buffer.from(
  makePileLines()
    .map((l) => l + '\n')
    .join(''),
);

function decompress(data: Uint8Array, chunk: number, verify = true): Buffer {
  const out: Uint8Array[] = [];
  const d = new ZstdStreamDecoder('test.zst', (c) => out.push(c), verify);
  for (let i = 0; i < data.length; i += chunk) d.push(data.subarray(i, i + chunk));
  d.end();
  return Buffer.concat(out);
}

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return null;
}

/** A raw (stored) zstd frame: magic, single-segment header with a 1-byte size, one raw block, optional XXH64 checksum. */
function rawFrame(content: Uint8Array, checksum: boolean): Buffer {
  const fhd = (1 << 5) | (checksum ? 1 << 2 : 0); // single segment, FCS in 1 byte
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, fhd, content.length]);
  const bh = (content.length << 3) | 1; // raw block, last
  const block = Buffer.from([bh & 255, (bh >> 8) & 255, (bh >> 16) & 255]);
  const parts = [header, block, Buffer.from(content)];
  if (checksum) {
    const lo = parseInt(xxh64Hex(content).slice(8), 16);
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(lo);
    parts.push(sum);
  }
  return Buffer.concat(parts);
}

describe('XXH64', () => {
  it('matches the reference test vectors', () => {
    const enc = new TextEncoder();
    expect(xxh64Hex(enc.encode(''))).toBe('ef46db3751d8e999');
    expect(xxh64Hex(enc.encode('a'))).toBe('d24ec4f1a98c6e5b');
    expect(xxh64Hex(enc.encode('abc'))).toBe('44bc2cf5ad770999');
  });
});

describe('ZstdStreamDecoder', () => {
  it('decompresses the two-frame fixture to the generated text at any chunk size', () => {
    for (const chunk of [1, 3, 17, 4096, 1 << 20]) expect(decompress(FIXTURE, chunk).equals(PLAIN)).toBe(true);
  });

  it('handles raw frames, skippable frames and frames without checksums', () => {
    const a = new TextEncoder().encode('hello\n');
    const skippable = Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    const data = Buffer.concat([
      skippable,
      rawFrame(a, true),
      rawFrame(a, false),
      skippable,
      rawFrame(new Uint8Array(0), true),
    ]);
    for (const chunk of [1, 2, 5, 100]) expect(decompress(data, chunk).toString()).toBe('hello\nhello\n');
  });

  it('reports a truncated file', () => {
    for (const cut of [1, 10, 1000, FIXTURE.length - 1]) {
      const e = errorOf(() => decompress(FIXTURE.subarray(0, FIXTURE.length - cut), 4096));
      expect(isCalmError(e, 'FORMAT_ERROR')).toBe(true);
      expect(String((e as Error).message)).toMatch(/truncated|corrupt/);
    }
  });

  it('reports corruption: bad magic, damaged data, a wrong checksum, trailing garbage, an empty file', () => {
    const cases: [string, Buffer][] = [];
    const flip = (at: number) => {
      const c = Buffer.from(FIXTURE);
      c[at]! ^= 0x5a;
      return c;
    };
    cases.push(['magic', flip(0)]);
    for (const at of [40, 200, 5000, 30_000, FIXTURE.length - 2]) cases.push([`byte ${at}`, flip(at)]);
    cases.push(['garbage', Buffer.concat([FIXTURE, Buffer.from('garbage!')])]);
    cases.push(['empty', Buffer.alloc(0)]);
    const a = rawFrame(new TextEncoder().encode('hello\n'), true);
    a[a.length - 7]! ^= 1; // 'l' → 'm' inside a raw block: only the checksum can tell
    cases.push(['raw content', a]);
    for (const [label, data] of cases) {
      const e = errorOf(() => decompress(data, 4096));
      expect(isCalmError(e, 'FORMAT_ERROR'), label).toBe(true);
    }
    // Without checksum verification the damaged raw frame decodes silently: the check is what catches it.
    expect(decompress(a, 4096, false).toString()).toBe('helmo\n');
  });

  it.skipIf(!hasZstdCli())('decodes what the zstd CLI writes with other settings (needs the zstd CLI)', () => {
    const t = tempDir();
    try {
      const plain = join(t.dir, 'x.jsonl');
      writeFileSync(plain, Buffer.concat([PLAIN, PLAIN, PLAIN]));
      for (const args of [
        ['-1'],
        ['--no-check', '-3'],
        ['--no-content-size', '-5'],
        ['-T2', '-B65536', '-1'],
        ['--long=24', '-3'],
      ]) {
        const z = execFileSync('zstd', [...args, '-q', '-c', plain]);
        expect(decompress(z, 65536).equals(readFileSync(plain)), args.join(' ')).toBe(true);
      }
    } finally {
      t.cleanup();
    }
  });
});
