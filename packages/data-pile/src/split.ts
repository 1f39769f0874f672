// The Pile preprocessing of the official `data/process.py`: drop `meta` and cut documents longer
// than 10,000 space-separated pieces into consecutive parts. Pure string work, browser-safe.

import { checkInt } from './internal/errors.js';

/**
 * The official maximum number of space-separated pieces per document (`process.py`, `max_words`).
 * @see {@link splitLongDocument}
 * @category Preprocessing
 */
export const PILE_MAX_WORDS = 10_000;

/**
 * Splits a document exactly as the official `data/process.py` does.
 *
 * @remarks
 * The text is split on the single space character `' '` (not on whitespace: newlines and tabs
 * stay inside pieces, and consecutive spaces produce empty pieces). While more than `maxWords`
 * pieces remain, the first `maxWords` are re-joined with `' '` and emitted; the remainder is
 * emitted last. Joining the parts with `' '` gives back the input exactly. Runs in one pass over
 * the string with `indexOf`, without building the piece array.
 *
 * @param text - The document text.
 * @param maxWords - Pieces per part (≥ 1); default {@link PILE_MAX_WORDS}.
 * @returns The parts, in order (at least one, possibly empty strings).
 * @throws `CalmError` `INVALID_ARGUMENT` when `maxWords` is not a positive integer.
 * @example
 * {@includeCode ../test/examples.test.ts#split-long-document}
 * @category Preprocessing
 */
export function splitLongDocument(text: string, maxWords: number = PILE_MAX_WORDS): string[] {
  checkInt(maxWords, 'splitLongDocument: maxWords', 1);
  const parts: string[] = [];
  let start = 0;
  for (;;) {
    // Find the end of the maxWords-th piece: the maxWords-th space after `start`.
    let pos = start - 1;
    let found = 0;
    while (found < maxWords) {
      pos = text.indexOf(' ', pos + 1);
      if (pos < 0) break;
      found++;
    }
    // More than maxWords pieces remain exactly when maxWords spaces were found.
    if (found < maxWords) break;
    parts.push(text.slice(start, pos));
    start = pos + 1;
  }
  parts.push(start === 0 ? text : text.slice(start));
  return parts;
}
