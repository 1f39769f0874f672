// The resumable cursor of a block stream: plain JSON that goes into a training checkpoint and,
// given to a new stream over the same data, makes it yield exactly the next block.

import { restoreRng, type RngState } from '@calm/core';
import { fail } from './internal/errors.js';
import { base64ToInt32 } from './internal/base64.js';
import { checkSourcePosition, type LineIssueReason, type SourcePosition } from './source.js';
import type { PackingLayout } from './packing.js';

/**
 * The settings that determine which blocks a stream yields; a cursor only restores a stream
 * whose settings are equal (`epochs` may differ).
 * @see {@link createBlockStream}
 * @category Streaming
 */
export interface BlockStreamConfig {
  /** The source's `id`. */
  source: string;
  /** The tokenizer's `fingerprint`. */
  tokenizer: string;
  /** Packing layout. */
  layout: PackingLayout;
  /** Tokens per block. */
  blockSize: number;
  /** Chunk size K (1 for the LM layout). */
  chunkSize: number;
  /** Documents per packing group (official map batch: 1000). */
  groupSize: number;
  /** What happens to the tokens left after the last block of a group. */
  remainder: 'drop' | 'carry';
  /** Whether BOS is prepended to each document. */
  addBos: boolean;
  /** The BOS, EOS and PAD ids used, as `"bos,eos,pad"`. */
  specialIds: string;
  /** This worker's index in [0, workerCount). */
  workerIndex: number;
  /** Number of workers sharing the data. */
  workerCount: number;
  /** Shuffle buffer size in blocks (0: no shuffling). */
  shuffleBuffer: number;
  /** Passes over the source. */
  epochs: number;
}

/**
 * Counters of the reading side, saved so that skipped-line counts survive a resume.
 * @see {@link createBlockStream}
 * @category Streaming
 */
export interface ReaderCounts {
  /** Documents read (after splitting). */
  documents: number;
  /** Lines skipped, by reason. */
  skipped: Partial<Record<LineIssueReason, number>>;
}

/**
 * A saved stream position: JSON-serialisable, restored through the `cursor` option of
 * `createBlockStream`.
 *
 * @remarks
 * The stream restarts by re-reading and re-tokenising the group at `position` and skipping its
 * first `skipBlocks` blocks, so the cursor stays small (no token buffers) except for the shuffle
 * buffer and the carry-over tokens, which are stored as base64 of little-endian int32. For a
 * `.jsonl.zst` shard, reaching `position.byte` means decompressing from the start of the file
 * (≈100 MB/s): zstd streams cannot be entered in the middle of a frame.
 * @see {@link createBlockStream}
 * @category Streaming
 */
export interface BlockCursor {
  /** Always `'calm-data-pile-cursor'`. */
  format: 'calm-data-pile-cursor';
  /** Format version (1). */
  version: 1;
  /** The settings the stream ran with. */
  config: BlockStreamConfig;
  /** 0-based epoch of `position`. */
  epoch: number;
  /** Start of the group to read next (or to re-read, when `skipBlocks` > 0). */
  position: SourcePosition;
  /** Index of that group within the epoch (its owner is `groupIndex % workerCount`). */
  groupIndex: number;
  /** Blocks of that group already taken. */
  skipBlocks: number;
  /** Carry-over tokens entering that group (remainder `'carry'`), base64 int32. */
  carry: string;
  /** Shuffle state: RNG state and the buffered blocks (base64 int32 each); `null` without shuffling. */
  shuffle: { rng: RngState; buffer: string[] } | null;
  /** Blocks delivered to the caller so far. */
  delivered: number;
  /** Reading counters at `position`. */
  counts: ReaderCounts;
}

/**
 * Serialises a cursor to JSON text.
 * @param cursor - A cursor from `BlockStream.cursor()`.
 * @returns JSON text.
 * @example
 * {@includeCode ../test/examples.test.ts#block-stream}
 * @category Streaming
 */
export function serializeCursor(cursor: BlockCursor): string {
  return JSON.stringify(cursor);
}

/**
 * Parses and validates a cursor (JSON text or an already parsed object).
 * @param input - JSON text or object.
 * @returns The cursor.
 * @throws `CalmError` `FORMAT_ERROR` when it is not a cursor; `CHECKPOINT_VERSION` for
 * another format version.
 * @example
 * {@includeCode ../test/examples.test.ts#block-stream}
 * @category Streaming
 */
export function parseCursor(input: string | unknown): BlockCursor {
  let o: Record<string, unknown>;
  try {
    o = (typeof input === 'string' ? JSON.parse(input) : input) as Record<string, unknown>;
  } catch (e) {
    return fail(
      'FORMAT_ERROR',
      `cursor is not valid JSON (${(e as Error).message}); pass the text written by serializeCursor.`,
      { cause: e },
    );
  }
  if (o === null || typeof o !== 'object' || o.format !== 'calm-data-pile-cursor') {
    fail(
      'FORMAT_ERROR',
      'not a data-pile cursor (missing format "calm-data-pile-cursor"); pass the object returned by BlockStream.cursor().',
    );
  }
  if (o.version !== 1)
    fail(
      'CHECKPOINT_VERSION',
      `cursor version ${String(o.version)} is not supported (expected 1); it was written by another @calm/data-pile version.`,
    );
  const nonNeg = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const c = o as unknown as BlockCursor;
  const cfg = c.config as unknown as Record<string, unknown> | null;
  const cfgOk =
    cfg !== null &&
    typeof cfg === 'object' &&
    typeof cfg.source === 'string' &&
    typeof cfg.tokenizer === 'string' &&
    typeof cfg.specialIds === 'string' &&
    (cfg.layout === 'lm' || cfg.layout === 'ae') &&
    (cfg.remainder === 'drop' || cfg.remainder === 'carry') &&
    typeof cfg.addBos === 'boolean' &&
    ['blockSize', 'chunkSize', 'groupSize', 'workerIndex', 'workerCount', 'shuffleBuffer'].every((k) =>
      nonNeg(cfg[k]),
    ) &&
    (nonNeg(cfg.epochs) || cfg.epochs === null || cfg.epochs === Infinity);
  if (!cfgOk) fail('FORMAT_ERROR', 'cursor.config is malformed; pass the object returned by BlockStream.cursor().');
  if (
    !nonNeg(c.epoch) ||
    !nonNeg(c.groupIndex) ||
    !nonNeg(c.skipBlocks) ||
    !nonNeg(c.delivered) ||
    typeof c.carry !== 'string'
  ) {
    fail('FORMAT_ERROR', 'cursor fields epoch/groupIndex/skipBlocks/delivered/carry are malformed.');
  }
  checkSourcePosition(c.position, 'cursor.position');
  base64ToInt32(c.carry, 'cursor.carry');
  if (c.shuffle !== null) {
    if (typeof c.shuffle !== 'object' || !Array.isArray(c.shuffle.buffer))
      fail('FORMAT_ERROR', 'cursor.shuffle is malformed.');
    restoreRng(c.shuffle.rng);
    for (const b of c.shuffle.buffer) base64ToInt32(String(b), 'cursor.shuffle.buffer');
  }
  const counts = c.counts as unknown as Record<string, unknown> | null;
  if (
    counts === null ||
    typeof counts !== 'object' ||
    !nonNeg(counts.documents) ||
    typeof counts.skipped !== 'object' ||
    counts.skipped === null
  ) {
    fail('FORMAT_ERROR', 'cursor.counts is malformed.');
  }
  // JSON has no Infinity: endless streams store epochs as null.
  if (cfg!.epochs === null) (c.config as { epochs: number }).epochs = Infinity;
  return c;
}
