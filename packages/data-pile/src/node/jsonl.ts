// Reading JSON-lines corpora straight from disk: plain `.jsonl` or zstd-compressed `.jsonl.zst`
// (decompressed on the fly, never unpacked to disk), with the official Pile preprocessing and
// line-level errors reported with file and line number.

import { createReadStream, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { jsonlLineText } from '@calm/core';
import { fail, checkInt } from '../internal/errors.js';
import {
  SOURCE_START,
  checkSourcePosition,
  recordParts,
  resolveSplit,
  type DocumentSource,
  type LineErrorPolicy,
  type LineIssue,
  type LineIssueReason,
  type SourceHooks,
  type SourcePosition,
  type SplitOption,
} from '../source.js';
import { ZstdStreamDecoder } from './zstd.js';

/**
 * Options of {@link jsonlSource}.
 * @category Sources
 */
export interface JsonlSourceOptions {
  /**
   * What to do with a malformed line (invalid UTF-8 or JSON, not an object, no string `text`,
   * empty): throw a `CalmError` naming file and line, or skip and count it.
   * @defaultValue `'fail'`
   */
  onLineError?: LineErrorPolicy;
  /**
   * Split long documents as `process.py` does: `true` (10,000 space-separated pieces), a number
   * of pieces, or `false` (e.g. for the evaluation set, which is not preprocessed).
   * @defaultValue `true`
   */
  splitLongDocuments?: SplitOption;
  /**
   * The field holding the text. Every other field (the Pile's `meta`) is ignored.
   * @defaultValue `'text'`
   */
  textField?: string;
  /**
   * Bytes per file read.
   * @defaultValue 1 MiB
   */
  readChunkBytes?: number;
  /**
   * Verify zstd frame checksums (XXH64).
   * @defaultValue `true`
   */
  verifyChecksums?: boolean;
  /** Identifier stored in cursors; default built from the file names and sizes. */
  id?: string;
}

interface RawLine {
  bytes: Uint8Array;
  byte: number;
  end: number;
}

/** Yields the lines (without `\n` or a trailing `\r`) of a file from a byte offset of its (decompressed) content. */
async function* readLines(
  path: string,
  start: number,
  chunkBytes: number,
  verify: boolean,
  hooks: SourceHooks,
): AsyncGenerator<RawLine> {
  const zst = path.endsWith('.zst');
  let carry: Uint8Array[] = [];
  let carryLen = 0;
  let lineStart = start;
  let offset = zst ? 0 : start; // decompressed offset of the next output byte
  const out: Uint8Array[] = [];
  const decoder = zst ? new ZstdStreamDecoder(path, (c) => out.push(c), verify) : null;
  if (start > 0 && !zst) {
    // A cursor must point at a line start: the byte before it is a newline.
    const fh = await open(path, 'r');
    try {
      const b = new Uint8Array(1);
      const { bytesRead } = await fh.read(b, 0, 1, start - 1);
      if (bytesRead !== 1 || b[0] !== 10) {
        fail(
          'INVALID_ARGUMENT',
          `${path}: byte ${start} is not the start of a line; the file changed since the cursor was saved.`,
        );
      }
    } finally {
      await fh.close();
    }
  }
  let prevByte = -1; // the byte before `start`, for the zst line-start check
  const stream = createReadStream(path, { start: zst ? 0 : start, highWaterMark: chunkBytes });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let textBytes = 0;
      if (decoder) {
        decoder.push(chunk);
      } else {
        out.push(chunk);
      }
      for (let c of out) {
        textBytes += c.length;
        if (offset + c.length <= start) {
          offset += c.length;
          if (offset === start) prevByte = c[c.length - 1]!;
          continue;
        }
        if (offset < start) {
          prevByte = c[start - offset - 1]!;
          c = c.subarray(start - offset);
          offset = start;
        }
        if (zst && start > 0 && prevByte !== -2) {
          if (prevByte !== 10)
            fail(
              'INVALID_ARGUMENT',
              `${path}: byte ${start} is not the start of a line; the file changed since the cursor was saved.`,
            );
          prevByte = -2;
        }
        const buf = Buffer.from(c.buffer, c.byteOffset, c.length);
        let pos = 0;
        for (;;) {
          const nl = buf.indexOf(10, pos);
          if (nl < 0) break;
          let line: Uint8Array;
          if (carryLen > 0) {
            carry.push(buf.subarray(pos, nl));
            line = Buffer.concat(carry, carryLen + nl - pos);
            carry = [];
            carryLen = 0;
          } else {
            line = buf.subarray(pos, nl);
          }
          const end = offset + nl + 1;
          yield {
            bytes: line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line,
            byte: lineStart,
            end,
          };
          lineStart = end;
          pos = nl + 1;
        }
        if (pos < buf.length) {
          carry.push(Uint8Array.prototype.slice.call(buf, pos));
          carryLen += buf.length - pos;
        }
        offset += c.length;
      }
      out.length = 0;
      hooks.onBytes?.(chunk.length, textBytes);
    }
    decoder?.end();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EACCES') {
      fail('IO_ERROR', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    throw e;
  } finally {
    stream.destroy();
  }
  if (offset < start)
    fail(
      'INVALID_ARGUMENT',
      `${path}: position byte ${start} is past the end of the data (${offset} bytes); the file changed since the cursor was saved.`,
    );
  if (carryLen > 0) {
    const line = Buffer.concat(carry, carryLen);
    yield {
      bytes: line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line,
      byte: lineStart,
      end: lineStart + carryLen,
    };
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses one JSON line into its text (`@calm/core`'s `jsonlLineText`), or describes why it cannot be used. */
function parseLine(bytes: Uint8Array, textField: string): string | { reason: LineIssueReason; message: string } {
  if (bytes.length === 0) return { reason: 'empty-line', message: 'empty line (json.loads would fail on it)' };
  let s: string;
  try {
    s = decoder.decode(bytes);
  } catch {
    return { reason: 'invalid-utf8', message: 'invalid UTF-8' };
  }
  return jsonlLineText(s, textField);
}

/**
 * A {@link DocumentSource} over JSON-lines files, plain or zstd-compressed, read in order.
 *
 * @remarks
 * Files ending in `.zst` are decompressed while streaming (fzstd, ≈50–100 MB/s of output on one
 * core, with XXH64 frame checksums verified), so a Pile-uncopyrighted shard such as
 * `00.jsonl.zst` is read directly. Each line is parsed, every field except `text` ignored (the
 * official script deletes `meta`), and with `splitLongDocuments` (default) documents longer than
 * 10,000 space-separated pieces are cut as `process.py` does. Positions are byte offsets of
 * lines in the decompressed data, so a plain file resumes by seeking; a `.zst` file resumes by
 * decompressing from its start.
 *
 * @param files - One path or several, read in the given order (e.g. `00.jsonl.zst`, `01.jsonl.zst`).
 * @param options - Line-error policy, splitting, field name, checksums.
 * @returns The source.
 * @throws `CalmError` `IO_ERROR` when a file does not exist (checked here);
 * while iterating: `FORMAT_ERROR` for a corrupt or truncated `.zst` or (policy `'fail'`) a bad
 * line, with `details` `{ file, line, byte, reason }`.
 * @example
 * {@includeCode ../../test/examples.test.ts#jsonl-source}
 * @category Sources
 */
export function jsonlSource(files: string | readonly string[], options: JsonlSourceOptions = {}): DocumentSource {
  const paths = typeof files === 'string' ? [files] : [...files];
  if (paths.length === 0)
    fail('INVALID_ARGUMENT', 'jsonlSource: no files given; pass one or more .jsonl or .jsonl.zst paths.');
  const policy = options.onLineError ?? 'fail';
  if (policy !== 'fail' && policy !== 'skip')
    fail('INVALID_ARGUMENT', `onLineError must be 'fail' or 'skip', got ${String(policy)}.`);
  const maxWords = resolveSplit(options.splitLongDocuments, true);
  const textField = options.textField ?? 'text';
  const chunkBytes = checkInt(options.readChunkBytes ?? 1 << 20, 'readChunkBytes', 1);
  const verify = options.verifyChecksums ?? true;
  const sizes = paths.map((p) => {
    try {
      return statSync(p).size;
    } catch (e) {
      return fail(
        'IO_ERROR',
        `jsonlSource: cannot read ${p} (${(e as Error).message}); check the path (download shards with downloadPileShard).`,
        { cause: e },
      );
    }
  });
  const id =
    options.id ??
    `jsonl:${paths.map((p, i) => `${basename(p)}@${sizes[i]}`).join(',')}:split=${maxWords}:field=${textField}`;

  return {
    id,
    async *documents(from: SourcePosition = SOURCE_START, hooks: SourceHooks = {}) {
      checkSourcePosition(from);
      if (from.file > paths.length)
        fail('INVALID_ARGUMENT', `position.file ${from.file} is out of range (${paths.length} files).`);
      for (let f = from.file; f < paths.length; f++) {
        const path = paths[f]!;
        const first = f === from.file;
        let lineIndex = first ? from.lineIndex : 0;
        let part = first ? from.part : 0;
        for await (const raw of readLines(path, first ? from.byte : 0, chunkBytes, verify, hooks)) {
          const parsed = parseLine(raw.bytes, textField);
          if (typeof parsed !== 'string') {
            const issue: LineIssue = {
              file: path,
              line: lineIndex + 1,
              byte: raw.byte,
              reason: parsed.reason,
              message: parsed.message,
            };
            if (policy === 'fail') {
              fail(
                'FORMAT_ERROR',
                `${path}:${issue.line}: ${parsed.message}. Fix the line, or pass onLineError: 'skip' to skip and count bad lines.`,
                {
                  details: { ...issue },
                },
              );
            }
            hooks.onSkip?.(issue);
          } else {
            const parts = recordParts(parsed, maxWords, part);
            for (let k = 0; k < parts.length; k++) {
              const p = part + k;
              const last = k === parts.length - 1;
              yield {
                text: parts[k]!,
                from: { file: f, lineIndex, byte: raw.byte, part: p },
                next: last
                  ? { file: f, lineIndex: lineIndex + 1, byte: raw.end, part: 0 }
                  : { file: f, lineIndex, byte: raw.byte, part: p + 1 },
              };
            }
          }
          lineIndex++;
          part = 0;
        }
      }
    },
  };
}
