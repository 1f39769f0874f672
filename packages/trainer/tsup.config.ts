import { definePackageConfig } from '../../tsup.config.base';

// The data-parallel worker is its own entry: runTraining starts it by URL beside the other chunks.
export default definePackageConfig({ index: 'src/index.ts', 'data-parallel-worker': 'src/data-parallel-worker.ts' });
