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

/** The library packages whose closure must hold no plotting or command-line library. */
export const REQUIRED_LIBRARIES = ['@calm/model', '@calm/trainer', ...REQUIRED_FRAMEWORK_FREE];

const TFJS = /^@tensorflow\//;
/** What only the application (`@calm/cli`) may use: plotting, command-line parsing, progress bars. */
export const APP_LIBRARIES =
  /^(vega|vega-lite|@resvg\/resvg-js|commander|cli-progress|yargs|cac|citty|chalk|ora)(\/|$)/;

/** One rule: packages it applies to must not reach what it forbids, by dependency or by import. */
interface Rule {
  /** Says what a violation broke, e.g. "the no-tfjs rule". */
  readonly name: string;
  /** Whether the rule applies to a workspace package (by name and manifest). */
  applies(name: string, m: Manifest): boolean;
  /** The names of packages declared in package.json that it requires (missing ones are violations). */
  readonly required: readonly string[];
  /** The manifest flag a required package must carry, e.g. `"calm": { "tfjs": false }`. */
  readonly flag?: { test(m: Manifest): boolean; text: string };
  /** Forbidden dependency names and import specifiers (external, or workspace packages by manifest). */
  forbidden(spec: string, ws: ReadonlyMap<string, Manifest>): boolean;
  /** Dependencies whose own closure is not the rule's concern (walked no further). */
  readonly opaque?: RegExp;
}

const workspaceName = (spec: string): string => spec.split('/').slice(0, 2).join('/');

const RULES: readonly Rule[] = [
  {
    name: 'the no-tfjs rule',
    applies: (name, m) => m.calm?.tfjs === false || REQUIRED_FRAMEWORK_FREE.includes(name),
    required: REQUIRED_FRAMEWORK_FREE,
    flag: { test: (m) => m.calm?.tfjs === false, text: 'package.json must declare "calm": { "tfjs": false }' },
    forbidden: (spec, ws) => TFJS.test(spec) || ws.get(workspaceName(spec))?.calm?.tfjs === true,
  },
  {
    name: 'the library rule (no plotting or CLI library below @calm/cli)',
    applies: (name, m) => REQUIRED_LIBRARIES.includes(name) || (m.private !== true && m.calm?.app !== true),
    required: REQUIRED_LIBRARIES,
    forbidden: (spec, ws) => APP_LIBRARIES.test(spec) || ws.get(workspaceName(spec))?.calm?.app === true,
    // tfjs is the user's framework (a peer): what its union package brings for its own converter CLI
    // (yargs, chalk) is not ours to choose.
    opaque: TFJS,
  },
];

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  private?: boolean;
  calm?: { tfjs?: boolean; app?: boolean };
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

function scanImports(pkgDir: string, forbidden: (spec: string) => boolean): { file: string; spec: string }[] {
  const found: { file: string; spec: string }[] = [];
  for (const file of sourceFiles(join(pkgDir, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
      if (spec && forbidden(spec)) found.push({ file, spec });
    }
  }
  return found;
}

/**
 * Checks every rule on every workspace package of the repository rooted at `root`: framework-free
 * packages never reach tfjs, and library packages never reach a plotting or CLI library.
 * @returns The violations found (empty when the boundaries hold) and the packages checked per rule.
 */
export function checkBoundaries(root: string): { checked: string[]; libraries: string[]; violations: Violation[] } {
  const ws = workspacePackages(root);
  const manifests = new Map([...ws].map(([name, dir]) => [name, readManifest(dir)] as const));
  const violations: Violation[] = [];
  const checkedBy = RULES.map(() => [] as string[]);
  RULES.forEach((rule, r) => {
    const forbidden = (spec: string) => rule.forbidden(spec, manifests);
    for (const [name, dir] of ws) {
      const m = manifests.get(name)!;
      if (!rule.applies(name, m)) continue;
      if (rule.flag && rule.required.includes(name) && !rule.flag.test(m)) {
        violations.push({ root: name, path: [name], reason: rule.flag.text });
      }
      checkedBy[r]!.push(name);
      const seen = new Set<string>();
      const visit = (pkgName: string, pkgDir: string, path: string[]) => {
        if (seen.has(pkgDir)) return;
        seen.add(pkgDir);
        const manifest = readManifest(pkgDir);
        if (ws.get(pkgName) === pkgDir) {
          for (const { file, spec } of scanImports(pkgDir, forbidden)) {
            violations.push({ root: name, path, reason: `${relative(root, file)} imports "${spec}" (${rule.name})` });
          }
        }
        for (const dep of productionDeps(manifest)) {
          const next = [...path, dep];
          if (forbidden(dep)) {
            violations.push({ root: name, path: next, reason: `depends on "${dep}" (${rule.name})` });
            continue;
          }
          if (rule.opaque?.test(dep)) continue;
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
    for (const name of rule.required) {
      if (!ws.has(name))
        violations.push({
          root: name,
          path: [name],
          reason: `required by ${rule.name} but missing from the workspace`,
        });
    }
  });
  return { checked: checkedBy[0]!, libraries: checkedBy[1]!, violations };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const { checked, libraries, violations } = checkBoundaries(root);
  const result = { ok: violations.length === 0, checked, libraries, violations };
  if (violations.length > 0) {
    console.error(`boundary check FAILED: ${violations.length} violation(s)`);
    for (const v of violations) console.error(`  ${v.root}: ${v.path.join(' → ')}: ${v.reason}`);
  } else {
    console.log(
      `boundary check passed: ${checked.join(', ')} are free of @tensorflow/*; ${libraries.join(', ')} hold no plotting or CLI library (imports and dependency closure)`,
    );
  }
  if (process.env.CALM_BOUNDARY_JSON) console.log(JSON.stringify(result));
  process.exit(violations.length === 0 ? 0 : 1);
}
