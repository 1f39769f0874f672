import { definePackageConfig } from '../../tsup.config.base';

export default definePackageConfig({
  index: 'src/index.ts',
  node: 'src/node.ts',
  http: 'src/http.ts',
  bin: 'src/bin.ts',
});
