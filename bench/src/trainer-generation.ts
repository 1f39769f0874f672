// Benchmark of @calm/model: generation tokens/s of CALM (K = 4) against the AR baseline with the
// same Llama backbone, and training tokens/s of both (and of the autoencoder) per backend, after
// checking that KV-cache generation equals uncached sampling.
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
}

async function bench(backend: BackendName): Promise<Row[]> {
  await initBackend({ backend });
  const { calm, ar } = models();
  await checkCorrectness(calm);
  const rng = createRng(9);
  const prompts = Array.from({ length: BATCH }, () => Int32Array.from({ length: PROMPT }, () => rng.int(V - 3)));
  const rows: Row[] = [];
  const time = async (what: string, tokens: number, f: () => Promise<unknown>) => {
    await f(); // warm-up
    const ms: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      await f();
      ms.push(performance.now() - t0);
    }
    const m = median(ms);
    rows.push({ backend, what, tokensPerSecond: tokens / (m / 1000), msMedian: m });
  };
  await time(`CALM generate (T=1, batch ${BATCH})`, BATCH * NEW_TOKENS, () =>
    generateCalm(calm, prompts, { rng: createRng(1), maxNewTokens: NEW_TOKENS, stopAtEos: false }),
  );
  await time(`AR generate (T=1, batch ${BATCH})`, BATCH * NEW_TOKENS, () =>
    generateAr(ar, prompts, { rng: createRng(1), maxNewTokens: NEW_TOKENS, stopAtEos: false }),
  );
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
  calm.dispose();
  ar.dispose();
  return rows;
}

const all: Row[] = [];
for (const b of BACKENDS) all.push(...(await bench(b)));
console.log(
  `backbone: hidden ${H}, ${LAYERS} layers, vocab ${V}; prompts ${BATCH} × ${PROMPT} tokens, ${NEW_TOKENS} new tokens; median of ${REPS}`,
);
console.log('| backend | what | tokens/s | ms (median) |');
console.log('|---|---|---|---|');
for (const r of all)
  console.log(`| ${r.backend} | ${r.what} | ${r.tokensPerSecond.toFixed(1)} | ${r.msMedian.toFixed(0)} |`);
const speedups: Record<string, number> = {};
for (const b of BACKENDS) {
  const c = all.find((r) => r.backend === b && r.what.startsWith('CALM generate'))!;
  const a = all.find((r) => r.backend === b && r.what.startsWith('AR generate'))!;
  speedups[b] = c.tokensPerSecond / a.tokensPerSecond;
  console.log(`${b}: CALM / AR generation speed-up ${speedups[b].toFixed(2)}× (target >= 3.5× at K = 4)`);
}
mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
const tag = arg('tag', '');
writeFileSync(
  new URL(`../results/trainer-generation${tag ? `-${tag}` : ''}.json`, import.meta.url),
  `${JSON.stringify({ hidden: H, layers: LAYERS, vocab: V, batch: BATCH, newTokens: NEW_TOKENS, rows: all, speedups }, null, 2)}\n`,
);
