// Example 2 (notebook and script): temperature sampling from a black box that can only draw —
// the exact sampler (Algorithm 1) and the batch approximation (Algorithm 2) on a toy
// distribution, with what each costs in sampler calls. Framework-free: no tfjs.

// %% [markdown]
// # 2 · Temperature sampling from a black box
//
// Lowering the temperature of a language model usually means dividing its logits by T. CALM's
// energy head has no logits: it can only **draw** a next chunk. Can we still sample from the
// tempered distribution `P_T(x) = P(x)^(1/T) / Z_T`? The paper (§5) says yes, with two algorithms
// that `@calm/temperature-sampler` implements for any sampler:
//
// - **Algorithm 1, exact**, any T ∈ (0, 1]: write 1/T = n + α. Draw n samples; if they are all the
//   same outcome x, x is a candidate (this happens with probability ∝ P(x)ⁿ), else start over. A
//   fractional α is handled by a Bernoulli factory that accepts x with probability ∝ P(x)^α using
//   further draws. The output follows P_T *exactly*, but the number of draws is random and can be
//   huge (Theorem 2).
// - **Algorithm 2, batch** (what the official code runs), T = 1/n only: draw a pool of N samples,
//   count repeats, and pick x with weight C(count(x), n). It always costs N draws, and it is biased
//   for finite N (the bias vanishes as N grows, Theorem 3).
//
// Here the black box is a toy distribution over ten words whose probabilities we know, so every
// claim can be checked against the exact answer. Run as a script with
// `pnpm exec tsx --conditions=@calm/source examples/notebooks/02-temperature-sampling.ts`;
// `CALM_FULL=1` (or `FULL = true` below) draws ten times more samples.

// %%
import { createRng, type ChunkSampler } from '@calm/core';
import {
  batchSelectionDistribution,
  batchTemperatureSample,
  exactTemperatureSample,
  expectedExactSamplerCalls,
  temperedDistribution,
  withBatchTemperature,
  withExactTemperature,
} from '@calm/temperature-sampler';
import { showTable } from './lib/notebook.js';
import { showPlot } from './lib/plot.js';

const FULL = process.env['CALM_FULL'] === '1';
const samplesPerSetting = FULL ? 30_000 : 3_000; // tempered samples drawn per experiment
const poolsPerSize = FULL ? 20_000 : 2_000; // pools averaged to get Algorithm 2's exact law

// The black box: a Zipf-like law over ten words. Only `draw` is used by the samplers.
const words = ['the', 'a', 'his', 'their', 'this', 'that', 'our', 'its', 'every', 'no'];
const weights = words.map((_, i) => 1 / (i + 1) ** 1.1);
const total = weights.reduce((s, w) => s + w, 0);
const P = Float64Array.from(weights, (w) => w / total);
const boxRng = createRng('black-box');
let drawCount = 0;
const draw = (): string => {
  drawCount++;
  return words[boxRng.categorical(P)]!;
};
showTable(
  words.map((w, i) => ({ outcome: w, 'P(x)': P[i]!.toFixed(4) })),
  'The black box',
);

/** Total variation distance between two distributions over the same outcomes. */
const tv = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / 2;
};
/** Empirical distribution of samples over `words`. */
const histogram = (samples: readonly string[]): Float64Array => {
  const h = new Float64Array(words.length);
  for (const s of samples) h[words.indexOf(s)]! += 1 / samples.length;
  return h;
};

// %% [markdown]
// ## The exact sampler
//
// `exactTemperatureSample(draw, T, { rng })` returns one sample and how many draws it used. We draw
// a few thousand at T = 0.7 (1/T = 1 + 3/7, so the Bernoulli factory is needed) and at T = 1/3
// (n = 3, α = 0), and compare the histograms with the exact tempered law `temperedDistribution(P, T)`.
// With a few thousand samples, sampling noise alone puts the histogram at a total variation
// distance of about 0.01–0.02 from the law it follows.

// %%
const samplerRng = createRng(0); // the sampler's own coin flips
const exactRuns: Record<string, { samples: string[]; calls: number[] }> = {};
for (const T of [0.7, 1 / 3]) {
  const samples: string[] = [];
  const calls: number[] = [];
  for (let i = 0; i < samplesPerSetting; i++) {
    const r = exactTemperatureSample(draw, T, { rng: samplerRng });
    samples.push(r.value);
    calls.push(r.calls);
  }
  exactRuns[T.toFixed(3)] = { samples, calls };
}
const meanOf = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
showTable(
  [0.7, 1 / 3].map((T) => {
    const run = exactRuns[T.toFixed(3)]!;
    return {
      T: T.toFixed(3),
      'TV(histogram, P_T)': tv(histogram(run.samples), temperedDistribution(P, T)).toFixed(4),
      'TV(histogram, P)': tv(histogram(run.samples), P).toFixed(4),
      'draws per sample, measured': meanOf(run.calls).toFixed(2),
      'draws per sample, Theorem 2': expectedExactSamplerCalls(P, T).toFixed(2),
    };
  }),
  `Algorithm 1, ${samplesPerSetting} samples per temperature`,
);

// %% [markdown]
// The histograms sit at sampling-noise distance from P_T and far from P: the sampler really does
// sharpen the distribution, and its cost matches Theorem 2's formula
// `E[N] = (n + 1[α>0]·Σₓ P(x)^(1/T−1)) / Z_T`.
//
// ## The batch sampler and its bias
//
// Algorithm 2 picks from one pool of N draws. For a given pool, `batchSelectionDistribution` gives
// the exact law of the pick; averaging it over many pools gives the sampler's overall output law,
// whose distance to P_T is the bias. Small pools are cheap and biased towards P (at N = 1 the pick
// *is* a draw from P); large pools approach P_T.

// %%
const T3 = 1 / 3;
const target3 = temperedDistribution(P, T3);
const biasRows: { N: number; bias: number }[] = [];
for (const N of [3, 10, 30, 100, 200, 1000]) {
  const law = new Float64Array(words.length);
  const pools = Math.max(200, Math.round(poolsPerSize / Math.sqrt(N / 10)));
  for (let j = 0; j < pools; j++) {
    const pool = Array.from({ length: N }, draw);
    const sel = batchSelectionDistribution(pool, T3);
    sel.outcomes.forEach((x, i) => (law[words.indexOf(x)]! += sel.probabilities[i]! / pools));
  }
  biasRows.push({ N, bias: tv(law, target3) });
}
showTable(
  biasRows.map((r) => ({ 'pool size N': r.N, 'TV(output law, P_T)': r.bias.toFixed(4) })),
  'Algorithm 2 at T = 1/3: bias against pool size',
);

// Samples from both algorithms next to the exact law, for the plot.
const batchSamples = Array.from({ length: samplesPerSetting }, () =>
  batchTemperatureSample(Array.from({ length: 200 }, draw), T3, { rng: samplerRng }),
);
const exact3 = histogram(exactRuns[T3.toFixed(3)]!.samples);
const batch3 = histogram(batchSamples);
const bars = words.flatMap((w, i) => [
  { outcome: w, series: '1 · P (T = 1)', p: P[i]! },
  { outcome: w, series: '2 · P_T exact (T = 1/3)', p: target3[i]! },
  { outcome: w, series: '3 · Algorithm 1 samples', p: exact3[i]! },
  { outcome: w, series: '4 · Algorithm 2 samples, N = 200', p: batch3[i]! },
]);
await showPlot('02-tempered-distribution', {
  title: `Tempering a black box at T = 1/3 (${samplesPerSetting} samples each)`,
  data: { values: bars },
  width: 520,
  height: 220,
  mark: 'bar',
  encoding: {
    x: { field: 'outcome', type: 'nominal', sort: words, title: null, axis: { labelAngle: 0 } },
    xOffset: { field: 'series' },
    y: { field: 'p', type: 'quantitative', title: 'probability' },
    color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top', columns: 2, labelLimit: 300 } },
  },
});

// %% [markdown]
// ## What it costs
//
// The exact sampler's expected number of draws grows at both ends. As T → 0 it needs n equal draws
// in a row. As T → 1 from below, the Bernoulli factory's Σₓ P(x)^(1/T−1) term tends to the
// *number of possible outcomes*: about 10 for our ten words, but it explodes for a long-tailed
// law — the dashed line is Theorem 2 for a Zipf law over 1000 outcomes, closer to a language
// model's space of chunks. `earlyReject` stops Stage 1 at the first mismatch (same output law,
// fewer draws). The batch sampler always pays N draws, in one batched model call. (At exactly
// T = 1 both wrappers forward a single draw.)

// %%
const costRows: { T: number; series: string; draws: number }[] = [];
const grid = [0.2, 0.25, 1 / 3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
const zipf1000 = Array.from({ length: 1000 }, (_, i) => 1 / (i + 1) ** 1.1);
for (const T of grid) {
  costRows.push({ T, series: 'exact, Theorem 2, Zipf over 1000', draws: expectedExactSamplerCalls(zipf1000, T) });
  costRows.push({ T, series: 'exact, Theorem 2', draws: expectedExactSamplerCalls(P, T) });
  costRows.push({
    T,
    series: 'exact + earlyReject, expected',
    draws: expectedExactSamplerCalls(P, T, { earlyReject: true }),
  });
  const before = drawCount;
  const n = Math.round(samplesPerSetting / 10);
  for (let i = 0; i < n; i++) exactTemperatureSample(draw, T, { rng: samplerRng });
  costRows.push({ T, series: 'exact, measured', draws: (drawCount - before) / n });
  costRows.push({ T, series: 'batch, N = 200', draws: 200 });
}
showTable(
  grid.map((T) => ({
    T: T.toFixed(3),
    ...Object.fromEntries(costRows.filter((r) => r.T === T).map((r) => [r.series, r.draws.toFixed(1)])),
  })),
  'Draws from the black box per tempered sample',
);
await showPlot('02-cost-in-sampler-calls', {
  title: 'Cost of one tempered sample',
  data: { values: costRows },
  width: 420,
  height: 240,
  encoding: {
    x: { field: 'T', type: 'quantitative', title: 'temperature T' },
    y: { field: 'draws', type: 'quantitative', scale: { type: 'log' }, title: 'draws from the black box' },
    color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 300 } },
    strokeDash: {
      condition: { test: "datum.series === 'exact, Theorem 2, Zipf over 1000'", value: [5, 3] },
      value: [1, 0],
    },
  },
  layer: [
    { mark: { type: 'line' }, transform: [{ filter: "datum.series !== 'exact, measured'" }] },
    { mark: { type: 'point', filled: true, size: 50 }, transform: [{ filter: "datum.series === 'exact, measured'" }] },
  ],
});

// %% [markdown]
// ## Tempering a model: the `ChunkSampler` wrappers
//
// A CALM model (or any generator) is a `ChunkSampler`: `sample(contexts, numSamples)` returns
// `numSamples` chunks of K token ids per context, batched. `withExactTemperature` and
// `withBatchTemperature` wrap it and return a `ChunkSampler` again, so BrierLM and generation use
// them unchanged. They batch the draws across contexts and report what the model paid in
// `stats()`: `drawn` (chunks requested from the model), `consumed` (draws Algorithm 1 used) and
// `baseCalls` (model invocations).
//
// Our toy model draws K = 2 token ids per chunk from a fixed law over six chunks, whatever the
// context.

// %%
const chunks = [
  [1, 2],
  [1, 3],
  [4, 2],
  [5, 6],
  [7, 7],
  [8, 9],
];
const chunkProbs = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04];
const modelRng = createRng('toy-model');
const toyModel: ChunkSampler = {
  chunkSize: 2,
  vocabSize: 10,
  async sample(contexts, numSamples) {
    const out = new Int32Array(contexts.length * numSamples * 2); // [B, numSamples, K]
    for (let i = 0; i < contexts.length * numSamples; i++) out.set(chunks[modelRng.categorical(chunkProbs)]!, i * 2);
    return out;
  },
};
const contexts = Array.from({ length: 8 }, (_, b) => Int32Array.from([b, b + 1]));
const perContext = Math.round(samplesPerSetting / 40);
const wrappers = {
  'exact, T = 0.7': withExactTemperature(toyModel, { temperature: 0.7, rng: createRng(1) }),
  'exact, T = 1/3': withExactTemperature(toyModel, { temperature: 1 / 3, rng: createRng(2) }),
  'batch, T = 1/3, N = 200': withBatchTemperature(toyModel, { temperature: 1 / 3, rng: createRng(3), poolSize: 200 }),
};
const wrapperRows = [];
for (const [name, sampler] of Object.entries(wrappers)) {
  const ids = await sampler.sample(contexts, perContext); // [8, perContext, 2]
  const counts = new Float64Array(chunks.length);
  for (let i = 0; i < ids.length; i += 2)
    counts[chunks.findIndex((c) => c[0] === ids[i] && c[1] === ids[i + 1])]! += 2 / ids.length;
  const st = sampler.stats();
  wrapperRows.push({
    sampler: name,
    accepted: st.accepted,
    'model calls': st.baseCalls,
    'chunks drawn / sample': (st.drawn / st.accepted).toFixed(1),
    'draws consumed / sample': (st.consumed / st.accepted).toFixed(1),
    'TV to P_T': tv(counts, temperedDistribution(chunkProbs, sampler.temperature)).toFixed(3),
  });
}
showTable(wrapperRows, `${contexts.length} contexts × ${perContext} tempered chunks each`);

// %% [markdown]
// The exact wrapper requests draws in rounds (at least 16 per pending sample, doubling each round)
// and discards what is left over, so the model draws more chunks than Algorithm 1 consumes — in
// exchange for only one or two model calls per request. The batch wrapper makes exactly one model
// call per request and always draws N = 200 chunks per sample. In CALM a model call is one
// Transformer step plus energy-head samples, which are cheap to batch — which is why the official
// code uses Algorithm 2 with N = 200.
//
// Next: `@calm/brierlm` scores any of these samplers (notebook 1), and the temperature-sampler
// guide in docs/guides lists every option (budgets, `onBudgetExhausted`, `earlyReject`,
// `samplesPerCall`).
