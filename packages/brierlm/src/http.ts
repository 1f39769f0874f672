/**
 * `@calm/brierlm/http`: a `TokenSampler` backed by an OpenAI-compatible `/v1/completions`
 * endpoint (llama.cpp `llama-server`, vLLM, …), with a concurrency limit, retries with
 * exponential backoff and per-request timeouts. Uses only `fetch`, so it runs in browsers too.
 *
 * @remarks
 * Token ids are sent as the prompt and read back from the response (`token_ids` from vLLM's
 * `return_token_ids`, `tokens` from llama.cpp's `return_tokens`, or `"token_id:N"` strings from
 * vLLM's `return_tokens_as_token_ids`), so no tokenizer is needed. With `prompt: 'text'` the
 * context is detokenised and the completion text tokenised again, with a local tokenizer or the
 * server's `/tokenize` and `/detokenize`; that round trip can split tokens differently from the
 * model, so prefer token ids when the server supports them.
 *
 * @example
 * ```ts
 * import { evaluateBrierLM } from '@calm/brierlm';
 * import { createOpenAICompletionsSampler } from '@calm/brierlm/http';
 * const sampler = createOpenAICompletionsSampler({ baseUrl: 'http://127.0.0.1:8080', concurrency: 8 });
 * const result = await evaluateBrierLM({ kind: 'token', sampler }, blocks, { limit: 2 });
 * ```
 *
 * @packageDocumentation
 */

import {
  CalmError,
  NO_TOKEN,
  createRng,
  type Rng,
  type SampleCallOptions,
  type TokenIds,
  type TokenSampler,
} from '@calm/core';
import { checkInt, checkNumber, fail, mapLimit } from './internal/util.js';

/**
 * A tokenizer for the text prompt mode: `encode` turns completion text into ids, `decode` turns
 * context ids into prompt text. Either may be async.
 * @see {@link createOpenAICompletionsSampler}
 * @category HTTP
 */
export interface TextTokenizer {
  /**
   * Tokenises text without special tokens.
   * @param text - The text.
   * @returns Token ids.
   */
  encode(text: string): ArrayLike<number> | Promise<ArrayLike<number>>;
  /**
   * Turns token ids back into text.
   * @param ids - Token ids, int32.
   * @returns The text.
   */
  decode(ids: TokenIds): string | Promise<string>;
}

/**
 * Options of {@link createOpenAICompletionsSampler}.
 * @category HTTP
 */
export interface OpenAICompletionsOptions {
  /** Server address, e.g. `http://127.0.0.1:8080` (a trailing `/v1` is accepted). */
  baseUrl: string;
  /** The `model` field of every request (vLLM needs it; llama.cpp ignores it). */
  model?: string;
  /** How the context is sent: `'token-ids'` (default) or `'text'`. */
  prompt?: 'token-ids' | 'text';
  /** Tokenizer for `prompt: 'text'`; default: the server's `/tokenize` and `/detokenize`. */
  tokenizer?: TextTokenizer;
  /** Most requests in flight at once; default 4. */
  concurrency?: number;
  /** Retries after a transient failure (network error, timeout, HTTP 408/425/429/5xx); default 3. */
  retries?: number;
  /** First backoff delay in ms (doubled per retry, with jitter; `Retry-After` is honoured); default 250. */
  retryDelayMs?: number;
  /** Longest backoff delay in ms; default 8000. */
  maxRetryDelayMs?: number;
  /** Per-request timeout in ms (connection, response and body); default 60000. */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer …` when given. */
  apiKey?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /**
   * Sampling fields of every request. Default `{ temperature: 1, top_p: 1, top_k: -1, min_p: 0 }`:
   * BrierLM needs samples from the model's full distribution (llama.cpp's own defaults truncate it).
   */
  sampling?: Record<string, unknown>;
  /** Further body fields merged last (e.g. `{ return_tokens_as_token_ids: true, logprobs: 0 }`). */
  extraBody?: Record<string, unknown>;
  /** Send a distinct `seed` drawn from the RNG with every request (reproducible where honoured); default true. */
  seedRequests?: boolean;
  /** RNG for request seeds and backoff jitter; default `createRng(seed ?? 0)`. */
  rng?: Rng;
  /** Seed used when no `rng` is given. */
  seed?: number | string;
  /** The `fetch` to use; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Vocabulary size, when known (ids are checked against it). */
  vocabSize?: number;
}

/**
 * Request counters of an HTTP sampler.
 * @see {@link createOpenAICompletionsSampler}
 * @category HTTP
 */
export interface HttpSamplerStats {
  /** HTTP requests sent (including retries). */
  requests: number;
  /** Retries after transient failures. */
  retries: number;
}

/**
 * A TokenSampler backed by an HTTP endpoint, with request counters.
 *
 * @remarks
 * Its `sample(contexts, maxTokens, numSamples)` sends one request per context (more when the
 * server returns fewer choices than asked), with `maxTokens` as `max_tokens` and `numSamples` as
 * `n`; positions after an early stop hold `NO_TOKEN` (−1).
 * @see {@link createOpenAICompletionsSampler}
 * @category HTTP
 */
export interface HttpTokenSampler extends TokenSampler {
  /** Counters, updated as requests are made. */
  readonly stats: HttpSamplerStats;
}

const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    // A released slot is handed straight to the next waiter, so `active` never exceeds `limit`.
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}

function endpoint(baseUrl: string, path: string): string {
  let u = baseUrl.replace(/\/+$/, '');
  if (u.endsWith('/v1') && path.startsWith('/v1/')) u = u.slice(0, -3);
  return u + path;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): CalmError {
  return new CalmError('ABORTED', 'the HTTP request was aborted by its AbortSignal.', {
    source: '@calm/brierlm',
    cause: signal.reason,
  });
}

function excerpt(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

/** A JSON POST with timeout, retries and backoff; returns the parsed body. */
type JsonPoster = (path: string, body: unknown, signal: AbortSignal | undefined) => Promise<unknown>;

function makePoster(
  o: Required<
    Pick<OpenAICompletionsOptions, 'baseUrl' | 'retries' | 'retryDelayMs' | 'maxRetryDelayMs' | 'timeoutMs'>
  > & {
    headers: Record<string, string>;
    fetch: typeof fetch;
    rng: Rng;
    stats: HttpSamplerStats;
    semaphore: Semaphore;
  },
): JsonPoster {
  return (path, body, signal) =>
    o.semaphore.run(async () => {
      const url = endpoint(o.baseUrl, path);
      const payload = JSON.stringify(body);
      for (let attempt = 0; ; attempt++) {
        if (signal?.aborted) throw abortError(signal);
        const controller = new AbortController();
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, o.timeoutMs);
        const onAbort = (): void => controller.abort();
        signal?.addEventListener('abort', onAbort, { once: true });
        let transient: { message: string; retryAfterMs?: number; code: 'HTTP_ERROR' | 'TIMEOUT'; cause?: unknown };
        o.stats.requests++;
        try {
          const res = await o.fetch(url, {
            method: 'POST',
            headers: o.headers,
            body: payload,
            signal: controller.signal,
          });
          const text = await res.text();
          if (res.ok) {
            try {
              return JSON.parse(text) as unknown;
            } catch (e) {
              throw new CalmError(
                'HTTP_ERROR',
                `POST ${url} answered ${res.status} with malformed JSON (${excerpt(text) || 'empty body'}); check that the server implements the OpenAI /v1/completions API.`,
                {
                  source: '@calm/brierlm',
                  cause: e,
                  details: { url, status: res.status },
                },
              );
            }
          }
          const message = `POST ${url} answered HTTP ${res.status} ${res.statusText}: ${excerpt(text)}`;
          if (!RETRY_STATUS.has(res.status)) {
            throw new CalmError(
              'HTTP_ERROR',
              `${message}. Check the request options (model, prompt format, sampling fields).`,
              {
                source: '@calm/brierlm',
                details: { url, status: res.status, body: excerpt(text) },
              },
            );
          }
          const ra = Number(res.headers.get('retry-after'));
          transient = {
            message,
            code: 'HTTP_ERROR',
            ...(Number.isFinite(ra) && ra >= 0 ? { retryAfterMs: ra * 1000 } : {}),
          };
        } catch (e) {
          if (e instanceof CalmError) throw e;
          if (signal?.aborted) throw abortError(signal);
          transient = timedOut
            ? { message: `POST ${url} got no complete answer within ${o.timeoutMs} ms`, code: 'TIMEOUT', cause: e }
            : { message: `POST ${url} failed: ${(e as Error).message}`, code: 'HTTP_ERROR', cause: e };
        } finally {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        }
        if (attempt >= o.retries) {
          throw new CalmError(
            transient.code,
            `${transient.message} (after ${attempt + 1} attempt${attempt ? 's' : ''}). Check that the server is up and reachable, or raise retries/timeoutMs.`,
            { source: '@calm/brierlm', cause: transient.cause, details: { url, attempts: attempt + 1 } },
          );
        }
        o.stats.retries++;
        const backoff = Math.min(o.maxRetryDelayMs, o.retryDelayMs * 2 ** attempt) * (0.5 + 0.5 * o.rng.uniform());
        await sleep(Math.min(o.maxRetryDelayMs, Math.max(backoff, transient.retryAfterMs ?? 0)), signal);
      }
    });
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function intArray(x: unknown): number[] | undefined {
  return Array.isArray(x) && x.every((v) => Number.isInteger(v)) ? (x as number[]) : undefined;
}

/** Token ids of one completion choice, when the server returned them. */
function choiceIds(choice: Record<string, unknown>): number[] | undefined {
  const direct = intArray(choice['token_ids']) ?? intArray(choice['tokens']);
  if (direct) return direct;
  const lp = choice['logprobs'];
  if (isRecord(lp) && Array.isArray(lp['tokens']) && lp['tokens'].length > 0) {
    const ids = lp['tokens'].map((t) =>
      typeof t === 'string' && /^token_id:-?\d+$/.test(t) ? Number(t.slice(9)) : NaN,
    );
    if (ids.every(Number.isInteger)) return ids;
  }
  return undefined;
}

/**
 * Creates a `TokenSampler` that draws continuations from an OpenAI-compatible
 * `/v1/completions` endpoint.
 *
 * @remarks
 * Each context becomes one request with `n` = samples (followed by more requests when a server
 * returns fewer choices than asked), `max_tokens` = tokens, full-distribution sampling fields
 * and, by default, a distinct `seed`. Completions shorter than `max_tokens` are padded with
 * `NO_TOKEN`. Nothing but `fetch` is used.
 * @param options - Endpoint, prompt format, concurrency, retries, timeouts, sampling fields.
 * @returns A TokenSampler with request counters in `stats`.
 * @throws `CalmError` `INVALID_ARGUMENT` for bad options (no `fetch`, bad URL, bad numbers).
 *   The sampler's calls reject with `HTTP_ERROR` (error status, malformed JSON, no token ids),
 *   `TIMEOUT` (no answer in time after all retries) or `ABORTED`.
 * @example
 * {@includeCode ../test/examples.test.ts#http-sampler}
 * @category HTTP
 */
export function createOpenAICompletionsSampler(options: OpenAICompletionsOptions): HttpTokenSampler {
  if (options == null || typeof options.baseUrl !== 'string')
    fail(
      'INVALID_ARGUMENT',
      'createOpenAICompletionsSampler: pass options with baseUrl, e.g. "http://127.0.0.1:8080".',
    );
  try {
    new URL(options.baseUrl);
  } catch {
    fail(
      'INVALID_ARGUMENT',
      `createOpenAICompletionsSampler: baseUrl ${JSON.stringify(options.baseUrl)} is not a URL; pass e.g. "http://127.0.0.1:8080".`,
    );
  }
  const fetchFn = options.fetch ?? (globalThis.fetch as typeof fetch | undefined);
  if (typeof fetchFn !== 'function')
    fail(
      'INVALID_ARGUMENT',
      'createOpenAICompletionsSampler: no fetch available; pass options.fetch (Node >= 18 and browsers have one).',
    );
  const mode = options.prompt ?? 'token-ids';
  if (mode !== 'token-ids' && mode !== 'text')
    fail(
      'INVALID_ARGUMENT',
      `createOpenAICompletionsSampler: prompt must be "token-ids" or "text", got ${JSON.stringify(mode)}.`,
    );
  const concurrency = checkInt(options.concurrency ?? 4, 'concurrency', 1);
  const retries = checkInt(options.retries ?? 3, 'retries', 0);
  const retryDelayMs = checkNumber(options.retryDelayMs ?? 250, 'retryDelayMs', 0);
  const maxRetryDelayMs = checkNumber(options.maxRetryDelayMs ?? 8000, 'maxRetryDelayMs', 0);
  const timeoutMs = checkNumber(options.timeoutMs ?? 60_000, 'timeoutMs', 1);
  if (options.rng && options.seed !== undefined)
    fail('INVALID_ARGUMENT', 'createOpenAICompletionsSampler: pass either rng or seed, not both.');
  const rng = options.rng ?? createRng(options.seed ?? 0);
  const stats: HttpSamplerStats = { requests: 0, retries: 0 };
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    ...options.headers,
  };
  const post = makePoster({
    baseUrl: options.baseUrl,
    retries,
    retryDelayMs,
    maxRetryDelayMs,
    timeoutMs,
    headers,
    fetch: fetchFn,
    rng,
    stats,
    semaphore: new Semaphore(concurrency),
  });
  const tokenizer = options.tokenizer ?? (mode === 'text' ? serverTokenizer(post, options.model) : undefined);
  const sampling = options.sampling ?? { temperature: 1, top_p: 1, top_k: -1, min_p: 0 };
  const seedRequests = options.seedRequests ?? true;
  const V = options.vocabSize;
  const url = endpoint(options.baseUrl, '/v1/completions');

  const complete = async (
    context: TokenIds,
    maxTokens: number,
    numSamples: number,
    signal: AbortSignal | undefined,
  ): Promise<number[][]> => {
    const prompt = mode === 'token-ids' ? Array.from(context) : await tokenizer!.decode(context);
    const rows: number[][] = [];
    while (rows.length < numSamples) {
      const n = numSamples - rows.length;
      const body = {
        ...(options.model === undefined ? {} : { model: options.model }),
        prompt,
        max_tokens: maxTokens,
        n,
        stream: false,
        ...sampling,
        ...(seedRequests ? { seed: rng.int(2 ** 31) } : {}),
        return_token_ids: true,
        return_tokens: true,
        ...options.extraBody,
      };
      const res = await post('/v1/completions', body, signal);
      const choices = isRecord(res) && Array.isArray(res['choices']) ? res['choices'] : undefined;
      if (!choices || choices.length === 0 || !choices.every(isRecord)) {
        fail(
          'HTTP_ERROR',
          `POST ${url} answered without a non-empty "choices" array (${excerpt(JSON.stringify(res) ?? '')}); check that the server implements the OpenAI /v1/completions API.`,
        );
      }
      const sorted = [...choices].sort((a, b) => (Number(a['index']) || 0) - (Number(b['index']) || 0));
      for (const choice of sorted.slice(0, n)) {
        let ids = choiceIds(choice);
        if (ids === undefined) {
          if (mode !== 'text' || typeof choice['text'] !== 'string') {
            fail(
              'HTTP_ERROR',
              `POST ${url}: a completion choice carries no token ids (expected "token_ids", "tokens" or logprobs "token_id:N" strings). ` +
                'Use vLLM (return_token_ids) or llama.cpp (return_tokens), or set prompt: "text" with a tokenizer.',
            );
          }
          ids = Array.from(await tokenizer!.encode(choice['text']), Number);
          ids = ids.slice(0, maxTokens); // re-tokenised text may split into more pieces than were generated
        } else if (ids.length > maxTokens) {
          fail(
            'HTTP_ERROR',
            `POST ${url}: a choice returned ${ids.length} token ids for max_tokens = ${maxTokens}; the server ignored max_tokens.`,
          );
        }
        for (const id of ids) {
          if (id < 0 || (V !== undefined && id >= V))
            fail(
              'HTTP_ERROR',
              `POST ${url}: token id ${id} is outside [0, ${V ?? '∞'}); check vocabSize and the server's tokenizer.`,
            );
        }
        rows.push(ids);
      }
    }
    return rows;
  };

  return {
    stats,
    ...(V === undefined ? {} : { vocabSize: V }),
    async sample(
      contexts: readonly TokenIds[],
      maxTokens: number,
      numSamples: number,
      opts?: SampleCallOptions,
    ): Promise<Int32Array> {
      checkInt(maxTokens, 'maxTokens', 1);
      checkInt(numSamples, 'numSamples', 1);
      const signal = opts?.signal;
      // The semaphore inside `post` bounds requests; mapLimit only bounds pending promises.
      const perContext = await mapLimit(contexts, Math.max(concurrency, 1) * 2, (c) =>
        complete(c, maxTokens, numSamples, signal),
      );
      const out = new Int32Array(contexts.length * numSamples * maxTokens).fill(NO_TOKEN);
      perContext.forEach((rows, b) => rows.forEach((ids, m) => out.set(ids, (b * numSamples + m) * maxTokens)));
      return out;
    },
  };
}

function serverTokenizer(post: JsonPoster, model: string | undefined): TextTokenizer {
  const m = model === undefined ? {} : { model };
  return {
    async encode(text) {
      const res = await post(
        '/tokenize',
        { ...m, content: text, prompt: text, add_special: false, add_special_tokens: false },
        undefined,
      );
      const ids = isRecord(res) ? intArray(res['tokens']) : undefined;
      if (!ids)
        fail(
          'HTTP_ERROR',
          `/tokenize answered without an integer "tokens" array (${excerpt(JSON.stringify(res) ?? '')}); pass options.tokenizer instead.`,
        );
      return ids;
    },
    async decode(ids) {
      const res = await post('/detokenize', { ...m, tokens: Array.from(ids) }, undefined);
      const text = isRecord(res) ? (res['content'] ?? res['prompt']) : undefined;
      if (typeof text !== 'string')
        fail(
          'HTTP_ERROR',
          `/detokenize answered without a "content" or "prompt" string (${excerpt(JSON.stringify(res) ?? '')}); pass options.tokenizer instead.`,
        );
      return text;
    },
  };
}

/**
 * Options of {@link createServerTokenizer}.
 * @category HTTP
 */
export interface ServerTokenizerOptions {
  /** Server address, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The `model` field (vLLM). */
  model?: string;
  /** Per-request timeout in ms; default 60000. */
  timeoutMs?: number;
  /** Retries after transient failures; default 3. */
  retries?: number;
  /** Sent as `Authorization: Bearer …` when given. */
  apiKey?: string;
  /** The `fetch` to use; default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/**
 * A tokenizer that uses a server's `/tokenize` and `/detokenize` endpoints (llama.cpp and
 * vLLM both provide them), without special tokens; handy to tokenise an eval set exactly as
 * the served model does.
 * @param options - Endpoint, timeout, retries.
 * @returns An async {@link TextTokenizer}.
 * @throws `CalmError` `INVALID_ARGUMENT` for a bad URL or no `fetch`; its calls reject
 *   with `HTTP_ERROR` or `TIMEOUT`.
 * @example
 * {@includeCode ../test/examples.test.ts#http-sampler}
 * @category HTTP
 */
export function createServerTokenizer(options: ServerTokenizerOptions): TextTokenizer {
  if (options == null || typeof options.baseUrl !== 'string')
    fail('INVALID_ARGUMENT', 'createServerTokenizer: pass options with baseUrl.');
  const fetchFn = options.fetch ?? (globalThis.fetch as typeof fetch | undefined);
  if (typeof fetchFn !== 'function')
    fail('INVALID_ARGUMENT', 'createServerTokenizer: no fetch available; pass options.fetch.');
  const post = makePoster({
    baseUrl: options.baseUrl,
    retries: checkInt(options.retries ?? 3, 'retries', 0),
    retryDelayMs: 250,
    maxRetryDelayMs: 8000,
    timeoutMs: checkNumber(options.timeoutMs ?? 60_000, 'timeoutMs', 1),
    headers: {
      'content-type': 'application/json',
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    },
    fetch: fetchFn,
    rng: createRng('server-tokenizer'),
    stats: { requests: 0, retries: 0 },
    semaphore: new Semaphore(4),
  });
  return serverTokenizer(post, options.model);
}
