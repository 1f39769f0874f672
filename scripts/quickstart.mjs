#!/usr/bin/env node
// The README's main job. Runs `calm quickstart` (two-stage CALM training on the embedded corpus,
// with the AR baseline and BrierLM) when @calm/trainer is present; until then, the BrierLM example
// on WikiText. Arguments after `--` are passed through.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const trainerCli = 'packages/trainer/src/cli.ts';
const target = existsSync(new URL(`../${trainerCli}`, import.meta.url))
  ? [trainerCli, 'quickstart', ...args]
  : ['examples/brierlm-ngram/run.ts', ...args];
const r = spawnSync(process.execPath, ['--conditions=@calm/source', '--import', 'tsx', ...target], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
