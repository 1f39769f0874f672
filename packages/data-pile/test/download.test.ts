// The shard downloader against a local HTTP server on 127.0.0.1 only: resume, ranges, checksums.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCalmError } from '@calm/core';
import { downloadFile, downloadPileShard, jsonlSource, pileShardUrl } from '../src/node.js';
import { FIXTURES, tempDir } from './helpers.js';

// A local server on 127.0.0.1 (port 0) that plays the hub: HEAD answers with x-linked-size and
// x-linked-etag, GET honours Range, and behaviours can be switched per test.
const BODY = readFileSync(join(FIXTURES, 'pile-sample.jsonl.zst'));
const SHA = createHash('sha256').update(BODY).digest('hex');
const behaviour = { cutFirstAfter: 0, ignoreRange: false, wrongSha: false, status: 200, requests: [] as string[] };
let server: Server;
let base: string;
let tmp: ReturnType<typeof tempDir>;

function handler(req: IncomingMessage, res: ServerResponse): void {
  behaviour.requests.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`);
  if (behaviour.status !== 200) {
    res.writeHead(behaviour.status).end();
    return;
  }
  if (!req.url?.endsWith('/train/00.jsonl.zst') && !req.url?.endsWith('/file.bin')) {
    res.writeHead(404).end();
    return;
  }
  const headers = {
    'x-linked-size': String(BODY.length),
    'x-linked-etag': `"${behaviour.wrongSha ? '0'.repeat(64) : SHA}"`,
    'accept-ranges': 'bytes',
  };
  if (req.method === 'HEAD') {
    res.writeHead(200, { ...headers, 'content-length': BODY.length }).end();
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m && !behaviour.ignoreRange ? Number(m[1]) : 0;
  if (start >= BODY.length) {
    res.writeHead(416, { 'content-range': `bytes */${BODY.length}` }).end();
    return;
  }
  const body = BODY.subarray(start);
  if (behaviour.cutFirstAfter > 0) {
    // Once: a response that stops early (as a dropped connection or a truncating proxy leaves
    // it): chunked, no content-length, only the first bytes.
    const n = behaviour.cutFirstAfter;
    behaviour.cutFirstAfter = 0;
    res.writeHead(200, headers);
    res.end(body.subarray(0, n));
    return;
  }
  res.writeHead(start > 0 ? 206 : 200, {
    ...headers,
    'content-length': body.length,
    ...(start > 0 ? { 'content-range': `bytes ${start}-${BODY.length - 1}/${BODY.length}` } : {}),
  });
  res.end(body);
}

beforeAll(async () => {
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tmp = tempDir();
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  tmp.cleanup();
});

function reset(): void {
  Object.assign(behaviour, { cutFirstAfter: 0, ignoreRange: false, wrongSha: false, status: 200, requests: [] });
}

describe('downloadPileShard / downloadFile (local server only)', () => {
  it('builds hub URLs for shards 00–29', () => {
    expect(pileShardUrl(0)).toBe(
      'https://huggingface.co/datasets/monology/pile-uncopyrighted/resolve/main/train/00.jsonl.zst',
    );
    expect(pileShardUrl(29, { baseUrl: 'http://127.0.0.1:1/', revision: 'abc' })).toBe(
      'http://127.0.0.1:1/datasets/monology/pile-uncopyrighted/resolve/abc/train/29.jsonl.zst',
    );
    expect(() => pileShardUrl(30)).toThrow(/shard/);
  });

  it('downloads, verifies size and sha256 from the hub headers, and the shard streams', async () => {
    reset();
    const dir = join(tmp.dir, 'a');
    const progress: number[] = [];
    // #region download-shard
    // import { downloadPileShard, jsonlSource } from '@calm/data-pile/node';
    // baseUrl defaults to https://huggingface.co; this test serves a small shard from 127.0.0.1
    const r = await downloadPileShard(0, dir, { baseUrl: base, onProgress: (p) => progress.push(p.bytes) });
    // r.path ends in 00.jsonl.zst; size and sha256 were checked against the hub's headers
    let docs = 0;
    for await (const _ of jsonlSource(r.path).documents()) docs++;
    // #endregion download-shard
    expect(r).toMatchObject({
      bytes: BODY.length,
      sha256: SHA,
      sha256Verified: true,
      resumedFrom: 0,
      alreadyComplete: false,
    });
    expect(readFileSync(r.path).equals(BODY)).toBe(true);
    expect(existsSync(`${r.path}.part`)).toBe(false);
    expect(progress.at(-1)).toBe(BODY.length);
    expect(docs).toBe(203);
    // A second call finds the complete file and downloads nothing.
    behaviour.requests = [];
    const again = await downloadPileShard(0, dir, { baseUrl: base });
    expect(again.alreadyComplete).toBe(true);
    expect(behaviour.requests.filter((q) => q.startsWith('GET'))).toEqual([]);
  });

  it('resumes an interrupted transfer with a range request', async () => {
    reset();
    behaviour.cutFirstAfter = 20_000;
    const dest = join(tmp.dir, 'b', 'file.bin');
    // #region download-file
    // import { downloadFile } from '@calm/data-pile/node';
    // Pass sha256 and expectedSize when known; otherwise the server's headers are checked.
    const r = await downloadFile(`${base}/file.bin`, dest, { retryDelayMs: 0 });
    // an interrupted transfer was resumed with a range request; r.sha256Verified is true
    // #endregion download-file
    expect(readFileSync(dest).equals(BODY)).toBe(true);
    expect(r.sha256Verified).toBe(true);
    const gets = behaviour.requests.filter((q) => q.startsWith('GET'));
    expect(gets).toHaveLength(2);
    expect(gets[1]).toMatch(/bytes=\d+-$/);
  });

  it('resumes a .part file left by an earlier run, and restarts when the server ignores ranges', async () => {
    reset();
    const dest = join(tmp.dir, 'c', 'file.bin');
    mkdirSync(join(tmp.dir, 'c'), { recursive: true });
    writeFileSync(`${dest}.part`, BODY.subarray(0, 12_345));
    const r = await downloadFile(`${base}/file.bin`, dest, { retryDelayMs: 0 });
    expect(r.resumedFrom).toBe(12_345);
    expect(readFileSync(dest).equals(BODY)).toBe(true);
    reset();
    behaviour.ignoreRange = true;
    const dest2 = join(tmp.dir, 'c', 'file2.bin');
    writeFileSync(`${dest2}.part`, Buffer.alloc(5_000, 7)); // wrong bytes: must be rewritten from 0
    const r2 = await downloadFile(`${base}/file.bin`, dest2, { retryDelayMs: 0 });
    expect(readFileSync(dest2).equals(BODY)).toBe(true);
    expect(r2.sha256).toBe(SHA);
  });

  it('rejects a checksum mismatch and deletes the partial file', async () => {
    reset();
    behaviour.wrongSha = true;
    const dest = join(tmp.dir, 'd', 'file.bin');
    await expect(downloadFile(`${base}/file.bin`, dest, { retryDelayMs: 0 })).rejects.toSatisfy(
      (e) => isCalmError(e, 'IO_ERROR') && /sha256/.test((e as Error).message),
    );
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('reports HTTP errors, gives up after the retries, and honours an abort signal', async () => {
    reset();
    await expect(downloadFile(`${base}/missing.bin`, join(tmp.dir, 'e', 'x'), { retryDelayMs: 0 })).rejects.toSatisfy(
      (e) => isCalmError(e, 'HTTP_ERROR'),
    );
    behaviour.status = 503;
    await expect(
      downloadFile(`${base}/file.bin`, join(tmp.dir, 'e', 'y'), {
        retries: 2,
        retryDelayMs: 0,
        expectedSize: 1,
        sha256: SHA,
      }),
    ).rejects.toSatisfy((e) => isCalmError(e, 'IO_ERROR') && /3 attempts/.test((e as Error).message));
    reset();
    const ac = new AbortController();
    ac.abort();
    await expect(
      downloadFile(`${base}/file.bin`, join(tmp.dir, 'e', 'z'), {
        signal: ac.signal,
        expectedSize: BODY.length,
        sha256: SHA,
      }),
    ).rejects.toSatisfy((e) => isCalmError(e, 'ABORTED'));
  });
});
