// JSON-lines sources: .jsonl.zst vs .jsonl, positions and resume, line-error policies.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCalmError } from '@calm/core';
import type { LineIssue, SourceDocument, SourcePosition } from '../src/index.js';
import { jsonlSource, readJsonlTexts } from '../src/node.js';
import { xxh64Hex } from '../src/internal/xxh64.js';
import { FIXTURES, makePileLines, tempDir, zstdRawFrame } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let plainPath: string;
const zstPath = join(FIXTURES, 'pile-sample.jsonl.zst');
const lines = makePileLines();

beforeAll(() => {
  tmp = tempDir();
  plainPath = join(tmp.dir, 'pile-sample.jsonl');
  writeFileSync(plainPath, lines.map((l) => l + '\n').join(''));
});
afterAll(() => tmp.cleanup());

async function collect(it: AsyncIterable<SourceDocument>): Promise<SourceDocument[]> {
  const out: SourceDocument[] = [];
  for await (const d of it) out.push(d);
  return out;
}

function writeZst(path: string, text: string): void {
  const bytes = new TextEncoder().encode(text);
  writeFileSync(path, zstdRawFrame(bytes, xxh64Hex(bytes)));
}

describe('jsonlSource', () => {
  it('streams a .jsonl.zst shard to the same documents as its uncompressed twin, split as process.py', async () => {
    const a = await collect(jsonlSource(zstPath, { readChunkBytes: 4096 }).documents());
    const b = await collect(jsonlSource(plainPath, { readChunkBytes: 777 }).documents());
    expect(a.map((d) => d.text)).toEqual(b.map((d) => d.text));
    expect(a.map((d) => d.from)).toEqual(b.map((d) => d.from));
    // 200 lines; line 50 has just over 10,000 space-separated pieces (2 parts), line 120 just
    // over 20,000 (3 parts), every other line one part.
    const pieces = lines.map((l) => (JSON.parse(l) as { text: string }).text.split(' ').length);
    expect(pieces[50]).toBeGreaterThan(10_000);
    expect(pieces[120]).toBeGreaterThan(20_000);
    expect(a).toHaveLength(pieces.reduce((n, p) => n + Math.max(1, Math.ceil(p / 10_000)), 0));
    expect(a).toHaveLength(203);
    const parts50 = a.filter((d) => d.from.lineIndex === 50);
    expect(parts50.map((d) => d.from.part)).toEqual([0, 1]);
    expect(parts50.map((d) => d.text).join(' ')).toBe((JSON.parse(lines[50]!) as { text: string }).text);
    expect(a.filter((d) => d.from.lineIndex === 120)).toHaveLength(3);
    // Byte offsets are the line starts of the decompressed text.
    const text = readFileSync(plainPath);
    for (const d of a) if (d.from.lineIndex > 0 && d.from.part === 0) expect(text[d.from.byte - 1]).toBe(10);
    // Without splitting, one document per line.
    const whole = await collect(jsonlSource(zstPath, { splitLongDocuments: false }).documents());
    expect(whole.map((d) => d.text)).toEqual(lines.map((l) => (JSON.parse(l) as { text: string }).text));
  });

  it('resumes from any position, in plain and compressed files, including the middle of a split line', async () => {
    for (const path of [plainPath, zstPath]) {
      const src = jsonlSource(path);
      const all = await collect(src.documents());
      for (const k of [0, 1, 50, 51, 52, 121, 122, all.length - 1, all.length]) {
        const from: SourcePosition | undefined = k === 0 ? undefined : all[k - 1]!.next;
        const tail = await collect(src.documents(from));
        expect(tail.map((d) => d.text)).toEqual(all.slice(k).map((d) => d.text));
      }
    }
  });

  it('refuses a position that is not at a line start', async () => {
    for (const path of [plainPath, zstPath]) {
      const it = jsonlSource(path).documents({ file: 0, lineIndex: 3, byte: 5, part: 0 });
      await expect(collect(it)).rejects.toSatisfy((e) => isCalmError(e, 'INVALID_ARGUMENT'));
    }
  });

  describe('line errors', () => {
    const bad = [
      '{"text": "ok one"}',
      '{"text": "broken"', // invalid JSON
      '{"meta": {}}', // no text
      '{"text": 42}', // text not a string
      '["text"]', // not an object
      '', // empty line
      '{"text": "crlf line"}\r', // CRLF: fine
      '{"text": "last, no newline", "meta": {"x": 1}}',
    ].join('\n');
    const invalidUtf8 = Buffer.concat([Buffer.from('{"text": "a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);

    for (const kind of ['jsonl', 'jsonl.zst'] as const) {
      it(`fail policy: a CalmError naming file and line (${kind})`, async () => {
        const path = join(tmp.dir, `bad.${kind}`);
        if (kind === 'jsonl') writeFileSync(path, bad);
        else writeZst(path, bad);
        let err: unknown;
        const got: string[] = [];
        try {
          for await (const d of jsonlSource(path).documents()) got.push(d.text);
        } catch (e) {
          err = e;
        }
        expect(got).toEqual(['ok one']);
        expect(isCalmError(err, 'FORMAT_ERROR')).toBe(true);
        expect((err as Error).message).toContain(`${path}:2`);
        expect((err as { details: LineIssue }).details).toMatchObject({ file: path, line: 2, reason: 'invalid-json' });
      });

      it(`skip policy: every bad line counted with its reason (${kind})`, async () => {
        const path = join(tmp.dir, `bad-skip.${kind}`);
        if (kind === 'jsonl') writeFileSync(path, Buffer.concat([invalidUtf8, Buffer.from(bad)]));
        else writeZst(path, Buffer.concat([invalidUtf8, Buffer.from(bad)]).toString('latin1'));
        if (kind === 'jsonl.zst') {
          // Build the compressed twin from the exact bytes (latin1 above would re-encode them).
          const bytes = new Uint8Array(Buffer.concat([invalidUtf8, Buffer.from(bad)]));
          writeFileSync(path, zstdRawFrame(bytes, xxh64Hex(bytes)));
        }
        const issues: LineIssue[] = [];
        const docs = await collect(
          jsonlSource(path, { onLineError: 'skip' }).documents(undefined, { onSkip: (i) => issues.push(i) }),
        );
        expect(docs.map((d) => d.text)).toEqual(['ok one', 'crlf line', 'last, no newline']);
        expect(issues.map((i) => [i.line, i.reason])).toEqual([
          [1, 'invalid-utf8'],
          [3, 'invalid-json'],
          [4, 'missing-text'],
          [5, 'text-not-string'],
          [6, 'not-an-object'],
          [7, 'empty-line'],
        ]);
        expect(docs.map((d) => d.from.lineIndex)).toEqual([1, 7, 8]);
      });
    }
  });

  it('fails on a truncated or corrupt shard whatever the line policy, naming the file', async () => {
    const z = readFileSync(zstPath);
    const truncated = join(tmp.dir, 'truncated.jsonl.zst');
    writeFileSync(truncated, z.subarray(0, z.length - 100));
    const corrupt = join(tmp.dir, 'corrupt.jsonl.zst');
    const c = Buffer.from(z);
    c[c.length - 3]! ^= 0x10; // inside the last frame's checksum
    writeFileSync(corrupt, c);
    for (const [path, pattern] of [
      [truncated, /truncated/],
      [corrupt, /checksum/],
    ] as const) {
      let n = 0;
      let err: unknown;
      try {
        for await (const _ of jsonlSource(path, { onLineError: 'skip' }).documents()) n++;
      } catch (e) {
        err = e;
      }
      expect(isCalmError(err, 'FORMAT_ERROR')).toBe(true);
      expect((err as Error).message).toContain(path);
      expect((err as Error).message).toMatch(pattern);
      expect(n).toBeLessThan(204);
    }
  });

  it('checks that files exist up front and rejects bad options', () => {
    expect(() => jsonlSource(join(tmp.dir, 'nope.jsonl'))).toThrow(/cannot read/);
    expect(() => jsonlSource([])).toThrow(/no files/);
    expect(() => jsonlSource(plainPath, { onLineError: 'ignore' as 'skip' })).toThrow(/onLineError/);
  });

  it('reads several files in order as one stream', async () => {
    const a = join(tmp.dir, 'a.jsonl');
    const b = join(tmp.dir, 'b.jsonl.zst');
    writeFileSync(a, '{"text":"a1"}\n{"text":"a2"}\n');
    writeZst(b, '{"text":"b1"}\n');
    const src = jsonlSource([a, b]);
    const docs = await collect(src.documents());
    expect(docs.map((d) => d.text)).toEqual(['a1', 'a2', 'b1']);
    expect(docs.map((d) => d.from.file)).toEqual([0, 0, 1]);
    // Resuming from the end of the first file continues with the second.
    expect((await collect(src.documents(docs[1]!.next))).map((d) => d.text)).toEqual(['b1']);
    expect(src.id).toContain('a.jsonl@28');
  });
});

describe('readJsonlTexts', () => {
  it('reads .jsonl and .jsonl.zst files to the same unsplit texts', async () => {
    const plain = await readJsonlTexts(plainPath);
    expect(plain).toEqual(lines.map((l) => (JSON.parse(l) as { text: string }).text));
    expect(await readJsonlTexts(zstPath)).toEqual(plain);
  });

  it('names file and line of a bad line, in a compressed file too', async () => {
    const path = join(tmp.dir, 'bad-texts.jsonl.zst');
    writeZst(path, '{"text": "ok"}\n{"text": 1}\n');
    await expect(readJsonlTexts(path)).rejects.toMatchObject({
      code: 'FORMAT_ERROR',
      details: { file: path, line: 2, reason: 'text-not-string' },
    });
    await expect(readJsonlTexts(join(tmp.dir, 'missing.jsonl.zst'))).rejects.toMatchObject({ code: 'IO_ERROR' });
  });
});
