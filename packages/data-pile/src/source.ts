// Document sources: anything that yields documents in a fixed order and can restart from a
// saved position. JSONL shards (Node), the embedded corpus and in-memory arrays all implement
// `DocumentSource`, so packing, sharding and cursors work the same for every corpus.

import { fail, checkInt } from './internal/errors.js';
import { fnv1a } from './internal/hash.js';
import { PILE_MAX_WORDS, splitLongDocument } from './split.js';

/**
 * A position in a document source: where the next document comes from.
 * @see {@link arraySource}
 * @category Sources
 */
export interface SourcePosition {
  /** Index of the file in the source's file list (0 for single-file and in-memory sources). */
  file: number;
  /** 0-based index of the next record (line) in that file. */
  lineIndex: number;
  /** Byte offset of that record in the (decompressed) file; 0 for in-memory sources. */
  byte: number;
  /** How many parts of that record were already read (documents split as `process.py` does). */
  part: number;
}

/**
 * The start of a source.
 * @see {@link arraySource}
 * @category Sources
 */
export const SOURCE_START: Readonly<SourcePosition> = Object.freeze({ file: 0, lineIndex: 0, byte: 0, part: 0 });

/**
 * One document read from a source.
 * @see {@link arraySource}
 * @category Sources
 */
export interface SourceDocument {
  /** The text. */
  text: string;
  /** Where it came from: file index, 0-based record index and part index. */
  from: SourcePosition;
  /** The position just after this document. */
  next: SourcePosition;
}

/**
 * Why a line of a JSON-lines file could not be used.
 * @see {@link arraySource}
 * @category Sources
 */
export type LineIssueReason =
  | 'invalid-utf8'
  | 'invalid-json'
  | 'not-an-object'
  | 'missing-text'
  | 'text-not-string'
  | 'empty-line';

/**
 * A line that was skipped under the `'skip'` policy (under `'fail'` it becomes a `CalmError`
 * with the same fields in `details`).
 * @see {@link arraySource}
 * @category Sources
 */
export interface LineIssue {
  /** File path or name. */
  file: string;
  /** 1-based line number, as editors show it. */
  line: number;
  /** Byte offset of the line in the (decompressed) file. */
  byte: number;
  /** The kind of problem. */
  reason: LineIssueReason;
  /** A human-readable description. */
  message: string;
}

/**
 * What to do with a malformed line: throw a `CalmError` (`'fail'`) or skip it, count it and
 * report it through `onSkip` (`'skip'`). Nothing is ever dropped silently.
 * @see {@link arraySource}
 * @category Sources
 */
export type LineErrorPolicy = 'fail' | 'skip';

/**
 * Callbacks a source calls while reading.
 * @see {@link arraySource}
 * @category Sources
 */
export interface SourceHooks {
  /**
   * Called for every skipped line (policy `'skip'`).
   * @param issue - The line and the reason.
   */
  onSkip?(issue: LineIssue): void;
  /**
   * Called as input is consumed, for throughput figures.
   * @param inputBytes - Bytes read from storage (compressed bytes for `.zst`).
   * @param textBytes - Bytes of (decompressed) JSON lines.
   */
  onBytes?(inputBytes: number, textBytes: number): void;
}

/**
 * An ordered, restartable collection of documents.
 *
 * @remarks
 * `documents(from)` must yield the same documents in the same order every time, starting exactly
 * at `from` (a `next` position it yielded earlier, or the start). That is what makes cursors
 * resumable and sharding deterministic.
 * @see {@link arraySource}
 * @category Sources
 */
export interface DocumentSource {
  /** Identifies the content (file names and sizes, or a hash of the texts); stored in cursors. */
  readonly id: string;
  /**
   * Iterates documents from a position.
   * @param from - Where to start; default the beginning.
   * @param hooks - Skip and progress callbacks.
   * @returns The documents, in order.
   */
  documents(from?: SourcePosition, hooks?: SourceHooks): AsyncIterable<SourceDocument>;
}

/**
 * Checks that a value is a well-formed {@link SourcePosition}.
 * @param p - The value (e.g. from a parsed cursor).
 * @param what - Name used in error messages.
 * @returns The position.
 * @throws `CalmError` `FORMAT_ERROR` when a field is missing or not a non-negative integer.
 * @see {@link arraySource}
 * @category Sources
 */
export function checkSourcePosition(p: unknown, what = 'position'): SourcePosition {
  const o = p as Record<string, unknown> | null;
  const ok =
    o !== null &&
    typeof o === 'object' &&
    (['file', 'lineIndex', 'byte', 'part'] as const).every((k) => Number.isSafeInteger(o[k]) && (o[k] as number) >= 0);
  if (!ok)
    fail(
      'FORMAT_ERROR',
      `${what} must be { file, lineIndex, byte, part } of non-negative integers, got ${JSON.stringify(p)}.`,
    );
  const q = o as unknown as SourcePosition;
  return { file: q.file, lineIndex: q.lineIndex, byte: q.byte, part: q.part };
}

/**
 * How a source splits long records: `false` (never), `true` (at {@link PILE_MAX_WORDS} pieces,
 * the official Pile preprocessing) or a number of pieces.
 * @see {@link arraySource}
 * @category Sources
 */
export type SplitOption = boolean | number;

/** Resolves a {@link SplitOption} to a piece count (`Infinity` when splitting is off). */
export function resolveSplit(split: SplitOption | undefined, dflt: SplitOption): number {
  const s = split ?? dflt;
  if (s === false) return Infinity;
  if (s === true) return PILE_MAX_WORDS;
  return checkInt(s, 'splitLongDocuments', 1);
}

/** The parts of one record from part `fromPart` on, each with its part index. */
export function recordParts(text: string, maxWords: number, fromPart: number): string[] {
  const parts = maxWords === Infinity ? [text] : splitLongDocument(text, maxWords);
  return fromPart === 0 ? parts : parts.slice(fromPart);
}

/**
 * Options of {@link arraySource}.
 * @category Sources
 */
export interface ArraySourceOptions {
  /** Identifier stored in cursors; default a hash of the texts. */
  id?: string;
  /**
   * Split long documents as `process.py` does.
   * @defaultValue `false`
   */
  splitLongDocuments?: SplitOption;
}

/**
 * A {@link DocumentSource} over texts in memory.
 *
 * @param texts - The documents, in order.
 * @param options - Identifier and splitting.
 * @returns The source.
 * @throws `CalmError` `INVALID_ARGUMENT` when an entry is not a string.
 * @example
 * {@includeCode ../test/examples.test.ts#array-source}
 * @category Sources
 */
export function arraySource(texts: readonly string[], options: ArraySourceOptions = {}): DocumentSource {
  texts.forEach((t, i) => {
    if (typeof t !== 'string') fail('INVALID_ARGUMENT', `arraySource: texts[${i}] is ${typeof t}, not a string.`);
  });
  const maxWords = resolveSplit(options.splitLongDocuments, false);
  let id = options.id;
  if (id === undefined) {
    let h = 'n' + texts.length;
    for (const t of texts) h = fnv1a(t, parseInt(fnv1a(h), 16));
    id = `array:${texts.length}:${h}:${maxWords}`;
  }
  const frozen = texts.slice();
  return {
    id,
    async *documents(from: SourcePosition = SOURCE_START) {
      checkSourcePosition(from);
      if (from.file !== 0) fail('INVALID_ARGUMENT', `arraySource has one file; position.file is ${from.file}.`);
      for (let i = from.lineIndex; i < frozen.length; i++) {
        const first = i === from.lineIndex ? from.part : 0;
        const parts = recordParts(frozen[i]!, maxWords, first);
        for (let k = 0; k < parts.length; k++) {
          const part = first + k;
          const last = k === parts.length - 1;
          yield {
            text: parts[k]!,
            from: { file: 0, lineIndex: i, byte: 0, part },
            next: last
              ? { file: 0, lineIndex: i + 1, byte: 0, part: 0 }
              : { file: 0, lineIndex: i, byte: 0, part: part + 1 },
          };
        }
      }
    },
  };
}
