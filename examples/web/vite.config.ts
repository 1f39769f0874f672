// The web app: workspace packages are read from their TypeScript sources (the `@calm/source`
// condition, as the tests do), with the browser conditions, so no build of the packages is needed.
// The folder `calm quickstart` writes is served at /quickstart/ by the dev and preview servers.
import { defaultClientConditions, defineConfig } from 'vite';
import { quickstartFolder } from './quickstart-folder.ts';

export default defineConfig({
  resolve: { conditions: ['@calm/source', ...defaultClientConditions] },
  plugins: [quickstartFolder()],
  // Pre-bundled at start-up, so the dev server never reloads the page when WebGPU is first chosen.
  optimizeDeps: { include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu'] },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  worker: { format: 'es' },
});
