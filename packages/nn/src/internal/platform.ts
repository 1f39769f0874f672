// What differs between Node and a browser, behind the package-internal import `#platform`
// (package.json `imports`): `platform-node.ts` by default, `platform-browser.ts` under the `browser`
// condition, so a browser bundle of `@calm/nn` holds no Node built-in and no Node-only shim.

/** The wasm backend module as the threads shim sees it. */
export interface WasmThreadsModule {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
  version_wasm: string;
}

/** The platform-specific operations of `@calm/nn`. */
export interface Platform {
  /** `'node'` or `'browser'`. */
  readonly name: 'node' | 'browser';
  /** Initialises the wasm backend with XNNPACK threads through the Node worker shim. */
  initWasmWithThreads(wasm: WasmThreadsModule, threads: number): Promise<void>;
  /** The checkpoint file helpers of `@calm/core/node`. */
  checkpointFiles(): Promise<typeof import('@calm/core/node')>;
  /** `node:fs/promises`, for folder listings. */
  fileSystem(): Promise<typeof import('node:fs/promises')>;
  /**
   * Asks the engine to accept relaxed SIMD in WebAssembly modules compiled from now on, where it
   * needs asking: Node 20 (V8 11.3) has it behind `--experimental-wasm-relaxed-simd`, which this
   * sets process-wide (worker threads included); a browser has it or not (Chrome ≥ 114 without a
   * flag), so there this does nothing. Never throws.
   */
  enableWasmRelaxedSimd(): void;
}
