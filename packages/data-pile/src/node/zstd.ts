// Streaming zstd decompression for `.jsonl.zst` shards: fzstd (pure JS) does the decoding, and a
// small frame walker beside it finds frame boundaries so that each frame's content checksum
// (XXH64) and declared size are verified, and a truncated file is reported as such.

import { readFile } from 'node:fs/promises';
import { Decompress } from 'fzstd';
import { fail } from '../internal/errors.js';
import { Xxh64 } from '../internal/xxh64.js';

const ZSTD_MAGIC = 0xfd2fb528;

type WalkState = 'magic' | 'fhd' | 'header' | 'blockHeader' | 'blockBody' | 'checksum' | 'skipSize' | 'skipBody';

/**
 * Decompresses a zstd stream pushed in pieces, verifying every frame.
 *
 * @remarks
 * Frames may be concatenated (and skippable frames interleaved), as the format allows. At the end
 * of each frame the decompressed size is compared with the frame header's content size (when
 * present) and the XXH64 content checksum (when the frame has one; the zstd CLI always writes
 * it). Output chunks are passed to `onData` as soon as fzstd produces them, so corruption caught
 * by the checksum surfaces at the end of its frame.
 */
export class ZstdStreamDecoder {
  private fz: Decompress | null = null;
  private state: WalkState = 'magic';
  private need = 4;
  private readonly head = new Uint8Array(18);
  private headLen = 0;
  private remaining = 0;
  private lastBlock = false;
  private hasChecksum = false;
  private contentSize = -1;
  private frameOut = 0;
  private frames = 0;
  private frameStart = 0;
  private readonly hash = new Xxh64();
  private consumed = 0;
  private hashing = false;
  private chunk: Uint8Array = new Uint8Array(0);
  private from = 0;

  /**
   * @param fileName - For error messages.
   * @param onData - Receives decompressed chunks (fresh buffers, safe to keep).
   * @param verify - Check XXH64 content checksums (≈200 MB/s of extra work).
   */
  constructor(
    private readonly fileName: string,
    private readonly onData: (chunk: Uint8Array) => void,
    private readonly verify = true,
  ) {}

  /** Compressed bytes consumed so far. */
  get compressedBytes(): number {
    return this.consumed;
  }

  /**
   * Pushes compressed bytes.
   * @param chunk - The next piece of the file.
   */
  push(chunk: Uint8Array): void {
    this.chunk = chunk;
    this.from = 0;
    let p = 0;
    const n = chunk.length;
    while (p < n) {
      if (this.state === 'blockBody' || this.state === 'skipBody') {
        const take = Math.min(this.remaining, n - p);
        p += take;
        this.remaining -= take;
        if (this.remaining === 0) this.afterBody(p);
        continue;
      }
      const take = Math.min(this.need - this.headLen, n - p);
      this.head.set(chunk.subarray(p, p + take), this.headLen);
      this.headLen += take;
      p += take;
      if (this.headLen < this.need) break;
      const h = this.head;
      this.headLen = 0;
      switch (this.state) {
        case 'magic': {
          const magic = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
          this.frameStart = this.consumed + p - 4;
          this.from = p;
          if (magic === ZSTD_MAGIC) {
            this.fz = new Decompress((out) => {
              if (out.length === 0) return;
              this.frameOut += out.length;
              if (this.hashing) this.hash.update(out);
              this.onData(out);
            });
            this.decode(h.slice(0, 4), false);
            this.state = 'fhd';
            this.need = 1;
          } else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
            this.state = 'skipSize';
            this.need = 4;
          } else {
            this.corrupt(`no zstd frame starts at compressed byte ${this.frameStart} (magic 0x${magic.toString(16)})`);
          }
          break;
        }
        case 'fhd': {
          const fhd = h[0]!;
          if (fhd & 0x08) this.corrupt('reserved bit set in a frame header');
          const fcsFlag = fhd >> 6;
          const single = (fhd >> 5) & 1;
          this.hasChecksum = ((fhd >> 2) & 1) === 1;
          const fcsBytes = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag]!;
          this.need = 1 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + fcsBytes;
          this.head[0] = fhd;
          this.headLen = 1;
          this.state = 'header';
          break;
        }
        case 'header': {
          const fhd = h[0]!;
          const fcsFlag = fhd >> 6;
          const single = (fhd >> 5) & 1;
          const fcsBytes = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag]!;
          this.beginFrame(h, this.need - fcsBytes, fcsBytes);
          break;
        }
        case 'blockHeader': {
          const v = h[0]! | (h[1]! << 8) | (h[2]! << 16);
          this.lastBlock = (v & 1) === 1;
          const type = (v >> 1) & 3;
          if (type === 3) this.corrupt(`reserved block type at compressed byte ${this.consumed + p - 3}`);
          this.remaining = type === 1 ? 1 : v >>> 3;
          this.state = 'blockBody';
          if (this.remaining === 0) this.afterBody(p);
          break;
        }
        case 'checksum': {
          const sum = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
          this.endFrame(p, sum);
          break;
        }
        case 'skipSize': {
          this.remaining = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
          this.state = 'skipBody';
          if (this.remaining === 0) this.afterBody(p);
          break;
        }
        default:
          break;
      }
    }
    this.flush(n, false);
    this.consumed += n;
  }

  /** Signals the end of the file; throws when it ends inside a frame. */
  end(): void {
    if (this.state !== 'magic' || this.headLen !== 0) {
      fail(
        'FORMAT_ERROR',
        `${this.fileName} is truncated: it ends inside zstd frame ${this.frames + 1} (starting at compressed byte ${this.frameStart}, file size ${this.consumed}); the file is incomplete, download it again.`,
        {
          details: { file: this.fileName, compressedBytes: this.consumed },
        },
      );
    }
    if (this.frames === 0) {
      fail(
        'FORMAT_ERROR',
        `${this.fileName} holds no zstd frame (${this.consumed} bytes); it is not a .zst file or the download failed.`,
        {
          details: { file: this.fileName },
        },
      );
    }
  }

  private afterBody(p: number): void {
    if (this.state === 'skipBody' || this.state === 'skipSize') {
      this.state = 'magic';
      this.need = 4;
      this.from = p;
    } else if (!this.lastBlock) {
      this.state = 'blockHeader';
      this.need = 3;
    } else if (this.hasChecksum) {
      this.state = 'checksum';
      this.need = 4;
    } else {
      this.endFrame(p, null);
    }
  }

  private beginFrame(h: Uint8Array, fcsAt: number, fcsBytes: number): void {
    let fcs = -1;
    if (fcsBytes === 1) fcs = h[fcsAt]!;
    else if (fcsBytes === 2) fcs = (h[fcsAt]! | (h[fcsAt + 1]! << 8)) + 256;
    else if (fcsBytes === 4)
      fcs = (h[fcsAt]! | (h[fcsAt + 1]! << 8) | (h[fcsAt + 2]! << 16) | (h[fcsAt + 3]! << 24)) >>> 0;
    else if (fcsBytes === 8) {
      const lo = (h[fcsAt]! | (h[fcsAt + 1]! << 8) | (h[fcsAt + 2]! << 16) | (h[fcsAt + 3]! << 24)) >>> 0;
      const hi = (h[fcsAt + 4]! | (h[fcsAt + 5]! << 8) | (h[fcsAt + 6]! << 16) | (h[fcsAt + 7]! << 24)) >>> 0;
      fcs = hi * 4294967296 + lo;
    }
    this.contentSize = fcs;
    this.frameOut = 0;
    this.hashing = this.verify && this.hasChecksum;
    if (this.hashing) this.hash.reset();
    this.state = 'blockHeader';
    this.need = 3;
  }

  /** The frame's last byte is at p - 1: finish its decoder and check size and checksum. */
  private endFrame(p: number, sum: number | null): void {
    this.flush(p, true);
    this.fz = null;
    this.frames++;
    if (this.contentSize >= 0 && this.frameOut !== this.contentSize) {
      this.corrupt(
        `frame ${this.frames} decompressed to ${this.frameOut} bytes but its header says ${this.contentSize}`,
      );
    }
    if (sum !== null && this.hashing) {
      const [, lo] = this.hash.digest();
      if (lo !== sum)
        this.corrupt(
          `frame ${this.frames} fails its content checksum (XXH64 0x${lo.toString(16)} ≠ stored 0x${sum.toString(16)})`,
        );
    }
    this.hashing = false;
    this.state = 'magic';
    this.need = 4;
  }

  /** Hands chunk[from, upTo) to the current frame's decoder (nothing between frames). */
  private flush(upTo: number, final: boolean): void {
    if (this.fz && (upTo > this.from || final)) this.decode(this.chunk.subarray(this.from, upTo), final);
    this.from = upTo;
  }

  private decode(bytes: Uint8Array, final: boolean): void {
    try {
      this.fz!.push(bytes, final);
    } catch (e) {
      this.corrupt(
        `zstd decoding failed in frame ${this.frames + 1}, which starts at compressed byte ${this.frameStart} (${(e as Error).message})`,
        e,
      );
    }
  }

  private corrupt(what: string, cause?: unknown): never {
    return fail(
      'FORMAT_ERROR',
      `${this.fileName} is corrupt: ${what}. Download the file again (and check its sha256).`,
      {
        details: { file: this.fileName, compressedBytes: this.consumed },
        ...(cause === undefined ? {} : { cause }),
      },
    );
  }
}

/**
 * Reads a whole `.zst` file and decompresses it in memory, every frame verified.
 * @throws `CalmError` `IO_ERROR` when the file cannot be read, `FORMAT_ERROR` when it is corrupt or truncated.
 */
export async function readZstdFile(path: string): Promise<Uint8Array> {
  let compressed: Uint8Array;
  try {
    compressed = await readFile(path);
  } catch (e) {
    return fail('IO_ERROR', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  const parts: Uint8Array[] = [];
  const decoder = new ZstdStreamDecoder(path, (c) => parts.push(c));
  decoder.push(compressed);
  decoder.end();
  return Buffer.concat(parts);
}
