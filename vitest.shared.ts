// Shared per-project vitest settings: the project name from package.json, tests under test/,
// and the `@calm/source` export condition for both client and SSR resolution (vitest's node
// environment resolves through Vite's SSR resolver; setting conditions replaces the defaults).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultServerConditions, defaultClientConditions } from 'vite';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

/** Builds a package's vitest project config. */
export function definePackageProject(dir: string, extra: UserWorkspaceConfig['test'] = {}) {
  const { name } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string };
  return defineProject({
    resolve: { conditions: ['@calm/source', ...defaultClientConditions] },
    ssr: {
      resolve: { conditions: ['@calm/source', ...defaultServerConditions], externalConditions: ['@calm/source'] },
    },
    test: {
      name,
      root: dir,
      include: ['test/**/*.test.ts'],
      testTimeout: 60_000,
      ...extra,
    },
  });
}
