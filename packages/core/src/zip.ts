// A minimal reader for the zip archives PyTorch writes (`torch.save` since 1.6): it lists entries
// from the central directory (ZIP64 included, for checkpoints over 4 GiB) and returns the bytes of
// stored (uncompressed) entries, which is how PyTorch writes them. Reads go through a ByteSource,
// so a multi-gigabyte file is never loaded whole.

import { CalmError } from './errors.js';

/**
 * Random-access bytes: an in-memory buffer or an open file.
 * @see {@link openTorchStateDict}, which reads a PyTorch zip through a byte source.
 * @category Checkpoints
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset`.
   * @param offset - Byte offset.
   * @param length - Number of bytes.
   * @returns Exactly `length` bytes.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * Wraps an in-memory buffer as a {@link ByteSource}.
 * @param bytes - The whole file.
 * @returns A byte source over `bytes` (no copy).
 * @see {@link openTorchStateDict}, which reads a PyTorch zip through a byte source.
 * @category Checkpoints
 */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    async read(offset, length) {
      if (offset < 0 || offset + length > bytes.length) {
        throw new CalmError(
          'FORMAT_ERROR',
          `read of ${length} bytes at ${offset} runs past the end (${bytes.length} bytes); the file is truncated.`,
          { source: '@calm/core' },
        );
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}

/**
 * One entry of a zip archive.
 * @see {@link openTorchStateDict}, which reads a PyTorch zip through a byte source.
 * @category Checkpoints
 */
export interface ZipEntry {
  /** Path inside the archive. */
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  /** Size as stored. */
  compressedSize: number;
  /** Size after decompression. */
  size: number;
  /** Offset of the entry's local header. */
  localHeaderOffset: number;
}

function fail(msg: string, fileName: string): never {
  throw new CalmError('FORMAT_ERROR', `${fileName}: ${msg}`, { source: '@calm/core' });
}

/**
 * Lists the entries of a zip archive from its central directory.
 * @param src - The archive.
 * @param fileName - For error messages.
 * @returns Entries by name.
 * @throws {@link CalmError} `FORMAT_ERROR` when the archive is not a zip or is truncated.
 * @see {@link openTorchStateDict}, which reads a PyTorch zip through a byte source.
 * @category Checkpoints
 */
export async function readZipDirectory(src: ByteSource, fileName = 'archive'): Promise<Map<string, ZipEntry>> {
  const tailLen = Math.min(src.size, 65557);
  if (src.size < 22)
    fail('not a zip archive (too short); PyTorch checkpoints saved with torch.save are zip files.', fileName);
  const tail = await src.read(src.size - tailLen, tailLen);
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0)
    fail(
      'no zip end-of-central-directory record: not a zip archive, or truncated. (Legacy non-zip torch.save files are not supported; re-save with torch >= 1.6.)',
      fileName,
    );
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff || cdSize === 0xffffffff) {
    // ZIP64 locator sits just before the EOCD.
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) fail('ZIP64 locator missing.', fileName);
    const z64Off = Number(dv.getBigUint64(loc + 8, true));
    const z64 = await src.read(z64Off, 56);
    const zdv = new DataView(z64.buffer, z64.byteOffset, 56);
    if (zdv.getUint32(0, true) !== 0x06064b50) fail('ZIP64 end-of-central-directory record missing.', fileName);
    count = Number(zdv.getBigUint64(32, true));
    cdSize = Number(zdv.getBigUint64(40, true));
    cdOffset = Number(zdv.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > src.size)
    fail('central directory runs past the end of the file; the file is truncated.', fileName);
  const cd = await src.read(cdOffset, cdSize);
  const cdv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cdv.getUint32(p, true) !== 0x02014b50) fail('corrupt central directory entry.', fileName);
    const method = cdv.getUint16(p + 10, true);
    let compressedSize = cdv.getUint32(p + 20, true);
    let size = cdv.getUint32(p + 24, true);
    const nameLen = cdv.getUint16(p + 28, true);
    const extraLen = cdv.getUint16(p + 30, true);
    const commentLen = cdv.getUint16(p + 32, true);
    let localHeaderOffset = cdv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information extra field.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = cdv.getUint16(e, true);
      const len = cdv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = Number(cdv.getBigUint64(q, true));
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(cdv.getBigUint64(q, true));
          q += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(cdv.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
    p = eEnd + commentLen;
  }
  return entries;
}

/**
 * Locates the data of a stored zip entry (after its local header).
 * @param src - The archive.
 * @param entry - The entry.
 * @param fileName - For error messages.
 * @returns The absolute byte offset of the entry's data.
 * @throws {@link CalmError} `FORMAT_ERROR` for a compressed entry or a corrupt header.
 * @see {@link openTorchStateDict}, which reads a PyTorch zip through a byte source.
 * @category Checkpoints
 */
export async function zipEntryDataOffset(src: ByteSource, entry: ZipEntry, fileName = 'archive'): Promise<number> {
  if (entry.method !== 0) {
    fail(
      `entry "${entry.name}" is compressed (method ${entry.method}); PyTorch writes stored entries — re-save the checkpoint with torch.save, or unzip and re-zip without compression.`,
      fileName,
    );
  }
  const lh = await src.read(entry.localHeaderOffset, 30);
  const dv = new DataView(lh.buffer, lh.byteOffset, 30);
  if (dv.getUint32(0, true) !== 0x04034b50) fail(`corrupt local header for "${entry.name}".`, fileName);
  const start = entry.localHeaderOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
  if (start + entry.size > src.size)
    fail(`entry "${entry.name}" runs past the end of the file; the file is truncated.`, fileName);
  return start;
}
