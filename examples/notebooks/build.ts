// Generates the example notebooks (NN-name.ipynb) from their single source of truth, the runnable
// scripts NN-name.ts written in the percent format (`// %% [markdown]` and `// %%` cell markers).
// Notebooks are nbformat 4.5 with stable cell ids and no outputs, so regenerating is byte-stable.
//
//   pnpm exec tsx examples/notebooks/build.ts           # write every .ipynb
//   pnpm exec tsx examples/notebooks/build.ts --check   # exit 1 if a committed .ipynb is stale

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import ts from 'typescript';

const here = dirname(resolve(process.argv[1] ?? '.'));
const SOURCE = /^\d\d-[a-z0-9-]+\.ts$/;

interface Cell {
  cell_type: 'markdown' | 'code';
  execution_count?: null;
  id: string;
  metadata: Record<string, never>;
  outputs?: [];
  source: string[];
}

/** Splits text into Jupyter's source lines: every line keeps its "\n" except the last. */
function sourceLines(text: string): string[] {
  const lines = text.split('\n');
  return lines.map((l, i) => (i < lines.length - 1 ? `${l}\n` : l));
}

function trimBlankLines(lines: string[]): string[] {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a]!.trim() === '') a++;
  while (b > a && lines[b - 1]!.trim() === '') b--;
  return lines.slice(a, b);
}

/**
 * Parses a percent-format script into cells. Lines before the first marker are the file's header
 * comment and stay out of the notebook.
 * @param text - The script.
 * @param file - Its name, for messages and cell ids.
 * @returns The cells.
 */
function parsePercentScript(text: string, file: string): Cell[] {
  const stem = basename(file, '.ts');
  const problems: string[] = [];
  const raw: { kind: 'markdown' | 'code'; lines: string[]; line: number }[] = [];
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  lines.forEach((line, i) => {
    const marker = /^\/\/ %%(.*)$/.exec(line);
    if (marker) {
      const kind = marker[1]!.trim() === '[markdown]' ? 'markdown' : 'code';
      raw.push({ kind, lines: [], line: i + 1 });
      return;
    }
    const current = raw[raw.length - 1];
    if (!current) {
      if (line.trim() !== '' && !line.startsWith('//'))
        problems.push(`${file}:${i + 1}: code before the first "// %%" marker (only the header comment may go there)`);
      return;
    }
    if (current.kind === 'markdown') {
      if (line.trim() === '') current.lines.push('');
      else if (line === '//' || line.startsWith('// ')) current.lines.push(line.slice(3));
      else problems.push(`${file}:${i + 1}: markdown cell lines must start with "// " (or be "//")`);
      return;
    }
    if (/\bimport\.meta\b/.test(line))
      problems.push(
        `${file}:${i + 1}: import.meta does not work in the tslab kernel (it compiles cells to CommonJS); use lib/notebook.ts paths`,
      );
    if (/^export\s/.test(line)) problems.push(`${file}:${i + 1}: no exports in example cells`);
    current.lines.push(line);
  });
  const cells: Cell[] = [];
  for (const c of raw) {
    const body = trimBlankLines(c.lines);
    if (body.length === 0) {
      problems.push(`${file}:${c.line}: empty cell`);
      continue;
    }
    const id = `${stem}-${String(cells.length).padStart(2, '0')}`;
    const source = sourceLines(body.join('\n'));
    cells.push(
      c.kind === 'markdown'
        ? { cell_type: 'markdown', id, metadata: {}, source }
        : { cell_type: 'code', execution_count: null, id, metadata: {}, outputs: [], source },
    );
  }
  problems.push(...crossCellShorthands(cells, file));
  if (cells.length === 0) problems.push(`${file}: no cells (mark them with "// %% [markdown]" and "// %%")`);
  if (problems.length) throw new Error(`cannot build ${file}:\n  ${problems.join('\n  ')}`);
  return cells;
}

/** Names a cell declares at its top level (variables, functions, classes, imports). */
function topLevelNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const addBinding = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const e of name.elements) if (!ts.isOmittedExpression(e)) addBinding(e.name);
  };
  for (const st of source.statements) {
    if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) addBinding(d.name);
    else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isEnumDeclaration(st)) && st.name)
      names.add(st.name.text);
    else if (ts.isImportDeclaration(st) && st.importClause) {
      const c = st.importClause;
      if (c.name) names.add(c.name.text);
      if (c.namedBindings && ts.isNamespaceImport(c.namedBindings)) names.add(c.namedBindings.name.text);
      else if (c.namedBindings) for (const e of c.namedBindings.elements) names.add(e.name.text);
    }
  }
  return names;
}

/**
 * tslab rewrites a use of an earlier cell's variable `x` to `exports.x`, except in a shorthand
 * property `{ x }`, which then fails at run time with "x is not defined". Flags those.
 */
function crossCellShorthands(cells: Cell[], file: string): string[] {
  const problems: string[] = [];
  const earlier = new Set<string>();
  for (const cell of cells) {
    if (cell.cell_type !== 'code') continue;
    const source = ts.createSourceFile(
      `${cell.id}.ts`,
      cell.source.join(''),
      ts.ScriptTarget.ES2022,
      true,
      ts.ScriptKind.TS,
    );
    const own = topLevelNames(source);
    const where = (node: ts.Node): string =>
      `${file}, cell ${cell.id} line ${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
    const visit = (node: ts.Node, topLevel: boolean): void => {
      if (ts.isShorthandPropertyAssignment(node) && earlier.has(node.name.text) && !own.has(node.name.text)) {
        problems.push(
          `${where(node)}: write { ${node.name.text}: ${node.name.text} } — tslab breaks shorthand properties that name an earlier cell's variable`,
        );
      }
      if (topLevel && ts.isForOfStatement(node) && node.awaitModifier) {
        problems.push(
          `${where(node)}: tslab does not run a top-level "for await" (it is not wrapped as top-level await); loop with "await stream.next()" or move it into an async function`,
        );
      }
      ts.forEachChild(node, (child) => visit(child, topLevel && !ts.isFunctionLike(child) && !ts.isClassLike(child)));
    };
    visit(source, true);
    for (const n of own) earlier.add(n);
  }
  return problems;
}

/**
 * The notebook JSON for a script, formatted as Jupyter writes it (sorted keys, one-space indent).
 * @param text - The percent-format script.
 * @param file - Its file name.
 * @returns The .ipynb text.
 */
function toNotebook(text: string, file: string): string {
  const notebook = {
    cells: parsePercentScript(text, file),
    metadata: {
      calm: { generated_from: basename(file), regenerate: 'pnpm exec tsx examples/notebooks/build.ts' },
      kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' },
      language_info: {
        codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true },
        file_extension: '.ts',
        mimetype: 'text/typescript',
        name: 'typescript',
        version: '5.0',
      },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  return `${JSON.stringify(notebook, null, 1)}\n`;
}

const check = process.argv.includes('--check');
const sources = readdirSync(here)
  .filter((f) => SOURCE.test(f))
  .sort();
const stale: string[] = [];
for (const file of sources) {
  const target = join(here, file.replace(/\.ts$/, '.ipynb'));
  let want: string;
  try {
    want = toNotebook(readFileSync(join(here, file), 'utf8'), file);
  } catch (e) {
    console.error((e as Error).message);
    process.exitCode = 1;
    continue;
  }
  let have: string | undefined;
  try {
    have = readFileSync(target, 'utf8');
  } catch {
    have = undefined;
  }
  if (have === want) continue;
  if (check) stale.push(basename(target));
  else {
    writeFileSync(target, want);
    console.log(`wrote ${basename(target)}`);
  }
}
const orphans = readdirSync(here).filter(
  (f) => f.endsWith('.ipynb') && !sources.includes(f.replace(/\.ipynb$/, '.ts')),
);
if (orphans.length) {
  console.error(
    `notebooks without a source script: ${orphans.join(', ')} (delete them, or add the .ts they come from)`,
  );
  process.exit(1);
}
if (process.exitCode) process.exit();
if (check && stale.length) {
  console.error(
    `stale notebooks: ${stale.join(', ')}; regenerate them with: pnpm exec tsx examples/notebooks/build.ts`,
  );
  process.exit(1);
}
if (check) console.log(`${sources.length} notebooks up to date with their sources`);
