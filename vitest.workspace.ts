// The list of vitest projects: every workspace package with a vitest.config.ts, plus the repo
// scripts' own tests. The root vitest.config.ts passes this list to `test.projects` (vitest 4
// removed the separate workspace file).
export default ['packages/*/vitest.config.ts', 'scripts/vitest.config.ts'];
