// Benchmark of @calm/model: generation tokens/s of CALM (K = 4) against the AR baseline with the
// same Llama backbone, and training tokens/s of both (and of the autoencoder) per backend, after
// checking that KV-cache generation equals uncached sampling. Then a per-step breakdown of
// generation, timed inside real generate calls (backbone, energy head, autoencoder decode, input
// compression; the AR backbone and lm_head), the host's share (the rest of a step: syncs,
// sampling on the host, bookkeeping) and kernel launches per step.
// Run: cd bench && pnpm exec tsx --conditions=@calm/source src/trainer-generation.ts [--backends wasm,cpu]
// [--hidden 512 --layers 8] [--tag name] → table on stdout, JSON in results/trainer-generation[-name].json.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { createRng, padToMultiple } from '@calm/core';
import { autoencoderConfig, createAutoencoderParams } from '@calm/autoencoder';
import { initBackend, paramGrads, type BackendName } from '@calm/nn';
import { ArModel, CalmModel, arConfig, calmChunkSampler, calmConfig, generateAr, generateCalm } from '@calm/model';

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
  // The autoencoder scales with the backbone as in the paper (a 512-wide autoencoder beside
  // backbones of 1024–2560) and the quickstart (64 beside 128): half the backbone's width, at least
  // 64; intermediate 2.5× its width (the official 512/1280); latent an eighth of the backbone, at least 32.
  const aeHidden = Math.max(64, H / 2);
  const ae = autoencoderConfig({
    ...special,
    hiddenSize: aeHidden,
    intermediateSize: Math.round(2.5 * aeHidden),
    latentSize: Math.max(32, H / 8),
    patchSize: 4,
  });
  const calm = new CalmModel(
    calmConfig({
      ...special,
      ...backbone,
      patchSize: 4,
      latentSize: Math.max(32, H / 8),
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
  /** A generation step (a generate call's time / steps), ms. */
  stepMs: number;
  /** Parts timed inside the generate calls, ms per step. */
  parts: Record<string, number>;
  /** The step minus its parts: syncs, host sampling, bookkeeping, ms. */
  hostMs: number;
  /** Kernel launches per step (one generate call under a launch counter). */
  launches: number;
}

/**
 * Wraps methods of `obj` with wall-clock timers while `f` runs; returns ms per method (summed over
 * its calls, nested timed calls included in the outer one).
 */
async function timeMethods(
  targets: Array<{ obj: object; method: string; label: string }>,
  f: () => Promise<unknown>,
): Promise<Record<string, number>> {
  const acc: Record<string, number> = {};
  const originals = targets.map(({ obj, method, label }) => {
    const o = obj as Record<string, (...a: unknown[]) => unknown>;
    const orig = o[method]!;
    acc[label] = 0;
    o[method] = function (this: unknown, ...a: unknown[]) {
      const t0 = performance.now();
      try {
        return orig.apply(this, a);
      } finally {
        acc[label]! += performance.now() - t0;
      }
    };
    return () => {
      o[method] = orig;
    };
  });
  try {
    await f();
  } finally {
    for (const restore of originals) restore();
  }
  return acc;
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

/**
 * Per-step costs of CALM and AR generation, measured inside real generate calls: the model's
 * methods are wrapped with timers (so each part pays its cache misses as it does in a step); the
 * host's share is the rest (syncs, sampling on the host, bookkeeping).
 */
async function breakdown(backend: string, calm: CalmModel, ar: ArModel, prompts: Int32Array[]): Promise<Breakdown[]> {
  const k = calm.chunkSize;
  const steps = NEW_TOKENS / k;
  const runs = 3;
  const out: Breakdown[] = [];
  const genCalm = () => generateCalm(calm, prompts, { rng: createRng(1), maxNewTokens: NEW_TOKENS, stopAtEos: false });
  const genAr = () => generateAr(ar, prompts, { rng: createRng(1), maxNewTokens: NEW_TOKENS, stopAtEos: false });
  const measure = async (
    gen: () => Promise<unknown>,
    targets: Array<{ obj: object; method: string; label: string }>,
  ): Promise<{ total: number; parts: Record<string, number> }> => {
    await gen(); // warm-up
    let total = 0;
    const parts: Record<string, number> = {};
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const p = await timeMethods(targets, gen);
      total += performance.now() - t0;
      for (const [key, v] of Object.entries(p)) parts[key] = (parts[key] ?? 0) + v;
    }
    return { total: total / runs, parts: Object.fromEntries(Object.entries(parts).map(([key, v]) => [key, v / runs])) };
  };
  {
    // hidden() = compress() + the backbone; its first call is the prompt (prefill).
    const m = await measure(genCalm, [
      { obj: calm, method: 'hidden', label: 'hidden' },
      { obj: calm, method: 'compress', label: 'compress' },
      { obj: calm.head, method: 'sample', label: 'head' },
      { obj: calm, method: 'decodeChunks', label: 'decode' },
    ]);
    const parts = {
      backbone: (m.parts['hidden']! - m.parts['compress']!) / steps,
      head: m.parts['head']! / steps,
      decode: m.parts['decode']! / steps,
      compress: m.parts['compress']! / steps,
    };
    const stepMs = m.total / steps;
    const launches = (await countLaunches(genCalm)) / steps;
    out.push({
      backend,
      model: 'CALM',
      stepMs,
      parts,
      hostMs: stepMs - Object.values(parts).reduce((a, x) => a + x, 0),
      launches,
    });
  }
  {
    // logits() = hidden() (embedding + backbone) + lm_head.
    const m = await measure(genAr, [
      { obj: ar, method: 'logits', label: 'logits' },
      { obj: ar, method: 'hidden', label: 'hidden' },
    ]);
    const parts = {
      backbone: m.parts['hidden']! / NEW_TOKENS,
      lm_head: (m.parts['logits']! - m.parts['hidden']!) / NEW_TOKENS,
    };
    const stepMs = m.total / NEW_TOKENS;
    const launches = (await countLaunches(genAr)) / NEW_TOKENS;
    out.push({
      backend,
      model: 'AR',
      stepMs,
      parts,
      hostMs: stepMs - Object.values(parts).reduce((a, x) => a + x, 0),
      launches,
    });
  }
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
  breakdowns.push(...(await breakdown(backend, calm, ar, prompts)));
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
console.log(
  '\nper generation step (ms, measured inside generate calls; the prompt pass is in the first backbone call; host = step − parts: syncs, host sampling, bookkeeping):',
);
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
