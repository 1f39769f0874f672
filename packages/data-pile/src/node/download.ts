// Downloading Pile-uncopyrighted shards (or any large file): resumable HTTP range requests into a
// `.part` file, retries, and a size and sha256 check before the file takes its final name.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fail, checkInt } from '../internal/errors.js';

/**
 * Progress of a download.
 * @see {@link downloadFile}
 * @category Download
 */
export interface DownloadProgress {
  /** Bytes on disk so far. */
  bytes: number;
  /** Expected total, when known. */
  total: number | null;
  /** Bytes that were already on disk when this call started. */
  resumedFrom: number;
}

/**
 * Options of {@link downloadFile}.
 * @category Download
 */
export interface DownloadOptions {
  /** Expected size in bytes; default from the server (`x-linked-size` or `content-length`). */
  expectedSize?: number;
  /** Expected sha256 (hex); default the server's `x-linked-etag` when it is a sha256 (the Hugging Face hub sends one for LFS files). */
  sha256?: string;
  /** Extra request headers (e.g. `authorization: Bearer <token>`). */
  headers?: Record<string, string>;
  /**
   * Attempts after a failed or interrupted transfer; each resumes where the last stopped.
   * @defaultValue 5
   */
  retries?: number;
  /**
   * Delay before the first retry in milliseconds (doubles each time).
   * @defaultValue 1000
   */
  retryDelayMs?: number;
  /** The `fetch` implementation; default the global one. */
  fetch?: typeof fetch;
  /** Cancels the download (the `.part` file is kept for a later resume). */
  signal?: AbortSignal;
  /**
   * Called as data arrives.
   * @param p - Bytes so far and the expected total.
   */
  onProgress?(p: DownloadProgress): void;
}

/**
 * What a download did.
 * @see {@link downloadFile}
 * @category Download
 */
export interface DownloadResult {
  /** The final path. */
  path: string;
  /** File size in bytes. */
  bytes: number;
  /** sha256 of the file (hex). */
  sha256: string;
  /** Whether the sha256 was compared with an expected value. */
  sha256Verified: boolean;
  /** Bytes found in a `.part` file from an earlier attempt. */
  resumedFrom: number;
  /** Whether the file was already complete (nothing downloaded). */
  alreadyComplete: boolean;
}

const SHA256_RE = /^[0-9a-f]{64}$/;

function cleanEtag(v: string | null): string | null {
  if (!v) return null;
  const s = v.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
  return SHA256_RE.test(s) ? s : null;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Reads the expected size and checksum without downloading (redirects are not followed, so the hub's `x-linked-*` headers stay visible). */
async function probe(
  url: string,
  f: typeof fetch,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<{ size: number | null; sha256: string | null }> {
  let res: Response;
  try {
    res = await f(url, { method: 'HEAD', redirect: 'manual', headers, ...(signal ? { signal } : {}) });
  } catch (e) {
    if (signal?.aborted) fail('ABORTED', `download of ${url} was aborted.`, { cause: e });
    return { size: null, sha256: null };
  }
  if (res.status === 401 || res.status === 403 || res.status === 404) {
    fail(
      'HTTP_ERROR',
      `${url} answered ${res.status} ${res.statusText}; check the URL (and a token for gated repositories).`,
      { details: { status: res.status } },
    );
  }
  const linkedSize = res.headers.get('x-linked-size');
  const length = res.status >= 200 && res.status < 300 ? res.headers.get('content-length') : null;
  const sizeText = linkedSize ?? length;
  const size = sizeText !== null && /^\d+$/.test(sizeText) ? Number(sizeText) : null;
  const sha =
    cleanEtag(res.headers.get('x-linked-etag')) ??
    (res.status >= 200 && res.status < 300 ? cleanEtag(res.headers.get('etag')) : null);
  return { size, sha256: sha };
}

/**
 * Downloads a file with resumable HTTP range requests and verifies it.
 *
 * @remarks
 * Data goes to `<dest>.part`; an existing `.part` is resumed with `Range: bytes=<size>-` (a
 * server that ignores the range answers 200 and the download restarts from zero). Interrupted
 * transfers are retried with exponential back-off, each resuming where the last stopped. The
 * size and sha256 are checked before the file is renamed to `dest`; on a mismatch the `.part`
 * file is deleted. An existing `dest` is never overwritten: it is checked and returned.
 *
 * @param url - The file's URL.
 * @param dest - Destination path (folders are created).
 * @param options - Expected size and sha256, headers, retries, progress, abort signal.
 * @returns What was downloaded and verified.
 * @throws `CalmError` `HTTP_ERROR` for an error status, `IO_ERROR` when retries are exhausted or a
 * size/checksum check fails, `ABORTED` when the signal fires.
 * @example
 * {@includeCode ../../test/download.test.ts#download-file}
 * @category Download
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const f = options.fetch ?? globalThis.fetch;
  if (typeof f !== 'function') fail('NOT_SUPPORTED', 'downloadFile needs fetch (Node >= 18) or options.fetch.');
  const retries = checkInt(options.retries ?? 5, 'retries', 0);
  const delay0 = checkInt(options.retryDelayMs ?? 1000, 'retryDelayMs', 0);
  const headers = { ...(options.headers ?? {}) };
  const signal = options.signal;
  const part = `${dest}.part`;
  await mkdir(dirname(dest), { recursive: true });

  const probed =
    options.expectedSize !== undefined && options.sha256 !== undefined
      ? { size: null, sha256: null }
      : await probe(url, f, headers, signal);
  const expectedSize = options.expectedSize ?? probed.size;
  const expectedSha = options.sha256?.toLowerCase() ?? probed.sha256;
  if (expectedSha !== null && !SHA256_RE.test(expectedSha))
    fail('INVALID_ARGUMENT', `sha256 must be 64 hex digits, got ${expectedSha}.`);

  const verify = async (path: string, resumedFrom: number, alreadyComplete: boolean): Promise<DownloadResult> => {
    const bytes = await fileSize(path);
    if (expectedSize !== null && bytes !== expectedSize) {
      if (path === part) await rm(part, { force: true });
      fail(
        'IO_ERROR',
        `${path} has ${bytes} bytes but ${expectedSize} were expected; ${path === part ? 'the partial file was deleted, run again' : 'delete it and download again'}.`,
      );
    }
    const sha256 = await sha256File(path);
    if (expectedSha !== null && sha256 !== expectedSha) {
      if (path === part) await rm(part, { force: true });
      fail(
        'IO_ERROR',
        `${path} has sha256 ${sha256} but ${expectedSha} was expected; ${path === part ? 'the partial file was deleted, run again' : 'delete it and download again'}.`,
      );
    }
    if (path === part) await rename(part, dest);
    return { path: dest, bytes, sha256, sha256Verified: expectedSha !== null, resumedFrom, alreadyComplete };
  };

  if ((await fileSize(dest)) > 0) return verify(dest, 0, true);

  let have = await fileSize(part);
  if (expectedSize !== null && have > expectedSize) {
    await rm(part, { force: true });
    have = 0;
  }
  const resumedFrom = have;
  if (expectedSize !== null && have === expectedSize) return verify(part, resumedFrom, false);

  let lastError: unknown = null;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, delay0 * 2 ** (attempt - 1)));
    if (signal?.aborted) fail('ABORTED', `download of ${url} was aborted; run again to resume from ${part}.`);
    have = await fileSize(part);
    const reqHeaders = { ...headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) };
    let res: Response;
    try {
      res = await f(url, { headers: reqHeaders, redirect: 'follow', ...(signal ? { signal } : {}) });
    } catch (e) {
      if (signal?.aborted)
        fail('ABORTED', `download of ${url} was aborted; run again to resume from ${part}.`, { cause: e });
      lastError = e;
      continue;
    }
    if (res.status === 416 && have > 0) {
      // Nothing left to send: the part file is complete (verified below) or longer than the file.
      const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1];
      if (total !== undefined && Number(total) !== have) {
        await rm(part, { force: true });
        lastError = new Error(`server has ${total} bytes, part file ${have}`);
        continue;
      }
      return verify(part, resumedFrom, false);
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      lastError = new Error(`HTTP ${res.status} ${res.statusText}`);
      await res.body?.cancel();
      continue;
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      fail('HTTP_ERROR', `${url} answered ${res.status} ${res.statusText}.`, { details: { status: res.status } });
    }
    let offset = 0;
    if (res.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) {
        await res.body?.cancel();
        fail(
          'HTTP_ERROR',
          `${url} answered 206 with Content-Range "${res.headers.get('content-range')}" for a request from byte ${have}.`,
        );
      }
      offset = have;
    }
    const fh = await open(part, offset === 0 ? 'w' : 'a');
    let written = offset;
    try {
      if (!res.body) throw new Error('response has no body');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        await fh.write(chunk);
        written += chunk.length;
        options.onProgress?.({ bytes: written, total: expectedSize, resumedFrom });
      }
    } catch (e) {
      await fh.close();
      if (signal?.aborted)
        fail('ABORTED', `download of ${url} was aborted; run again to resume from ${part}.`, { cause: e });
      lastError = e;
      continue;
    }
    await fh.close();
    if (expectedSize !== null && written < expectedSize) {
      lastError = new Error(`connection closed after ${written} of ${expectedSize} bytes`);
      continue;
    }
    return verify(part, resumedFrom, false);
  }
  return fail(
    'IO_ERROR',
    `download of ${url} failed after ${retries + 1} attempts (${(lastError as Error | null)?.message ?? 'unknown error'}); run again to resume from ${part}.`,
    {
      cause: lastError,
    },
  );
}

/**
 * Where Pile-uncopyrighted shards live on the Hugging Face hub.
 * @see {@link downloadPileShard}
 * @category Download
 */
export const PILE_UNCOPYRIGHTED = {
  /** Dataset repository. */
  repo: 'monology/pile-uncopyrighted',
  /** Hub address. */
  baseUrl: 'https://huggingface.co',
  /** Training shards: `train/00.jsonl.zst` … `train/29.jsonl.zst`. */
  trainShards: 30,
} as const;

/**
 * Options of {@link downloadPileShard}.
 * @category Download
 */
export interface PileShardOptions extends DownloadOptions {
  /** Hub address (e.g. a mirror). */
  baseUrl?: string;
  /** Dataset repository. */
  repo?: string;
  /**
   * Revision (branch or commit).
   * @defaultValue `'main'`
   */
  revision?: string;
  /** Hugging Face token, sent as a bearer token. */
  token?: string;
}

/**
 * The URL of a Pile-uncopyrighted training shard.
 * @param shard - Shard number 0–29.
 * @param options - Hub address, repository, revision.
 * @returns The `resolve` URL of `train/NN.jsonl.zst`.
 * @throws `CalmError` `INVALID_ARGUMENT` for a shard outside 0–29.
 * @see {@link downloadPileShard}
 * @category Download
 */
export function pileShardUrl(
  shard: number,
  options: Pick<PileShardOptions, 'baseUrl' | 'repo' | 'revision'> = {},
): string {
  checkInt(shard, 'shard', 0, PILE_UNCOPYRIGHTED.trainShards - 1);
  const base = (options.baseUrl ?? PILE_UNCOPYRIGHTED.baseUrl).replace(/\/+$/, '');
  const repo = options.repo ?? PILE_UNCOPYRIGHTED.repo;
  const rev = encodeURIComponent(options.revision ?? 'main');
  return `${base}/datasets/${repo}/resolve/${rev}/train/${String(shard).padStart(2, '0')}.jsonl.zst`;
}

/**
 * Downloads one Pile-uncopyrighted training shard (`NN.jsonl.zst`) into a folder, resumably.
 *
 * @remarks
 * The official `get_data.sh` downloads the whole dataset repository with `huggingface-cli`; this
 * fetches single shards (≈14–15 GB each) with {@link downloadFile}: range requests into a
 * `.part` file, retries, and a size and sha256 check against the hub's `x-linked-size` /
 * `x-linked-etag` headers. The shard is streamed from its compressed form afterwards (see
 * `jsonlSource`); nothing is unpacked to disk. Shard use in the paper: autoencoder 00–01, CALM
 * 02–29.
 *
 * @param shard - Shard number 0–29.
 * @param destDir - Folder for `NN.jsonl.zst`.
 * @param options - Hub address, token, expected checksum, retries, progress.
 * @returns The download result.
 * @throws `CalmError` `HTTP_ERROR`, `IO_ERROR`, `ABORTED`, `INVALID_ARGUMENT` (see
 * {@link downloadFile}).
 * @example
 * {@includeCode ../../test/download.test.ts#download-shard}
 * @category Download
 */
export async function downloadPileShard(
  shard: number,
  destDir: string,
  options: PileShardOptions = {},
): Promise<DownloadResult> {
  const url = pileShardUrl(shard, options);
  const headers = {
    ...(options.headers ?? {}),
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };
  return downloadFile(url, join(destDir, `${String(shard).padStart(2, '0')}.jsonl.zst`), { ...options, headers });
}
