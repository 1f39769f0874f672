// The browser test of the web app (not part of `npm test`: run it with `pnpm run test:browser`).
// Workspace packages are read from source (`@calm/source`), as in the packages' own tests.
import { fileURLToPath } from 'node:url';
import { definePackageProject } from '../../vitest.shared';

export default definePackageProject(fileURLToPath(new URL('.', import.meta.url)), {
  testTimeout: 120_000,
  hookTimeout: 120_000,
});
