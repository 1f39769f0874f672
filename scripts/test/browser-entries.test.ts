import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBrowserEntries } from '../check-browser-entries.ts';

const repo = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'calm-browser-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The packages the web app (examples/web) uses, directly or through each other. */
const BROWSER_PACKAGES = [
  '@calm/core',
  '@calm/brierlm',
  '@calm/temperature-sampler',
  '@calm/data-pile',
  '@calm/nn',
  '@calm/autoencoder',
  '@calm/energy-head',
  '@calm/model',
];

/** A copy of the workspace's manifests and sources, sharing the real node_modules. */
function copyOfRepo(): string {
  const root = mkdtempSync(join(tmp, 'ws-'));
  for (const group of ['packages', 'examples']) {
    mkdirSync(join(root, group), { recursive: true });
    cpSync(join(repo, group), join(root, group), {
      recursive: true,
      filter: (src) => !/\/(node_modules|dist|fixtures|test)(\/|$)/.test(src),
    });
  }
  for (const group of ['packages', 'examples'])
    for (const pkg of readdirSync(join(repo, group)))
      if (existsSync(join(repo, group, pkg, 'node_modules')))
        symlinkSync(join(repo, group, pkg, 'node_modules'), join(root, group, pkg, 'node_modules'));
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  // The packages' tsconfig.json files extend it (the bundler's TypeScript transform reads them).
  cpSync(join(repo, 'tsconfig.base.json'), join(root, 'tsconfig.base.json'));
  return root;
}

describe('check-browser-entries', () => {
  it('bundles every package the web app uses for a browser with no Node built-in', async () => {
    const { checked, violations } = await checkBrowserEntries(repo);
    expect(violations).toEqual([]);
    expect([...checked].sort()).toEqual([...BROWSER_PACKAGES].sort());
  });

  it('fails when a Node built-in is imported into a browser entry, naming the chain, and exits 1', async () => {
    const root = copyOfRepo();
    const file = join(root, 'packages/brierlm/src/score.ts');
    writeFileSync(
      file,
      `${readFileSync(file, 'utf8')}\nimport { readFileSync } from 'node:fs';\nexport const sneaky = readFileSync;\n`,
    );
    const { violations } = await checkBrowserEntries(root, ['@calm/brierlm', '@calm/core']);
    expect(violations).toEqual([
      {
        pkg: '@calm/brierlm',
        reason:
          'imports the Node built-in "node:fs": @calm/brierlm → packages/brierlm/src/index.ts → packages/brierlm/src/score.ts',
      },
    ]);
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(repo, 'scripts/check-browser-entries.ts'), root, '--only', '@calm/brierlm'],
      { encoding: 'utf8', cwd: repo },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/browser-entry check FAILED: 1 violation/);
  });

  it("fails when @calm/nn's backend reaches the Node threads shim directly instead of through #platform", async () => {
    const root = copyOfRepo();
    const file = join(root, 'packages/nn/src/backend.ts');
    writeFileSync(file, readFileSync(file, 'utf8').replace("from '#platform';", "from './internal/platform-node.js';"));
    const { violations } = await checkBrowserEntries(root, ['@calm/nn']);
    const reasons = violations.map((v) => `${v.pkg}: ${v.reason}`);
    expect(reasons).toContain(
      '@calm/nn: imports the Node built-in "node:os": @calm/nn → packages/nn/src/index.ts → packages/nn/src/backend.ts → packages/nn/src/internal/platform-node.ts → packages/nn/src/wasm-threads.ts',
    );
  });

  it('fails when the web app depends on a package without a browser entry', async () => {
    const root = copyOfRepo();
    const file = join(root, 'examples/web/package.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    manifest.dependencies = { ...manifest.dependencies, '@calm/trainer': 'workspace:*' };
    writeFileSync(file, JSON.stringify(manifest));
    const { violations } = await checkBrowserEntries(root, []);
    expect(violations).toEqual([
      {
        pkg: '@calm/example-web',
        reason: 'depends on @calm/trainer, which has no browser entry (package.json "calm": { "browser": true })',
      },
    ]);
  });
});
