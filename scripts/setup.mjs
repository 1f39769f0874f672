#!/usr/bin/env node
// Installs the workspace with the pinned pnpm. Works on a fresh machine that has only Node 20 + npm:
// pnpm is taken from PATH when it is the pinned version, otherwise run through `npx -y pnpm@<version>`.
import { execSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const pinned = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).calm.pnpmVersion;
let cmd = `npx -y pnpm@${pinned}`;
try {
  if (
    execSync('pnpm --version', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim() === pinned
  )
    cmd = 'pnpm';
} catch {
  /* not installed: use npx */
}
const frozen = process.env.CI ? ' --frozen-lockfile' : '';
const r = spawnSync(`${cmd} install${frozen}`, { stdio: 'inherit', shell: true });
if (r.status !== 0) {
  console.error(`[setup] '${cmd} install' failed with exit code ${r.status}`);
  process.exit(r.status ?? 1);
}
