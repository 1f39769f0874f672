import { definePackageConfig } from '../../tsup.config.base';

// The `node` entry imports Node built-ins; the shared preset builds for the neutral platform,
// which does not know them, so keep them external (the main entry imports none).
export default definePackageConfig({ index: 'src/index.ts', node: 'src/node.ts' }, { external: [/^node:/] });
