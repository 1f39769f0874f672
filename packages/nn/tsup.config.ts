import { definePackageConfig } from '../../tsup.config.base';

// Node built-ins are only imported lazily (checkpoint files, the wasm threads shim); the neutral
// platform of the shared preset does not know them, so keep them external.
export default definePackageConfig({ index: 'src/index.ts' }, { external: [/^node:/] });
