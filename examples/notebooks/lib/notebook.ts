// Helpers shared by the example notebooks, so each example runs unchanged as a notebook cell (tslab
// kernel) and as a plain script (tsx): where the repository and the shared data are, where plots
// go, and how rich output (tables, images) is shown in either mode.
//
// Written for two compilers at once: the repo's TypeScript (strict) and tslab's TypeScript 5.0
// (node10 resolution, CommonJS output). Hence no `import.meta`, and ESM-only packages are loaded
// through `importEsm`.

import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** True inside the tslab Jupyter kernel, false when the example runs as a plain script. */
export const IN_NOTEBOOK: boolean = process.argv.includes('kernel') && process.argv.some((a) => /tslab/.test(a));

/**
 * The folder holding the notebooks — examples/notebooks, or the folder that
 * `scripts/notebooks.sh --no-tfjs` deploys them to: the kernel's working directory, or the running
 * script's folder.
 */
export function notebooksDir(): string {
  if (IN_NOTEBOOK) return process.cwd();
  const script = process.argv[1];
  return script ? dirname(resolve(script)) : process.cwd();
}

/** The repository root (the folder holding pnpm-workspace.yaml), found by walking up from the notebooks folder. */
export function repoRoot(): string {
  let dir = notebooksDir();
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new Error(
        `cannot find the repository root above ${notebooksDir()}; run the example from a clone of the repository, or set CALM_DATA_DIR.`,
      );
    dir = up;
  }
}

/**
 * Path of a file in the shared data folder: `$CALM_DATA_DIR/<name>` when the variable is set, else
 * `../shared/data/<name>` relative to the repository root. The data is read in place, never copied.
 * @param name - File name, e.g. `wikitext-103-document-test.jsonl`.
 * @returns The absolute path (checked to exist).
 */
export function sharedDataPath(name: string): string {
  const dir = process.env['CALM_DATA_DIR'] ?? join(repoRoot(), '..', 'shared', 'data');
  const path = resolve(dir, name);
  if (!existsSync(path)) {
    throw new Error(`${path} does not exist: put ${name} there, or set CALM_DATA_DIR to the folder that holds it.`);
  }
  return path;
}

/**
 * Path of an output file under out/ beside the notebooks (examples/notebooks/out/ is git-ignored);
 * the folder is created.
 * @param name - File name.
 * @returns The absolute path.
 */
export function outPath(name: string): string {
  const dir = join(notebooksDir(), 'out');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

/**
 * A path relative to the current directory, for messages.
 * @param path - Absolute path.
 * @returns The relative path.
 */
export function shortPath(path: string): string {
  return relative(process.cwd(), path) || '.';
}

const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

/**
 * Imports an ES module by name, also from the tslab kernel (which compiles cells to CommonJS, and
 * `require` cannot load ES modules that use top-level await, such as vega).
 * @param specifier - Package name.
 * @returns The module namespace.
 */
export async function importEsm<T>(specifier: string): Promise<T> {
  const req = createRequire(join(notebooksDir(), 'package.json'));
  return (await dynamicImport(pathToFileURL(req.resolve(specifier)).href)) as T;
}

/** What tslab's `display` offers (the part we use). */
interface TslabDisplay {
  markdown(s: string): void;
  png(b: Uint8Array): void;
}

/** tslab's display functions, in the kernel (the kernel hooks `require('tslab')`); undefined in scripts. */
export function tslabDisplay(): TslabDisplay | undefined {
  if (!IN_NOTEBOOK) return undefined;
  // The copy of tslab the kernel runs from (its display is wired to the kernel), found from the
  // kernel's own script path; the examples' copy is the same file when the kernel was installed
  // by scripts/notebooks.sh.
  const main = process.argv.find((a) => /tslab/.test(a));
  const req = createRequire(main ? resolve(main) : join(notebooksDir(), 'package.json'));
  return (req('tslab') as { display: TslabDisplay }).display;
}

/** One row of a table: column name to value. */
export type Row = Record<string, string | number>;

function cell(v: string | number): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v;
}

/**
 * Shows a table: as Markdown in a notebook, as aligned text in a script.
 * @param rows - The rows; columns are the keys of the first row.
 * @param title - Optional caption printed above.
 */
export function showTable(rows: readonly Row[], title?: string): void {
  const first = rows[0];
  if (!first) return;
  const cols = Object.keys(first);
  const cells = rows.map((r) => cols.map((c) => cell(r[c] ?? '')));
  const display = tslabDisplay();
  if (display) {
    const md = [
      ...(title ? [`**${title}**`, ''] : []),
      `| ${cols.join(' | ')} |`,
      `| ${cols.map(() => '---').join(' | ')} |`,
      ...cells.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
    display.markdown(md);
    return;
  }
  const widths = cols.map((c, j) => Math.max(c.length, ...cells.map((r) => r[j]!.length)));
  const line = (r: string[]): string => r.map((v, j) => v.padEnd(widths[j]!)).join('  ');
  if (title) console.log(title);
  console.log(line(cols));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of cells) console.log(line(r));
}
