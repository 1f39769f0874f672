import { definePackageConfig } from '../../tsup.config.base';

// `#platform` (package.json `imports`) stays an import in the output and is built as two entries
// of its own: the Node one (threads shim, checkpoint files; Node built-ins imported lazily and kept
// external) and the browser one that the `browser` condition selects.
export default definePackageConfig(
  {
    index: 'src/index.ts',
    'internal/platform-node': 'src/internal/platform-node.ts',
    'internal/platform-browser': 'src/internal/platform-browser.ts',
  },
  { external: [/^node:/, '#platform'] },
);
