// A Vite plugin that serves the output folder of `calm quickstart` at /quickstart/ on the dev and
// preview servers, so the page can load it by URL. The folder is CALM_QUICKSTART_DIR, else
// calm-quickstart/ at the repository root (the quickstart's default output).
import { createReadStream, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connect, Plugin } from 'vite';

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
  '.md': 'text/markdown; charset=utf-8',
  '.jsonl': 'application/jsonl',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** The folder served: `CALM_QUICKSTART_DIR`, else `<repo>/calm-quickstart`. */
export function quickstartDir(): string {
  return resolve(
    process.env['CALM_QUICKSTART_DIR'] ??
      join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'calm-quickstart'),
  );
}

/** Serves files under `dir` at `prefix` (GET and HEAD; 404 for anything else or outside the folder). */
export function serveFolder(prefix: string, dir: () => string): Connect.NextHandleFunction {
  return (req, res: ServerResponse, next) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0]!);
    if (!path.startsWith(prefix)) return next();
    const root = dir();
    const file = resolve(root, `.${path.slice(prefix.length - 1)}`);
    let size = -1;
    try {
      const st = statSync(file);
      if (st.isFile()) size = st.size;
    } catch {
      // not there
    }
    if (
      (file !== root && !file.startsWith(root + sep)) ||
      size < 0 ||
      (req.method !== 'GET' && req.method !== 'HEAD')
    ) {
      res.statusCode = 404;
      res.end(`not found in ${root}`);
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    res.setHeader('Content-Length', size);
    res.setHeader('Cache-Control', 'no-store');
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  };
}

/** The plugin: `/quickstart/…` → the quickstart folder, in `vite` (dev) and `vite preview`. */
export function quickstartFolder(): Plugin {
  const handler = serveFolder('/quickstart/', quickstartDir);
  return {
    name: 'calm-quickstart-folder',
    configureServer(server) {
      server.middlewares.use(handler);
    },
    configurePreviewServer(server) {
      server.middlewares.use(handler);
    },
  };
}
