// JSON-lines texts: the one line parser, the whole-content parser (strings and strict UTF-8 bytes)
// and the file reader, with errors naming file and line. The regions are the API examples.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCalmError, jsonlLineText, parseJsonl, parseJsonlTexts } from '../src/index.js';
import { readJsonl, readJsonlTexts } from '../src/node.js';

const tmp = mkdtempSync(join(tmpdir(), 'calm-core-jsonl-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function errorOf(f: () => unknown): { code: string; message: string; details: Record<string, unknown> } {
  try {
    f();
  } catch (e) {
    expect(isCalmError(e)).toBe(true);
    return e as { code: string; message: string; details: Record<string, unknown> };
  }
  throw new Error('expected an error');
}

describe('jsonlLineText', () => {
  it('returns the text or says why there is none', () => {
    // #region line-text
    // import { jsonlLineText } from '@calm/core';
    jsonlLineText('{"text": "A document.", "meta": {"pile_set_name": "Pile-CC"}}'); // 'A document.'
    jsonlLineText('{"body": "x"}', 'body'); // 'x'
    jsonlLineText('{"meta": {}}'); // { reason: 'missing-text', message: 'no "text" field' }
    // #endregion line-text
    expect(jsonlLineText('{"text": "A document.", "meta": {"pile_set_name": "Pile-CC"}}')).toBe('A document.');
    expect(jsonlLineText('{"body": "x"}', 'body')).toBe('x');
    expect(jsonlLineText('{"meta": {}}')).toEqual({ reason: 'missing-text', message: 'no "text" field' });
    expect(jsonlLineText('{oops')).toMatchObject({
      reason: 'invalid-json',
      message: expect.stringMatching(/^invalid JSON \(/),
    });
    expect(jsonlLineText('[1]')).toEqual({ reason: 'not-an-object', message: 'the line is JSON but not an object' });
    expect(jsonlLineText('null')).toMatchObject({ reason: 'not-an-object' });
    expect(jsonlLineText('{"text": null}')).toEqual({
      reason: 'text-not-string',
      message: '"text" is null, not a string',
    });
    expect(jsonlLineText('{"text": 3}')).toMatchObject({
      reason: 'text-not-string',
      message: '"text" is number, not a string',
    });
    expect(jsonlLineText('{}', 'toString')).toMatchObject({ reason: 'missing-text' });
  });
});

describe('parseJsonlTexts', () => {
  it('reads every line in order, skipping blank lines', () => {
    // #region parse-texts
    // import { parseJsonlTexts } from '@calm/core';
    const texts = parseJsonlTexts('{"text": "first document"}\n\n{"text": "second document"}\n'); // ['first document', 'second document']
    // #endregion parse-texts
    expect(texts).toEqual(['first document', 'second document']);
    expect(parseJsonlTexts('{"text": "a"}\r\n{"text": "b"}\r\n')).toEqual(['a', 'b']);
    expect(parseJsonlTexts(new TextEncoder().encode('{"text": "é"}\n{"text": "b"}'))).toEqual(['é', 'b']);
  });

  it('names the file, the line and the reason of the first bad line', () => {
    const json = errorOf(() => parseJsonlTexts('{"text":"a"}\n{oops', 'f.jsonl'));
    expect(json.code).toBe('FORMAT_ERROR');
    expect(json.message).toMatch(
      /^\[@calm\/core\] f\.jsonl:2: invalid JSON \(.*\); expected one \{"text": "\.\.\."\} object per line\.$/,
    );
    expect(json.details).toEqual({ file: 'f.jsonl', line: 2, reason: 'invalid-json' });
    const field = errorOf(() => parseJsonlTexts('{"body":"a"}', 'f.jsonl'));
    expect(field.message).toContain('f.jsonl:1: no "text" field');
    const utf8 = new Uint8Array([
      ...new TextEncoder().encode('{"text": "a"}\n{"text": "'),
      0xff,
      ...new TextEncoder().encode('"}\n'),
    ]);
    expect(errorOf(() => parseJsonlTexts(utf8, 'f.jsonl')).details).toEqual({
      file: 'f.jsonl',
      line: 2,
      reason: 'invalid-utf8',
    });
  });
});

describe('readJsonlTexts', () => {
  it('reads a JSON-lines file', async () => {
    const dir = tmp;
    writeFileSync(join(dir, 'eval.jsonl'), '{"text": "one"}\n{"text": "two", "id": 2}\n');
    // #region read-texts
    // import { readJsonlTexts } from '@calm/core/node';
    // dir: a folder with eval.jsonl, one {"text": ...} object per line
    const docs = await readJsonlTexts(join(dir, 'eval.jsonl')); // ['one', 'two']
    // #endregion read-texts
    expect(docs).toEqual(['one', 'two']);
  });

  it('says IO_ERROR for a missing file and FORMAT_ERROR for a bad line, naming the file', async () => {
    await expect(readJsonlTexts(join(tmp, 'nope.jsonl'))).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: expect.stringContaining('nope.jsonl'),
    });
    writeFileSync(join(tmp, 'bad.jsonl'), '{"text": "one"}\n{"text": 2}\n');
    await expect(readJsonlTexts(join(tmp, 'bad.jsonl'))).rejects.toMatchObject({
      code: 'FORMAT_ERROR',
      details: { file: join(tmp, 'bad.jsonl'), line: 2, reason: 'text-not-string' },
    });
  });
});

describe('parseJsonl and readJsonl', () => {
  it('parse one JSON value per line, skipping blank lines', () => {
    // #region parse-records
    // import { parseJsonl } from '@calm/core';
    const records = parseJsonl('{"step": 1, "loss": 2.5}\n\n{"step": 2, "loss": 2.1}\n'); // [{ step: 1, loss: 2.5 }, { step: 2, loss: 2.1 }]
    // #endregion parse-records
    expect(records).toEqual([
      { step: 1, loss: 2.5 },
      { step: 2, loss: 2.1 },
    ]);
    expect(parseJsonl('1\n"x"\n[2]')).toEqual([1, 'x', [2]]);
    expect(parseJsonl('{"reason": "invalid-json", "message": "a record like a problem"}')).toEqual([
      { reason: 'invalid-json', message: 'a record like a problem' },
    ]);
    const e = errorOf(() => parseJsonl('{"step": 1}\n{"step": 2', 'metrics.jsonl'));
    expect(e.message).toMatch(/metrics\.jsonl:2: invalid JSON \(.*\); expected one JSON value per line\.$/);
    expect(e.details).toEqual({ file: 'metrics.jsonl', line: 2, reason: 'invalid-json' });
  });

  it('read a JSON-lines file of records', async () => {
    const dir = tmp;
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step": 1, "loss": 2.5}\n{"step": 2, "loss": 2.1}\n');
    // #region read-records
    // import { readJsonl } from '@calm/core/node';
    // dir: a run folder with metrics.jsonl, one record per line
    const records = await readJsonl(join(dir, 'metrics.jsonl')); // [{ step: 1, loss: 2.5 }, { step: 2, loss: 2.1 }]
    // #endregion read-records
    expect(records).toEqual([
      { step: 1, loss: 2.5 },
      { step: 2, loss: 2.1 },
    ]);
    await expect(readJsonl(join(tmp, 'nope.jsonl'))).rejects.toMatchObject({ code: 'IO_ERROR' });
  });
});
