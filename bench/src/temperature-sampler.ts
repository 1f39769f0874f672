// Benchmark of @calm/temperature-sampler: sampler calls and time per accepted sample across T for the
// exact sampler (Algorithm 1) and the batch sampler (Algorithm 2), after checking correctness.
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/temperature-sampler.ts (or plain tsx after
// `pnpm build`) → table on stdout, JSON in results/temperature-sampler.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRng, type ChunkSampler } from '@calm/core';
import { chiSquareTest, meanAndStderr, totalVariation } from '@calm/testing';
import {
  batchSelectionDistribution,
  batchTemperatureSampleChunks,
  exactTemperatureSample,
  expectedExactSamplerCalls,
  temperedDistribution,
  withBatchTemperature,
  withExactTemperature,
} from '@calm/temperature-sampler';
import { categoricalDrawer, fakeChunkSampler } from '../../packages/testing/src/temperature-helpers.js';

const K = 4;
const CONTEXTS = 64;
const REPS = 5; // timed repetitions after one warm-up; the table shows medians
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// A head-like law over chunks: Zipf(1.1) over 1000 distinct chunks (most mass on a few, a long tail).
const SUPPORT = 1000;
const ZIPF = (() => {
  const w = Array.from({ length: SUPPORT }, (_, i) => 1 / (i + 1) ** 1.1);
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
})();
const CHUNKS = Array.from({ length: SUPPORT }, (_, i) => Int32Array.from([i % 97, (i * 7) % 101, (i * 13) % 103, i]));
const SKEWED = [0.5, 0.25, 0.15, 0.07, 0.03];

/** A fake model that also measures the time spent inside it, so overhead can be separated out. */
function timedBase(seed: number) {
  const base = fakeChunkSampler({ chunkSize: K, chunks: CHUNKS, probsFor: () => ZIPF, seed });
  const timer = { ms: 0 };
  const sampler: ChunkSampler = {
    chunkSize: K,
    async sample(contexts, numSamples, options) {
      const t0 = performance.now();
      const out = await base.sample(contexts, numSamples, options);
      timer.ms += performance.now() - t0;
      return out;
    },
  };
  return { sampler, timer };
}

const contexts = Array.from({ length: CONTEXTS }, (_, i) => Int32Array.of(i));
const indexOfChunk = (ids: Int32Array, at: number) => ids[at + 3]!;

// ---------------------------------------------------------------- correctness first
function checkCorrectness(): void {
  const fails: string[] = [];
  for (const t of [0.9, 0.7, 0.5, 1 / 3, 0.25]) {
    const rng = createRng(`check/${t}`);
    const draw = categoricalDrawer(SKEWED, rng);
    const counts = SKEWED.map(() => 0);
    let calls = 0;
    for (let i = 0; i < 20_000; i++) {
      const r = exactTemperatureSample(draw, t, { rng });
      counts[r.value]!++;
      calls += r.calls;
    }
    const p = chiSquareTest(counts, temperedDistribution(SKEWED, t)).pValue;
    const rel = calls / 20_000 / expectedExactSamplerCalls(SKEWED, t) - 1;
    if (!(p > 0.01)) fails.push(`exact T=${t}: chi-square p = ${p}`);
    if (!(Math.abs(rel) < 0.05)) fails.push(`exact T=${t}: mean calls off Theorem 2 by ${(100 * rel).toFixed(1)}%`);
  }
  const d = batchSelectionDistribution([...'ACADBEAFBG'], 1 / 2);
  if (d.outcomes.join() !== 'A,B' || d.probabilities[0] !== 0.75 || d.probabilities[1] !== 0.25)
    fails.push('paper example');
  if (fails.length > 0) throw new Error(`correctness checks failed:\n${fails.join('\n')}`);
}

async function checkChunkWrappers(): Promise<void> {
  const t = 0.5;
  const target = temperedDistribution(ZIPF, t);
  for (const make of [
    (s: ChunkSampler) => withExactTemperature(s, { temperature: t, rng: createRng(1) }),
    (s: ChunkSampler) => withBatchTemperature(s, { temperature: t, rng: createRng(1), poolSize: 2000 }),
  ]) {
    const sampler = make(timedBase(7).sampler);
    const counts = new Float64Array(SUPPORT);
    const ids = await sampler.sample(contexts, 100);
    for (let i = 0; i < ids.length / K; i++) counts[indexOfChunk(ids, i * K)]!++;
    const tv = totalVariation(counts, target);
    if (!(tv < 0.05)) throw new Error(`chunk wrapper at T = 1/2 is off its target: TV = ${tv}`);
  }
}

// ---------------------------------------------------------------- timing
interface Row {
  sampler: string;
  law: string;
  temperature: string;
  theoryCallsPerSample: number | null;
  consumedPerSample: number;
  /** Standard error of consumedPerSample (generic rows), from the per-sample counts. */
  consumedStderr: number | null;
  drawnPerSample: number;
  baseCallsPerRequest: number;
  usPerSample: number;
  overheadUsPerSample: number;
}
const rows: Row[] = [];
const fmtT = (t: number) =>
  Math.abs(1 / t - Math.round(1 / t)) < 1e-9 && t < 1 ? `1/${Math.round(1 / t)}` : String(t);

function benchGeneric(law: string, probs: number[], t: number): void {
  const theory = expectedExactSamplerCalls(probs, t);
  const samples = Math.min(20_000, Math.ceil(4e6 / theory)); // about 4M draws per repetition
  const times: number[] = [];
  const perSample: number[] = [];
  for (let rep = 0; rep <= REPS; rep++) {
    const rng = createRng(`g/${rep}`);
    const draw = categoricalDrawer(probs, rng);
    const t0 = performance.now();
    for (let i = 0; i < samples; i++) {
      const c = exactTemperatureSample(draw, t, { rng, maxCallsPerSample: 100_000_000 }).calls;
      if (rep > 0) perSample.push(c);
    }
    if (rep > 0) times.push(performance.now() - t0); // rep 0 is the warm-up
  }
  const { mean, stderr } = meanAndStderr(perSample);
  rows.push({
    sampler: 'exact, generic (sync)',
    law,
    temperature: fmtT(t),
    theoryCallsPerSample: theory,
    consumedPerSample: mean,
    consumedStderr: stderr,
    drawnPerSample: mean,
    baseCallsPerRequest: mean,
    usPerSample: (1000 * median(times)) / samples,
    overheadUsPerSample: NaN,
  });
}

async function benchChunk(kind: 'exact' | 'batch', t: number, numSamples: number, earlyReject = false): Promise<void> {
  const times: number[] = [];
  const overheads: number[] = [];
  const st = { accepted: 0, drawn: 0, consumed: 0, baseCalls: 0, requests: 0 };
  for (let rep = 0; rep <= REPS; rep++) {
    const { sampler: base, timer } = timedBase(100 + rep);
    const rng = createRng(rep);
    const sampler =
      kind === 'exact'
        ? withExactTemperature(base, { temperature: t, rng, earlyReject, maxCallsPerSample: 10_000_000 })
        : withBatchTemperature(base, { temperature: t, rng, poolSize: 200 });
    const t0 = performance.now();
    await sampler.sample(contexts, numSamples);
    const ms = performance.now() - t0;
    if (rep > 0) {
      times.push(ms);
      overheads.push(ms - timer.ms);
    }
    const one = sampler.stats(); // counters summed over all repetitions (heavy-tailed costs need many samples)
    st.accepted += one.accepted;
    st.drawn += one.drawn;
    st.consumed += one.consumed;
    st.baseCalls += one.baseCalls;
    st.requests++;
  }
  const accepted = st.accepted;
  rows.push({
    sampler:
      kind === 'exact' ? `exact, ChunkSampler${earlyReject ? ' +earlyReject' : ''}` : 'batch N=200, ChunkSampler',
    law: `Zipf(1.1) over ${SUPPORT} chunks, B=${CONTEXTS}, S=${numSamples}`,
    temperature: fmtT(t),
    theoryCallsPerSample: kind === 'exact' ? expectedExactSamplerCalls(ZIPF, t, { earlyReject }) : null,
    consumedPerSample: st.consumed / accepted,
    consumedStderr: null,
    drawnPerSample: st.drawn / accepted,
    baseCallsPerRequest: st.baseCalls / st.requests,
    usPerSample: (1000 * median(times) * st.requests) / accepted,
    overheadUsPerSample: (1000 * median(overheads) * st.requests) / accepted,
  });
}

function benchBatchSelection(t: number): void {
  // Selection step alone on one batched model output: [B = 64, N = 200, K = 4].
  const rng = createRng('sel');
  const draw = categoricalDrawer(ZIPF, rng);
  const pools = new Int32Array(CONTEXTS * 200 * K);
  for (let i = 0; i < CONTEXTS * 200; i++) pools.set(CHUNKS[draw()]!, i * K);
  const times: number[] = [];
  for (let rep = 0; rep <= REPS * 4; rep++) {
    const t0 = performance.now();
    batchTemperatureSampleChunks(pools, t, { numPools: CONTEXTS, chunkSize: K, rng });
    if (rep > 0) times.push(performance.now() - t0);
  }
  rows.push({
    sampler: 'batch N=200, selection only',
    law: `Zipf(1.1) over ${SUPPORT} chunks, B=${CONTEXTS}`,
    temperature: fmtT(t),
    theoryCallsPerSample: null,
    consumedPerSample: 200,
    consumedStderr: null,
    drawnPerSample: 200,
    baseCallsPerRequest: 0,
    usPerSample: (1000 * median(times)) / CONTEXTS,
    overheadUsPerSample: (1000 * median(times)) / CONTEXTS,
  });
}

async function main(): Promise<void> {
  checkCorrectness();
  await checkChunkWrappers();
  console.log('correctness: exact chi-square + Theorem 2 cost, paper example, chunk wrappers at T = 1/2: ok\n');

  const temps = [1, 0.9, 0.7, 0.5, 1 / 3, 0.25, 0.2];
  for (const t of temps) benchGeneric('skewed [.5,.25,.15,.07,.03]', SKEWED, t);
  for (const t of temps) benchGeneric(`Zipf(1.1) over ${SUPPORT}`, ZIPF, t);
  for (const t of temps) await benchChunk('exact', t, 4);
  for (const t of [0.7, 1 / 3, 0.25]) await benchChunk('exact', t, 4, true);
  for (const t of [1, 0.5, 1 / 3, 0.25, 0.2]) await benchChunk('batch', t, 4);
  for (const t of [0.5, 1 / 3, 0.25, 0.2]) benchBatchSelection(t);

  const f = (x: number | null, d = 1) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(d));
  console.log(
    '| sampler | law | T | E[N] (Thm 2) | consumed/sample | drawn/sample | base calls | µs/sample | overhead µs/sample |\n|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of rows) {
    console.log(
      `| ${r.sampler} | ${r.law} | ${r.temperature} | ${f(r.theoryCallsPerSample)} | ${f(r.consumedPerSample)}${r.consumedStderr === null ? '' : ` ± ${f(r.consumedStderr)}`} | ${f(r.drawnPerSample)} | ${f(r.baseCallsPerRequest)} | ${f(r.usPerSample, 2)} | ${f(r.overheadUsPerSample, 2)} |`,
    );
  }
  console.log(
    '\nbase calls: per sample() request for ChunkSampler rows (exact: rounds), draws per sample for the generic row.' +
      '\noverhead: time outside the (fake) base sampler.',
  );
  mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('../results/temperature-sampler.json', import.meta.url),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, reps: REPS, rows }, null, 2),
  );
}

await main();
