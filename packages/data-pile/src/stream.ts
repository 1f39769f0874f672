// The streaming pipeline: documents from a source, grouped like the official 1000-document map
// batches, sharded across workers by group, tokenised (optionally ahead of time, off the main
// thread), packed into blocks, optionally shuffled, and delivered with a resumable cursor.

import { createRng, restoreRng, type Rng } from '@calm/core';
import { fail, checkInt } from './internal/errors.js';
import { base64ToInt32, int32ToBase64 } from './internal/base64.js';
import { packDocuments, resolvePackOptions, type PackingLayout } from './packing.js';
import { SOURCE_START, type DocumentSource, type LineIssue, type SourcePosition } from './source.js';
import { parseCursor, type BlockCursor, type BlockStreamConfig, type ReaderCounts } from './cursor.js';
import type { BatchEncoder, SpecialTokenIds, Tokenizer } from './tokenizer.js';

/**
 * Options of {@link createBlockStream}.
 * @category Streaming
 */
export interface BlockStreamOptions {
  /** Tokens per block (T): 2048 (AE, AR training) or 8192 (CALM training and eval). */
  blockSize: number;
  /**
   * Packing layout.
   * @defaultValue `'lm'`
   */
  layout?: PackingLayout;
  /** Chunk size K for the `'ae'` layout (official 4); `blockSize` must be a multiple. */
  chunkSize?: number;
  /**
   * Documents per packing group: the official `datasets.map(batched=True)` batch size.
   * @defaultValue 1000
   */
  groupSize?: number;
  /**
   * Tokens left after a group's last block: dropped (`'drop'`, official) or carried into the
   * next group this worker packs (`'carry'`; the last remainder of the stream is dropped).
   * @defaultValue `'drop'`
   */
  remainder?: 'drop' | 'carry';
  /**
   * Prepend BOS to every document.
   * @defaultValue `true`
   */
  addBos?: boolean;
  /** Override the tokenizer's special ids. */
  specialIds?: Partial<SpecialTokenIds>;
  /**
   * This worker's index. Worker `w` of `W` packs the groups `g` with `g % W === w`; the union
   * over all workers is exactly the single-worker stream (with remainder `'drop'`).
   * @defaultValue 0
   */
  workerIndex?: number;
  /**
   * Number of workers (data-parallel ranks across all machines).
   * @defaultValue 1
   */
  workerCount?: number;
  /**
   * Shuffle buffer size in blocks; 0 keeps the official order.
   * @defaultValue 0
   */
  shuffleBuffer?: number;
  /** Random generator for the shuffle buffer (state is saved in the cursor); default `createRng(0)`. */
  rng?: Rng;
  /**
   * Passes over the source (`Infinity` for endless streaming).
   * @defaultValue 1
   */
  epochs?: number;
  /** Encodes groups instead of the tokenizer itself, e.g. a worker pool from `createTokenizerPool`. */
  encoder?: BatchEncoder;
  /**
   * Groups read and sent to the encoder ahead of the one being packed.
   * @defaultValue 2
   */
  prefetch?: number;
  /** Resume from a saved cursor (object or JSON text). */
  cursor?: BlockCursor | string;
  /**
   * Called for every line the source skipped (policy `'skip'`).
   * @param issue - The line and the reason.
   */
  onSkip?(issue: LineIssue): void;
}

/**
 * Throughput and bookkeeping of a stream. Reading counters include groups read ahead.
 * @see {@link createBlockStream}
 * @category Streaming
 */
export interface BlockStreamStats {
  /** Documents read (after splitting), including groups of other workers. */
  documents: number;
  /** Lines skipped by the source, all reasons. */
  skippedLines: number;
  /** Lines skipped, by reason. */
  skippedByReason: ReaderCounts['skipped'];
  /** Groups read (all workers). */
  groupsRead: number;
  /** Groups this worker tokenised. */
  groupsTokenized: number;
  /** Characters (UTF-16 code units) tokenised. */
  charsTokenized: number;
  /** Tokens packed, special tokens included. */
  tokens: number;
  /** Tokens dropped as group remainders. */
  droppedTokens: number;
  /** Blocks delivered to the caller. */
  blocks: number;
  /** Bytes read from storage (compressed for `.zst`). */
  inputBytes: number;
  /** Bytes of JSON-lines text read (decompressed). */
  textBytes: number;
  /** Milliseconds the consumer waited for tokenisation to finish. */
  tokenizeWaitMs: number;
  /** Milliseconds since the stream was created. */
  elapsedMs: number;
}

/**
 * A batch of blocks.
 * @see {@link createBlockStream}
 * @category Streaming
 */
export interface TokenBatch {
  /** Token ids, shape [B, T] row-major, int32. */
  ids: Int32Array;
  /** The shape [B, T]: blocks in this batch (B is smaller only for the last batch) and tokens per block. */
  shape: [number, number];
}

/**
 * A stream of packed blocks with a resumable cursor.
 * @see {@link createBlockStream}
 * @category Streaming
 */
export interface BlockStream extends AsyncIterable<Int32Array> {
  /** The settings that determine the blocks (also stored in cursors). */
  readonly config: BlockStreamConfig;
  /**
   * The next block.
   * @returns A block of `blockSize` ids (int32), or `null` at the end.
   */
  next(): Promise<Int32Array | null>;
  /**
   * The next batch of up to `batchSize` blocks.
   * @param batchSize - Blocks per batch (B ≥ 1).
   * @returns A batch of shape [B, T] (B smaller only at the end), or `null` at the end.
   */
  nextBatch(batchSize: number): Promise<TokenBatch | null>;
  /**
   * The position after the last delivered block, as JSON-safe data.
   * @returns A cursor for the `cursor` option of a new stream.
   */
  cursor(): BlockCursor;
  /**
   * Current counters.
   * @returns A snapshot of the stream's statistics.
   */
  stats(): BlockStreamStats;
  /** Stops reading and releases files. */
  close(): Promise<void>;
}

interface RawGroup {
  epoch: number;
  index: number;
  owned: boolean;
  texts: string[];
  start: SourcePosition;
  end: SourcePosition;
  countsAtStart: ReaderCounts;
  countsAtEnd: ReaderCounts;
}

interface PendingGroup {
  raw: RawGroup;
  ids: Promise<Int32Array[]>;
}

interface CurrentGroup {
  raw: RawGroup;
  carryIn: Int32Array;
  carryOut: Int32Array;
  blocks: Int32Array[];
  taken: number;
}

function copyCounts(c: ReaderCounts): ReaderCounts {
  return { documents: c.documents, skipped: { ...c.skipped } };
}

function samePosition(a: SourcePosition, b: SourcePosition): boolean {
  return a.file === b.file && a.lineIndex === b.lineIndex && a.byte === b.byte && a.part === b.part;
}

/**
 * Streams packed token blocks from a document source, as the official training scripts would
 * see them, with deterministic sharding, an optional seeded shuffle buffer and a resumable cursor.
 *
 * @remarks
 * Pipeline: documents (in source order) → groups of `groupSize` documents (the official map
 * batches; the last one may be smaller) → groups owned by this worker are tokenised (up to
 * `prefetch` groups ahead, through `encoder`) → each group is packed with {@link packDocuments}
 * (remainder dropped or carried) → optional shuffle buffer → blocks.
 *
 * Every worker reads (decompresses and parses) all documents but tokenises only its own groups;
 * tokenisation is ≈20–50× slower than reading, so this scales to tens of workers. The cursor
 * re-reads the current group on restore rather than storing its tokens.
 *
 * @param source - Where the documents come from.
 * @param tokenizer - Tokenizer for special ids and fingerprint (and encoding, unless `encoder`).
 * @param options - Block size, layout, sharding, shuffling, resume cursor.
 * @returns The stream; iterate it, or call `next`/`nextBatch`. Call `close` when stopping early.
 * @throws `CalmError` `INVALID_ARGUMENT` for bad options or a cursor saved with other
 * settings, data or tokenizer; errors of the source (e.g. `FORMAT_ERROR`) surface from `next`.
 * @example
 * {@includeCode ../test/examples.test.ts#block-stream}
 * @category Streaming
 */
export function createBlockStream(
  source: DocumentSource,
  tokenizer: Tokenizer,
  options: BlockStreamOptions,
): BlockStream {
  const layout = options.layout ?? 'lm';
  const special = {
    bos: options.specialIds?.bos ?? tokenizer.bos,
    eos: options.specialIds?.eos ?? tokenizer.eos,
    pad: options.specialIds?.pad ?? tokenizer.pad,
  };
  const pack = resolvePackOptions({
    layout,
    blockSize: options.blockSize,
    ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
    addBos: options.addBos ?? true,
    ...special,
  });
  const groupSize = checkInt(options.groupSize ?? 1000, 'groupSize', 1);
  const workerCount = checkInt(options.workerCount ?? 1, 'workerCount', 1);
  const workerIndex = checkInt(options.workerIndex ?? 0, 'workerIndex', 0, workerCount - 1);
  const shuffleBuffer = checkInt(options.shuffleBuffer ?? 0, 'shuffleBuffer', 0);
  const prefetch = checkInt(options.prefetch ?? 2, 'prefetch', 1);
  const epochs = options.epochs ?? 1;
  if (!(epochs === Infinity || (Number.isInteger(epochs) && epochs >= 1))) {
    fail('INVALID_ARGUMENT', `epochs must be a positive integer or Infinity, got ${epochs}.`);
  }
  const remainder = options.remainder ?? 'drop';
  if (remainder !== 'drop' && remainder !== 'carry')
    fail('INVALID_ARGUMENT', `remainder must be 'drop' or 'carry', got ${String(remainder)}.`);
  const encoder: BatchEncoder = options.encoder ?? tokenizer;
  const config: BlockStreamConfig = {
    source: source.id,
    tokenizer: tokenizer.fingerprint,
    layout,
    blockSize: pack.blockSize,
    chunkSize: layout === 'ae' ? pack.chunkSize : 1,
    groupSize,
    remainder,
    addBos: pack.addBos,
    specialIds: `${pack.bos},${pack.eos},${pack.pad}`,
    workerIndex,
    workerCount,
    shuffleBuffer,
    epochs,
  };

  // Starting state: the beginning, or a restored cursor.
  let startEpoch = 0;
  let startPosition: SourcePosition = { ...SOURCE_START };
  let startGroup = 0;
  let skipBlocks = 0;
  let carry: Int32Array = new Int32Array(0);
  let delivered = 0;
  let counts: ReaderCounts = { documents: 0, skipped: {} };
  let rng: Rng = options.rng ?? createRng(0);
  let buffer: Int32Array[] = [];
  if (options.cursor !== undefined) {
    const c = parseCursor(options.cursor);
    const diffs = (Object.keys(config) as (keyof BlockStreamConfig)[]).filter(
      (k) => k !== 'epochs' && c.config[k] !== config[k],
    );
    if (diffs.length > 0) {
      fail(
        'INVALID_ARGUMENT',
        `cursor was saved with different settings: ${diffs.map((k) => `${k} ${JSON.stringify(c.config[k])} (now ${JSON.stringify(config[k])})`).join(', ')}; restore with the same source, tokenizer and options.`,
        { details: { diffs } },
      );
    }
    if ((c.shuffle === null) !== (shuffleBuffer === 0))
      fail('INVALID_ARGUMENT', 'cursor shuffle state does not match shuffleBuffer.');
    startEpoch = c.epoch;
    startPosition = { ...c.position };
    startGroup = c.groupIndex;
    skipBlocks = c.skipBlocks;
    carry = base64ToInt32(c.carry, 'cursor.carry');
    delivered = c.delivered;
    counts = copyCounts(c.counts);
    if (c.shuffle) {
      rng = restoreRng(c.shuffle.rng);
      buffer = c.shuffle.buffer.map((b) => base64ToInt32(b, 'cursor.shuffle.buffer'));
    }
  }
  const startCounts = copyCounts(counts);
  const resumeGroup = skipBlocks > 0 ? { epoch: startEpoch, index: startGroup, skip: skipBlocks } : null;

  const t0 = Date.now();
  const st = {
    groupsRead: 0,
    groupsTokenized: 0,
    charsTokenized: 0,
    tokens: 0,
    droppedTokens: 0,
    inputBytes: 0,
    textBytes: 0,
    tokenizeWaitMs: 0,
  };

  async function* readGroups(): AsyncGenerator<RawGroup> {
    let from = startPosition;
    let index = startGroup;
    for (let epoch = startEpoch; epoch < epochs; epoch++) {
      const hooks = {
        onSkip(issue: LineIssue) {
          counts.skipped[issue.reason] = (counts.skipped[issue.reason] ?? 0) + 1;
          options.onSkip?.(issue);
        },
        onBytes(input: number, text: number) {
          st.inputBytes += input;
          st.textBytes += text;
        },
      };
      let start = from;
      let startCounts = copyCounts(counts);
      let texts: string[] = [];
      let n = 0;
      let end = from;
      let owned = index % workerCount === workerIndex;
      let any = false;
      for await (const doc of source.documents(from, hooks)) {
        any = true;
        n++;
        counts.documents++;
        if (owned) texts.push(doc.text);
        end = doc.next;
        if (n === groupSize) {
          const countsAtEnd = copyCounts(counts);
          st.groupsRead++;
          yield { epoch, index, owned, texts, start, end, countsAtStart: startCounts, countsAtEnd };
          index++;
          owned = index % workerCount === workerIndex;
          start = end;
          startCounts = countsAtEnd;
          texts = [];
          n = 0;
        }
      }
      if (n > 0) {
        st.groupsRead++;
        yield { epoch, index, owned, texts, start, end, countsAtStart: startCounts, countsAtEnd: copyCounts(counts) };
      }
      if (!any && epoch === 0 && samePosition(from, SOURCE_START) && startGroup === 0) {
        fail(
          'INVALID_ARGUMENT',
          `source ${source.id} yielded no documents; check the file list and the line-error policy.`,
        );
      }
      from = { ...SOURCE_START };
      index = 0;
    }
  }

  const reader = readGroups();
  let readerDone = false;
  const pending: PendingGroup[] = [];
  let current: CurrentGroup | null = null;
  let exhausted = false;
  let closed = false;

  let filling: Promise<void> | null = null;
  let readerError: { e: unknown } | null = null;

  // Reads groups until `prefetch` owned groups wait for packing. Only one runs at a time; a
  // source error is kept and thrown once the groups read before it have been delivered.
  async function doFill(): Promise<void> {
    try {
      while (!readerDone && pending.length < prefetch) {
        const r = await reader.next();
        if (r.done) {
          readerDone = true;
          break;
        }
        const raw = r.value;
        if (!raw.owned) continue;
        st.groupsTokenized++;
        for (const t of raw.texts) st.charsTokenized += t.length;
        const p: PendingGroup = { raw, ids: encoder.encodeBatch(raw.texts) };
        p.ids.catch(() => undefined); // observed when the group is packed
        raw.texts = [];
        pending.push(p);
      }
    } catch (e) {
      readerDone = true;
      readerError = { e };
    }
  }

  function fill(): Promise<void> {
    if (filling) return filling;
    const run: Promise<void> = doFill().finally(() => {
      if (filling === run) filling = null;
    });
    filling = run;
    return run;
  }

  async function nextPacked(): Promise<Int32Array | null> {
    for (;;) {
      if (current && current.taken < current.blocks.length) return current.blocks[current.taken++]!;
      if (exhausted) return null;
      await fill();
      const p = pending.shift();
      if (!p) {
        if (readerError) throw readerError.e;
        exhausted = true;
        if (current && remainder === 'carry') st.droppedTokens += current.carryOut.length;
        return null;
      }
      const w0 = Date.now();
      const ids = await p.ids;
      st.tokenizeWaitMs += Date.now() - w0;
      if (ids.length !== p.raw.countsAtEnd.documents - p.raw.countsAtStart.documents) {
        fail(
          'INTERNAL',
          `encoder returned ${ids.length} id arrays for ${p.raw.countsAtEnd.documents - p.raw.countsAtStart.documents} documents.`,
        );
      }
      const carryIn = remainder === 'carry' ? (current ? current.carryOut : carry) : new Int32Array(0);
      const packed = packDocuments(ids, pack, carryIn);
      st.tokens += packed.blocks.length * pack.blockSize + packed.remainder.length - carryIn.length;
      if (remainder === 'drop') st.droppedTokens += packed.remainder.length;
      let taken = 0;
      if (resumeGroup && p.raw.epoch === resumeGroup.epoch && p.raw.index === resumeGroup.index) {
        if (resumeGroup.skip > packed.blocks.length) {
          fail(
            'INVALID_ARGUMENT',
            `cursor says ${resumeGroup.skip} blocks of group ${resumeGroup.index} were taken, but it packs into ${packed.blocks.length}; the data changed since the cursor was saved.`,
          );
        }
        taken = resumeGroup.skip;
      }
      current = { raw: p.raw, carryIn, carryOut: packed.remainder, blocks: packed.blocks, taken };
      // Keep the encoder busy while the caller consumes this group.
      void fill();
    }
  }

  async function nextBlock(): Promise<Int32Array | null> {
    if (closed) fail('INVALID_ARGUMENT', 'the block stream is closed.');
    let out: Int32Array | null;
    if (shuffleBuffer === 0) {
      out = await nextPacked();
    } else {
      while (buffer.length < shuffleBuffer) {
        const b = await nextPacked();
        if (!b) break;
        buffer.push(b);
      }
      if (buffer.length === 0) {
        out = null;
      } else {
        const j = rng.int(buffer.length);
        out = buffer[j]!;
        buffer[j] = buffer[buffer.length - 1]!;
        buffer.pop();
      }
    }
    if (out) delivered++;
    return out;
  }

  // Calls to next/nextBatch/close run one after another, in call order.
  let chain: Promise<unknown> = Promise.resolve();
  function serial<T>(f: () => Promise<T>): Promise<T> {
    const r = chain.then(f, f);
    chain = r.catch(() => undefined);
    return r;
  }

  const stream: BlockStream = {
    config,
    next: () => serial(nextBlock),
    nextBatch: (batchSize: number) =>
      serial(async () => {
        checkInt(batchSize, 'nextBatch: batchSize', 1);
        const blocks: Int32Array[] = [];
        while (blocks.length < batchSize) {
          const b = await nextBlock();
          if (!b) break;
          blocks.push(b);
        }
        if (blocks.length === 0) return null;
        const ids = new Int32Array(blocks.length * pack.blockSize);
        blocks.forEach((b, i) => ids.set(b, i * pack.blockSize));
        return { ids, shape: [blocks.length, pack.blockSize] as [number, number] };
      }),
    cursor(): BlockCursor {
      let epoch = startEpoch;
      let position = startPosition;
      let groupIndex = startGroup;
      let skip = skipBlocks;
      let carryNow = carry;
      let at: ReaderCounts;
      if (current) {
        const g = current.raw;
        epoch = g.epoch;
        if (current.taken < current.blocks.length) {
          position = g.start;
          groupIndex = g.index;
          skip = current.taken;
          carryNow = current.carryIn;
          at = g.countsAtStart;
        } else {
          position = g.end;
          groupIndex = g.index + 1;
          skip = 0;
          carryNow = remainder === 'carry' ? current.carryOut : new Int32Array(0);
          at = g.countsAtEnd;
        }
      } else {
        at = startCounts;
      }
      return {
        format: 'calm-data-pile-cursor',
        version: 1,
        config: { ...config },
        epoch,
        position: { ...position },
        groupIndex,
        skipBlocks: skip,
        carry: int32ToBase64(carryNow),
        shuffle: shuffleBuffer > 0 ? { rng: rng.getState(), buffer: buffer.map(int32ToBase64) } : null,
        delivered,
        counts: copyCounts(at),
      };
    },
    stats(): BlockStreamStats {
      const skippedLines = Object.values(counts.skipped).reduce((a, b) => a + (b ?? 0), 0);
      return {
        documents: counts.documents,
        skippedLines,
        skippedByReason: { ...counts.skipped },
        groupsRead: st.groupsRead,
        groupsTokenized: st.groupsTokenized,
        charsTokenized: st.charsTokenized,
        tokens: st.tokens,
        droppedTokens: st.droppedTokens,
        blocks: delivered,
        inputBytes: st.inputBytes,
        textBytes: st.textBytes,
        tokenizeWaitMs: st.tokenizeWaitMs,
        elapsedMs: Date.now() - t0,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await serial(async () => {
        if (filling) await filling;
        await reader.return(undefined);
      });
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const b = await stream.next();
        if (!b) return;
        yield b;
      }
    },
  };
  return stream;
}
