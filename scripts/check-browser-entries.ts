// Browser-entry check: every workspace package marked `"calm": { "browser": true }` must bundle for
// a browser with no Node built-in. Each package's main entry (`.`) is resolved as a browser bundler
// resolves it (Vite, the `browser` condition, plus `@calm/source` so that sources are checked
// without a build) and bundled in one Vite library build; any import of a Node built-in that the
// importing package does not map away in its package.json `browser` field (as tfjs does for its
// Node-only branches) is a violation, reported with the chain of modules that reaches it. A browser
// app (`"calm": { "browserApp": true }`, e.g. examples/web) may only depend on marked packages.
// Exit code 1 on violation.
// With `--dist` the built outputs are checked instead (no `@calm/source`: what a user's bundler sees
// of the published packages; run it after `pnpm run build`).
// Usage: node --import tsx scripts/check-browser-entries.ts [repo root] [--dist] [--only @calm/<name> ...]
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, defaultClientConditions, type Plugin } from 'vite';

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  browser?: string | Record<string, string | false>;
  calm?: { browser?: boolean; browserApp?: boolean };
}

/** One Node built-in reached from a browser entry. */
export interface BrowserViolation {
  /** The package whose browser entry reaches the built-in. */
  pkg: string;
  /** What was found, with the chain of modules from the entry (paths relative to the root). */
  reason: string;
}

/** What {@link checkBrowserEntries} found. */
export interface BrowserCheckResult {
  /** The packages whose browser entry was bundled. */
  checked: string[];
  /** Modules in the bundle graph (all entries together). */
  modules: number;
  /** Milliseconds the bundling took. */
  ms: number;
  violations: BrowserViolation[];
}

const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

function workspacePackages(root: string): Map<string, { dir: string; manifest: Manifest }> {
  const out = new Map<string, { dir: string; manifest: Manifest }>();
  for (const group of ['packages', 'examples']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base)) {
      const dir = join(base, d);
      if (existsSync(join(dir, 'package.json'))) {
        const manifest = readManifest(dir);
        out.set(manifest.name, { dir, manifest });
      }
    }
  }
  return out;
}

/** The nearest folder at or above `file` holding a package.json. */
function packageDirOf(file: string): string | undefined {
  let dir = dirname(file);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Whether the package holding `importer` maps `spec` away in its `browser` field (as bundlers honour). */
function mappedByBrowserField(importer: string, spec: string): boolean {
  const dir = packageDirOf(importer);
  if (!dir) return false;
  const browser = readManifest(dir).browser;
  if (!browser || typeof browser !== 'object') return false;
  const bare = spec.replace(/^node:/, '');
  return [spec, bare, `node:${bare}`].some((k) => k in browser);
}

/**
 * Bundles the browser entry of every package marked `"calm": { "browser": true }` under `root`
 * (or only those named in `only`) and reports every Node built-in that a browser bundle would pull in.
 */
export async function checkBrowserEntries(
  root: string,
  only?: readonly string[],
  options: { dist?: boolean } = {},
): Promise<BrowserCheckResult> {
  const ws = workspacePackages(root);
  const violations: BrowserViolation[] = [];
  // A browser app may only use packages that promise a browser entry.
  for (const [name, { manifest }] of ws) {
    if (manifest.calm?.browserApp !== true) continue;
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      const target = ws.get(dep);
      if (target && target.manifest.calm?.browser !== true)
        violations.push({
          pkg: name,
          reason: `depends on ${dep}, which has no browser entry (package.json "calm": { "browser": true })`,
        });
    }
  }
  const targets = [...ws].filter(
    ([name, { manifest }]) => manifest.calm?.browser === true && (!only || only.includes(name)),
  );
  const tmp = mkdtempSync(join(tmpdir(), 'calm-browser-entries-'));
  const entryOf = new Map<string, string>(); // entry file → package name
  const input: Record<string, string> = {};
  for (const [name] of targets) {
    const file = join(tmp, `${name.replace(/[@/]/g, '_')}.js`);
    writeFileSync(file, `export * from ${JSON.stringify(name)};\n`);
    entryOf.set(file, name);
    input[name.replace(/[@/]/g, '_')] = file;
  }
  // Edges of the module graph (importer → resolved), recorded as the bundler resolves them.
  const importersOf = new Map<string, Set<string>>();
  const builtins: { importer: string; spec: string }[] = [];
  const dirOf = new Map(targets.map(([name, { dir }]) => [name, dir]));
  const probe: Plugin = {
    name: 'calm-browser-entries',
    enforce: 'pre',
    async resolveId(source, importer, opts) {
      if (!importer) return null;
      // `@calm/x` from its entry file resolves as the package itself would (self-reference).
      const self = entryOf.has(importer) ? dirOf.get(entryOf.get(importer)!) : undefined;
      const from = self ? join(self, 'package.json') : importer;
      const r = await this.resolve(source, from, { ...opts, skipSelf: true });
      if (isBuiltin(source) && !mappedByBrowserField(importer, source)) builtins.push({ importer, spec: source });
      if (r && !r.external) {
        const set = importersOf.get(r.id) ?? new Set<string>();
        importersOf.set(r.id, set);
        set.add(importer);
      }
      return r;
    },
  };
  const t0 = performance.now();
  try {
    if (targets.length > 0) {
      await build({
        configFile: false,
        logLevel: 'silent',
        root: tmp,
        resolve: {
          conditions: options.dist ? [...defaultClientConditions] : ['@calm/source', ...defaultClientConditions],
        },
        plugins: [probe],
        build: {
          write: false,
          minify: false,
          reportCompressedSize: false,
          lib: { entry: input, formats: ['es'] },
        },
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const ms = performance.now() - t0;
  const rel = (f: string) => (entryOf.has(f) ? entryOf.get(f)! : relative(root, f).replace(/^(\.\.\/)+/, ''));
  for (const { importer, spec } of builtins) {
    // Shortest chain from each entry that reaches the importer.
    const prev = new Map<string, string | null>([[importer, null]]);
    const queue = [importer];
    const reached = new Map<string, string[]>();
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (entryOf.has(id)) {
        const chain: string[] = [];
        for (let x: string | null | undefined = id; x != null; x = prev.get(x)) chain.push(rel(x));
        reached.set(entryOf.get(id)!, chain);
      }
      for (const up of importersOf.get(id) ?? [])
        if (!prev.has(up)) {
          prev.set(up, id);
          queue.push(up);
        }
    }
    for (const [pkg, chain] of reached)
      violations.push({ pkg, reason: `imports the Node built-in "${spec}": ${chain.join(' → ')}` });
  }
  const seen = new Set<string>();
  return {
    checked: targets.map(([name]) => name),
    modules: importersOf.size,
    ms,
    violations: violations.filter((v) => {
      const key = `${v.pkg}\0${v.reason}`;
      return seen.has(key) ? false : (seen.add(key), true);
    }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const dist = args.includes('--dist');
  if (dist) args.splice(args.indexOf('--dist'), 1);
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? args.splice(onlyAt).slice(1) : undefined;
  const root = resolve(args[0] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const { checked, modules, ms, violations } = await checkBrowserEntries(root, only, { dist });
  if (violations.length > 0) {
    console.error(`browser-entry check FAILED: ${violations.length} violation(s)`);
    for (const v of violations) console.error(`  ${v.pkg}: ${v.reason}`);
  } else {
    console.log(
      `browser-entry check passed: ${checked.join(', ')} bundle for browsers with no Node built-in (${dist ? 'built outputs' : 'sources'}; ${modules} modules, ${(ms / 1000).toFixed(1)} s)`,
    );
  }
  process.exit(violations.length === 0 ? 0 : 1);
}
