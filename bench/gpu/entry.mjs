// Device-only bundle entry: a static copy of the webgpu backend bundled with the same tfjs-core,
// handed to @calm/nn's optional import through a shim package (see shim/).
import * as wb from '@tensorflow/tfjs-backend-webgpu';
globalThis.__calmWebgpuBackend = wb;
await import('../src/gpu-webgpu-check.ts');
