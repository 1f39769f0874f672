// The one place that knows the bundler: every package's tsup.config.ts calls `definePackageConfig`.
// ESM only, .d.ts beside the JS, Node 20 target; dependencies and peers stay external.
import { defineConfig, type Options } from 'tsup';

/** Builds a package's tsup config from its entry points (relative to the package folder). */
export function definePackageConfig(entry: Record<string, string> | string[], extra: Partial<Options> = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'neutral',
    splitting: true,
    treeshake: true,
    // Keep `node:` specifiers as written (the neutral platform would strip them).
    removeNodeProtocol: false,
    // Node built-ins stay imports (only the /node subpaths use them).
    external: [/^node:/],
    ...extra,
  });
}
