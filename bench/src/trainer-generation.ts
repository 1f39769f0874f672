// Benchmark of @calm/model: generation tokens/s of CALM (K = 4) against the AR baseline with the
// same Llama backbone, and training tokens/s of both (and of the autoencoder) per backend, after
// checking that KV-cache generation equals uncached sampling. Then a per-step breakdown of
// generation: each part of a step timed alone at the same shapes (backbone with a growing cache,
// energy head, autoencoder decode, input compression; the AR head and softmax), the host's share
// (the rest of a measured step: syncs, sampling, bookkeeping) and kernel launches per step.
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/trainer-generation.ts [--backends wasm,cpu]
// [--hidden 512 --layers 8] [--tag name] → table on stdout, JSON in results/trainer-generation[-name].json.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { createRng, padToMultiple } from '@calm/core';
import { autoencoderConfig, createAutoencoderParams } from '@calm/autoencoder';
import { initBackend, linear, paramGrads, type BackendName } from '@calm/nn';
import {
  ArModel,
  CalmModel,
  KvCache,
  arConfig,
  calmChunkSampler,
  calmConfig,
  generateAr,
  generateCalm,
  llamaForward,
} from '@calm/model';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const BACKENDS = arg('backends', 'wasm').split(',') as BackendName[];
const H = Number(arg('hidden', '512'));
const LAYERS = Number(arg('layers', '8'));
const V = Number(arg('vocab', '4096'));
const BATCH = Number(arg('batch', '4'));
const NEW_TOKENS = Number(arg('tokens', '64'));
const PROMPT = 32;
const REPS = Number(arg('reps', '3'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const special = { vocabSize: V, padTokenId: V - 1, bosTokenId: V - 3, eosTokenId: V - 2 };

function models() {
  const backbone = {
    hiddenSize: H,
    intermediateSize: Math.round((H * 8) / 3 / 32) * 32,
    numHiddenLayers: LAYERS,
    numAttentionHeads: H / 64,
    numKeyValueHeads: H / 64,
  };
  const ae = autoencoderConfig({ ...special, hiddenSize: 256, intermediateSize: 640, latentSize: 64, patchSize: 4 });
  const calm = new CalmModel(
    calmConfig({
      ...special,
      ...backbone,
      patchSize: 4,
      latentSize: 64,
      noiseSize: 32,
      numMlpLayers: Math.max(1, LAYERS / 4),
      numSamples: 8,
      numTargetSamples: 100,
    }),
    ae,
    { rng: createRng(1), aeParams: createAutoencoderParams(ae, createRng(2)) },
  );
  const ar = new ArModel(arConfig({ ...special, ...backbone }), { rng: createRng(3) });
  return { calm, ar };
}

async function checkCorrectness(calm: CalmModel): Promise<void> {
  const prompt = Int32Array.from({ length: 10 }, (_, i) => (i * 37) % (V - 3));
  const out = await generateCalm(calm, [prompt], { rng: createRng(5), maxNewTokens: 8, stopAtEos: false });
  const sampler = calmChunkSampler(calm, { rng: createRng(5) });
  let ctx = padToMultiple(prompt, 4, special.padTokenId);
  for (let s = 0; s < 2; s++) ctx = Int32Array.from([...ctx, ...(await sampler.sample([ctx], 1))]);
  const want = Array.from(ctx).filter((x) => x !== special.padTokenId);
  if (JSON.stringify(Array.from(out.sequences[0]!)) !== JSON.stringify(want))
    throw new Error('correctness: cached CALM generation differs from uncached sampling');
}

interface Row {
  backend: string;
  what: string;
  tokensPerSecond: number;
  msMedian: number;
  /** This process's CPU time per call (median), ms: less sensitive to other processes than wall time. */
  cpuMsMedian: number;
}

interface Breakdown {
  backend: string;
  model: 'CALM' | 'AR';
  /** Measured generation step (the generate run's median / steps), ms. */
  stepMs: number;
  /** Parts timed alone, ms per step. */
  parts: Record<string, number>;
  /** The step minus its parts: syncs, host sampling, bookkeeping, ms. */
  hostMs: number;
  /** Kernel launches per step (one generate call under a launch counter). */
  launches: number;
}

/** Median ms of `f` over `reps` calls after two warm-up calls. */
function timeMs(f: () => void, reps = 15): number {
  f();
  f();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** Kernel launches (top level) while `f` runs: every wasm kernel wrapped with a counter. */
async function countLaunches(f: () => Promise<unknown>): Promise<number> {
  const saved = tf.getKernelsForBackend(tf.getBackend()).map((k) => ({ ...k }));
  let count = 0;
  let depth = 0;
  for (const k of saved) {
    const orig = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: ((args: Parameters<tf.KernelFunc>[0]) => {
        if (depth === 0) count++;
        depth++;
        try {
          return orig(args);
        } finally {
          depth--;
        }
      }) as tf.KernelFunc,
    });
  }
  try {
    await f();
  } finally {
    for (const k of saved) {
      tf.unregisterKernel(k.kernelName, k.backendName);
      tf.registerKernel(k);
    }
  }
  return count;
}

/** Per-step costs of CALM and AR generation, each part timed alone at the generation's shapes. */
async function breakdown(
  backend: string,
  calm: CalmModel,
  ar: ArModel,
  prompts: Int32Array[],
  rows: Row[],
): Promise<Breakdown[]> {
  const k = calm.chunkSize;
  const b = prompts.length;
  const steps = NEW_TOKENS / k;
  const rng = createRng(11);
  const ids = tf.tensor2d(Int32Array.from(prompts.flatMap((p) => Array.from(p))), [b, PROMPT], 'int32');
  const out: Breakdown[] = [];
  // CALM: one chunk position per step over a cache holding the prompt's chunks.
  {
    const cache = new KvCache({ capacity: PROMPT / k + 2 * steps + 40 });
    const last = tf.tidy(() => {
      const h = calm.hidden(ids, cache);
      return tf.reshape(tf.slice(h, [0, h.shape[1] - 1, 0], [b, 1, H]), [b, H]) as tf.Tensor2D;
    });
    const chunk = tf.tensor2d(
      Int32Array.from({ length: b * k }, (_, i) => (i * 7) % (V - 3)),
      [b, k],
      'int32',
    );
    const u = calm.compress(chunk);
    const z = tf.tidy(() => calm.head.sample(last, 1, { rng }));
    const parts = {
      backbone: timeMs(() =>
        tf.dispose(llamaForward(calm.params, calm.config, u, { prefix: 'transformer', cache }).hidden),
      ),
      head: timeMs(() => tf.tidy(() => calm.head.sample(last, 1, { rng }))),
      decode: timeMs(() => tf.tidy(() => calm.decodeChunks(z))),
      compress: timeMs(() => tf.tidy(() => calm.compress(chunk))),
    };
    const stepMs = rows.find((r) => r.backend === backend && r.what.startsWith('CALM generate'))!.msMedian / steps;
    const launches = await countLaunches(() =>
      generateCalm(calm, prompts, { rng: createRng(1), maxNewTokens: NEW_TOKENS, stopAtEos: false }),
    );
    const sum = Object.values(parts).reduce((a, x) => a + x, 0);
    out.push({ backend, model: 'CALM', stepMs, parts, hostMs: stepMs - sum, launches: launches / steps });
    tf.dispose([last, chunk, u, z]);
    cache.dispose();
  }
  // AR: one token per step.
  {
    const cache = new KvCache({ capacity: PROMPT + 2 * NEW_TOKENS + 40 });
    const last = tf.tidy(() => {
      const h = ar.hidden(ids, cache);
      return tf.slice(h, [0, h.shape[1] - 1, 0], [b, 1, H]) as tf.Tensor3D;
    });
    const parts = {
      backbone: timeMs(() => tf.dispose(llamaForward(ar.params, ar.config, last, { prefix: 'model', cache }).hidden)),
      'lm_head + softmax': timeMs(() =>
        tf.tidy(() => tf.softmax(tf.reshape(linear(ar.params, 'lm_head', last, { bias: false }), [b, V]))),
      ),
    };
    const stepMs = rows.find((r) => r.backend === backend && r.what.startsWith('AR generate'))!.msMedian / NEW_TOKENS;
    const launches = await countLaunches(() =>
      generateAr(ar, prompts, { rng: createRng(1), maxNewTokens: NEW_TOKENS, stopAtEos: false }),
    );
    const sum = Object.values(parts).reduce((a, x) => a + x, 0);
    out.push({ backend, model: 'AR', stepMs, parts, hostMs: stepMs - sum, launches: launches / NEW_TOKENS });
    last.dispose();
    cache.dispose();
  }
  ids.dispose();
  return out;
}

const breakdowns: Breakdown[] = [];

async function bench(backend: BackendName): Promise<Row[]> {
  await initBackend({ backend });
  const { calm, ar } = models();
  await checkCorrectness(calm);
  const rng = createRng(9);
  const prompts = Array.from({ length: BATCH }, () => Int32Array.from({ length: PROMPT }, () => rng.int(V - 3)));
  const rows: Row[] = [];
  // CALM and AR generation interleaved (CALM, AR, CALM, AR, …) so that both see the same machine
  // load; wall time and this process's CPU time.
  const cpuNow = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  const timePair = async (pair: Array<{ what: string; tokens: number; f: () => Promise<unknown> }>) => {
    for (const x of pair) await x.f(); // warm-up
    const ms = pair.map(() => [] as number[]);
    const cpu = pair.map(() => [] as number[]);
    for (let r = 0; r < REPS; r++)
      for (const [i, x] of pair.entries()) {
        const c0 = cpuNow();
        const t0 = performance.now();
        await x.f();
        ms[i]!.push(performance.now() - t0);
        cpu[i]!.push(cpuNow() - c0);
      }
    pair.forEach((x, i) => {
      const m = median(ms[i]!);
      rows.push({
        backend,
        what: x.what,
        tokensPerSecond: x.tokens / (m / 1000),
        msMedian: m,
        cpuMsMedian: median(cpu[i]!),
      });
    });
  };
  const time = (what: string, tokens: number, f: () => Promise<unknown>) => timePair([{ what, tokens, f }]);
  await timePair([
    {
      what: `CALM generate (T=1, batch ${BATCH})`,
      tokens: BATCH * NEW_TOKENS,
      f: () => generateCalm(calm, prompts, { rng: createRng(1), maxNewTokens: NEW_TOKENS, stopAtEos: false }),
    },
    {
      what: `AR generate (T=1, batch ${BATCH})`,
      tokens: BATCH * NEW_TOKENS,
      f: () => generateAr(ar, prompts, { rng: createRng(1), maxNewTokens: NEW_TOKENS, stopAtEos: false }),
    },
  ]);
  const B = 4;
  const T = 256;
  const ids = tf.tensor2d(
    Int32Array.from({ length: B * T }, () => rng.int(V - 3)),
    [B, T],
    'int32',
  );
  const step = (loss: () => tf.Scalar, params: Record<string, tf.Variable>) => async () => {
    const { value, grads } = paramGrads(loss, params);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  };
  const trainRng = createRng(4);
  await time(
    `CALM train fwd+bwd (${B}×${T})`,
    B * T,
    step(() => calm.loss(ids, { rng: trainRng }), calm.params),
  );
  await time(
    `AR train fwd+bwd (${B}×${T})`,
    B * T,
    step(() => ar.loss(ids), ar.params),
  );
  ids.dispose();
  breakdowns.push(...(await breakdown(backend, calm, ar, prompts, rows)));
  calm.dispose();
  ar.dispose();
  return rows;
}

const all: Row[] = [];
for (const b of BACKENDS) all.push(...(await bench(b)));
console.log(
  `backbone: hidden ${H}, ${LAYERS} layers, vocab ${V}; prompts ${BATCH} × ${PROMPT} tokens, ${NEW_TOKENS} new tokens; median of ${REPS}`,
);
console.log('| backend | what | tokens/s | ms (median) | cpu ms (median) |');
console.log('|---|---|---|---|---|');
for (const r of all)
  console.log(
    `| ${r.backend} | ${r.what} | ${r.tokensPerSecond.toFixed(1)} | ${r.msMedian.toFixed(0)} | ${r.cpuMsMedian.toFixed(0)} |`,
  );
const speedups: Record<string, number> = {};
for (const b of BACKENDS) {
  const c = all.find((r) => r.backend === b && r.what.startsWith('CALM generate'))!;
  const a = all.find((r) => r.backend === b && r.what.startsWith('AR generate'))!;
  speedups[b] = c.tokensPerSecond / a.tokensPerSecond;
  const cpuRatio = a.cpuMsMedian / c.cpuMsMedian;
  console.log(
    `${b}: CALM / AR generation speed-up ${speedups[b].toFixed(2)}× wall, ${cpuRatio.toFixed(2)}× CPU time (interleaved; target >= 3.5× at K = 4)`,
  );
}
console.log('\nper generation step (ms; parts timed alone at the same shapes, host = step − parts):');
console.log('| backend | model | step | parts | host | kernel launches |');
console.log('|---|---|---|---|---|---|');
for (const x of breakdowns)
  console.log(
    `| ${x.backend} | ${x.model} | ${x.stepMs.toFixed(2)} | ${Object.entries(x.parts)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ')} | ${x.hostMs.toFixed(2)} | ${x.launches.toFixed(0)} |`,
  );
mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
const tag = arg('tag', '');
writeFileSync(
  new URL(`../results/trainer-generation${tag ? `-${tag}` : ''}.json`, import.meta.url),
  `${JSON.stringify({ hidden: H, layers: LAYERS, vocab: V, batch: BATCH, newTokens: NEW_TOKENS, rows: all, speedups, breakdowns }, null, 2)}\n`,
);
