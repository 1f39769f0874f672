// Benchmark of @calm/data-pile: throughput of a compressed JSON-lines shard → packed blocks, the
// path a training run takes through a Pile `NN.jsonl.zst` shard. Builds a shard from the embedded
// State of the Union corpus (real English, Pile-like JSON lines with a `meta` object), compresses
// it with the zstd CLI, checks first that every configuration yields identical blocks (and the
// same blocks as the uncompressed twin), then times: reading only (decompress + parse + split),
// the Llama 3 tokenizer on one core (js-tiktoken), the same with worker threads, and HF
// `tokenizers` on the converted tokenizer.json. Median of the repetitions after a warm-up.
//
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/data-pile-throughput.ts [--mb 8] [--reps 3] [--threads 2]
//   → table on stdout, JSON in results/data-pile-throughput.json. Needs the zstd CLI (apt-get install zstd).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHARED_DATA_DIR } from '@calm/testing';
import { createBlockStream, type BatchEncoder, type Tokenizer } from '@calm/data-pile';
import {
  convertTiktokenToTokenizerJson,
  createTokenizerPool,
  jsonlSource,
  loadHfTokenizer,
  loadSotuCorpus,
  loadTiktokenTokenizer,
} from '@calm/data-pile/node';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const targetMB = arg('mb', 8);
const reps = arg('reps', 3);
const threads = arg('threads', Math.max(2, availableParallelism()));
const BLOCK = 2048;

const tmp = mkdtempSync(join(tmpdir(), 'calm-bench-data-'));
try {
  // A Pile-like shard: SOTU addresses cut at sentence ends into documents of ≈4 KB (the Pile's
  // typical size), as JSON lines with `meta`, repeated up to the target size.
  const corpus = loadSotuCorpus({ split: 'all' });
  const docs: { text: string; year: number }[] = [];
  for (const d of corpus.documents) {
    for (let p = 0; p < d.text.length; ) {
      let end = d.text.indexOf('. ', p + 4000);
      end = end < 0 ? d.text.length : end + 1;
      docs.push({ text: d.text.slice(p, end).trim(), year: d.year });
      p = end;
    }
  }
  const lines: string[] = [];
  let bytes = 0;
  for (let i = 0; bytes < targetMB * 1e6; i++) {
    const d = docs[i % docs.length]!;
    const line =
      JSON.stringify({
        text: d.text,
        meta: { pile_set_name: 'SOTU', year: d.year, copy: Math.floor(i / docs.length) },
      }) + '\n';
    lines.push(line);
    bytes += Buffer.byteLength(line);
  }
  const plain = join(tmp, 'shard.jsonl');
  writeFileSync(plain, lines.join(''));
  const zst = join(tmp, 'shard.jsonl.zst');
  execFileSync('zstd', ['-3', '-q', '-f', plain, '-o', zst]);
  const plainBytes = statSync(plain).size;
  const zstBytes = statSync(zst).size;

  const llama = await loadTiktokenTokenizer(join(SHARED_DATA_DIR, 'llama3-tokenizer', 'tokenizer.model'));
  const hfJson = await convertTiktokenToTokenizerJson(
    join(SHARED_DATA_DIR, 'llama3-tokenizer', 'tokenizer.model'),
    join(tmp, 'tokenizer.json'),
  );
  const hf = await loadHfTokenizer(hfJson);
  const pool = await createTokenizerPool(llama, { threads });

  interface Run {
    ms: number;
    blocks: number;
    tokens: number;
    digest: string;
  }
  async function pipeline(path: string, tok: Tokenizer, encoder?: BatchEncoder): Promise<Run> {
    const t0 = performance.now();
    const s = createBlockStream(jsonlSource(path), tok, {
      blockSize: BLOCK,
      ...(encoder ? { encoder, prefetch: 3 } : {}),
    });
    const h = createHash('sha256');
    let blocks = 0;
    for await (const b of s) {
      h.update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      blocks++;
    }
    return { ms: performance.now() - t0, blocks, tokens: s.stats().tokens, digest: h.digest('hex') };
  }
  async function readOnly(path: string): Promise<Run> {
    const t0 = performance.now();
    let docs = 0;
    let chars = 0;
    for await (const d of jsonlSource(path).documents()) {
      docs++;
      chars += d.text.length;
    }
    return { ms: performance.now() - t0, blocks: docs, tokens: chars, digest: String(docs) };
  }

  // Correctness first: every configuration, compressed or not, yields the same blocks.
  const ref = await pipeline(plain, llama);
  const checks: [string, Run][] = [
    ['zst, tiktoken', await pipeline(zst, llama)],
    ['zst, tiktoken pool', await pipeline(zst, llama, pool)],
    ['zst, HF tokenizers', await pipeline(zst, hf)],
  ];
  for (const [name, r] of checks) {
    if (r.digest !== ref.digest || r.blocks !== ref.blocks) {
      console.error(
        `MISMATCH: ${name} gives ${r.blocks} blocks (${r.digest}) vs ${ref.blocks} (${ref.digest}); not timing a wrong implementation.`,
      );
      process.exit(1);
    }
  }
  console.log(`correctness: ${ref.blocks} blocks of ${BLOCK} identical across plain/zst, tiktoken/pool/HF`);

  const configs: [string, () => Promise<Run>][] = [
    ['read only (zstd + JSON + split)', () => readOnly(zst)],
    ['tiktoken, 1 core', () => pipeline(zst, llama)],
    [`tiktoken, ${threads} worker threads`, () => pipeline(zst, llama, pool)],
    ['HF tokenizers (Rust threads)', () => pipeline(zst, hf)],
  ];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rows: Record<string, unknown>[] = [];
  for (const [name, f] of configs) {
    await f(); // warm-up
    const runs: Run[] = [];
    for (let i = 0; i < reps; i++) runs.push(await f());
    const ms = median(runs.map((r) => r.ms));
    const s = ms / 1000;
    rows.push({
      config: name,
      medianMs: Math.round(ms),
      p90Ms: Math.round(
        [...runs.map((r) => r.ms)].sort((a, b) => a - b)[Math.min(runs.length - 1, Math.ceil(runs.length * 0.9) - 1)]!,
      ),
      compressedMBps: +(zstBytes / 1e6 / s).toFixed(2),
      textMBps: +(plainBytes / 1e6 / s).toFixed(2),
      tokensPerSec: name.startsWith('read') ? null : Math.round(runs[0]!.tokens / s),
      blocks: name.startsWith('read') ? null : runs[0]!.blocks,
    });
  }
  await pool.close();
  console.table(rows);
  const context = {
    node: process.version,
    cpu: cpus()[0]?.model,
    cores: availableParallelism(),
    loadavg: loadavg(),
    shard: { textMB: plainBytes / 1e6, compressedMB: zstBytes / 1e6, lines: lines.length, blockSize: BLOCK },
    threads,
    reps,
    date: new Date().toISOString(),
  };
  console.log(context);
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'data-pile-throughput.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ context, rows }, null, 2));
  console.log(`wrote ${out}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
