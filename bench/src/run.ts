// `pnpm bench [name]`: lists the benchmark scripts, or runs one (each checks correctness, then times).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dir = import.meta.dirname;
const scripts = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();
const [name, ...rest] = process.argv.slice(2).filter((a) => a !== '--');
if (!name) {
  console.log('usage: pnpm bench <name> [args]\n\navailable:\n' + scripts.map((s) => `  ${s}`).join('\n'));
  process.exit(0);
}
if (!scripts.includes(name)) {
  console.error(`unknown benchmark "${name}"; available: ${scripts.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(
  process.execPath,
  ['--conditions=@calm/source', '--import', 'tsx', join(dir, `${name}.ts`), ...rest],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
