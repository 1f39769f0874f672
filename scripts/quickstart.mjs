#!/usr/bin/env node
// The README's main job: `calm quickstart` (two-stage CALM training with an AR baseline and
// BrierLM on the embedded corpus). Arguments after `--` are passed through.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const calm = fileURLToPath(new URL('../packages/cli/bin/calm.mjs', import.meta.url));
const r = spawnSync(process.execPath, [calm, 'quickstart', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
