// JSON-lines text files (one `{"text": ...}` object per line: the official evaluation set, the Pile
// shards): the one parser of a line and of a whole file's content, with errors that name the file
// and the line. Browser-safe; reading a file is `readJsonlTexts` in `@calm/core/node`.

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
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { reason: 'invalid-json', message: `invalid JSON (${(e as Error).message})` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    return { reason: 'not-an-object', message: 'the line is JSON but not an object' };
  if (!Object.hasOwn(v, field)) return { reason: 'missing-text', message: `no "${field}" field` };
  const t = (v as Record<string, unknown>)[field];
  if (typeof t !== 'string')
    return { reason: 'text-not-string', message: `"${field}" is ${t === null ? 'null' : typeof t}, not a string` };
  return t;
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
  const bad = (index: number, problem: JsonlLineProblem): never => {
    throw new CalmError(
      'FORMAT_ERROR',
      `${source}:${index + 1}: ${problem.message}; expected one {"${field}": "..."} object per line.`,
      { source: '@calm/core', details: { file: source, line: index + 1, reason: problem.reason } },
    );
  };
  const lines = typeof content === 'string' ? content.split('\n') : decodeLines(content);
  if (typeof lines === 'number') return bad(lines, { reason: 'invalid-utf8', message: 'invalid UTF-8' });
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const text = jsonlLineText(line, field);
    if (typeof text !== 'string') bad(i, text);
    else out.push(text);
  }
  return out;
}
