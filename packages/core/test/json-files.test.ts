// The one JSON-file reader: parsed values, and errors that name the file, the fix and the right code.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCalmError } from '../src/index.js';
import { readJsonFile } from '../src/node.js';

const tmp = mkdtempSync(join(tmpdir(), 'calm-core-json-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('readJsonFile', () => {
  const good = join(tmp, 'good.json');
  const bad = join(tmp, 'bad.json');
  writeFileSync(good, '{"a": [1, 2]}');
  writeFileSync(bad, '{"a": ');

  it('parses a JSON file', async () => {
    expect(await readJsonFile(good)).toEqual({ a: [1, 2] });
  });

  it('says IO_ERROR for a missing file and FORMAT_ERROR for broken JSON, naming the file and the fix', async () => {
    const missing = await errorOf(readJsonFile(join(tmp, 'nope.json'), 'delete the run to restart'));
    expect(isCalmError(missing, 'IO_ERROR')).toBe(true);
    expect((missing as Error).message).toMatch(
      /^\[@calm\/core\] cannot read .*nope\.json: .*; delete the run to restart$/,
    );
    const broken = await errorOf(readJsonFile(bad, 'delete the run to restart'));
    expect(isCalmError(broken, 'FORMAT_ERROR')).toBe(true);
    expect((broken as Error).message).toMatch(/bad\.json is not valid JSON: .*; delete the run to restart$/);
  });

  it('says INVALID_CONFIG for a hand-written config that is not JSON, when asked to', async () => {
    const e = await errorOf(readJsonFile(bad, undefined, { notJsonCode: 'INVALID_CONFIG' }));
    expect(isCalmError(e, 'INVALID_CONFIG')).toBe(true);
    expect(
      isCalmError(
        await errorOf(readJsonFile(join(tmp, 'nope.json'), undefined, { notJsonCode: 'INVALID_CONFIG' })),
        'IO_ERROR',
      ),
    ).toBe(true);
  });
});
