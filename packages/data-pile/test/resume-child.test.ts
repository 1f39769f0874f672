// Resume across processes: a cursor saved here restores in a freshly spawned Node process.
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRng } from '@calm/core';
import { createBlockStream } from '../src/index.js';
import { jsonlSource, loadTiktokenTokenizer } from '../src/node.js';
import { FIXTURES, LLAMA3_MODEL, drain, tempDir } from './helpers.js';

const run = promisify(execFile);
const PACKAGE_DIR = new URL('..', import.meta.url).pathname;

describe('resume in a fresh process', () => {
  it('a cursor saved after block k restores in a child process to the identical next blocks', async () => {
    const tokenizer = await loadTiktokenTokenizer(LLAMA3_MODEL);
    const options = { blockSize: 256, groupSize: 12, shuffleBuffer: 8 };
    const source = jsonlSource(join(FIXTURES, 'pile-sample.jsonl.zst'));
    const k = 23;
    const n = 40;
    const stream = createBlockStream(source, tokenizer, { ...options, rng: createRng(0) });
    await drain(stream, k);
    const cursor = stream.cursor();
    const expected = await drain(stream, n);
    await stream.close();
    expect(expected).toHaveLength(n);
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, 'checkpoint.json');
      writeFileSync(file, JSON.stringify({ options, cursor }));
      const { stdout } = await run(
        process.execPath,
        ['--conditions=@calm/source', '--import', 'tsx', 'test/fixtures/resume-child.ts', file, String(n)],
        {
          cwd: PACKAGE_DIR,
          maxBuffer: 64 << 20,
        },
      );
      expect(JSON.parse(stdout)).toEqual(expected);
    } finally {
      tmp.cleanup();
    }
  });
});
