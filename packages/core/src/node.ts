/**
 * Node-only file I/O for `@calm/core`: lazy safetensors readers (a tensor is read only when
 * asked for, so multi-gigabyte checkpoints never sit in memory whole), sharded checkpoints,
 * atomic writes, and the one JSON-file and JSON-lines readers of every package; and the terminal
 * progress bar that the command lines share. Import from `@calm/core/node`; the main entry stays
 * browser-safe.
 *
 * @packageDocumentation
 */

import { type FileHandle, open, readFile, rename, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CalmError } from './errors.js';
import {
  decodeSafetensorsTensor,
  parseSafetensorsHeader,
  parseShardIndex,
  readSafetensorsHeaderLength,
  serializeSafetensors,
  type NamedArray,
  type SafetensorsHeader,
  type SafetensorsReadOptions,
  type TensorToWrite,
} from './safetensors.js';
import type { ByteSource } from './zip.js';
import { parseJsonl, parseJsonlTexts } from './jsonl.js';
import { openTorchStateDict } from './torch-bin.js';

const UTF8 = new TextDecoder();

export {
  createProgressBar,
  type ProgressBar,
  type ProgressBarOptions,
  type ProgressBarUpdate,
  type ProgressStream,
} from './progress-bar.js';

/**
 * A safetensors file opened for lazy reading.
 * @see {@link openSafetensorsFile}
 * @category Checkpoints
 */
export interface SafetensorsReader {
  /** The validated header. */
  readonly header: SafetensorsHeader;
  /** Tensor names in file order. */
  names(): string[];
  /**
   * Reads and decodes one tensor.
   * @param name - Tensor name.
   * @returns The decoded array.
   */
  read(name: string): Promise<NamedArray>;
  /** Closes the file. */
  close(): Promise<void>;
}

/**
 * Opens a safetensors file and validates its header without reading the tensor data.
 * @param path - File path.
 * @param options - Header size limit.
 * @returns A lazy reader; close it when done.
 * @throws `CalmError` `IO_ERROR` when the file cannot be opened, `FORMAT_ERROR` when it is malformed.
 * @example
 * {@includeCode ../test/examples.test.ts#safetensors-file}
 * @category Checkpoints
 */
export async function openSafetensorsFile(
  path: string,
  options: SafetensorsReadOptions = {},
): Promise<SafetensorsReader> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CalmError('IO_ERROR', `cannot open ${path}: ${(e as Error).message}`, { source: '@calm/core', cause: e });
  }
  try {
    const size = (await fh.stat()).size;
    const opts = { ...options, fileName: options.fileName ?? path };
    const prefix = new Uint8Array(Math.min(8, size));
    await fh.read(prefix, 0, prefix.length, 0);
    const n = readSafetensorsHeaderLength(prefix, opts);
    const head = new Uint8Array(Math.min(8 + n, size));
    await fh.read(head, 0, head.length, 0);
    const header = parseSafetensorsHeader(head, size, opts);
    const handle = fh;
    return {
      header,
      names: () => [...header.entries.keys()],
      async read(name: string) {
        const entry = header.entries.get(name);
        if (!entry)
          throw new CalmError('MISSING_PARAMETER', `${path} has no tensor "${name}".`, { source: '@calm/core' });
        const [b, e] = entry.dataOffsets;
        const raw = new Uint8Array(e - b);
        let done = 0;
        while (done < raw.length) {
          const { bytesRead } = await handle.read(raw, done, raw.length - done, header.dataStart + b + done);
          if (bytesRead === 0)
            throw new CalmError('FORMAT_ERROR', `${path}: unexpected end of file reading "${name}".`, {
              source: '@calm/core',
            });
          done += bytesRead;
        }
        return decodeSafetensorsTensor(entry, raw, name);
      },
      close: () => handle.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * Reads every tensor of a safetensors file, or of a sharded checkpoint through its index file.
 *
 * @param path - A `.safetensors` file or a `*.safetensors.index.json` index.
 * @param options - Header size limit; `filter` selects tensors by name (others are not read).
 * @returns Metadata (of the first file) and tensors by name.
 * @throws `CalmError` `IO_ERROR`, `FORMAT_ERROR`, `MISSING_PARAMETER` (an indexed tensor absent from its shard).
 * @example
 * {@includeCode ../test/examples.test.ts#safetensors-file}
 * @category Checkpoints
 */
export async function readSafetensorsFile(
  path: string,
  options: SafetensorsReadOptions & { filter?: (name: string) => boolean } = {},
): Promise<{ metadata: Record<string, string>; tensors: Map<string, NamedArray> }> {
  const filter = options.filter ?? (() => true);
  if (path.endsWith('.json')) {
    const index = parseShardIndex(await readIndexText(path), path);
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of index.weightMap) {
      if (!filter(name)) continue;
      byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
    }
    const tensors = new Map<string, NamedArray>();
    let metadata: Record<string, string> = {};
    for (const [shard, names] of byShard) {
      const reader = await openSafetensorsFile(join(dirname(path), shard), options);
      try {
        if (Object.keys(metadata).length === 0) metadata = reader.header.metadata;
        for (const name of names) tensors.set(name, await reader.read(name));
      } finally {
        await reader.close();
      }
    }
    return { metadata, tensors };
  }
  const reader = await openSafetensorsFile(path, options);
  try {
    const tensors = new Map<string, NamedArray>();
    for (const name of reader.names()) if (filter(name)) tensors.set(name, await reader.read(name));
    return { metadata: reader.header.metadata, tensors };
  } finally {
    await reader.close();
  }
}

/**
 * Writes a file atomically: the data goes to a temporary file in the same folder, which is then
 * renamed over the target, so a crash never leaves a half-written file behind.
 * @param path - Destination path (parent folders are created).
 * @param data - Contents.
 * @throws `CalmError` `IO_ERROR` when writing fails.
 * @example
 * {@includeCode ../test/examples.test.ts#atomic-write}
 * @category Files
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new CalmError('IO_ERROR', `cannot write ${path}: ${(e as Error).message}`, {
      source: '@calm/core',
      cause: e,
    });
  }
}

/**
 * Serialises tensors to a safetensors file, atomically.
 * @param path - Destination `.safetensors` path.
 * @param tensors - Arrays by name.
 * @param metadata - Optional `__metadata__`.
 * @throws `CalmError` `IO_ERROR`, `SHAPE_MISMATCH`, `DTYPE_UNSUPPORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#safetensors-file}
 * @category Checkpoints
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/**
 * Tells whether a path exists.
 * @param path - Any path.
 * @returns `true` when `stat` succeeds.
 * @see {@link writeFileAtomic}
 * @category Files
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads and parses a JSON file: the one JSON-file reader of every package (configs, run state,
 * checkpoint metadata), with errors that name the file and the fix.
 * @param path - The file.
 * @param fix - What the user should do when the file is unreadable or not JSON, appended to the
 *   message (e.g. "the checkpoint is damaged; delete it to restart").
 * @param options - `notJsonCode`: the error code when the file is not JSON, `FORMAT_ERROR` (the
 *   default, a damaged data file) or `INVALID_CONFIG` (a configuration the user writes by hand).
 * @returns The parsed value (validate it before use).
 * @throws `CalmError` `IO_ERROR` when the file cannot be read, `FORMAT_ERROR` (or
 *   `options.notJsonCode`) when it is not JSON.
 * @example
 * {@includeCode ../test/examples.test.ts#atomic-write}
 * @category Files
 */
export async function readJsonFile(
  path: string,
  fix?: string,
  options: { notJsonCode?: 'FORMAT_ERROR' | 'INVALID_CONFIG' } = {},
): Promise<unknown> {
  const text = UTF8.decode(await readFileOrFail(path, fix));
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CalmError(
      options.notJsonCode ?? 'FORMAT_ERROR',
      `${path} is not valid JSON: ${(e as Error).message}${fix ? `; ${fix}` : ''}`,
      { source: '@calm/core', cause: e },
    );
  }
}

/**
 * Reads the text field of every line of a JSON-lines file (`{"text": ...}` per line, e.g. the
 * official `wikitext_document_level-test.json`): the one JSON-lines text reader of every package.
 *
 * @remarks
 * The whole file is read, checked as strict UTF-8 and parsed by {@link parseJsonlTexts}; blank
 * lines are skipped and other fields ignored. Streaming and compressed corpora are
 * `@calm/data-pile`'s `jsonlSource`.
 * @param path - The file.
 * @param field - The field holding each document's text. @defaultValue `'text'`
 * @returns The texts, in file order.
 * @throws `CalmError` `IO_ERROR` when the file cannot be read, `FORMAT_ERROR` for a bad line
 *   (naming `path:line`; `details` `{ file, line, reason }`).
 * @example
 * {@includeCode ../test/jsonl.test.ts#read-texts}
 * @category Files
 */
export async function readJsonlTexts(path: string, field = 'text'): Promise<string[]> {
  const fix = `pass the path of a JSON-lines file with one {"${field}": ...} object per line`;
  return parseJsonlTexts(await readFileOrFail(path, fix), path, field);
}

/**
 * Reads a JSON-lines file of records (one JSON value per line, e.g. a training run's
 * `metrics.jsonl`), parsed by {@link parseJsonl}; blank lines are skipped.
 * @param path - The file.
 * @returns The values, in file order (validate them before use).
 * @throws `CalmError` `IO_ERROR` when the file cannot be read, `FORMAT_ERROR` for a line that is
 *   not JSON (naming `path:line`).
 * @example
 * {@includeCode ../test/jsonl.test.ts#read-records}
 * @category Files
 */
export async function readJsonl(path: string): Promise<unknown[]> {
  return parseJsonl(await readFileOrFail(path), path);
}

/** Reads a whole file; IO_ERROR naming it (and `fix`) when it cannot be read. */
async function readFileOrFail(path: string, fix?: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new CalmError('IO_ERROR', `cannot read ${path}: ${(e as Error).message}${fix ? `; ${fix}` : ''}`, {
      source: '@calm/core',
      cause: e,
    });
  }
}

/**
 * Writes text atomically (see {@link writeFileAtomic}).
 * @param path - Destination path.
 * @param text - Contents, written as UTF-8.
 * @category Files
 */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text);
}

/**
 * Opens a file as a random-access `ByteSource` (for `openTorchStateDict`).
 * @param path - File path.
 * @returns The source and a `close` function.
 * @throws `CalmError` with code `IO_ERROR` when the file cannot be opened.
 * @see {@link readTorchBinFile}
 * @category Checkpoints
 */
export async function openFileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CalmError('IO_ERROR', `cannot open ${path}: ${(e as Error).message}`, { source: '@calm/core', cause: e });
  }
  const size = (await fh.stat()).size;
  const handle = fh;
  return {
    size,
    async read(offset, length) {
      if (offset < 0 || offset + length > size) {
        throw new CalmError(
          'FORMAT_ERROR',
          `${path}: read of ${length} bytes at ${offset} runs past the end (${size} bytes); the file is truncated.`,
          { source: '@calm/core' },
        );
      }
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buf, done, length - done, offset + done);
        if (bytesRead === 0)
          throw new CalmError('FORMAT_ERROR', `${path}: unexpected end of file.`, { source: '@calm/core' });
        done += bytesRead;
      }
      return buf;
    },
    close: () => handle.close(),
  };
}

/**
 * Reads every tensor of a PyTorch `.bin` state dict file, or of a sharded one through its
 * `pytorch_model.bin.index.json`, with the safe allow-listed unpickler (no code is executed).
 *
 * @param path - A `.bin` file or a `*.bin.index.json` index.
 * @param options - `filter` selects tensors by name (others are not read).
 * @returns Tensors by name, and the aliases found (tied weights: alias → first name).
 * @throws `CalmError` with code `UNSAFE_PICKLE`, `FORMAT_ERROR`, `IO_ERROR` or `DTYPE_UNSUPPORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#torch-bin-file}
 * @category Checkpoints
 */
export async function readTorchBinFile(
  path: string,
  options: { filter?: (name: string) => boolean } = {},
): Promise<{ tensors: Map<string, NamedArray>; aliases: Map<string, string> }> {
  const filter = options.filter ?? (() => true);
  const files: string[] = [];
  if (path.endsWith('.json')) {
    files.push(...new Set(parseShardIndex(await readIndexText(path), path).weightMap.values()));
  } else files.push(basename(path));
  const tensors = new Map<string, NamedArray>();
  const aliases = new Map<string, string>();
  for (const f of files) {
    const full = path.endsWith('.json') ? join(dirname(path), f) : path;
    const src = await openFileSource(full);
    try {
      const reader = await openTorchStateDict(src, full);
      for (const [a, b] of reader.aliases()) aliases.set(a, b);
      for (const name of reader.refs.keys()) if (filter(name)) tensors.set(name, await reader.read(name));
    } finally {
      await src.close();
    }
  }
  return { tensors, aliases };
}

async function readIndexText(path: string): Promise<string> {
  return UTF8.decode(await readFileOrFail(path));
}
