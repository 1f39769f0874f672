// Example 1 (notebook and script): score any generator with BrierLM — an n-gram model and the same
// model behind an HTTP completions endpoint — on WikiText-103. Framework-free: no tfjs anywhere.

// %% [markdown]
// # 1 · Score any generator with BrierLM
//
// CALM's language model has no likelihood: it can only *draw* the next chunk of tokens. Perplexity
// is therefore out, and the paper scores models with **BrierLM**, which needs nothing but samples.
// `@calm/brierlm` computes it for any generator — CALM, an ordinary language model, a model behind
// an HTTP API — and this notebook shows how, with a small n-gram model standing in for "your model".
//
// Nothing here needs TensorFlow.js: `@calm/brierlm` and `@calm/core` are framework-free.
//
// **Run it.** As a notebook: `scripts/notebooks.sh --open` (see examples/notebooks/README.md). As a
// plain script: `pnpm exec tsx --conditions=@calm/source examples/notebooks/01-brierlm.ts`. With no
// TensorFlow.js installed at all: `scripts/notebooks.sh --no-tfjs 01` installs only what the
// framework-free notebooks (this one and notebook 2) need into a folder of its own, checks that no
// `@tensorflow` package is there, and runs this notebook from there (`--no-tfjs --open` opens it).
// By default it runs a small configuration (seconds); set `CALM_FULL=1` (or `FULL = true` below)
// for the whole held-out set.

// %%
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRng } from '@calm/core';
import {
  NGramModel,
  byteTokenizer,
  evaluateBrierLM,
  makeEvalBlocks,
  type BrierGenerator,
  type BrierLMResult,
} from '@calm/brierlm';
import { readJsonlTexts } from '@calm/brierlm/node';
import { createOpenAICompletionsSampler } from '@calm/brierlm/http';
import { sharedDataPath, shortPath, showTable, type Row } from './lib/notebook.js';
import { showPlot } from './lib/plot.js';

const FULL = process.env['CALM_FULL'] === '1';
const settings = {
  data: sharedDataPath('wikitext-103-document-test.jsonl'), // override the folder with CALM_DATA_DIR
  order: 4, // the n-gram conditions on the last order − 1 bytes
  trainDocs: 50, // documents 0..49 fit the n-gram; the rest are held out
  blockSize: 2048, // the official AR protocol cuts held-out text into blocks of 2048 tokens
  blocks: FULL ? 1000 : 2, // held-out blocks to score (there are 85)
  httpBlocks: FULL ? 1000 : 1, // blocks scored through the HTTP endpoint (one request per position)
  orders: FULL ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1, 2, 3, 4, 6, 8], // n-gram orders compared at the end
  seed: 0,
};
console.log(`${FULL ? 'full' : 'small'} mode; data: ${shortPath(settings.data)}`);

// %% [markdown]
// ## What BrierLM measures
//
// The **Brier score** of a predicted distribution P for an outcome y is
// `Brier(P, y) = 2·P(y) − Σₓ P(x)²`. It is *strictly proper*: its expectation over y ~ Q is
// largest exactly when P = Q, so a model cannot game it. And both terms are probabilities of
// events we can simulate. Draw two independent samples x₁, x₂ ~ P:
//
// - `E[1{x₁ = y}] = P(y)`, and
// - `E[1{x₁ = x₂}] = Σₓ P(x)²` (the collision probability),
//
// so `1{x₁ = y} + 1{x₂ = y} − 1{x₁ = x₂}` is an **unbiased estimate from two samples**, with no
// probabilities at all. **Brier-n** uses the next *n tokens* as the outcome, and
// **BrierLM = 100 · (Brier-1 · Brier-2 · Brier-3 · Brier-4)^¼**, each Brier-n averaged over all
// evaluated positions first.
//
// A single two-sample estimate is crude (it is −1, 0, 1 or 2), but its average converges to the
// exact value. Let us check on one context with a byte-level n-gram, whose probabilities we know.

// %%
const tok = byteTokenizer(); // bytes 0..255, BOS = 256
const docs = await readJsonlTexts(settings.data);
const withBos = (text: string): Int32Array => Int32Array.from([tok.bosId, ...tok.encode(text)]);
const lm = NGramModel.fit(docs.slice(0, settings.trainDocs).map(withBos), {
  order: settings.order,
  vocabSize: tok.vocabSize,
});
console.log(
  `${docs.length} documents; the ${settings.order}-gram saw ${lm.trainingTokens.toLocaleString('en')} training bytes`,
);

const context = withBos(' The game was released in ');
const gold = tok.encode('1')[0]!; // say the text goes on "... released in 1998"
const p = lm.probs(context); // the exact next-byte distribution, a Float64Array of 257
const collision = p.reduce((s, q) => s + q * q, 0);

const rng = createRng(settings.seed);
const draws = 20_000;
let sum = 0;
let sumSq = 0;
for (let i = 0; i < draws; i++) {
  const x1 = rng.categorical(p);
  const x2 = rng.categorical(p);
  const estimate = Number(x1 === gold) + Number(x2 === gold) - Number(x1 === x2);
  sum += estimate;
  sumSq += estimate * estimate;
}
const mcMean = sum / draws;
const mcStderr = Math.sqrt((sumSq / draws - mcMean * mcMean) / (draws - 1));
showTable(
  [
    { quantity: 'P(y), y = "1"', value: p[gold]!.toFixed(4) },
    { quantity: 'Σ P(x)²', value: collision.toFixed(4) },
    { quantity: 'Brier-1, exact: 2P(y) − ΣP²', value: (2 * p[gold]! - collision).toFixed(4) },
    {
      quantity: `Brier-1, mean of ${draws} two-sample estimates`,
      value: `${mcMean.toFixed(4)} ± ${mcStderr.toFixed(4)}`,
    },
  ],
  'One position, exact vs two-sample estimate',
);

// %% [markdown]
// ## Three estimators, one metric
//
// `evaluateBrierLM(generator, blocks)` picks the estimator from what the generator can do — the
// three contracts of `@calm/core`:
//
// | `kind` | the generator is a… | how Brier-n is estimated |
// | --- | --- | --- |
// | `explicit` | `NextTokenModel` (exposes probabilities) | exact P(y), Monte-Carlo collision term (the official `train_ar.py`), lowest variance |
// | `token` | `TokenSampler` (can only sample continuations, e.g. an API) | two samples of 4 tokens at every position |
// | `chunk` | `ChunkSampler` (CALM: draws whole chunks of K tokens) | two sampled chunks at every chunk boundary (the official `eval_brier`) |
//
// The n-gram is all three at once, so we can check that they agree. The held-out documents go
// through the official protocol: BOS per document, concatenate, cut into blocks, drop the remainder.

// %%
const { blocks } = await makeEvalBlocks(docs.slice(settings.trainDocs), tok, {
  blockSize: settings.blockSize,
  bosId: tok.bosId,
  maxBlocks: settings.blocks,
});
console.log(`${blocks.length} held-out block(s) of ${settings.blockSize} bytes`);

const generators: Record<string, BrierGenerator> = {
  explicit: { kind: 'explicit', model: lm },
  token: { kind: 'token', sampler: lm.asTokenSampler({ seed: settings.seed }) },
  'chunk K=4': { kind: 'chunk', sampler: lm.asChunkSampler(4, { seed: settings.seed }) },
};
const results: Record<string, BrierLMResult> = {};
const timings: Record<string, number> = {};
for (const [name, generator] of Object.entries(generators)) {
  const t0 = performance.now();
  results[name] = await evaluateBrierLM(generator, blocks, { seed: settings.seed, batchSize: 256 });
  timings[name] = (performance.now() - t0) / 1000;
}

const pm = (x: number, se: number, digits = 4): string => `${x.toFixed(digits)} ± ${se.toFixed(digits)}`;
const resultRow = (name: string, r: BrierLMResult): Row => ({
  estimator: name,
  positions: r.numPositions,
  'Brier-1': pm(r.brier[0], r.brierStderr[0]),
  'Brier-2': pm(r.brier[1], r.brierStderr[1]),
  'Brier-3': pm(r.brier[2], r.brierStderr[2]),
  'Brier-4': pm(r.brier[3], r.brierStderr[3]),
  'BrierLM ×100': pm(r.brierLM, r.brierLMStderr, 2),
  'model calls': r.calls,
});
showTable(
  Object.entries(results).map(([name, r]) => ({ ...resultRow(name, r), seconds: timings[name]!.toFixed(2) })),
  `BrierLM of a byte-level ${settings.order}-gram, ± one standard error`,
);
for (const w of new Set(Object.values(results).flatMap((r) => r.warnings))) console.log(`note: ${w}`);

// %% [markdown]
// The explicit and token estimators score the same positions and estimate the same quantity; the
// explicit one is tighter because it uses exact probabilities where the token one flips coins.
// The chunk estimator only scores n-grams that start at a chunk boundary (one position in K), as
// the official CALM evaluation does, so it sees a quarter of the positions.
//
// ## Standard errors
//
// Each Brier-n is a mean over positions, so its standard error is the usual one; BrierLM's comes
// from the **delta method** on the 4×4 covariance of the four means (or a seeded **bootstrap**).
// Which positions count as independent is a choice: neighbouring positions share their context,
// so with 10 blocks or more the default unit is the **block** (cluster-robust, larger errors);
// below that it falls back to positions. The official code reports no error bars at all.

// %%
const explicitResult = results['explicit']!;
const bootstrap = await evaluateBrierLM(generators['explicit']!, blocks, {
  seed: settings.seed,
  batchSize: 256,
  stderr: { method: 'bootstrap', bootstrapSamples: 500 },
});
showTable(
  [
    {
      method: `delta, unit = ${explicitResult.stderrUnit}`,
      'BrierLM ×100': explicitResult.brierLM.toFixed(2),
      'std. error': explicitResult.brierLMStderr.toFixed(3),
      '95% interval': explicitResult.brierLMCI.map((v) => v.toFixed(2)).join(' … '),
    },
    {
      method: `bootstrap ×500, unit = ${bootstrap.stderrUnit}`,
      'BrierLM ×100': bootstrap.brierLM.toFixed(2),
      'std. error': bootstrap.brierLMStderr.toFixed(3),
      '95% interval': bootstrap.brierLMCI.map((v) => v.toFixed(2)).join(' … '),
    },
  ],
  'Two ways to put an error bar on BrierLM (explicit estimator)',
);

const brierBars = Object.entries(results).flatMap(([estimator, r]) =>
  r.brier.map((b, i) => ({
    estimator,
    n: `Brier-${i + 1}`,
    value: b,
    lo: b - 1.96 * r.brierStderr[i]!,
    hi: b + 1.96 * r.brierStderr[i]!,
  })),
);
await showPlot('01-brier-by-estimator', {
  title: 'Brier-n of the n-gram, three estimators (95% intervals)',
  data: { values: brierBars },
  width: 360,
  height: 220,
  encoding: {
    x: { field: 'n', type: 'nominal', title: null, axis: { labelAngle: 0 } },
    xOffset: { field: 'estimator' },
    color: { field: 'estimator', type: 'nominal' },
  },
  layer: [
    { mark: 'bar', encoding: { y: { field: 'value', type: 'quantitative', title: 'Brier-n' } } },
    {
      mark: { type: 'errorbar', ticks: true },
      encoding: {
        y: { field: 'lo', type: 'quantitative', title: null },
        y2: { field: 'hi' },
        color: { value: 'black' },
      },
    },
  ],
});

// %% [markdown]
// ## A model behind an HTTP endpoint
//
// Any server with an OpenAI-compatible `/v1/completions` endpoint (llama.cpp's `llama-server`,
// vLLM, …) is a `TokenSampler` through `createOpenAICompletionsSampler`: it sends the context as
// token ids, asks for `n = 2` samples of 4 tokens with the full distribution (temperature 1, no
// top-k/top-p truncation) and reads the ids back. It retries transient failures, bounds the
// requests in flight and times out stuck ones.
//
// To keep this notebook self-contained we serve the n-gram ourselves on 127.0.0.1, answering in
// vLLM's layout (`token_ids` per choice). For your own model, point `baseUrl` at its server and
// drop the server cell.

// %%
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
  req.on('end', () => {
    if (req.url !== '/v1/completions') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const request = JSON.parse(body) as { prompt: number[]; max_tokens: number; n?: number; seed?: number };
    const requestRng = createRng(request.seed ?? 0); // the client sends a distinct seed per request
    const choices = Array.from({ length: request.n ?? 1 }, (_, index) => ({
      index,
      text: '',
      finish_reason: 'length',
      token_ids: Array.from(lm.sampleContinuation(request.prompt, request.max_tokens, requestRng)),
    }));
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ object: 'text_completion', choices }));
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(`serving the n-gram at ${serverUrl}/v1/completions`);

// %%
const http = createOpenAICompletionsSampler({
  baseUrl: serverUrl,
  model: 'ngram-4',
  concurrency: 8,
  vocabSize: tok.vocabSize,
  seed: settings.seed,
});
const httpBlocks = blocks.slice(0, settings.httpBlocks);
const t0Http = performance.now();
const overHttp = await evaluateBrierLM({ kind: 'token', sampler: http }, httpBlocks, {
  seed: settings.seed,
  batchSize: 64,
});
const httpSeconds = (performance.now() - t0Http) / 1000;
const inProcess = await evaluateBrierLM(generators['token']!, httpBlocks, { seed: settings.seed, batchSize: 256 });
const exactOnBlock = await evaluateBrierLM(generators['explicit']!, httpBlocks, {
  seed: settings.seed,
  batchSize: 256,
});
server.close();
showTable(
  [
    resultRow('explicit (reference)', exactOnBlock),
    resultRow('token, in process', inProcess),
    resultRow('token, over HTTP', overHttp),
  ],
  `The same model, local and served (${httpBlocks.length} block(s); ${http.stats.requests} requests, ${http.stats.retries} retries, ${httpSeconds.toFixed(1)} s)`,
);

// %% [markdown]
// All three rows estimate the same numbers: the two token rows with independent samples, the
// explicit row with exact probabilities (hence its smaller errors). They differ only by sampling
// noise — compare the gaps with the standard errors; a real bug (say, a server that truncates the
// distribution with top-k) would show up as a gap of many standard errors.
//
// ## Better models score higher
//
// BrierLM rewards both accuracy (2·P(y)) and calibrated confidence (−ΣP²). Raising the n-gram
// order gives the model more context, and the score climbs — until the counts become too sparse
// for the 1 MB of training text we gave it and the model turns overconfident (order 8 and up).
// When any Brier-n falls to 0 or below, BrierLM is reported as 0 (the official formula would
// take the fourth root of a product of negative numbers; see the porting notes).

// %%
const byOrder: { order: number; brierLM: number; lo: number; hi: number }[] = [];
for (const order of settings.orders) {
  const model = NGramModel.fit(docs.slice(0, settings.trainDocs).map(withBos), { order, vocabSize: tok.vocabSize });
  const r = await evaluateBrierLM({ kind: 'explicit', model }, blocks, { seed: settings.seed, batchSize: 256 });
  byOrder.push({ order, brierLM: r.brierLM, lo: r.brierLMCI[0], hi: r.brierLMCI[1] });
}
showTable(
  byOrder.map((r) => ({
    order: r.order,
    'BrierLM ×100': r.brierLM.toFixed(2),
    '95% interval': `${r.lo.toFixed(2)} … ${r.hi.toFixed(2)}`,
  })),
);
await showPlot('01-brierlm-by-order', {
  title: 'BrierLM of byte-level n-grams (explicit estimator, 95% intervals)',
  data: { values: byOrder },
  width: 360,
  height: 200,
  encoding: { x: { field: 'order', type: 'ordinal', title: 'n-gram order', axis: { labelAngle: 0 } } },
  layer: [
    {
      mark: { type: 'line', point: true },
      encoding: { y: { field: 'brierLM', type: 'quantitative', title: 'BrierLM ×100' } },
    },
    { mark: 'errorbar', encoding: { y: { field: 'lo', type: 'quantitative', title: null }, y2: { field: 'hi' } } },
  ],
});

// %% [markdown]
// ## Your own model
//
// Wrap it in one of the three contracts — or a plain callback — and call `evaluateBrierLM`:
//
// ```ts
// import { chunkSamplerFromCallback, evaluateBrierLM } from '@calm/brierlm';
// const sampler = chunkSamplerFromCallback((context) => myModel.nextChunk(context), { chunkSize: 4 });
// const result = await evaluateBrierLM({ kind: 'chunk', sampler }, blocks, { seed: 0 });
// ```
//
// The official protocol on WikiText-103 with the Llama 3 tokenizer is `OFFICIAL_PROTOCOL.calm`
// (blocks of 8192) or `.ar` (2048) with `loadEvalBlocks` from `@calm/brierlm/node`; the `brierlm`
// CLI does all of this from the command line. See the `@calm/brierlm` guide in docs/guides.
