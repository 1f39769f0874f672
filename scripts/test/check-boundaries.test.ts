import {
  cpSync,
  existsSync,
  mkdtempSync,
  mkdirSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  readFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBoundaries, REQUIRED_FRAMEWORK_FREE, REQUIRED_LIBRARIES } from '../check-boundaries.ts';

const repo = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'calm-boundary-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the real workspace manifests and sources, sharing the real node_modules. */
function copyOfRepo(): string {
  const root = mkdtempSync(join(tmp, 'ws-'));
  for (const group of ['packages', 'examples']) {
    mkdirSync(join(root, group), { recursive: true });
    cpSync(join(repo, group), join(root, group), {
      recursive: true,
      filter: (src) => !src.includes('node_modules') && !src.includes('/dist') && !src.includes('/fixtures'),
    });
  }
  // Reuse each package's installed dependencies.
  for (const pkg of readdirSync(join(repo, 'packages'))) {
    if (existsSync(join(repo, 'packages', pkg, 'node_modules')))
      symlinkSync(join(repo, 'packages', pkg, 'node_modules'), join(root, 'packages', pkg, 'node_modules'));
  }
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  return root;
}

describe('check-boundaries', () => {
  it('passes on the repository as it is', () => {
    const { checked, libraries, violations } = checkBoundaries(repo);
    expect(violations).toEqual([]);
    for (const name of REQUIRED_FRAMEWORK_FREE) expect(checked).toContain(name);
    for (const name of REQUIRED_LIBRARIES) expect(libraries).toContain(name);
    expect(libraries).not.toContain('@calm/cli');
  });

  it('fails when a library package imports a plotting library or depends on a CLI library or @calm/cli', () => {
    const root = copyOfRepo();
    writeFileSync(join(root, 'packages/model/src/plot.ts'), "import * as vega from 'vega';\nexport const v = vega;\n");
    const file = join(root, 'packages/trainer/package.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    manifest.dependencies = { ...manifest.dependencies, commander: '14.0.2', '@calm/cli': 'workspace:^' };
    writeFileSync(file, JSON.stringify(manifest));
    const reasons = checkBoundaries(root).violations.map((v) => `${v.root}: ${v.reason}`);
    expect(reasons.some((r) => /^@calm\/model: packages\/model\/src\/plot\.ts imports "vega"/.test(r))).toBe(true);
    expect(reasons.some((r) => /^@calm\/trainer: depends on "commander"/.test(r))).toBe(true);
    expect(reasons.some((r) => /^@calm\/trainer: depends on "@calm\/cli"/.test(r))).toBe(true);
  });

  it('fails when a tfjs import is added to @calm/brierlm', () => {
    const root = copyOfRepo();
    writeFileSync(
      join(root, 'packages/brierlm/src/sneaky.ts'),
      "import * as tf from '@tensorflow/tfjs';\nexport const x = tf;\n",
    );
    const { violations } = checkBoundaries(root);
    expect(
      violations.some((v) => v.root === '@calm/brierlm' && /sneaky\.ts imports "@tensorflow\/tfjs"/.test(v.reason)),
    ).toBe(true);
    // The CLI exits non-zero so CI goes red.
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'scripts/check-boundaries.ts'), root], {
      encoding: 'utf8',
      cwd: repo,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/boundary check FAILED/);
  });

  it('fails when @calm/brierlm declares a tfjs dependency or a tfjs-bound @calm package', () => {
    const root = copyOfRepo();
    const file = join(root, 'packages/brierlm/package.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    manifest.dependencies = {
      ...manifest.dependencies,
      '@tensorflow/tfjs-core': '4.22.0',
      '@calm/energy-head': 'workspace:^',
    };
    writeFileSync(file, JSON.stringify(manifest));
    const reasons = checkBoundaries(root)
      .violations.filter((v) => v.root === '@calm/brierlm')
      .map((v) => v.reason);
    expect(reasons).toContain('depends on "@tensorflow/tfjs-core" (the no-tfjs rule)');
    expect(reasons).toContain('depends on "@calm/energy-head" (the no-tfjs rule)');
  });

  it('finds tfjs deep in the closure of a third-party dependency', () => {
    const root = copyOfRepo();
    // A fake external package that itself depends on tfjs, installed into brierlm's node_modules.
    const nm = join(root, 'packages/brierlm/node_modules_fake');
    mkdirSync(join(nm, 'innocent-lib'), { recursive: true });
    writeFileSync(
      join(nm, 'innocent-lib/package.json'),
      JSON.stringify({ name: 'innocent-lib', dependencies: { '@tensorflow/tfjs-node': '4.22.0' } }),
    );
    rmSync(join(root, 'packages/brierlm/node_modules'));
    cpSync(join(repo, 'packages/brierlm/node_modules'), join(root, 'packages/brierlm/node_modules'), {
      recursive: true,
      dereference: false,
      verbatimSymlinks: true,
    });
    cpSync(join(nm, 'innocent-lib'), join(root, 'packages/brierlm/node_modules/innocent-lib'), { recursive: true });
    const file = join(root, 'packages/brierlm/package.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    manifest.dependencies = { ...manifest.dependencies, 'innocent-lib': '1.0.0' };
    writeFileSync(file, JSON.stringify(manifest));
    const v = checkBoundaries(root).violations.find((x) => x.root === '@calm/brierlm');
    expect(v?.path).toEqual(['@calm/brierlm', 'innocent-lib', '@tensorflow/tfjs-node']);
  });
});
