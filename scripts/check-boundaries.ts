// Boundary check: the framework-free packages (package.json `"calm": { "tfjs": false }`) — @calm/core,
// @calm/brierlm, @calm/temperature-sampler, @calm/data-pile and the testing entry they use — must
// neither depend on nor import `@tensorflow/*`, directly or anywhere in their production
// dependency closure. Declared dependencies are walked through node_modules; workspace packages
// in the closure also have their sources scanned for import specifiers. Exit code 1 on violation.
import { existsSync, readdirSync, readFileSync, statSync, realpathSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The packages that must stay free of tfjs whatever their package.json says. */
export const REQUIRED_FRAMEWORK_FREE = ['@calm/core', '@calm/brierlm', '@calm/temperature-sampler', '@calm/data-pile'];

const FORBIDDEN = /^@tensorflow\//;
/** tfjs-bound workspace packages: importing one of them pulls tfjs in. */
const TFJS_BOUND_WORKSPACE = /^@calm\/(nn|autoencoder|energy-head|trainer)(\/|$)/;

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  calm?: { tfjs?: boolean };
}

/** One boundary violation. */
export interface Violation {
  /** The framework-free package whose closure is violated. */
  root: string;
  /** The chain of packages from the root to the offender. */
  path: string[];
  /** What was found. */
  reason: string;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

function workspacePackages(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const group of ['packages', 'examples']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base)) {
      const dir = join(base, d);
      if (existsSync(join(dir, 'package.json'))) out.set(readManifest(dir).name, dir);
    }
  }
  return out;
}

/** Production dependencies: dependencies, optionalDependencies and non-optional peers (a consumer must install those). */
function productionDeps(m: Manifest): string[] {
  const peers = Object.keys(m.peerDependencies ?? {}).filter((p) => !m.peerDependenciesMeta?.[p]?.optional);
  return [...new Set([...Object.keys(m.dependencies ?? {}), ...Object.keys(m.optionalDependencies ?? {}), ...peers])];
}

function resolvePackageDir(name: string, fromDir: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

const IMPORT_RE =
  /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/g;

function* sourceFiles(dir: string): Generator<string> {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) {
      if (entry !== 'node_modules') yield* sourceFiles(p);
    } else if (/\.(m|c)?[jt]sx?$/.test(entry) && !/\.d\.ts$/.test(entry)) yield p;
  }
}

function scanImports(pkgDir: string): { file: string; spec: string }[] {
  const found: { file: string; spec: string }[] = [];
  for (const file of sourceFiles(join(pkgDir, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
      if (spec && (FORBIDDEN.test(spec) || TFJS_BOUND_WORKSPACE.test(spec))) found.push({ file, spec });
    }
  }
  return found;
}

/**
 * Checks every framework-free workspace package of the repository rooted at `root`.
 * @returns The violations found (empty when the boundary holds) and the packages checked.
 */
export function checkBoundaries(root: string): { checked: string[]; violations: Violation[] } {
  const ws = workspacePackages(root);
  const violations: Violation[] = [];
  const checked: string[] = [];
  for (const [name, dir] of ws) {
    const m = readManifest(dir);
    const required = REQUIRED_FRAMEWORK_FREE.includes(name);
    if (m.calm?.tfjs !== false && !required) continue;
    if (required && m.calm?.tfjs !== false) {
      violations.push({ root: name, path: [name], reason: 'package.json must declare "calm": { "tfjs": false }' });
    }
    checked.push(name);
    const seen = new Set<string>();
    const visit = (pkgName: string, pkgDir: string, path: string[]) => {
      if (seen.has(pkgDir)) return;
      seen.add(pkgDir);
      const manifest = readManifest(pkgDir);
      const isWorkspace = ws.get(pkgName) === pkgDir;
      if (isWorkspace) {
        for (const { file, spec } of scanImports(pkgDir)) {
          violations.push({ root: name, path, reason: `${relative(root, file)} imports "${spec}"` });
        }
      }
      for (const dep of productionDeps(manifest)) {
        const next = [...path, dep];
        if (FORBIDDEN.test(dep) || TFJS_BOUND_WORKSPACE.test(dep)) {
          violations.push({ root: name, path: next, reason: `depends on "${dep}"` });
          continue;
        }
        const depDir = ws.has(dep) ? ws.get(dep)! : resolvePackageDir(dep, pkgDir);
        if (!depDir) {
          violations.push({ root: name, path: next, reason: `cannot resolve "${dep}" (run the install first)` });
          continue;
        }
        visit(dep, depDir, next);
      }
    };
    visit(name, dir, [name]);
  }
  for (const r of REQUIRED_FRAMEWORK_FREE) {
    if (!ws.has(r))
      violations.push({ root: r, path: [r], reason: 'required framework-free package is missing from the workspace' });
  }
  return { checked, violations };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const { checked, violations } = checkBoundaries(root);
  const result = { ok: violations.length === 0, checked, violations };
  if (violations.length > 0) {
    console.error(`boundary check FAILED: ${violations.length} violation(s) of the no-tfjs rule`);
    for (const v of violations) console.error(`  ${v.root}: ${v.path.join(' → ')}: ${v.reason}`);
  } else {
    console.log(
      `boundary check passed: ${checked.join(', ')} are free of @tensorflow/* (imports and dependency closure)`,
    );
  }
  if (process.env.CALM_BOUNDARY_JSON) console.log(JSON.stringify(result));
  process.exit(violations.length === 0 ? 0 : 1);
}
