// The OpenAI-compatible HTTP sampler against real local servers on 127.0.0.1: n-gram
// completions (token ids in three response layouts, text mode, servers that ignore n),
// transient 503s, malformed JSON, timeouts, client errors, concurrency and abort.
import { afterEach, describe, expect, it } from 'vitest';
import { createRng, isCalmError } from '@calm/core';
import { rejection } from '@calm/testing';
import { NGramModel, evaluateBrierLM } from '../src/index.js';
import { createOpenAICompletionsSampler, createServerTokenizer } from '../src/http.js';
import { exactMeanBrier, tokenPositions } from '../../testing/src/brierlm-helpers.js';
import { ngramHandler, sendJson, startServer, type TestServer } from './fixtures/server.js';

const V = 4;
const trainRng = createRng('http-train');
const lm = NGramModel.fit([Int32Array.from({ length: 500 }, () => (trainRng.uniform() < 0.5 ? 1 : trainRng.int(V)))], {
  order: 2,
  vocabSize: V,
});
const evalRng = createRng('http-eval');
const block = Int32Array.from({ length: 64 }, () => evalRng.int(V));

const servers: TestServer[] = [];
async function serve(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('createOpenAICompletionsSampler', () => {
  it('evaluates an n-gram served over HTTP: unbiased, with full-distribution sampling fields', async () => {
    const server = await serve(ngramHandler(lm));
    const sampler = createOpenAICompletionsSampler({
      baseUrl: server.url,
      model: 'ngram',
      concurrency: 4,
      vocabSize: V,
    });
    const res = await evaluateBrierLM({ kind: 'token', sampler }, [block, block], { batchSize: 32, seed: 1 });
    const truth = exactMeanBrier((c) => lm.probs(c), block, tokenPositions(block.length));
    for (let n = 0; n < 4; n++) expect(Math.abs(res.brier[n]! - truth[n]!)).toBeLessThan(4 * res.brierStderr[n]!);
    expect(server.bodies).toHaveLength(2 * (64 - 4));
    const body = server.bodies[5]!;
    expect(body).toMatchObject({
      model: 'ngram',
      max_tokens: 4,
      n: 2,
      temperature: 1,
      top_p: 1,
      top_k: -1,
      min_p: 0,
      stream: false,
    });
    expect(body['prompt']).toEqual(Array.from(block.subarray(0, 6)));
    expect(new Set(server.bodies.map((b) => b['seed'])).size).toBe(server.bodies.length);
    expect(sampler.stats).toEqual({ requests: 120, retries: 0 });
  });

  it('reads ids from llama.cpp "tokens" and vLLM "token_id:N" logprobs, and tops up when a server ignores n', async () => {
    for (const idsField of ['tokens', 'logprobs'] as const) {
      const server = await serve(ngramHandler(lm, { idsField, maxChoices: 1 }));
      const sampler = createOpenAICompletionsSampler({ baseUrl: `${server.url}/v1/` });
      const out = await sampler.sample([block.subarray(0, 3), block.subarray(0, 5)], 4, 3);
      expect(out.length).toBe(2 * 3 * 4);
      expect(Array.from(out).every((t) => t >= 0 && t < V)).toBe(true);
      expect(server.bodies.map((b) => Number(b['n'])).sort()).toEqual([1, 1, 2, 2, 3, 3]);
    }
  });

  it('text mode: detokenised prompts, completions tokenised by the server', async () => {
    const bytes = NGramModel.fit([new TextEncoder().encode('the cat sat on the mat. the dog sat on the log.')], {
      order: 3,
      vocabSize: 256,
    });
    const server = await serve(ngramHandler(bytes, { idsField: 'none', bytes: true }));
    const sampler = createOpenAICompletionsSampler({ baseUrl: server.url, prompt: 'text' });
    const ctx = Int32Array.from(new TextEncoder().encode('the c'));
    const out = await sampler.sample([ctx], 3, 2);
    expect(server.bodies.find((b) => 'n' in b)!['prompt']).toBe('the c');
    expect(Array.from(out).every((t) => t >= 0 && t < 256)).toBe(true);
    const tok = createServerTokenizer({ baseUrl: server.url });
    expect(Array.from(await tok.encode('hi'))).toEqual([104, 105]);
    expect(await tok.decode(Int32Array.from([104, 105]))).toBe('hi');
  });

  it('retries a transient 503 with backoff and then succeeds', async () => {
    const ok = ngramHandler(lm);
    const server = await serve((req, body, res, i) =>
      i === 0 ? sendJson(res, 503, { error: 'loading model' }) : ok(req, body, res, i),
    );
    const sampler = createOpenAICompletionsSampler({ baseUrl: server.url, retryDelayMs: 5 });
    const out = await sampler.sample([block.subarray(0, 4)], 4, 2);
    expect(out.length).toBe(8);
    expect(sampler.stats).toEqual({ requests: 2, retries: 1 });
    expect(server.bodies[0]).toEqual(server.bodies[1]); // the same request again
  });

  it('gives up after the retries with HTTP_ERROR naming the status', async () => {
    const server = await serve((_, __, res) => sendJson(res, 503, { error: 'overloaded' }));
    const sampler = createOpenAICompletionsSampler({ baseUrl: server.url, retries: 2, retryDelayMs: 1 });
    const e = await rejection(sampler.sample([block], 4, 2));
    expect(isCalmError(e, 'HTTP_ERROR')).toBe(true);
    expect(e.message).toMatch(/HTTP 503.*after 3 attempts/);
    expect(server.bodies).toHaveLength(3);
  });

  it('malformed JSON is a clear HTTP_ERROR at once, without retries', async () => {
    const server = await serve((_, __, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices": [ {"text": "oops"');
    });
    const sampler = createOpenAICompletionsSampler({ baseUrl: server.url, retries: 5 });
    const e = await rejection(sampler.sample([block], 4, 2));
    expect(isCalmError(e, 'HTTP_ERROR')).toBe(true);
    expect(e.message).toMatch(/malformed JSON/);
    expect(server.bodies).toHaveLength(1);
  });

  it('a server that never answers times out with TIMEOUT after the retries', async () => {
    const server = await serve(() => {
      /* never respond */
    });
    const sampler = createOpenAICompletionsSampler({ baseUrl: server.url, timeoutMs: 80, retries: 1, retryDelayMs: 1 });
    const e = await rejection(sampler.sample([block], 4, 2));
    expect(isCalmError(e, 'TIMEOUT')).toBe(true);
    expect(e.message).toMatch(/within 80 ms/);
    expect(e.details).toMatchObject({ attempts: 2 });
  });

  it('client errors and responses without ids fail at once with the fix in the message', async () => {
    const bad = await serve((_, __, res) => sendJson(res, 400, { error: 'unknown field top_k' }));
    const e1 = await rejection(createOpenAICompletionsSampler({ baseUrl: bad.url }).sample([block], 4, 2));
    expect(e1.message).toMatch(/HTTP 400.*unknown field top_k.*sampling fields/);
    expect(bad.bodies).toHaveLength(1);
    const noIds = await serve(ngramHandler(lm, { idsField: 'none' }));
    const e2 = await rejection(createOpenAICompletionsSampler({ baseUrl: noIds.url }).sample([block], 4, 2));
    expect(e2.message).toMatch(/no token ids.*return_token_ids/);
    const noChoices = await serve((_, __, res) => sendJson(res, 200, { choices: [] }));
    const e3 = await rejection(createOpenAICompletionsSampler({ baseUrl: noChoices.url }).sample([block], 4, 2));
    expect(e3.message).toMatch(/non-empty "choices"/);
  });

  it('keeps at most `concurrency` requests in flight and honours abort', async () => {
    const server = await serve(ngramHandler(lm, { delayMs: 10 }));
    const sampler = createOpenAICompletionsSampler({ baseUrl: server.url, concurrency: 3 });
    await sampler.sample(
      Array.from({ length: 12 }, (_, i) => block.subarray(0, i + 1)),
      4,
      2,
    );
    expect(server.maxConcurrent()).toBe(3);

    const slow = await serve(() => {
      /* never respond */
    });
    const controller = new AbortController();
    const pending = createOpenAICompletionsSampler({ baseUrl: slow.url, timeoutMs: 10_000 }).sample([block], 4, 2, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 20);
    expect(isCalmError(await rejection(pending), 'ABORTED')).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => createOpenAICompletionsSampler({ baseUrl: 'not a url' })).toThrow(/not a URL/);
    expect(() => createOpenAICompletionsSampler({ baseUrl: 'http://127.0.0.1:1', concurrency: 0 })).toThrow(
      /concurrency/,
    );
  });
});
