import { definePackageConfig } from '../../tsup.config.base';

// The quickstart's AR-baseline worker is its own entry: the quickstart starts it by URL beside cli.js.
export default definePackageConfig({
  index: 'src/index.ts',
  cli: 'src/cli.ts',
  'quickstart-ar-worker': 'src/quickstart-ar-worker.ts',
});
