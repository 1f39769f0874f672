// Tokenisation off the main thread: a pool of worker threads, each holding its own copy of the
// tokenizer, that encodes batches of documents in parallel and reports its throughput.

import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fail, checkInt } from '../internal/errors.js';
import type { BatchEncoder, Tokenizer } from '../tokenizer.js';

// The worker is plain CommonJS evaluated from a string, so it runs the same from TypeScript
// sources (tests) and from the built package, and needs nothing but the two tokenizer libraries.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const spec = workerData.spec;
let encodeBatch;
if (spec.kind === 'tiktoken') {
  const { Tiktoken } = require(workerData.modulePath);
  const enc = new Tiktoken({ pat_str: spec.pattern, special_tokens: spec.specialTokens, bpe_ranks: spec.ranks });
  encodeBatch = async (texts) => texts.map((t) => enc.encode(t, 'all'));
} else {
  const tk = require(workerData.modulePath);
  const t = tk.Tokenizer.fromString(spec.json);
  if (spec.addedSpecialTokens.length) t.addSpecialTokens(spec.addedSpecialTokens);
  encodeBatch = async (texts) => texts.length ? (await t.encodeBatch(texts, { addSpecialTokens: false })).map((e) => e.getIds()) : [];
}
parentPort.on('message', async (msg) => {
  try {
    const t0 = Date.now();
    const lists = await encodeBatch(msg.texts);
    let total = 0;
    for (const l of lists) total += l.length;
    const ids = new Int32Array(total);
    const lengths = new Int32Array(lists.length);
    let p = 0;
    lists.forEach((l, i) => { ids.set(l, p); p += l.length; lengths[i] = l.length; });
    parentPort.postMessage({ id: msg.id, ids, lengths, ms: Date.now() - t0 }, [ids.buffer, lengths.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: String((e && e.message) || e) });
  }
});
parentPort.postMessage({ ready: true });
`;

/**
 * Options of {@link createTokenizerPool}.
 * @category Tokenizers
 */
export interface TokenizerPoolOptions {
  /**
   * Worker threads.
   * @defaultValue the number of available cores
   */
  threads?: number;
}

/**
 * Throughput of a tokenizer pool.
 * @see {@link createTokenizerPool}
 * @category Tokenizers
 */
export interface TokenizerPoolStats {
  /** Worker threads. */
  threads: number;
  /** Texts encoded. */
  texts: number;
  /** Characters (UTF-16 code units) encoded. */
  chars: number;
  /** Tokens produced. */
  tokens: number;
  /** Milliseconds during which at least one `encodeBatch` call was running. */
  activeMs: number;
  /** Milliseconds each worker spent encoding, summed over workers. */
  workerBusyMs: number;
  /** Characters per second of active time. */
  charsPerSecond: number;
}

/**
 * A {@link BatchEncoder} backed by worker threads.
 * @see {@link createTokenizerPool}
 * @category Tokenizers
 */
export interface TokenizerPool extends BatchEncoder {
  /** Worker threads. */
  readonly threads: number;
  /**
   * Current throughput figures.
   * @returns A snapshot.
   */
  stats(): TokenizerPoolStats;
  /** Terminates the workers. */
  close(): Promise<void>;
}

interface Job {
  resolve(v: { ids: Int32Array; lengths: Int32Array; ms: number }): void;
  reject(e: unknown): void;
}

/**
 * Starts worker threads that each rebuild `tokenizer` and encode batches in parallel.
 *
 * @remarks
 * Use it when tokenisation is the bottleneck, which it is for the Llama 3 tokenizer (≈2 MB/s of
 * text per core with js-tiktoken, against ≈50–100 MB/s for reading and decompressing): pass it
 * as the `encoder` option of `createBlockStream`. Each `encodeBatch` call is cut into one
 * contiguous slice per thread (balanced by characters); results come back in order, as one
 * transferred buffer per slice. Output ids are identical to the tokenizer's own. Each worker holds
 * a copy of the tokenizer (≈0.5 s to start for Llama 3). HF `tokenizers` already encodes batches
 * on Rust threads, so a pool helps it less.
 *
 * @param tokenizer - A tokenizer with `workerSpec` (all tokenizers of this package have one).
 * @param options - Number of threads.
 * @returns The pool, once every worker is ready; call `close` when done.
 * @throws `CalmError` `INVALID_ARGUMENT` when the tokenizer cannot be rebuilt in a worker;
 * `INTERNAL` when a worker fails to start.
 * @example
 * {@includeCode ../../test/examples.test.ts#tokenizer-pool}
 * @category Tokenizers
 */
export async function createTokenizerPool(
  tokenizer: Tokenizer,
  options: TokenizerPoolOptions = {},
): Promise<TokenizerPool> {
  const threads = checkInt(options.threads ?? availableParallelism(), 'threads', 1, 256);
  const spec = tokenizer.workerSpec?.();
  if (!spec)
    fail(
      'INVALID_ARGUMENT',
      `createTokenizerPool: tokenizer ${tokenizer.name} has no workerSpec(); it cannot be rebuilt in a worker thread.`,
    );
  const req = createRequire(import.meta.url);
  const modulePath = spec.kind === 'tiktoken' ? req.resolve('js-tiktoken/lite') : req.resolve('tokenizers');
  const workers: Worker[] = [];
  const jobs = new Map<number, Job>();
  const owner = new Map<number, number>();
  const inFlight = new Array<number>(threads).fill(0);
  let nextId = 0;
  let broken: Error | null = null;
  const st = { texts: 0, chars: 0, tokens: 0, activeMs: 0, workerBusyMs: 0 };
  let active = 0;
  let activeSince = 0;

  const ready = (w: Worker, i: number) =>
    new Promise<void>((resolve, reject) => {
      const onMessage = (m: {
        ready?: boolean;
        id?: number;
        ids?: Int32Array;
        lengths?: Int32Array;
        ms?: number;
        error?: string;
      }) => {
        if (m.ready) {
          resolve();
          return;
        }
        const job = jobs.get(m.id!);
        if (!job) return;
        jobs.delete(m.id!);
        owner.delete(m.id!);
        if (--inFlight[i]! === 0) w.unref();
        if (m.error !== undefined) job.reject(new Error(m.error));
        else job.resolve({ ids: m.ids!, lengths: m.lengths!, ms: m.ms! });
      };
      w.on('message', onMessage);
      w.on('error', (e) => {
        broken = e;
        reject(e);
        for (const [id, job] of jobs) {
          if (owner.get(id) === i) {
            jobs.delete(id);
            job.reject(e);
          }
        }
      });
      w.on('exit', (code) => {
        if (code !== 0 && !broken) broken = new Error(`worker exited with code ${code}`);
      });
    });

  try {
    const starts: Promise<void>[] = [];
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { spec, modulePath } });
      workers.push(w);
      starts.push(ready(w, i));
    }
    await Promise.all(starts);
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    fail('INTERNAL', `tokenizer pool: a worker failed to start (${(e as Error).message}).`, { cause: e });
  }
  for (const w of workers) w.unref();

  function send(i: number, texts: string[]): Promise<{ ids: Int32Array; lengths: Int32Array; ms: number }> {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      jobs.set(id, { resolve, reject });
      owner.set(id, i);
      if (inFlight[i]!++ === 0) workers[i]!.ref();
      workers[i]!.postMessage({ id, texts });
    });
  }

  let closed = false;
  return {
    threads,
    async encodeBatch(texts: readonly string[]): Promise<Int32Array[]> {
      if (closed) fail('INVALID_ARGUMENT', 'tokenizer pool is closed.');
      if (broken)
        fail('INTERNAL', `tokenizer pool: a worker died (${broken.message}); create a new pool.`, { cause: broken });
      if (texts.length === 0) return [];
      if (active++ === 0) activeSince = Date.now();
      try {
        // Contiguous slices with about equal numbers of characters.
        let total = 0;
        for (const t of texts) total += t.length;
        const slices: string[][] = [];
        let cur: string[] = [];
        let acc = 0;
        for (const t of texts) {
          cur.push(t);
          acc += t.length;
          if (slices.length < threads - 1 && acc >= (total * (slices.length + 1)) / threads) {
            slices.push(cur);
            cur = [];
          }
        }
        if (cur.length) slices.push(cur);
        const results = await Promise.all(slices.map((s, i) => send(i % threads, s)));
        const out: Int32Array[] = [];
        for (const r of results) {
          let p = 0;
          for (const n of r.lengths) {
            out.push(r.ids.subarray(p, p + n));
            p += n;
          }
          st.tokens += r.ids.length;
          st.workerBusyMs += r.ms;
        }
        st.texts += texts.length;
        st.chars += total;
        return out;
      } catch (e) {
        return fail('INTERNAL', `tokenizer pool: encoding failed (${(e as Error).message}).`, { cause: e });
      } finally {
        if (--active === 0) st.activeMs += Date.now() - activeSince;
      }
    },
    stats(): TokenizerPoolStats {
      const activeMs = st.activeMs + (active > 0 ? Date.now() - activeSince : 0);
      return { threads, ...st, activeMs, charsPerSecond: activeMs > 0 ? (st.chars / activeMs) * 1000 : 0 };
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
