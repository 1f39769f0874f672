// The tfjs backend of the page: wasm with its binaries served by this app (Vite emits them from the
// `?url` imports below; no CDN), or WebGPU when the browser has an adapter.

import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { initBackend, type BackendInfo } from '@calm/nn';

export type BackendChoice = 'auto' | 'wasm' | 'webgpu' | 'cpu';

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
}

let webgpuProbe: Promise<boolean> | undefined;

/** Whether `navigator.gpu` gives an adapter (asked once). */
export function webgpuAvailable(): Promise<boolean> {
  webgpuProbe ??= (async () => {
    const gpu = (navigator as Navigator & GpuNavigator).gpu;
    if (!gpu) return false;
    try {
      return (await gpu.requestAdapter()) !== null;
    } catch {
      return false;
    }
  })();
  return webgpuProbe;
}

/** Selects the backend (`auto`: WebGPU when available, else wasm) through `@calm/nn`'s initBackend. */
export async function startBackend(choice: BackendChoice): Promise<BackendInfo> {
  const name = choice === 'auto' ? ((await webgpuAvailable()) ? 'webgpu' : 'wasm') : choice;
  if (name === 'webgpu') {
    if (!(await webgpuAvailable())) throw new Error('this browser has no WebGPU adapter (navigator.gpu); choose wasm.');
    // Registers the backend factory that initBackend uses in browsers.
    await import('@tensorflow/tfjs-backend-webgpu');
  }
  return initBackend({
    backend: name,
    env: {},
    wasmPaths: {
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    },
  });
}
