// Backend selection (`tensorflow`, `webgpu`, `wasm` by default, `cpu`) from an option or
// CALM_BACKEND, loading optional packages on demand and returning a one-line report (never printed).

import * as tf from '@tensorflow/tfjs';
import { checkConfigValue, configOneOf, throwConfigProblems, type ConfigValueRule } from '@calm/core';
import { fail } from './internal/errors.js';
import { registerCpuKernels, registerWasmKernels } from './wasm-kernels.js';
import { platform } from '#platform';
import { PINNED_TFJS_VERSION } from './version.js';

/**
 * The compute backends `@calm/nn` can select.
 *
 * @remarks
 * - `tensorflow`: native TensorFlow through `@tensorflow/tfjs-node-gpu` (CUDA) or
 *   `@tensorflow/tfjs-node` (CPU), optional peers the user installs.
 * - `webgpu`: `@tensorflow/tfjs-backend-webgpu` on Dawn (the `webgpu` npm package) in Node, or the
 *   browser's `navigator.gpu`.
 * - `wasm`: `@tensorflow/tfjs-backend-wasm` (SIMD, XNNPACK) with our training kernels; the default.
 * - `cpu`: tfjs's pure-JS backend; slow, used as a test reference.
 * @see {@link initBackend}
 * @category Backends
 */
export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

const BACKENDS: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];
const BACKEND_RULE = configOneOf(...BACKENDS, 'auto');

/**
 * Options of {@link initBackend}.
 * @category Backends
 */
export interface InitBackendOptions {
  /**
   * The backend to use; `'auto'` takes `tensorflow` when its package loads, else `wasm`. When
   * absent, the `CALM_BACKEND` environment variable decides, else `wasm`.
   * @defaultValue `env.CALM_BACKEND ?? 'wasm'`
   */
  backend?: BackendName | 'auto';
  /**
   * XNNPACK threads of the wasm backend. `2` enables the Node-only worker shim (tfjs 4.22.0 only;
   * pthread workers may keep the process alive until `tf.backend().dispose()` or `process.exit`).
   * When absent, the `CALM_WASM_THREADS` environment variable decides, else 1.
   * @defaultValue `env.CALM_WASM_THREADS ?? 1`
   */
  threads?: 1 | 2;
  /**
   * Environment variables to read `CALM_BACKEND` and `CALM_WASM_THREADS` from.
   * @defaultValue `process.env` in Node, `{}` elsewhere
   */
  env?: Record<string, string | undefined>;
  /**
   * Where the wasm binaries are, for bundled apps (passed to `setWasmPaths` of
   * `@tensorflow/tfjs-backend-wasm`): a folder prefix ending in `/`, or one URL per binary (e.g.
   * the URLs a bundler emits for `@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url`).
   * Not needed in Node: tfjs finds them next to its own files.
   */
  wasmPaths?: string | WasmBinaryUrls;
  /**
   * Install the training kernels (`registerWasmKernels` on wasm, `registerCpuKernels` on cpu).
   * @defaultValue true
   */
  patchKernels?: boolean;
  /**
   * Dawn instance toggles for `webgpu` in Node (e.g. `['backend=vulkan']`). When absent we try
   * Dawn's default adapter, then its OpenGL ES adapter in compatibility mode (works on Mesa's
   * software rasteriser, with `EGL_PLATFORM=surfaceless`).
   */
  webgpuFlags?: string[];
}

/**
 * One URL per binary of `@tensorflow/tfjs-backend-wasm`, for {@link InitBackendOptions.wasmPaths}.
 * tfjs picks the binary the browser supports (SIMD, threads); a missing one is only an error when it
 * is the one picked.
 * @see {@link initBackend}
 * @category Backends
 */
export interface WasmBinaryUrls {
  /** The plain binary (no SIMD). */
  'tfjs-backend-wasm.wasm'?: string;
  /** The SIMD binary (every current browser and Node). */
  'tfjs-backend-wasm-simd.wasm'?: string;
  /** The SIMD + threads binary (used only on cross-origin isolated pages). */
  'tfjs-backend-wasm-threaded-simd.wasm'?: string;
}

/**
 * What {@link initBackend} chose.
 * @category Backends
 */
export interface BackendInfo {
  /** The active backend. */
  name: BackendName;
  /** A one-line human-readable report, e.g. `wasm (tfjs 4.22.0, SIMD, 1 thread, training kernels; default)`. */
  detail: string;
  /** Whether our training kernels were installed on this backend. */
  kernelsPatched: boolean;
  /** Compute threads of the wasm backend (1 for the others, whose threading tfjs does not expose). */
  threads: number;
  /** Where the choice came from. */
  source: 'option' | 'env' | 'default';
}

function defaultEnv(): Record<string, string | undefined> {
  return typeof process !== 'undefined' && process.env ? process.env : {};
}

function parseRequest(options: InitBackendOptions): {
  backend: BackendName | 'auto';
  source: BackendInfo['source'];
  threads: number;
  threadsSource: BackendInfo['source'];
} {
  const env = options.env ?? defaultEnv();
  const problems: string[] = [];
  const check = (name: string, rule: ConfigValueRule, value: unknown): boolean => {
    const problem = checkConfigValue(name, rule, value);
    if (problem !== null) problems.push(problem);
    return problem === null;
  };
  let backend: BackendName | 'auto' = 'wasm';
  let source: BackendInfo['source'] = 'default';
  if (options.backend !== undefined) {
    if (check('backend', BACKEND_RULE, options.backend)) backend = options.backend;
    source = 'option';
  } else if (env['CALM_BACKEND'] !== undefined && env['CALM_BACKEND'] !== '') {
    const v = env['CALM_BACKEND'].trim().toLowerCase();
    if (check('CALM_BACKEND', BACKEND_RULE, v)) backend = v as BackendName | 'auto';
    source = 'env';
  }
  let threads = 1;
  let threadsSource: BackendInfo['source'] = 'default';
  if (options.threads !== undefined) {
    if (check('threads', configOneOf(1, 2), options.threads)) threads = options.threads;
    threadsSource = 'option';
  } else if (env['CALM_WASM_THREADS'] !== undefined && env['CALM_WASM_THREADS'] !== '') {
    const v = env['CALM_WASM_THREADS'].trim();
    if (check('CALM_WASM_THREADS', configOneOf('1', '2'), v)) threads = Number(v);
    threadsSource = 'env';
  }
  throwConfigProblems(problems, 'initBackend options', '@calm/nn');
  return { backend, source, threads, threadsSource };
}

const OPTIONAL_IMPORT_HINT = `(installed next to @tensorflow/tfjs@${PINNED_TFJS_VERSION})`;

// A variable specifier keeps bundlers and TypeScript from resolving optional packages eagerly.
async function importOptional(specifier: string): Promise<Record<string, unknown>> {
  return (await import(/* @vite-ignore */ specifier)) as Record<string, unknown>;
}

async function loadTensorflow(): Promise<string> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await importOptional(pkg);
      if (tf.findBackendFactory('tensorflow')) return pkg;
      errors.push(`${pkg}: loaded but registered no "tensorflow" backend`);
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
      // A half-loaded package may have registered kernels; clear them so the next try is clean.
      for (const k of tf.getKernelsForBackend('tensorflow')) tf.unregisterKernel(k.kernelName, 'tensorflow');
      if (tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
    }
  }
  return fail(
    'MISSING_BACKEND',
    `backend "tensorflow" needs @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA 11.2 + cuDNN 8.1) ${OPTIONAL_IMPORT_HINT}: ` +
      `npm i @tensorflow/tfjs-node@${PINNED_TFJS_VERSION} (its install script downloads libtensorflow). Or choose backend "wasm". Import errors: ${errors.join('; ')}`,
  );
}

interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
}
interface AdapterLike {
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  requestDevice(descriptor: Record<string, unknown>): Promise<unknown>;
}

async function loadWebgpu(flags: string[] | undefined): Promise<string> {
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  let gpu = g.navigator?.gpu;
  let adapter: AdapterLike | null = null;
  let mode = 'navigator.gpu';
  if (!gpu) {
    let dawn: { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
    try {
      dawn = (await importOptional('webgpu')) as unknown as typeof dawn;
    } catch (e) {
      fail(
        'MISSING_BACKEND',
        `backend "webgpu" in Node needs the "webgpu" package (Dawn) and @tensorflow/tfjs-backend-webgpu ${OPTIONAL_IMPORT_HINT}: npm i webgpu @tensorflow/tfjs-backend-webgpu@${PINNED_TFJS_VERSION}. (${(e as Error).message.split('\n')[0]})`,
        { cause: e },
      );
    }
    for (const [k, v] of Object.entries(dawn.globals))
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    if (flags) {
      gpu = dawn.create(flags);
      adapter = await gpu.requestAdapter();
      if (!adapter) adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' });
      mode = `Dawn [${flags.join(', ')}]`;
    } else {
      gpu = dawn.create([]);
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      mode = 'Dawn default';
      if (!adapter) {
        // No Vulkan/Metal/D3D adapter (e.g. no GPU): Mesa's OpenGL ES through EGL, headless.
        if (typeof process !== 'undefined' && process.env && process.env['EGL_PLATFORM'] === undefined)
          process.env['EGL_PLATFORM'] = 'surfaceless';
        gpu = dawn.create(['backend=opengl']);
        adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' });
        mode = 'Dawn OpenGL ES, compatibility mode';
      }
    }
    if (g.navigator === undefined) g.navigator = { gpu };
    else if (g.navigator.gpu === undefined)
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  }
  if (platform.name === 'browser' && adapter && mode === 'navigator.gpu' && tf.findBackendFactory('webgpu')) {
    // A page that imported @tensorflow/tfjs-backend-webgpu: its own factory works in browsers (and
    // bundlers cannot follow the optional import below).
    return 'navigator.gpu; adapter found';
  }
  if (!adapter) {
    fail(
      'MISSING_BACKEND',
      `backend "webgpu": no WebGPU adapter found (${mode}). On Linux without a GPU install Mesa (apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri); with an NVIDIA GPU install libvulkan1 and the driver's Vulkan ICD (in containers NVIDIA_DRIVER_CAPABILITIES must include "graphics"); or choose backend "wasm".`,
    );
  }
  let webgpu: Record<string, unknown>;
  try {
    webgpu = await importOptional('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    return fail(
      'MISSING_BACKEND',
      `backend "webgpu" needs @tensorflow/tfjs-backend-webgpu ${OPTIONAL_IMPORT_HINT}: npm i @tensorflow/tfjs-backend-webgpu@${PINNED_TFJS_VERSION}` +
        (platform.name === 'browser'
          ? ", and in a bundled page import '@tensorflow/tfjs-backend-webgpu' before initBackend (bundlers do not see optional imports)."
          : '.'),
      { cause: e },
    );
  }
  const WebGPUBackend = webgpu['WebGPUBackend'] as new (device: unknown, info: unknown) => tf.KernelBackend;
  const limits = adapter.limits;
  const requiredLimits: Record<string, number> = {};
  for (const name of [
    'maxComputeWorkgroupStorageSize',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup',
  ]) {
    if (typeof limits[name] === 'number') requiredLimits[name] = limits[name];
  }
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits,
  });
  // tfjs's own factory asks for an adapter without `featureLevel`, which fails on software
  // renderers; register one that reuses the adapter we found.
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, adapter.info), 3);
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.device, info?.description]
    .filter((s) => s)
    .join(' ')
    .trim();
  return `${mode}; adapter: ${name || 'unknown'}`;
}

interface WasmPackage {
  setWasmPaths(prefixOrFileMap: string | WasmBinaryUrls): void;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
  version_wasm: string;
}

async function loadWasm(threads: number, wasmPaths: string | WasmBinaryUrls | undefined): Promise<number> {
  let wasm: WasmPackage;
  try {
    wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmPackage;
  } catch (e) {
    return fail(
      'MISSING_BACKEND',
      `backend "wasm" needs @tensorflow/tfjs-backend-wasm ${OPTIONAL_IMPORT_HINT}: npm i @tensorflow/tfjs-backend-wasm@${PINNED_TFJS_VERSION}.`,
      { cause: e },
    );
  }
  const initialised = tf.engine().registry['wasm'] !== undefined;
  if (initialised) {
    const current = wasm.getThreadsCount();
    if (current !== threads) {
      fail(
        'INVALID_CONFIG',
        `initBackend: the wasm backend is already running with ${current} thread(s); threads (${threads}) can only be chosen before it first starts. Call initBackend first in the process.`,
      );
    }
    if (!(await tf.setBackend('wasm')))
      fail('MISSING_BACKEND', 'the wasm backend is registered but could not be selected.');
    return current;
  }
  if (wasmPaths !== undefined) wasm.setWasmPaths(wasmPaths);
  if (threads > 1) await platform.initWasmWithThreads(wasm, threads);
  else if (!(await tf.setBackend('wasm'))) {
    fail(
      'MISSING_BACKEND',
      'the wasm backend failed to initialise: its .wasm binaries were not found. In a bundled app pass wasmPaths (the folder holding tfjs-backend-wasm*.wasm).',
    );
  }
  return wasm.getThreadsCount();
}

/**
 * Selects and initialises the compute backend, installing our training kernels where needed.
 *
 * @remarks
 * Order of precedence: `options.backend`, then `CALM_BACKEND`, then `wasm`. Optional packages
 * are imported here, on demand; importing `@calm/nn` registers nothing. A backend that cannot be
 * loaded is an error (never a silent fallback), except under `'auto'`, which falls back from
 * `tensorflow` to `wasm` and says so in `detail`.
 *
 * @param options - Backend, threads, environment, wasm binary location, kernel patching.
 * @returns What was chosen, with a one-line `detail` for logs (the library never prints it).
 * @throws `CalmError` `MISSING_BACKEND` naming the package to install (or the missing
 *   adapter), `INVALID_CONFIG` for a bad option or environment value, `NOT_SUPPORTED` for the
 *   threads shim on another tfjs version or outside Node.
 * @example
 * {@includeCode ../test/examples.test.ts#backend}
 * @category Backends
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const req = parseRequest(options);
  const patch = options.patchKernels ?? true;
  let name: BackendName;
  let note = '';
  if (req.backend === 'auto') {
    try {
      note = await loadTensorflow();
      name = 'tensorflow';
    } catch (e) {
      name = 'wasm';
      note = 'auto: tensorflow unavailable';
      void e;
    }
  } else {
    name = req.backend;
  }
  if (req.threads > 1 && name !== 'wasm' && req.threadsSource === 'option') {
    fail(
      'INVALID_CONFIG',
      `initBackend: threads: ${req.threads} applies to the wasm backend only, but backend "${name}" was chosen; drop the threads option.`,
    );
  }
  const threadsNote = req.threads > 1 && name !== 'wasm' ? `; CALM_WASM_THREADS=${req.threads} ignored (not wasm)` : '';
  const source = req.source;
  const tfv = `tfjs ${tf.version_core}`;
  switch (name) {
    case 'tensorflow': {
      const pkg = req.backend === 'auto' ? note : await loadTensorflow();
      if (!(await tf.setBackend('tensorflow')))
        fail(
          'MISSING_BACKEND',
          `${pkg} loaded but the "tensorflow" backend failed to initialise (for -gpu: CUDA 11.2 and cuDNN 8.1 libraries must be on the library path).`,
        );
      return {
        name,
        kernelsPatched: false,
        threads: 1,
        source,
        detail: `tensorflow (${pkg}, ${tfv}; ${source}${threadsNote})`,
      };
    }
    case 'webgpu': {
      // Already running (a second call): keep the device and its tensors.
      const running = tf.engine().registry['webgpu'] !== undefined;
      const desc = running ? 'already initialised' : await loadWebgpu(options.webgpuFlags);
      if (!(await tf.setBackend('webgpu')))
        fail('MISSING_BACKEND', `the webgpu backend failed to initialise (${desc}); choose backend "wasm".`);
      return {
        name,
        kernelsPatched: false,
        threads: 1,
        source,
        detail: `webgpu (${desc}, ${tfv}; ${source}${threadsNote})`,
      };
    }
    case 'cpu': {
      if (!(await tf.setBackend('cpu')))
        fail('MISSING_BACKEND', 'the cpu backend failed to initialise; is @tensorflow/tfjs installed?');
      // The cpu backend prints an advert for tfjs-node on first use in Node; the choice was deliberate.
      const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
      if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
      if (patch) registerCpuKernels();
      return {
        name,
        kernelsPatched: patch,
        threads: 1,
        source,
        detail: `cpu (${tfv}, pure JS${patch ? ', fast UnsortedSegmentSum' : ''}; ${source}${threadsNote})`,
      };
    }
    case 'wasm': {
      const threads = await loadWasm(req.threads, options.wasmPaths);
      if (patch) registerWasmKernels();
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
      const parts = [
        tfv,
        simd,
        `${threads} thread${threads === 1 ? '' : 's'}`,
        patch ? 'training kernels' : 'stock kernels',
      ];
      const why = note ? `${note}; ${source}` : source;
      return {
        name,
        kernelsPatched: patch,
        threads,
        source,
        detail: `wasm (${parts.join(', ')}; ${why}${threadsNote})`,
      };
    }
  }
}
