// Starts a worker thread on one of this package's modules, from the TypeScript sources (tests and
// a clone of the repository, with the `@calm/source` condition: the worker registers tsx, a dev
// dependency of the repository, since a worker does not inherit its parent's loader) or from the
// built `dist/` (an installed package).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The file URL of tsx's ESM API (`tsx/esm/api`, import condition), resolved from this module. */
function tsxEsmApi(): string {
  const req = createRequire(import.meta.url);
  const pkgFile = req.resolve('tsx/package.json');
  const exports = (
    JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import: { default: string } }> }
  ).exports;
  return pathToFileURL(join(dirname(pkgFile), exports['./esm/api']!.import.default)).href;
}

/**
 * Starts a worker on a module of this package.
 * @param module - The module's URL without extension, relative to the caller (e.g.
 *   `new URL('./data-parallel-worker', import.meta.url)`); `.ts` or `.js` is added to match how
 *   this file itself was loaded.
 * @param workerData - The worker's `workerData` (structured-cloneable; shared buffers are shared).
 * @returns The worker.
 */
export function startPackageWorker(module: URL, workerData: unknown): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`${module.href}.${fromSource ? 'ts' : 'js'}`);
  if (!fromSource) return new Worker(url, { workerData });
  const boot = `import(${JSON.stringify(tsxEsmApi())}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { eval: true, workerData, execArgv: ['--conditions=@calm/source'] });
}
