// Benchmark of @calm/brierlm: checks first that the three estimators are unbiased on a toy with a
// known Brier score (with 2 and 8 samples per position), then times them on WikiText-103
// (byte-level n-gram, blocks of 2048), measures the sampling noise and cost against the samples per
// position n, times the HTTP sampler against a local server, and the standard-error methods on a
// CALM-sized position set.
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/brierlm-estimators.ts
//   → table on stdout, JSON in results/brierlm-estimators.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createRng } from '@calm/core';
import { SHARED_DATA_DIR, meanAndStderr } from '@calm/testing';
import { NGramModel, byteTokenizer, evaluateBrierLM, makeEvalBlocks, type BrierGenerator } from '@calm/brierlm';
import { readJsonlTexts } from '@calm/brierlm/node';
import { createOpenAICompletionsSampler } from '@calm/brierlm/http';
import { summarizeClusters } from '../../packages/brierlm/src/score.js';
import { chunkPositions, exactMeanBrier, tokenPositions } from '../../packages/testing/src/brierlm-helpers.js';

const REPS = 5; // timed repetitions after one warm-up; the table shows medians
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(fn: () => Promise<unknown>): Promise<{ medianMs: number; runsMs: number[] }> {
  await fn(); // warm-up
  const runsMs: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    await fn();
    runsMs.push(performance.now() - t0);
  }
  return { medianMs: median(runsMs), runsMs };
}

// ---------------------------------------------------------------- correctness first
async function checkCorrectness(): Promise<string[]> {
  const rng = createRng('bench-check');
  const V = 4;
  const lm = NGramModel.fit([Int32Array.from({ length: 2000 }, () => (rng.uniform() < 0.6 ? 2 : rng.int(V)))], {
    order: 2,
    vocabSize: V,
  });
  const block = Int32Array.from({ length: 48 }, () => rng.int(V));
  const probs = (c: ArrayLike<number>): Float64Array => lm.probs(c);
  const cases: [string, (r: number) => BrierGenerator, number[]][] = [
    ['explicit', () => ({ kind: 'explicit', model: lm }), exactMeanBrier(probs, block, tokenPositions(48))],
    [
      'token',
      (r) => ({ kind: 'token', sampler: lm.asTokenSampler({ seed: r }) }),
      exactMeanBrier(probs, block, tokenPositions(48)),
    ],
    [
      'chunk K=2',
      (r) => ({ kind: 'chunk', sampler: lm.asChunkSampler(2, { seed: r }) }),
      exactMeanBrier(probs, block, chunkPositions(48, 2)),
    ],
    [
      'chunk K=4',
      (r) => ({ kind: 'chunk', sampler: lm.asChunkSampler(4, { seed: r }) }),
      exactMeanBrier(probs, block, chunkPositions(48, 4)),
    ],
  ];
  const fails: string[] = [];
  for (const samplesPerPosition of [2, 8])
    for (const [name, make, truth] of cases) {
      const est: number[][] = [[], [], [], []];
      for (let r = 0; r < 200; r++) {
        const res = await evaluateBrierLM(make(r), [block], { seed: r, samplesPerPosition });
        res.brier.forEach((b, n) => est[n]!.push(b));
      }
      est.forEach((xs, n) => {
        const { mean, stderr } = meanAndStderr(xs);
        if (Math.abs(mean - truth[n]!) > Math.max(3 * stderr, 1e-6))
          fails.push(`${name}, ${samplesPerPosition} samples, Brier-${n + 1}: ${mean} vs ${truth[n]} (SE ${stderr})`);
      });
    }
  return fails;
}

const fails = await checkCorrectness();
if (fails.length > 0) {
  console.error('correctness check FAILED:\n' + fails.join('\n'));
  process.exit(1);
}
console.log(
  'correctness: all estimators within 3 SE of the exact Brier-n (200 seeded replicates each, 2 and 8 samples per position)\n',
);

// ---------------------------------------------------------------- estimators on WikiText
const tok = byteTokenizer();
const docs = await readJsonlTexts(join(SHARED_DATA_DIR, 'wikitext-103-document-test.jsonl'));
const lm = NGramModel.fit(
  docs.slice(0, 50).map((d) => tok.encode(d)),
  { order: 4, vocabSize: tok.vocabSize },
);
const { blocks } = await makeEvalBlocks(docs.slice(50), tok, { blockSize: 2048, bosId: tok.bosId, maxBlocks: 4 });

const rows: Record<string, unknown>[] = [];
const generators: [string, () => BrierGenerator][] = [
  ['explicit, teacherForcedProbs', () => ({ kind: 'explicit', model: lm })],
  ['token', () => ({ kind: 'token', sampler: lm.asTokenSampler({ seed: 1 }) })],
  ['chunk K=4, sampleTeacherForced', () => ({ kind: 'chunk', sampler: lm.asChunkSampler(4, { seed: 1 }) })],
  [
    'chunk K=4, sample() per prefix',
    () => ({ kind: 'chunk', sampler: lm.asChunkSampler(4, { seed: 1, teacherForced: false }) }),
  ],
  ['chunk K=2 (roll-out)', () => ({ kind: 'chunk', sampler: lm.asChunkSampler(2, { seed: 1 }) })],
  ['chunk K=1 (roll-out)', () => ({ kind: 'chunk', sampler: lm.asChunkSampler(1, { seed: 1 }) })],
];
for (const [name, make] of generators) {
  let last: Awaited<ReturnType<typeof evaluateBrierLM>> | undefined;
  const t = await time(async () => {
    last = await evaluateBrierLM(make(), blocks, { seed: 0, batchSize: 256 });
  });
  rows.push({
    name,
    blocks: blocks.length,
    positions: last!.numPositions,
    calls: last!.calls,
    brierLM: last!.brierLM,
    brierLMStderr: last!.brierLMStderr,
    medianMs: t.medianMs,
    positionsPerSecond: last!.numPositions / (t.medianMs / 1000),
  });
}
console.log(
  `estimators: byte-level 4-gram on WikiText-103 (fit on docs 0–49), ${blocks.length} held-out blocks of 2048; median of ${REPS}`,
);
console.log('estimator                        positions  calls  BrierLM (x100)   median ms  positions/s');
for (const r of rows) {
  console.log(
    `${String(r['name']).padEnd(33)}${String(r['positions']).padEnd(11)}${String(r['calls']).padEnd(7)}${`${(r['brierLM'] as number).toFixed(2)} ± ${(r['brierLMStderr'] as number).toFixed(2)}`.padEnd(17)}${(r['medianMs'] as number).toFixed(1).padStart(9)}  ${(r['positionsPerSecond'] as number).toFixed(0).padStart(11)}`,
  );
}

// ---------------------------------------------------------------- samples per position: noise and cost
// The chunk estimator (K = 4, sampleTeacherForced) on the same blocks with n samples per position:
// the replicate SD over seeds is the sampling noise alone (the text is fixed); the reported SE
// (over positions) also counts the text's own variability, so it falls less with n.
const SPP_REPS = 12;
const sppRows: Record<string, unknown>[] = [];
for (const n of [2, 4, 8, 16]) {
  const est: number[][] = [[], [], [], []];
  const se: number[][] = [[], [], [], []];
  const ms: number[] = [];
  let positions = 0;
  for (let r = 0; r < SPP_REPS; r++) {
    const t0 = performance.now();
    const res = await evaluateBrierLM({ kind: 'chunk', sampler: lm.asChunkSampler(4, { seed: 100 + r }) }, blocks, {
      seed: r,
      batchSize: 256,
      samplesPerPosition: n,
      stderr: { unit: 'position' },
    });
    ms.push(performance.now() - t0);
    positions = res.numPositions;
    res.brier.forEach((b, k) => est[k]!.push(b));
    res.brierStderr.forEach((x, k) => se[k]!.push(x));
  }
  sppRows.push({
    samplesPerPosition: n,
    positions,
    brier: est.map((xs) => meanAndStderr(xs).mean),
    samplingSd: est.map((xs) => meanAndStderr(xs).std),
    reportedSe: se.map((xs) => meanAndStderr(xs).mean),
    medianMs: median(ms),
  });
}
console.log(
  `\nsamples per position: chunk K = 4 (sampleTeacherForced) on the same ${blocks.length} blocks, ${SPP_REPS} seeds each; sampling SD = SD over seeds, SE = reported (positions)`,
);
console.log(
  'n   positions  Brier-1..4 (mean over seeds)        sampling SD of Brier-1..4            reported SE of Brier-1..4            median ms',
);
const f4 = (xs: unknown): string => (xs as number[]).map((x) => x.toFixed(4)).join(' ');
for (const r of sppRows)
  console.log(
    `${String(r['samplesPerPosition']).padEnd(4)}${String(r['positions']).padEnd(11)}${f4(r['brier']).padEnd(36)}${f4(r['samplingSd']).padEnd(37)}${f4(r['reportedSe']).padEnd(37)}${(r['medianMs'] as number).toFixed(1).padStart(9)}`,
  );

// ---------------------------------------------------------------- HTTP sampler overhead
const server = createServer((req, res) => {
  let raw = '';
  req.on('data', (c: Buffer) => (raw += c.toString()));
  req.on('end', () => {
    const body = JSON.parse(raw) as { prompt: number[]; n: number; max_tokens: number; seed: number };
    const rng = createRng(body.seed);
    const choices = Array.from({ length: body.n }, (_, index) => ({
      index,
      text: '',
      token_ids: Array.from(lm.sampleContinuation(body.prompt, body.max_tokens, rng)),
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ choices }));
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const httpBlock = blocks[0]!.subarray(0, 512);
const httpRows: Record<string, unknown>[] = [];
for (const concurrency of [1, 4, 16]) {
  const t = await time(() =>
    evaluateBrierLM(
      { kind: 'token', sampler: createOpenAICompletionsSampler({ baseUrl: url, concurrency }) },
      [httpBlock],
      { batchSize: 64 },
    ),
  );
  httpRows.push({
    concurrency,
    requests: httpBlock.length - 4,
    medianMs: t.medianMs,
    requestsPerSecond: (httpBlock.length - 4) / (t.medianMs / 1000),
  });
}
server.closeAllConnections();
server.close();
console.log(
  `\nHTTP sampler: token estimator on one block of 512 against a local n-gram server (1 request per position, n = 2)`,
);
console.log('concurrency  requests  median ms  requests/s');
for (const r of httpRows)
  console.log(
    `${String(r['concurrency']).padEnd(13)}${String(r['requests']).padEnd(10)}${(r['medianMs'] as number).toFixed(1).padStart(9)}  ${(r['requestsPerSecond'] as number).toFixed(0).padStart(10)}`,
  );

// ---------------------------------------------------------------- standard errors at CALM scale
const N = 35 * 2047; // the official CALM set: 35 blocks of 8192 tokens, K = 4
const srng = createRng('se');
const sums = new Float64Array(N * 4);
for (let i = 0; i < sums.length; i++) sums[i] = srng.uniform() < 0.2 ? 1 : srng.uniform() < 0.1 ? -1 : 0;
const positions = { sums, counts: new Float64Array(N).fill(1) };
const seRows: Record<string, unknown>[] = [];
for (const [name, method, B] of [
  ['delta', 'delta', 0],
  ['bootstrap x1000', 'bootstrap', 1000],
] as const) {
  const t = await time(async () => summarizeClusters(positions, method, 0.95, B, createRng(0)));
  seRows.push({ name, positions: N, medianMs: t.medianMs });
}
console.log(`\nstandard errors over ${N} positions (CALM-sized set)`);
for (const r of seRows)
  console.log(`${String(r['name']).padEnd(18)}${(r['medianMs'] as number).toFixed(1).padStart(9)} ms`);

mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('../results/brierlm-estimators.json', import.meta.url),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      reps: REPS,
      estimators: rows,
      samplesPerPosition: sppRows,
      http: httpRows,
      stderr: seRows,
    },
    null,
    2,
  ) + '\n',
);
console.log('\nwrote bench/results/brierlm-estimators.json');
