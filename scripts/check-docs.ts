// Docs rule checker (issue 9). Every top-level export of every public package entry point must
// have (a) a summary; (b) an `@example` that shows code, or a `{@link}` in its summary, `@remarks`
// or `@see` to a reflection that has one (or to a member of one; links are not followed further);
// (c) a shape (`[batch, seq]`, `scalar`, "any shape") and a dtype (`float32`, …, "any dtype") in
// the doc of each parameter, return value and property whose type mentions a tfjs tensor type.
// The packages are converted once with TypeDoc's API (root typedoc.json options, each package's
// own typedoc.json); the rule is checked on TypeDoc's JSON model. TypeDoc's own validation
// (undocumented members, broken links) stays the job of the docs build.
// Usage: node --import tsx scripts/check-docs.ts [packages/<pkg> ...]  (default: public packages)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, ReflectionKind, normalizePath } from 'typedoc';

/** A part of a TypeDoc comment: text, code, or an inline tag such as `{@link X}`. */
interface Part {
  kind: string;
  text: string;
  tag?: string;
  target?: unknown;
}
/** A TypeDoc comment: the summary and the block tags (`@param`, `@example`, …). */
interface Comment {
  summary: Part[];
  blockTags?: Array<{ tag: string; content: Part[] }>;
}
/** The fields of a reflection in TypeDoc's JSON output that the rule reads. */
export interface DocNode {
  id: number;
  name: string;
  kind: number;
  comment?: Comment;
  inheritedFrom?: unknown;
  children?: DocNode[];
  signatures?: DocNode[];
  parameters?: DocNode[];
  getSignature?: DocNode;
  type?: unknown;
  symbolIdMap?: Record<string, { packageName: string; qualifiedName: string }>;
}
/** One broken rule, printed as `pkg: name: problem`. */
export interface DocProblem {
  /** The import specifier of the entry point, e.g. `@calm/brierlm/node`. */
  pkg: string;
  /** The export. */
  name: string;
  /** What is wrong, naming the member when the problem is inside the export. */
  problem: string;
}

/** tfjs types whose docs must show a shape and a dtype (only when declared by `@tensorflow/*`). */
const TENSOR_TYPE = /^(Tensor|Tensor[1-6]D|Variable|Scalar)$/;
/** A shape is a bracket such as `[batch, seq, hidden]`, the word `scalar`, or "any shape". */
const SHAPE = /\[[^\]\n]+\]|\bscalar\b|\bany\s+shapes?\b/i;
const DTYPE = /\b(float16|float32|float64|int8|int16|int32|int64|uint8|bool|complex64)\b|\bany\s+dtypes?\b/i;
const LINK_TAGS = new Set(['@link', '@linkcode', '@linkplain']);

const partsText = (parts: readonly Part[] = []): string => parts.map((p) => p.text).join('');
const allParts = (c: Comment): Part[] => [...c.summary, ...(c.blockTags ?? []).flatMap((t) => t.content)];
/** Where a link can point a reader to an example: a `{@link}` in `@throws` or `@param` does not. */
const DESCRIBING_TAGS = new Set(['@remarks', '@see']);
const describingParts = (c: Comment): Part[] => [
  ...c.summary,
  ...(c.blockTags ?? []).filter((t) => DESCRIBING_TAGS.has(t.tag)).flatMap((t) => t.content),
];

/** The comments that document a reflection itself: its own, its signatures', its getter's. */
function commentsOf(n: DocNode): Comment[] {
  const sigs = [...(n.signatures ?? []), ...(n.getSignature ? [n.getSignature] : [])];
  return [n.comment, ...sigs.map((s) => s.comment)].filter((c): c is Comment => c !== undefined);
}

/** Why an `@example` block shows no code, or undefined when it shows some. */
function exampleDefect(content: readonly Part[]): string | undefined {
  if (content.some((p) => p.kind === 'inline-tag' && p.tag?.startsWith('@include'))) {
    return '@example has an {@includeCode} that did not resolve (see the TypeDoc error above)';
  }
  const code = content.filter((p) => p.kind === 'code').map((p) => p.text);
  if (code.some((t) => t.includes('{@include'))) {
    return '@example shows {@includeCode} as literal text (set jsDocCompatibility.exampleTag to false)';
  }
  // A code block that is only its fences (an empty or missing region) is no example.
  const body = code
    .join('\n')
    .replace(/^\s*```\w*\s*$/gm, '')
    .trim();
  return body === '' ? '@example has no code' : undefined;
}

const exampleTags = (n: DocNode) =>
  commentsOf(n).flatMap((c) => (c.blockTags ?? []).filter((t) => t.tag === '@example'));
const hasExample = (n: DocNode): boolean => exampleTags(n).some((t) => exampleDefect(t.content) === undefined);

/** True when a TypeDoc JSON type mentions a tfjs tensor type anywhere inside it. */
function mentionsTensor(type: unknown): boolean {
  if (Array.isArray(type)) return type.some(mentionsTensor);
  if (typeof type !== 'object' || type === null) return false;
  const t = type as Record<string, unknown>;
  // `name` is as written (`tf.Tensor` under `import * as tf`); `qualifiedName` is set only then.
  const name = String(t.qualifiedName ?? t.name);
  if (t.type === 'reference' && TENSOR_TYPE.test(name) && String(t.package).startsWith('@tensorflow/')) return true;
  return Object.entries(t).some(([key, value]) => key !== 'comment' && key !== 'target' && mentionsTensor(value));
}

/** Problems of rule (c) inside one export: its signatures, members, and object-literal members. */
function tensorProblems(e: DocNode): string[] {
  const out: string[] = [];
  const need = (what: string, doc: string): void => {
    const missing: string[] = [];
    if (!SHAPE.test(doc)) missing.push('no shape ([batch, seq] or scalar)');
    if (!DTYPE.test(doc)) missing.push('no dtype (float32, int32, …)');
    if (missing.length > 0) out.push(`${what}: tensor doc shows ${missing.join(' and ')}`);
  };
  // `owner` names the member ('' for the export itself): `step() parameter x`, `property mean`.
  const signature = (s: DocNode, owner: string): void => {
    for (const p of s.parameters ?? [])
      if (mentionsTensor(p.type)) need(`${owner}parameter ${p.name}`, partsText(p.comment?.summary));
    const returns = s.comment?.blockTags?.find((t) => t.tag === '@returns');
    if (mentionsTensor(s.type)) need(`${owner}return value`, partsText(returns?.content));
  };
  const member = (m: DocNode, owner: string): void => {
    if (m.inheritedFrom !== undefined) return;
    for (const s of m.signatures ?? []) signature(s, owner === '' ? '' : `${owner}() `);
    const isValue =
      m.kind === ReflectionKind.Property || m.kind === ReflectionKind.Variable || m.kind === ReflectionKind.Accessor;
    const doc = commentsOf(m)
      .map((c) => partsText(allParts(c)))
      .join(' ');
    if (isValue && mentionsTensor(m.type ?? m.getSignature?.type))
      need(owner === '' ? 'value' : `property ${owner}`, doc);
  };
  const declaration =
    (e.type as { type?: string; declaration?: DocNode } | undefined)?.type === 'reflection'
      ? (e.type as { declaration: DocNode }).declaration
      : undefined;
  if (e.kind !== ReflectionKind.TypeAlias) member(e, '');
  for (const s of declaration?.signatures ?? []) signature(s, '');
  for (const c of [...(e.children ?? []), ...(declaration?.children ?? [])]) member(c, c.name);
  return out;
}

/**
 * Checks the rule on TypeDoc's JSON model of converted packages.
 *
 * @param project - The converted project (`app.serializer.projectToObject(...)`).
 * @param packages - The package roots inside it with their npm names (see {@link packagesOf}).
 * @returns Every problem, in package and export order.
 */
export function checkDocs(project: DocNode, packages: ReadonlyArray<{ name: string; node: DocNode }>): DocProblem[] {
  // Index every reflection by id with its parent, to resolve link targets and walk up from members.
  const byId = new Map<number, { node: DocNode; parent?: DocNode }>();
  const index = (value: unknown, parent?: DocNode): void => {
    if (Array.isArray(value)) {
      for (const v of value) index(v, parent);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const v = value as DocNode;
    const isReflection = typeof v.id === 'number' && typeof v.kind === 'number';
    if (isReflection) byId.set(v.id, parent ? { node: v, parent } : { node: v });
    for (const [key, child] of Object.entries(v)) if (key !== 'symbolIdMap') index(child, isReflection ? v : parent);
  };
  index(project);
  const bySymbol = new Map(
    Object.entries(project.symbolIdMap ?? {}).map(([id, s]) => [`${s.packageName}:${s.qualifiedName}`, Number(id)]),
  );
  const resolveTarget = (target: unknown): DocNode | undefined => {
    if (typeof target === 'number') return byId.get(target)?.node;
    const sym = target as { packageName?: string; qualifiedName?: string } | undefined;
    const id = sym?.packageName ? bySymbol.get(`${sym.packageName}:${sym.qualifiedName}`) : undefined;
    return id === undefined ? undefined : byId.get(id)?.node;
  };
  // A link counts when its target, or a reflection the target is a member of, has an example.
  const linkShowsExample = (target: DocNode | undefined): boolean => {
    for (
      let n = target;
      n && n.kind !== ReflectionKind.Module && n.kind !== ReflectionKind.Project;
      n = byId.get(n.id)?.parent
    ) {
      if (hasExample(n)) return true;
    }
    return false;
  };

  const problems: DocProblem[] = [];
  for (const { name, node } of packages) {
    const entries =
      node.children?.length && node.children.every((c) => c.kind === ReflectionKind.Module)
        ? node.children.map((m) => ({
            pkg: m.name === 'index' ? name : `${name}/${m.name}`,
            exports: m.children ?? [],
          }))
        : [{ pkg: name, exports: node.children ?? [] }];
    for (const { pkg, exports } of entries) {
      for (const e of exports) {
        if (e.kind === ReflectionKind.Reference) continue; // a re-export: checked where it is declared
        const report = (problem: string): void => void problems.push({ pkg, name: e.name, problem });
        const comments = commentsOf(e);
        if (!comments.some((c) => partsText(c.summary).trim() !== '')) report('no summary');
        const defects = exampleTags(e)
          .map((t) => exampleDefect(t.content))
          .filter((d): d is string => d !== undefined);
        defects.forEach(report);
        const links = comments
          .flatMap(describingParts)
          .filter((p) => p.kind === 'inline-tag' && LINK_TAGS.has(p.tag ?? ''));
        if (!hasExample(e) && !links.some((l) => linkShowsExample(resolveTarget(l.target))) && defects.length === 0) {
          report('no @example and no {@link} to an export (or member of one) that has an @example');
        }
        tensorProblems(e).forEach(report);
      }
    }
  }
  return problems;
}

/** The package roots of a converted project: the project itself for one package, else its children. */
export function packagesOf(project: DocNode, names: readonly string[]): Array<{ name: string; node: DocNode }> {
  if (names.length === 1) return [{ name: names[0]!, node: project }];
  return (project.children ?? []).filter((c) => names.includes(c.name)).map((c) => ({ name: c.name, node: c }));
}

/**
 * Converts package folders with TypeDoc (root typedoc.json options) and checks the rule.
 *
 * @param dirs - Package folders (each with package.json, tsconfig.json, typedoc.json).
 * @param config - The TypeDoc options file whose package options apply.
 * @returns The problems, and whether TypeDoc itself logged errors (for example a dangling include).
 */
export async function checkPackages(
  dirs: readonly string[],
  config: string,
): Promise<{ problems: DocProblem[]; typedocErrors: boolean }> {
  const app = await Application.bootstrapWithPlugins({
    options: config,
    entryPoints: dirs.map((d) => resolve(d)),
    entryPointStrategy: 'packages',
    logLevel: 'Error',
    // Missing docs are the docs build's findings; keep them warnings (silenced here) so only real
    // errors (a TypeScript error, an include that does not resolve) count as TypeDoc errors.
    treatValidationWarningsAsErrors: false,
    treatWarningsAsErrors: false,
  });
  const converted = await app.convert();
  if (!converted) throw new Error('TypeDoc could not convert the packages (see its errors above)');
  const project = app.serializer.projectToObject(converted, normalizePath(process.cwd())) as unknown as DocNode;
  const names = dirs.map((d) => (JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { name: string }).name);
  return { problems: checkDocs(project, packagesOf(project, names)), typedocErrors: app.logger.hasErrors() };
}

/** The public packages under `packages/` (not private, not the testing helpers). */
export function publicPackageDirs(root: string): string[] {
  return readdirSync(join(root, 'packages'))
    .map((d) => join(root, 'packages', d))
    .filter((dir) => existsSync(join(dir, 'package.json')) && !dir.endsWith(join('packages', 'testing')))
    .filter(
      (dir) => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { private?: boolean }).private !== true,
    );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(import.meta.url), '..', '..');
  const args = process.argv.slice(2);
  const dirs = args.length > 0 ? args.map((a) => resolve(a)) : publicPackageDirs(root);
  const { problems, typedocErrors } = await checkPackages(dirs, join(root, 'typedoc.json'));
  for (const p of problems) console.error(`${p.pkg}: ${p.name}: ${p.problem}`);
  if (problems.length > 0 || typedocErrors) {
    console.error(
      `docs rule FAILED: ${problems.length} problem(s)${typedocErrors ? ' and TypeDoc errors' : ''} in ${dirs.length} package(s)`,
    );
    process.exit(1);
  }
  console.log(
    `docs rule passed: ${dirs.length} package(s), every export has a summary, an example or a link to one, and tensor shapes/dtypes`,
  );
}
