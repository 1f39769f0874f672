#!/usr/bin/env node
// Launches the `calm` command line: the built `dist/cli.js` when the package is built (as
// published), else the TypeScript sources through tsx with the `@calm/source` condition (a clone
// of the repository, where `npx calm …` works without a build).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/cli.js', import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  const source = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const tsx = import.meta.resolve('tsx');
  const args = ['--conditions=@calm/source', '--import', tsx, source, ...process.argv.slice(2)];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
