// Finding a CALM checkpoint and its tokenizer in what the user gives the page: the folder that
// `calm quickstart` writes (picked with a folder input, or its URL), or a checkpoint folder itself.
// Quickstart layout: tokenizer.json, calm/final/{config.json, model.safetensors} (holding the frozen
// autoencoder as ae_model.*), ae/final/{config.json, model.safetensors}.

import { parseSafetensorsHeader } from '@calm/core';
import type { CalmCheckpointBytes } from '@calm/model';

/** A checkpoint and tokenizer found, as bytes and text, with where each came from. */
export interface FoundCheckpoint {
  bytes: CalmCheckpointBytes;
  tokenizerJson: string;
  where: { checkpoint: string; tokenizer: string; autoencoder?: string };
  /** Bytes read in all. */
  size: number;
}

const parentOf = (dir: string): string | undefined => {
  if (dir === '') return undefined;
  const parts = dir.split('/').filter(Boolean);
  parts.pop();
  return parts.length ? `${parts.join('/')}/` : '';
};

/** Joins a folder ('' or 'a/b/') and a relative path with `..` segments; undefined above the root. */
function joinPath(dir: string, rel: string): string | undefined {
  const parts = dir.split('/').filter(Boolean);
  for (const p of rel.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(p);
  }
  return parts.length ? `${parts.join('/')}/` : '';
}

const isArch = (json: unknown, arch: string): boolean =>
  typeof json === 'object' &&
  json !== null &&
  Array.isArray((json as { architectures?: unknown }).architectures) &&
  ((json as { architectures: unknown[] }).architectures as unknown[]).includes(arch);

const parseJson = (bytes: Uint8Array, name: string): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (e) {
    throw new Error(`${name} is not valid JSON (${(e as Error).message}).`);
  }
};

/** Whether safetensors bytes hold the frozen autoencoder's `ae_model.*` copy (reads the header only). */
function hasAeCopy(weights: Uint8Array): boolean {
  const header = parseSafetensorsHeader(weights, weights.length, { fileName: 'model.safetensors' });
  for (const k of header.entries.keys()) if (k.startsWith('ae_model.')) return true;
  return false;
}

/** The files of a picked folder, by path relative to the folder picked. */
export async function fromFiles(list: readonly File[]): Promise<FoundCheckpoint> {
  const files = new Map<string, File>();
  for (const f of list) {
    const rel = f.webkitRelativePath || f.name;
    // A folder input gives "picked/calm/final/config.json": drop the picked folder's own name.
    const path = f.webkitRelativePath ? rel.split('/').slice(1).join('/') : rel;
    files.set(path, f);
  }
  let size = 0;
  const read = async (path: string): Promise<Uint8Array> => {
    const f = files.get(path)!;
    size += f.size;
    return new Uint8Array(await f.arrayBuffer());
  };
  const configs = [...files.keys()].filter((p) => p === 'config.json' || p.endsWith('/config.json'));
  // Prefer the quickstart's final checkpoint, then the shallowest CALM config.
  configs.sort(
    (a, b) =>
      Number(b === 'calm/final/config.json') - Number(a === 'calm/final/config.json') ||
      a.split('/').length - b.split('/').length,
  );
  let dir: string | undefined;
  let config: unknown;
  for (const c of configs) {
    const json = parseJson(await read(c), c);
    const d = c.slice(0, -'config.json'.length);
    if (isArch(json, 'EnergyTransformer') && files.has(`${d}model.safetensors`)) {
      dir = d;
      config = json;
      break;
    }
  }
  if (dir === undefined)
    throw new Error(
      `no CALM checkpoint among the ${files.size} files picked: pick the folder \`calm quickstart\` wrote (it holds calm/final/config.json and model.safetensors).`,
    );
  const weights = await read(`${dir}model.safetensors`);
  let tokenizer: string | undefined;
  for (let d: string | undefined = dir; d !== undefined && !tokenizer; d = parentOf(d))
    if (files.has(`${d}tokenizer.json`)) tokenizer = `${d}tokenizer.json`;
  tokenizer ??= [...files.keys()].filter((p) => p.endsWith('tokenizer.json')).sort((a, b) => a.length - b.length)[0];
  if (!tokenizer)
    throw new Error('no tokenizer.json among the files picked: pick the quickstart folder, which holds it.');
  const tokenizerJson = new TextDecoder().decode(await read(tokenizer));
  const bytes: CalmCheckpointBytes = { config, weights, fileName: `${dir}model.safetensors` };
  const where: FoundCheckpoint['where'] = { checkpoint: dir || '(picked folder)', tokenizer };
  // The autoencoder's config: ae_path from the checkpoint folder, or from its run folder (the
  // quickstart writes "../ae/final" from calm/), or the quickstart's ae/final.
  const aePath = (config as { ae_path?: unknown }).ae_path;
  const candidates = [
    ...(typeof aePath === 'string' && !aePath.startsWith('/') && !aePath.includes(':')
      ? [joinPath(dir, aePath), joinPath(parentOf(dir) ?? '', aePath)]
      : []),
    'ae/final/',
  ];
  for (const c of candidates) {
    if (c === undefined || !files.has(`${c}config.json`)) continue;
    const json = parseJson(await read(`${c}config.json`), `${c}config.json`);
    if (!isArch(json, 'Autoencoder')) continue;
    bytes.aeConfig = json;
    bytes.aeFileName = `${c}model.safetensors`;
    where.autoencoder = c;
    if (!hasAeCopy(weights) && files.has(`${c}model.safetensors`))
      bytes.aeWeights = await read(`${c}model.safetensors`);
    break;
  }
  return { bytes, tokenizerJson, where, size };
}

/**
 * The quickstart folder served at `base` (e.g. the dev server's `/quickstart/`), or a checkpoint
 * folder (config.json + model.safetensors, tokenizer.json beside it or two folders up).
 */
export async function fromUrl(base: string, onProgress?: (text: string) => void): Promise<FoundCheckpoint> {
  const root = new URL(base.endsWith('/') ? base : `${base}/`, location.href);
  let size = 0;
  const get = async (path: string, optional = false): Promise<Uint8Array | undefined> => {
    const url = new URL(path, root);
    onProgress?.(`Fetching ${url.pathname}…`);
    const r = await fetch(url);
    if (r.status === 404 && optional) return undefined;
    if (!r.ok) throw new Error(`${url.href}: HTTP ${r.status} ${r.statusText}`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    size += bytes.length;
    return bytes;
  };
  let dir = 'calm/final/';
  let configBytes = await get(`${dir}config.json`, true);
  if (!configBytes) {
    dir = '';
    configBytes = (await get('config.json'))!;
  }
  const config = parseJson(configBytes, `${dir}config.json`);
  if (!isArch(config, 'EnergyTransformer'))
    throw new Error(
      `${new URL(`${dir}config.json`, root).href} is not a CALM checkpoint (architectures ["EnergyTransformer"]).`,
    );
  const weights = (await get(`${dir}model.safetensors`))!;
  let tokenizer = 'tokenizer.json';
  let tokenizerBytes = await get(tokenizer, dir === '');
  if (!tokenizerBytes) {
    tokenizer = '../../tokenizer.json';
    tokenizerBytes = (await get(tokenizer))!;
  }
  const bytes: CalmCheckpointBytes = { config, weights, fileName: `${dir}model.safetensors` };
  const where: FoundCheckpoint['where'] = {
    checkpoint: new URL(dir, root).href,
    tokenizer: new URL(tokenizer, root).href,
  };
  if (dir === 'calm/final/') {
    const aeConfig = await get('ae/final/config.json', true);
    if (aeConfig) {
      bytes.aeConfig = parseJson(aeConfig, 'ae/final/config.json');
      bytes.aeFileName = 'ae/final/model.safetensors';
      where.autoencoder = new URL('ae/final/', root).href;
      if (!hasAeCopy(weights)) bytes.aeWeights = (await get('ae/final/model.safetensors'))!;
    }
  }
  return { bytes, tokenizerJson: new TextDecoder().decode(tokenizerBytes), where, size };
}
