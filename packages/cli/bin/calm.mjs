#!/usr/bin/env node
// Launches the `calm` command line. An installed package (under node_modules) runs its built
// `dist/cli.js`; in a clone of the repository it runs the TypeScript sources through tsx with the
// `@calm/source` condition, so `npx calm …` needs no build and never runs a stale one.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const installed = fileURLToPath(import.meta.url)
  .split(/[\\/]/)
  .includes('node_modules');
let tsx;
if (!installed) {
  try {
    tsx = import.meta.resolve('tsx');
  } catch {
    tsx = undefined; // a copy of the package outside node_modules without tsx: use the build
  }
}
if (tsx === undefined) {
  await import(new URL('../dist/cli.js', import.meta.url).href);
} else {
  const source = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const args = ['--conditions=@calm/source', '--import', tsx, source, ...process.argv.slice(2)];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
