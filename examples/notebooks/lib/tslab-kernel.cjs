#!/usr/bin/env node
// Starts the tslab kernel (scripts/notebooks.sh points the kernel spec here) with one fix: tslab's
// TypeScript watch host holds a single pending timer and throws "Unexpected pending rebuildTimer"
// when a file-system event (a package rebuilt while a notebook runs, a file written next to it)
// asks for a second one — from inside a watcher callback, which kills the kernel. Extra timers are
// queued and run when the pending one fires instead.
'use strict';
const { createRequire } = require('node:module');

const fromTslab = createRequire(require.resolve('tslab/package.json'));
const tsPath = fromTslab.resolve('@tslab/typescript-for-tslab');
const ts = fromTslab(tsPath);
const createWatchCompilerHost = ts.createWatchCompilerHost;

// TypeScript's exports are read-only getters, so tslab gets a copy of the module object (served
// from the require cache) whose createWatchCompilerHost wraps the host's timers.
function patchedCreateWatchCompilerHost(...args) {
  const host = createWatchCompilerHost.apply(this, args);
  const setTimer = host.setTimeout;
  const clearTimer = host.clearTimeout;
  if (typeof setTimer !== 'function' || typeof clearTimer !== 'function') return host;
  let queued = [];
  host.setTimeout = function (callback, ms, ...rest) {
    const runWithQueued = (...a) => {
      callback(...a);
      const extra = queued;
      queued = [];
      for (const t of extra) t.run();
    };
    try {
      return setTimer.call(this, runWithQueued, ms, ...rest);
    } catch (e) {
      if (!/pending rebuildTimer/.test(String(e?.message))) throw e;
      const handle = { run: () => callback(...rest) };
      queued.push(handle);
      return handle;
    }
  };
  host.clearTimeout = function (handle) {
    const i = queued.indexOf(handle);
    if (i >= 0) {
      queued.splice(i, 1);
      return undefined;
    }
    return clearTimer.call(this, handle);
  };
  return host;
}
const patched = {};
for (const key of Object.keys(ts))
  if (key !== 'createWatchCompilerHost') Object.defineProperty(patched, key, { enumerable: true, get: () => ts[key] });
Object.defineProperty(patched, 'createWatchCompilerHost', { enumerable: true, value: patchedCreateWatchCompilerHost });
require.cache[tsPath].exports = patched;

fromTslab('./dist/main.js').main();
