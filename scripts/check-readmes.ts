// README rule checker. A package README is one screen: what the package is, how to install it, a
// quick start, links. The quick start must be tested code, so for every public package:
//  (a) README.md has at most MAX_README_LINES lines;
//  (b) its first ```ts block equals the `// #region readme` … `// #endregion readme` of the
//      package's test/examples.test.ts, modulo indentation: both sides are dedented and stripped of
//      trailing spaces and of blank lines at either end, and a region line `// import …` (tests
//      import from ../src, so the region shows its imports as comments) matches the README line
//      `import …`.
// Usage: node --import tsx scripts/check-readmes.ts [packages/<pkg> ...]  (default: public packages)
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicPackageDirs } from './check-docs.ts';

/** The line budget of a package README (one screen). */
export const MAX_README_LINES = 60;
/** Where the README's quick start lives, relative to the package folder. */
export const EXAMPLES_FILE = join('test', 'examples.test.ts');
/** The region of {@link EXAMPLES_FILE} that the README shows. */
export const README_REGION = 'readme';

/** One broken rule, printed as `README: problem`. */
export interface ReadmeProblem {
  /** The README's path relative to the checked root (or as given). */
  readme: string;
  /** What is wrong, naming the line where it helps. */
  problem: string;
}

const lines = (text: string): string[] => text.replace(/\r\n?/g, '\n').split('\n');

/** Drops blank lines at both ends, trailing spaces, and the indentation all lines share. */
export function normalizeCode(code: readonly string[]): string[] {
  const trimmed = code.map((l) => l.replace(/\s+$/, ''));
  while (trimmed.length > 0 && trimmed[0] === '') trimmed.shift();
  while (trimmed.length > 0 && trimmed.at(-1) === '') trimmed.pop();
  const indent = Math.min(...trimmed.filter((l) => l !== '').map((l) => /^ */.exec(l)![0].length));
  return trimmed.map((l) => l.slice(Number.isFinite(indent) ? indent : 0));
}

/** The first fenced ```ts (or ```typescript) block of a Markdown text, or undefined. */
export function firstTsBlock(markdown: string): string[] | undefined {
  const all = lines(markdown);
  const start = all.findIndex((l) => /^\s*```(ts|typescript)\s*$/.test(l));
  if (start < 0) return undefined;
  const end = all.findIndex((l, i) => i > start && /^\s*```\s*$/.test(l));
  return end < 0 ? undefined : all.slice(start + 1, end);
}

/** The lines between `// #region <name>` and `// #endregion <name>`, or undefined. */
export function regionOf(source: string, name: string): string[] | undefined {
  const all = lines(source);
  const start = all.findIndex((l) => l.trim() === `// #region ${name}`);
  if (start < 0) return undefined;
  const end = all.findIndex((l, i) => i > start && l.trim() === `// #endregion ${name}`);
  return end < 0 ? undefined : all.slice(start + 1, end);
}

/** A region as the README shows it: normalised, with `// import …` lines uncommented. */
export function regionAsReadme(region: readonly string[]): string[] {
  return normalizeCode(region).map((l) => l.replace(/^(\s*)\/\/ (import\b.*)$/, '$1$2'));
}

/**
 * Checks one package folder: the README's length and its first TypeScript block against the
 * tested region.
 *
 * @param dir - The package folder (with README.md and test/examples.test.ts).
 * @param label - How to name the README in problems (default: its path).
 * @returns The problems, empty when the README follows the rule.
 */
export function checkReadme(dir: string, label = join(dir, 'README.md')): ReadmeProblem[] {
  const readmePath = join(dir, 'README.md');
  const report = (problem: string): ReadmeProblem => ({ readme: label, problem });
  if (!existsSync(readmePath)) return [report('missing (every public package has a README)')];
  const readme = readFileSync(readmePath, 'utf8');
  const problems: ReadmeProblem[] = [];
  const count = lines(readme.replace(/\n$/, '')).length;
  if (count > MAX_README_LINES)
    problems.push(
      report(
        `${count} lines, over the budget of ${MAX_README_LINES} (move concepts and recipes to the guide, numbers to bench/BASELINES.md)`,
      ),
    );
  const block = firstTsBlock(readme);
  const examplesPath = join(dir, EXAMPLES_FILE);
  const region = existsSync(examplesPath) ? regionOf(readFileSync(examplesPath, 'utf8'), README_REGION) : undefined;
  if (region === undefined) {
    problems.push(report(`no \`// #region ${README_REGION}\` in ${EXAMPLES_FILE} (the quick start must be tested)`));
    return problems;
  }
  if (block === undefined) {
    problems.push(report(`no \`\`\`ts block (the quick start: a copy of ${EXAMPLES_FILE}#${README_REGION})`));
    return problems;
  }
  const want = regionAsReadme(region);
  const got = normalizeCode(block);
  const at = want.findIndex((l, i) => l !== got[i]);
  const differs = at >= 0 ? at : want.length !== got.length ? want.length : -1;
  if (differs >= 0) {
    const show = (l: string | undefined) => (l === undefined ? '(nothing)' : JSON.stringify(l));
    problems.push(
      report(
        `the first \`\`\`ts block differs from ${EXAMPLES_FILE}#${README_REGION} at its line ${differs + 1}: README ${show(got[differs])}, test ${show(want[differs])}`,
      ),
    );
  }
  return problems;
}

/**
 * Checks package folders.
 * @param dirs - Package folders.
 * @param root - Paths in problems are relative to it.
 * @returns Every problem, in folder order.
 */
export function checkReadmes(dirs: readonly string[], root: string): ReadmeProblem[] {
  return dirs.flatMap((d) => checkReadme(d, relative(root, join(d, 'README.md'))));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(import.meta.url), '..', '..');
  const args = process.argv.slice(2);
  const dirs = args.length > 0 ? args.map((a) => resolve(a)) : publicPackageDirs(root);
  const problems = checkReadmes(dirs, root);
  for (const p of problems) console.error(`${p.readme}: ${p.problem}`);
  if (problems.length > 0) {
    console.error(`README rule FAILED: ${problems.length} problem(s) in ${dirs.length} package(s)`);
    process.exit(1);
  }
  console.log(
    `README rule passed: ${dirs.length} package(s), each README within ${MAX_README_LINES} lines with its quick start equal to ${EXAMPLES_FILE}#${README_REGION}`,
  );
}
