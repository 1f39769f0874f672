// JSON-lines content: records (one JSON value per line, e.g. a training run's metrics log) and texts
// (one `{"text": ...}` object per line: the official evaluation set, the Pile shards). The one parser
// of a line and of a whole file's content, with errors that name the file and the line.
// Browser-safe; reading a file is `readJsonl` / `readJsonlTexts` in `@calm/core/node`.

import { CalmError } from './errors.js';

/**
 * Why a JSON line holds no usable text.
 *
 * @remarks
 * - `invalid-utf8`: the line's bytes are not UTF-8.
 * - `invalid-json`: the line is not JSON.
 * - `not-an-object`: the line is JSON but not an object.
 * - `missing-text`: the object has no text field.
 * - `text-not-string`: the text field is not a string.
 *
 * @see {@link jsonlLineText}
 * @category JSON lines
 */
export type JsonlLineIssue = 'invalid-utf8' | 'invalid-json' | 'not-an-object' | 'missing-text' | 'text-not-string';

/**
 * What {@link jsonlLineText} returns for a line without usable text.
 * @category JSON lines
 */
export interface JsonlLineProblem {
  /** The kind of problem. */
  readonly reason: JsonlLineIssue;
  /** A short description, e.g. `no "text" field` or `invalid JSON (Unexpected token …)`. */
  readonly message: string;
}

/**
 * Reads the text field of one JSON line.
 *
 * @param line - One line, without its newline (surrounding white space is allowed).
 * @param field - The field holding the text. @defaultValue `'text'`
 * @returns The text, or a {@link JsonlLineProblem} saying why the line has none; other fields are
 *   ignored.
 * @example
 * {@includeCode ../test/jsonl.test.ts#line-text}
 * @category JSON lines
 */
export function jsonlLineText(line: string, field = 'text'): string | JsonlLineProblem {
  const parsed = parseJsonLine(line);
  if (!('value' in parsed)) return parsed;
  const v = parsed.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    return { reason: 'not-an-object', message: 'the line is JSON but not an object' };
  if (!Object.hasOwn(v, field)) return { reason: 'missing-text', message: `no "${field}" field` };
  const t = (v as Record<string, unknown>)[field];
  if (typeof t !== 'string')
    return { reason: 'text-not-string', message: `"${field}" is ${t === null ? 'null' : typeof t}, not a string` };
  return t;
}

/** Parses one line as JSON. */
function parseJsonLine(line: string): { value: unknown } | JsonlLineProblem {
  try {
    return { value: JSON.parse(line) as unknown };
  } catch (e) {
    return { reason: 'invalid-json', message: `invalid JSON (${(e as Error).message})` };
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The lines of UTF-8 bytes; on invalid UTF-8, the 0-based index of the first bad line instead. */
function decodeLines(bytes: Uint8Array): string[] | number {
  try {
    return UTF8.decode(bytes).split('\n');
  } catch {
    let line = 0;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 10) continue;
      try {
        UTF8.decode(bytes.subarray(start, i));
      } catch {
        return line;
      }
      line++;
      start = i + 1;
    }
    return line;
  }
}

/**
 * Applies `parse` to every non-blank line of JSON-lines content (a string, or UTF-8 bytes checked
 * strictly), throwing one FORMAT_ERROR naming `source:line` for the first line it rejects.
 */
function mapLines<T>(
  content: string | Uint8Array,
  source: string,
  expected: string,
  parse: (line: string) => { value: T } | JsonlLineProblem,
): T[] {
  const bad = (index: number, problem: JsonlLineProblem): never => {
    throw new CalmError('FORMAT_ERROR', `${source}:${index + 1}: ${problem.message}; expected ${expected}.`, {
      source: '@calm/core',
      details: { file: source, line: index + 1, reason: problem.reason },
    });
  };
  const lines = typeof content === 'string' ? content.split('\n') : decodeLines(content);
  if (typeof lines === 'number') return bad(lines, { reason: 'invalid-utf8', message: 'invalid UTF-8' });
  const out: T[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const parsed = parse(line);
    if ('value' in parsed) out.push(parsed.value);
    else bad(i, parsed);
  }
  return out;
}

/**
 * Reads the text field of every line of JSON-lines content, in order; blank lines are skipped.
 *
 * @param content - The content: a string, or UTF-8 bytes (checked strictly, so a file with
 *   invalid UTF-8 is reported, never silently repaired).
 * @param source - Names the content in messages (a file path). @defaultValue `'input'`
 * @param field - The field holding each document's text. @defaultValue `'text'`
 * @returns The texts, in line order.
 * @throws `CalmError` `FORMAT_ERROR` for the first line that is not UTF-8, not JSON, not an
 *   object or without a string field, naming it as `source:line`; `details` is
 *   `{ file, line, reason }` with a `JsonlLineIssue`.
 * @example
 * {@includeCode ../test/jsonl.test.ts#parse-texts}
 * @category JSON lines
 */
export function parseJsonlTexts(content: string | Uint8Array, source = 'input', field = 'text'): string[] {
  return mapLines(content, source, `one {"${field}": "..."} object per line`, (line) => {
    const text = jsonlLineText(line, field);
    return typeof text === 'string' ? { value: text } : text;
  });
}

/**
 * Parses every line of JSON-lines content as one JSON value (a record), in order; blank lines are
 * skipped.
 *
 * @param content - The content: a string, or UTF-8 bytes (checked strictly).
 * @param source - Names the content in messages (a file path). @defaultValue `'input'`
 * @returns The values, in line order (validate them before use).
 * @throws `CalmError` `FORMAT_ERROR` for the first line that is not UTF-8 or not JSON, naming it as
 *   `source:line`; `details` is `{ file, line, reason }`.
 * @example
 * {@includeCode ../test/jsonl.test.ts#parse-records}
 * @category JSON lines
 */
export function parseJsonl(content: string | Uint8Array, source = 'input'): unknown[] {
  return mapLines(content, source, 'one JSON value per line', parseJsonLine);
}
