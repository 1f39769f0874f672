// The README rule checker on tiny packages written to a temporary folder: one that follows the
// rule (indentation and commented imports in the region do not count), and one per way to break
// it; then the repository's own READMEs, which must pass.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicPackageDirs } from '../check-docs.ts';
import { MAX_README_LINES, checkReadmes, regionAsReadme } from '../check-readmes.ts';

const repo = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'calm-readmes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const examples = (region: string[]): string =>
  [
    "import { describe, expect, it } from 'vitest';",
    "import { addOne } from '../src/index.js';",
    '',
    "describe('examples', () => {",
    "  it('adds one', () => {",
    '    // #region readme',
    ...region.map((l) => (l === '' ? '' : `    ${l}`)),
    '    // #endregion readme',
    '    expect(y).toBe(2);',
    '  });',
    '});',
    '',
  ].join('\n');
const readme = (code: string[], extra: string[] = []): string =>
  [
    '# @fixture/pkg',
    '',
    'What it is.',
    '',
    '```sh',
    'npm install @fixture/pkg',
    '```',
    '',
    '```ts',
    ...code,
    '```',
    ...extra,
    '',
  ].join('\n');

const region = ["// import { addOne } from '@fixture/pkg';", '', 'const y = addOne(1); // 2'];
const shown = ["import { addOne } from '@fixture/pkg';", '', 'const y = addOne(1); // 2'];

const packages: Record<string, Record<string, string>> = {
  good: { 'README.md': readme(shown), 'test/examples.test.ts': examples(region) },
  // The README shows other code than the test runs.
  stale: {
    'README.md': readme([...shown.slice(0, 2), 'const y = addOne(2);']),
    'test/examples.test.ts': examples(region),
  },
  // The README shows only part of the region.
  short: { 'README.md': readme(shown.slice(0, 1)), 'test/examples.test.ts': examples(region) },
  // Over the line budget (13 lines of README around the code, plus the extra ones).
  long: {
    'README.md': readme(
      shown,
      Array.from({ length: MAX_README_LINES }, (_, i) => `Line ${i}.`),
    ),
    'test/examples.test.ts': examples(region),
  },
  // No tested region.
  untested: { 'README.md': readme(shown), 'test/examples.test.ts': "import { it } from 'vitest';\n" },
  // A region, but no TypeScript block to compare it with.
  'no-code': {
    'README.md': '# @fixture/pkg\n\n```sh\nnpm install @fixture/pkg\n```\n',
    'test/examples.test.ts': examples(region),
  },
  // No README at all.
  missing: { 'test/examples.test.ts': examples(region) },
};

beforeAll(() => {
  for (const [pkg, files] of Object.entries(packages))
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(tmp, pkg, path)), { recursive: true });
      writeFileSync(join(tmp, pkg, path), text);
    }
});

describe('check-readmes', () => {
  it('shows a region as the README does: dedented, imports uncommented', () => {
    expect(
      regionAsReadme(['', "    // import { a } from 'x';", '    a(); // a comment stays', '      b();', '']),
    ).toEqual(["import { a } from 'x';", 'a(); // a comment stays', '  b();']);
  });

  it('passes a README whose first ts block is the tested region, and flags every broken rule', () => {
    const problems = checkReadmes(
      Object.keys(packages).map((p) => join(tmp, p)),
      tmp,
    ).map((p) => `${p.readme}: ${p.problem}`);
    expect(problems).toEqual([
      'stale/README.md: the first ```ts block differs from test/examples.test.ts#readme at its line 3: README "const y = addOne(2);", test "const y = addOne(1); // 2"',
      'short/README.md: the first ```ts block differs from test/examples.test.ts#readme at its line 2: README (nothing), test ""',
      `long/README.md: ${MAX_README_LINES + 13} lines, over the budget of ${MAX_README_LINES} (move concepts and recipes to the guide, numbers to bench/BASELINES.md)`,
      'untested/README.md: no `// #region readme` in test/examples.test.ts (the quick start must be tested)',
      'no-code/README.md: no ```ts block (the quick start: a copy of test/examples.test.ts#readme)',
      'missing/README.md: missing (every public package has a README)',
    ]);
  });

  it("passes the repository's package READMEs", () => {
    expect(checkReadmes(publicPackageDirs(repo), repo)).toEqual([]);
  });
});
