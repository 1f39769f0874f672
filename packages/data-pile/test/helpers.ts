// Shared test helpers for @calm/data-pile: a deterministic Pile-like JSON-lines generator (the
// committed .zst fixture is its compressed output), the shared Llama 3 files, and temp folders.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRng } from '@calm/core';
import { SHARED_DATA_DIR } from '@calm/testing';

export const LLAMA3_DIR = join(SHARED_DATA_DIR, 'llama3-tokenizer');
export const LLAMA3_MODEL = join(LLAMA3_DIR, 'tokenizer.model');
export const WIKITEXT = join(SHARED_DATA_DIR, 'wikitext-103-document-test.jsonl');
export const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

const WORDS = (
  'the of and to in a is that for it as was with be by on not he this are or his from at which but have an they you were ' +
  'her she there been one all we their has would when if so no what can more out up said about other into than its time only ' +
  'could new them man some these then two first may any like now my such make over our even most me state after also made ' +
  'many did must before back see through way where get much go well your know should down work year because come people just ' +
  "café naïve Zürich 東京 данные 🎉 O'Brien don't it's 1990 3.14 e-mail U.S. (see) [1] \"quoted\" — – … x=y+1; <tag> \\path"
).split(' ');

/** A deterministic Pile-like document of `n` space-separated words with punctuation and newlines. */
export function makeDocument(rng: ReturnType<typeof createRng>, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    const w = WORDS[rng.int(WORDS.length)]!;
    const r = rng.uniform();
    // Newlines live inside space-separated pieces, as in real text ("word.\n\n next" or
    // "word\nnext"); double spaces make empty pieces.
    const sep = i === 0 ? '' : r < 0.03 ? '.\n\n ' : r < 0.04 ? '\n' : r < 0.06 ? '  ' : ' ';
    s += sep + w;
  }
  return s;
}

/** The JSON lines of the fixture corpus: `count` documents (two of them longer than 10,000 words) with a Pile `meta` object. */
export function makePileLines(seed = 7, count = 200): string[] {
  const rng = createRng(seed);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = i === 50 ? 10_200 : i === 120 ? 20_500 : 5 + rng.int(150);
    lines.push(
      JSON.stringify({
        text: makeDocument(rng, n),
        meta: { pile_set_name: i % 3 === 0 ? 'Pile-CC' : 'Wikipedia (en)' },
      }),
    );
  }
  return lines;
}

/** A fresh temporary folder; call the returned function to delete it. */
export function tempDir(prefix = 'calm-data-pile-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether the zstd command-line tool is installed. */
export function hasZstdCli(): boolean {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A valid zstd frame that stores `content` in raw (uncompressed) blocks of at most 128 KiB, with
 * a 4-byte content size and, optionally, the XXH64 content checksum. Lets tests build `.zst`
 * files of any content without the zstd CLI (fzstd only decompresses).
 */
export function zstdRawFrame(content: Uint8Array, checksumHex?: string): Buffer {
  const fhd = (2 << 6) | (checksumHex ? 1 << 2 : 0); // 4-byte FCS, window descriptor present
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, fhd, 0x58])]; // window 2^(10+11) = 2 MiB
  const fcs = Buffer.alloc(4);
  fcs.writeUInt32LE(content.length);
  parts.push(fcs);
  const MAX = 128 * 1024;
  let p = 0;
  do {
    const n = Math.min(MAX, content.length - p);
    const last = p + n >= content.length ? 1 : 0;
    const bh = (n << 3) | last; // type 0 = raw
    parts.push(Buffer.from([bh & 255, (bh >> 8) & 255, (bh >> 16) & 255]), Buffer.from(content.subarray(p, p + n)));
    p += n;
  } while (p < content.length);
  if (checksumHex) {
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(parseInt(checksumHex.slice(8), 16));
    parts.push(sum);
  }
  return Buffer.concat(parts);
}

/**
 * A tiny exact tokenizer for pipeline tests: UTF-8 bytes are ids 0–255, BOS 256, EOS 257, PAD 258.
 * Fast, so cursor and sharding tests can re-run streams many times.
 */
export function byteTokenizer(): import('../src/index.js').Tokenizer {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const encode = (t: string) => Int32Array.from(enc.encode(t));
  return {
    name: 'bytes',
    vocabSize: 259,
    fingerprint: 'bytes:1',
    bos: 256,
    eos: 257,
    pad: 258,
    encode: async (t) => encode(t),
    encodeBatch: async (ts) => ts.map(encode),
    decode: async (ids) => dec.decode(Uint8Array.from(Array.from(ids).filter((x) => x < 256))),
  };
}

/** Drains a block stream into plain arrays. */
export async function drain(stream: AsyncIterable<Int32Array>, max = Infinity): Promise<number[][]> {
  const out: number[][] = [];
  if (max <= 0) return out;
  for await (const b of stream) {
    out.push(Array.from(b));
    if (out.length >= max) break;
  }
  return out;
}
