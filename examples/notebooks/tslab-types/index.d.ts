// Lets the tslab kernel type-check imports of the @calm packages. tslab compiles cells with its own
// TypeScript 5.0 and node10 module resolution, which ignores package.json `exports`; each public
// entry point is mapped here to its built declaration file, so the packages must be built first
// (`pnpm run build`; scripts/notebooks.sh does it when dist/ is missing or older than src/).
// At run time the kernel loads the built dist/*.js the same way an installed package would.
// Plain scripts (tsx with the @calm/source condition) and the repo's typecheck never read this file.

declare module '@calm/core' {
  export * from '@calm/core/dist/index.js';
}
declare module '@calm/core/node' {
  export * from '@calm/core/dist/node.js';
}
declare module '@calm/brierlm' {
  export * from '@calm/brierlm/dist/index.js';
}
declare module '@calm/brierlm/node' {
  export * from '@calm/brierlm/dist/node.js';
}
declare module '@calm/brierlm/http' {
  export * from '@calm/brierlm/dist/http.js';
}
declare module '@calm/temperature-sampler' {
  export * from '@calm/temperature-sampler/dist/index.js';
}
declare module '@calm/data-pile' {
  export * from '@calm/data-pile/dist/index.js';
}
declare module '@calm/data-pile/node' {
  export * from '@calm/data-pile/dist/node.js';
}
declare module '@calm/nn' {
  export * from '@calm/nn/dist/index.js';
}
declare module '@calm/energy-head' {
  export * from '@calm/energy-head/dist/index.js';
}
declare module '@calm/autoencoder' {
  export * from '@calm/autoencoder/dist/index.js';
}
declare module '@calm/autoencoder/node' {
  export * from '@calm/autoencoder/dist/node.js';
}
declare module '@calm/model' {
  export * from '@calm/model/dist/index.js';
}
declare module '@calm/model/node' {
  export * from '@calm/model/dist/node.js';
}
declare module '@calm/trainer' {
  export * from '@calm/trainer/dist/index.js';
}
declare module '@calm/cli' {
  export * from '@calm/cli/dist/index.js';
}
