// Example 4 (notebook and script): implement a new generative head — a diagonal Gaussian trained by
// maximum likelihood — through @calm/energy-head's GenerativeHead interface, train it next to the
// energy head on a toy bimodal target, compare them by energy score and by BrierLM, then train it
// inside a CALM model through @calm/model's public API (save, reload, BrierLM, generation).

// %% [markdown]
// # 4 · Build a custom head
//
// In CALM the Transformer outputs a hidden state per chunk position, and a **generative head**
// turns it into a *sample* of the next chunk's latent vector. The official head is the energy
// MLP, trained with the energy score; the paper compares it with flow-matching and diffusion
// heads. In `@calm/energy-head` every head implements one small interface, `GenerativeHead`:
//
// | member | what it does |
// | --- | --- |
// | `sample(hidden [B,H], n, { rng \| noise })` | n latent vectors per hidden state, [B, n, L] |
// | `loss(hidden, { mean, logStd }, { rng })` | scalar training loss against the autoencoder's posterior N(μ, σ²) of the target chunk |
// | `params`, `trainableVariables()` | `tf.Variable`s keyed by state-dict names, for `@calm/nn`'s `AdamW` and checkpoints |
// | `kind`, `hiddenSize`, `latentSize`, `prefix`, `warnings`, `flopsPerSample()`, `dispose()` | bookkeeping |
//
// Anything written against the interface — `CalmModel` of `@calm/model`, the trainer,
// `createHeadChunkSampler` (which makes a `ChunkSampler` for BrierLM and temperature sampling) —
// works with a new head unchanged. Here we
// write the simplest likelihood-based head there is, a **diagonal Gaussian**, and see where it
// falls short of the likelihood-free energy head.
//
// Run as a script: `pnpm exec tsx --conditions=@calm/source examples/notebooks/04-custom-head.ts`
// (`CALM_FULL=1`, or `FULL = true` below, trains 3–4× more steps and evaluates on more data).

// %%
import * as tf from '@tensorflow/tfjs';
import { createRng, type ChunkSampler, type Rng, type TokenIds } from '@calm/core';
import {
  AdamW,
  createParams,
  disposeParams,
  initBackend,
  linear,
  normalInit,
  paramGrads,
  silu,
  trainStep,
  trainableVariables,
  zerosInit,
  type ParamRecord,
} from '@calm/nn';
import {
  EnergyHead,
  createHeadChunkSampler,
  energyScore,
  normalNoise,
  type GenerativeHead,
  type HeadLossOptions,
  type HeadSampleOptions,
  type TargetPosterior,
} from '@calm/energy-head';
import { evaluateBrierLM } from '@calm/brierlm';
import {
  OFFICIAL_AE_ADAMW,
  autoencoderConfig,
  autoencoderTrainStep,
  createAutoencoderParams,
  evaluateReconstruction,
} from '@calm/autoencoder';
import { CalmModel, calmConfig, evaluateCalm, generateCalm } from '@calm/model';
import { loadCalm, saveCalm } from '@calm/model/node';
import { outPath, showTable } from './lib/notebook.js';
import { showPlot } from './lib/plot.js';

const FULL = process.env['CALM_FULL'] === '1';
const settings = {
  steps: FULL ? 1600 : 400,
  batch: 64,
  evalBlocks: FULL ? 64 : 16,
  aeSteps: FULL ? 600 : 200,
  calmSteps: FULL ? 800 : 200,
  seed: 0,
};
console.log((await initBackend()).detail);

// %% [markdown]
// ## A diagonal Gaussian head
//
// An MLP maps the hidden state to a mean μ_h and a log standard deviation log σ_h; a sample is
// μ_h + σ_h·ε. Being a likelihood model, it trains by maximum likelihood: the loss is the expected
// negative log-density of the target under the head, with the target drawn from the
// autoencoder's posterior N(μ, σ²). That expectation has a closed form, so no target samples are
// needed:
//
// `E_y[−log N(y; μ_h, σ_h²)] = Σ_l [ log σ_h + ((μ − μ_h)² + σ²) / (2σ_h²) ] + const`.
//
// Parameters are created with `@calm/nn`'s `createParams` (seeded initialisers, state-dict style
// names) and the layers are `@calm/nn`'s pure functions, so the head saves, loads and trains like
// the official ones.

// %%
class DiagonalGaussianHead implements GenerativeHead {
  readonly kind = 'diagonal-gaussian';
  readonly prefix = 'gaussian_head.';
  readonly warnings: readonly string[] = [];
  readonly params: ParamRecord;

  constructor(
    readonly hiddenSize: number,
    readonly latentSize: number,
    readonly width: number,
    rng: Rng,
  ) {
    this.params = createParams(
      {
        'gaussian_head.fc1.weight': { shape: [width, hiddenSize], init: normalInit(0.2) },
        'gaussian_head.fc1.bias': { shape: [width], init: zerosInit() },
        'gaussian_head.fc2.weight': { shape: [width, width], init: normalInit(0.1) },
        'gaussian_head.fc2.bias': { shape: [width], init: zerosInit() },
        'gaussian_head.out.weight': { shape: [2 * latentSize, width], init: normalInit(0.02) },
        'gaussian_head.out.bias': { shape: [2 * latentSize], init: zerosInit() },
      },
      rng,
    );
  }

  /** μ_h and log σ_h, each [B, L]. */
  private meanAndLogStd(hidden: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
    const h1 = silu(linear(this.params, 'gaussian_head.fc1', hidden));
    const h2 = silu(linear(this.params, 'gaussian_head.fc2', h1));
    const out = linear(this.params, 'gaussian_head.out', h2); // [B, 2L]
    const [mean, logStd] = tf.split(out, 2, -1) as [tf.Tensor2D, tf.Tensor2D];
    return [mean, tf.clipByValue(logStd, -7, 3) as tf.Tensor2D];
  }

  trainableVariables(): tf.Variable[] {
    return trainableVariables(this.params);
  }

  sample(hidden: tf.Tensor2D, numSamples: number, options: HeadSampleOptions): tf.Tensor3D {
    const [b] = hidden.shape;
    const eps = options.noise ?? (normalNoise(options.rng!, [b, numSamples, this.latentSize]) as tf.Tensor3D); // [B, n, L]
    const out = tf.tidy(() => {
      const [mean, logStd] = this.meanAndLogStd(hidden);
      return tf.add(tf.expandDims(mean, 1), tf.mul(tf.expandDims(tf.exp(logStd), 1), eps)) as tf.Tensor3D; // [B, n, L]
    });
    if (!options.noise) eps.dispose();
    return out;
  }

  loss(hidden: tf.Tensor2D, posterior: TargetPosterior, _options: HeadLossOptions): tf.Scalar {
    return tf.tidy(() => {
      const [mean, logStd] = this.meanAndLogStd(hidden);
      const varHead = tf.exp(tf.mul(logStd, 2));
      const varTarget = tf.exp(tf.mul(posterior.logStd, 2));
      const sqErr = tf.square(tf.sub(posterior.mean, mean));
      const nll = tf.add(logStd, tf.div(tf.add(sqErr, varTarget), tf.mul(varHead, 2))); // [B, L]
      return tf.mean(tf.sum(nll, -1)) as tf.Scalar;
    });
  }

  flopsPerSample(samplesPerHidden = 1): number {
    const mlp = 2 * (this.hiddenSize * this.width + this.width * this.width + this.width * 2 * this.latentSize);
    return mlp / samplesPerHidden + 3 * this.latentSize;
  }

  dispose(): void {
    disposeParams(this.params);
  }
}

// %% [markdown]
// ## A toy conditional target
//
// The condition is a number c ∈ [0, 1); the "Transformer" is a fixed feature map from c to a
// hidden state of size 16. Given c, the target latent (L = 2 so we can look at it) is a
// **two-mode mixture**: ±(cos πc, sin πc) with equal weights and spread 0.15. Its mean is 0 for
// every c — exactly where it has no mass. Each training position hands the head what the
// autoencoder would: a narrow posterior N(y, 0.05²) around one draw y of the target.

// %%
const H = 16;
const L = 2;
const features = (c: number): number[] =>
  Array.from({ length: H }, (_, j) => (j % 2 ? Math.cos : Math.sin)(Math.PI * (1 + (j >> 1)) * c));
const hiddenFor = (conditions: readonly number[]): tf.Tensor2D =>
  tf.tensor2d(conditions.flatMap(features), [conditions.length, H]);
const drawTarget = (c: number, rng: Rng): [number, number] => {
  const sign = rng.bernoulli(0.5) ? 1 : -1;
  return [sign * Math.cos(Math.PI * c) + 0.15 * rng.normal(), sign * Math.sin(Math.PI * c) + 0.15 * rng.normal()];
};
const POSTERIOR_LOG_STD = Math.log(0.05);

/** One training batch: hidden states [B, H] and the target posteriors (μ, log σ) [B, L]. */
const makeBatch = (rng: Rng, size: number): { hidden: tf.Tensor2D; posterior: TargetPosterior } => {
  const conditions = Array.from({ length: size }, () => rng.uniform());
  const targets = conditions.flatMap((c) => drawTarget(c, rng));
  return {
    hidden: hiddenFor(conditions),
    posterior: { mean: tf.tensor2d(targets, [size, L]), logStd: tf.fill([size, L], POSTERIOR_LOG_STD) as tf.Tensor2D },
  };
};

// %% [markdown]
// ## Train both heads the same way
//
// The training loop only uses the interface: `head.loss` inside `@calm/nn`'s `paramGrads`, then
// an `AdamW` step. The energy head is the official architecture at toy size (2 residual blocks,
// noise of size 8, N = 16 samples and M = 100 posterior samples per position in its loss).

// %%
const energyHead = new EnergyHead(
  { hiddenSize: H, latentSize: L, noiseSize: 8, numMlpLayers: 2, numSamples: 16 },
  { rng: createRng(1) },
);
const gaussianHead = new DiagonalGaussianHead(H, L, 64, createRng(2));

const trainHead = async (head: GenerativeHead, lr: number, seed: number): Promise<{ step: number; loss: number }[]> => {
  const rng = createRng(seed);
  const optimizer = new AdamW(head.params, { lr, weightDecay: 0 });
  const curve: { step: number; loss: number }[] = [];
  for (let step = 0; step < settings.steps; step++) {
    const { hidden, posterior } = makeBatch(rng, settings.batch);
    const { value, grads } = paramGrads(() => head.loss(hidden, posterior, { rng }), head.params);
    optimizer.step(grads, lr * Math.min(1, 2 * (1 - step / settings.steps))); // constant, then linear decay
    if (step % 20 === 0 || step === settings.steps - 1) curve.push({ step, loss: (await value.data())[0]! });
    tf.dispose([hidden, posterior.mean, posterior.logStd, value, ...Object.values(grads)]);
  }
  optimizer.dispose();
  return curve;
};

const t0 = performance.now();
const energyCurve = await trainHead(energyHead, 5e-3, 10);
const t1 = performance.now();
const gaussianCurve = await trainHead(gaussianHead, 5e-3, 11);
const t2 = performance.now();
console.log(
  `energy head: ${settings.steps} steps in ${((t1 - t0) / 1000).toFixed(1)} s, loss ${energyCurve[0]!.loss.toFixed(3)} → ${energyCurve.at(-1)!.loss.toFixed(3)} (−energy score)`,
);
console.log(
  `gaussian head: ${settings.steps} steps in ${((t2 - t1) / 1000).toFixed(1)} s, loss ${gaussianCurve[0]!.loss.toFixed(3)} → ${gaussianCurve.at(-1)!.loss.toFixed(3)} (NLL)`,
);

// %% [markdown]
// ## Look at the samples
//
// For three conditions we draw 300 latents from each head and from the true target.

// %%
const shown = [0.1, 0.45, 0.8];
const plotRng = createRng(3);
const points: { c: string; source: string; x: number; y: number }[] = [];
const shownHidden = hiddenFor(shown);
for (const [source, head] of [
  ['energy head', energyHead],
  ['gaussian head', gaussianHead],
] as const) {
  const draws = head.sample(shownHidden, 300, { rng: plotRng }); // [3, 300, 2]
  const values = await draws.data();
  draws.dispose();
  shown.forEach((c, i) => {
    for (let s = 0; s < 300; s++)
      points.push({ c: `c = ${c}`, source, x: values[(i * 300 + s) * 2]!, y: values[(i * 300 + s) * 2 + 1]! });
  });
}
shown.forEach((c) => {
  for (let s = 0; s < 300; s++) {
    const [x, y] = drawTarget(c, plotRng);
    points.push({ c: `c = ${c}`, source: 'true target', x, y });
  }
});
shownHidden.dispose();
await showPlot('04-head-samples', {
  title: 'Samples of the next latent given the hidden state',
  data: { values: points },
  facet: { column: { field: 'c', type: 'nominal', title: null } },
  spec: {
    width: 200,
    height: 200,
    mark: { type: 'circle', size: 12, opacity: 0.5, clip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', scale: { domain: [-1.8, 1.8] } },
      y: { field: 'y', type: 'quantitative', scale: { domain: [-1.8, 1.8] } },
      color: { field: 'source', type: 'nominal', title: null },
    },
  },
});

// %% [markdown]
// The Gaussian head does what maximum likelihood asks of a unimodal model: it matches the
// target's mean and covariance, which puts its samples in a cloud *between* the two modes where
// the target has no mass. The energy head, trained only through samples, puts its samples on
// both modes.
//
// ## Compare with the energy score
//
// The energy score `E‖X − X′‖ − 2·E‖X − Y‖` (the negative of the energy distance up to a
// constant; higher is better) compares samples X of a model with samples Y of the truth, and is
// strictly proper: only the true distribution maximises it. `energyScore(samples, targets)`
// computes it per position from [B, N, L] model samples and [B, M, L] target samples. The "true
// target" row scores fresh true samples and is the best any head can do.

// %%
const evalRng = createRng(4);
const evalConditions = Array.from({ length: 256 }, () => evalRng.uniform());
const evalHidden = hiddenFor(evalConditions);
const truthFor = (count: number): tf.Tensor3D =>
  tf.tensor3d(
    evalConditions.flatMap((c) => Array.from({ length: count }, () => drawTarget(c, evalRng)).flat()),
    [evalConditions.length, count, L],
  );
const evalTargets = truthFor(100); // [256, 100, 2]
const scoreOf = async (samples: tf.Tensor3D): Promise<number> => {
  const parts = energyScore(samples, evalTargets); // score, fidelity, diversity: [B] each
  const mean = parts.score.mean();
  const value = (await mean.data())[0]!;
  tf.dispose([mean, parts.score, parts.fidelity, parts.diversity, samples]);
  return value;
};
showTable(
  [
    {
      model: 'energy head',
      'energy score (higher is better)': (await scoreOf(energyHead.sample(evalHidden, 32, { rng: evalRng }))).toFixed(
        4,
      ),
    },
    {
      model: 'gaussian head',
      'energy score (higher is better)': (await scoreOf(gaussianHead.sample(evalHidden, 32, { rng: evalRng }))).toFixed(
        4,
      ),
    },
    { model: 'true target', 'energy score (higher is better)': (await scoreOf(truthFor(32))).toFixed(4) },
  ],
  `Energy score over ${evalConditions.length} held-out conditions (32 samples vs 100 targets each)`,
);
tf.dispose([evalHidden, evalTargets]);

// %% [markdown]
// ## BrierLM on a toy chunk task
//
// To score the heads as *language models*, we turn the latents into tokens. A "text" is a
// sequence of chunks of K = 2 tokens; the chunk at position t has condition c_t = ((7t mod 10) +
// 0.5)/10 (known from the position), and its two tokens are the latent's x and y, each binned into
// 8 intervals. `createHeadChunkSampler` turns a head plus a `hiddenStates(contexts)` function and
// a `decode(latents)` function into a `ChunkSampler` — exactly how a CALM model is wrapped, with
// the Transformer and the autoencoder's decoder in those two places. BrierLM then compares both
// heads with the true process on the same blocks.

// %%
const K = 2;
const BINS = 8;
const conditionAt = (t: number): number => (((7 * t) % 10) + 0.5) / 10;
const bin = (v: number): number => Math.min(BINS - 1, Math.max(0, Math.floor(((v + 1.6) / 3.2) * BINS)));
const hiddenForContexts = (contexts: readonly TokenIds[]): tf.Tensor2D =>
  hiddenFor(contexts.map((ctx) => conditionAt(Math.floor(ctx.length / K))));
const decodeBins = async (latents: tf.Tensor2D): Promise<Int32Array> => Int32Array.from(await latents.data(), bin); // [S, 2] → [S·K]

const headSampler = (head: GenerativeHead, seed: number): ChunkSampler =>
  createHeadChunkSampler({
    head,
    chunkSize: K,
    vocabSize: BINS,
    hiddenStates: hiddenForContexts,
    decode: decodeBins,
    rng: createRng(seed),
  });
const trueRng = createRng(5);
const trueSampler: ChunkSampler = {
  chunkSize: K,
  vocabSize: BINS,
  async sample(contexts, numSamples) {
    const out = new Int32Array(contexts.length * numSamples * K); // [B, numSamples, K]
    contexts.forEach((ctx, b) => {
      for (let s = 0; s < numSamples; s++)
        out.set(drawTarget(conditionAt(Math.floor(ctx.length / K)), trueRng).map(bin), (b * numSamples + s) * K);
    });
    return out;
  },
};
// Evaluation text drawn from the true process: blocks of 64 chunks.
const textRng = createRng(6);
const evalBlocks = Array.from({ length: settings.evalBlocks }, () => {
  const block = new Int32Array(64 * K);
  for (let t = 0; t < 64; t++) block.set(drawTarget(conditionAt(t), textRng).map(bin), t * K);
  return block;
});

const brierRows = [];
for (const [name, sampler] of [
  ['energy head', headSampler(energyHead, 7)],
  ['gaussian head', headSampler(gaussianHead, 8)],
  ['true process', trueSampler],
] as const) {
  const r = await evaluateBrierLM({ kind: 'chunk', sampler }, evalBlocks, { seed: settings.seed });
  brierRows.push({
    generator: name,
    positions: r.numPositions,
    'Brier-1': r.brier[0].toFixed(3),
    'Brier-2': r.brier[1].toFixed(3),
    'Brier-4': r.brier[3].toFixed(3),
    'BrierLM ×100': Number.isNaN(r.brierLMStderr)
      ? `${r.brierLM.toFixed(1)} (a Brier-n ≤ 0)`
      : `${r.brierLM.toFixed(1)} ± ${r.brierLMStderr.toFixed(1)}`,
  });
}
showTable(brierRows, `BrierLM on ${settings.evalBlocks} toy blocks (K = 2, 8-bin tokens)`);

// %% [markdown]
// Both metrics tell the same story: the Gaussian head wastes its probability on the gap between
// the modes and scores well below the energy head, which gets close to the true process.
// Nothing in BrierLM or the chunk sampler knew which head it was talking to.
//
// ## The head inside CALM
//
// So far the "Transformer" was a fixed feature map. In a real CALM model the head sits on top of
// a Llama backbone that reads the previous chunks, and its targets come from a frozen
// autoencoder. `CalmModel` from `@calm/model` takes **any** `GenerativeHead` instance
// (`options.head`) and uses nothing but the interface: the head's parameters join `model.params`
// (trained, saved, loaded with the model), `model.loss` calls `head.loss` with the autoencoder's
// posterior of each next chunk, and BrierLM and generation draw through `head.sample`.
//
// The language: chunks of K = 2 tokens over 9 symbols; each block starts with BOS, then walks
// `t ← (t + step) mod 9` with a fresh step of 1 or 2 at every token, so the next chunk has four
// equally likely values — a multimodal target again, now in the autoencoder's latent space.
// Stage 1 trains a tiny autoencoder on it; stage 2 trains two CALM models with the same backbone
// and the autoencoder frozen, one with the official energy head (`head: 'energy'` in the config)
// and one with our Gaussian head, through `@calm/nn`'s `trainStep`.

// %%
const V = 12; // 9 symbols, BOS 9, EOS 10, PAD 11
const special = { bosTokenId: 9, eosTokenId: 10, padTokenId: 11 };
const walk = (rng: Rng, blocks: number): Int32Array => {
  const out = new Int32Array(blocks * 16); // [blocks, 16 tokens] = 8 chunks of K = 2 each
  for (let b = 0; b < blocks; b++) {
    let t = rng.int(9);
    out[b * 16] = special.bosTokenId;
    for (let i = 1; i < 16; i++) {
      out[b * 16 + i] = t;
      t = (t + 1 + rng.int(2)) % 9;
    }
  }
  return out;
};

// Stage 1: the autoencoder (2 tokens ↔ a latent of size 4).
const aeConfig = autoencoderConfig({
  vocabSize: V,
  hiddenSize: 32,
  intermediateSize: 64,
  latentSize: 4,
  patchSize: 2,
  ...special,
});
const aeParams = createAutoencoderParams(aeConfig, createRng(20));
const aeOptimizer = new AdamW(aeParams, { ...OFFICIAL_AE_ADAMW, lr: 3e-3 });
const aeRng = createRng(21);
for (let step = 0; step < settings.aeSteps; step++) {
  const ids = tf.tensor2d(walk(aeRng, 8), [8, 16], 'int32');
  tf.dispose([ids, ...Object.values(autoencoderTrainStep(aeParams, aeConfig, aeOptimizer, ids, { rng: aeRng }))]);
}
aeOptimizer.dispose();
const heldOutIds = walk(createRng(22), 32);
const { tokenAccuracy } = await evaluateReconstruction(aeParams, aeConfig, heldOutIds, { latent: 'mean' });
console.log(`autoencoder: ${settings.aeSteps} steps, held-out reconstruction ${(100 * tokenAccuracy).toFixed(1)} %`);

// Stage 2: the same CALM backbone with either head; the autoencoder is frozen (a copy per model).
const calmSizes = {
  vocabSize: V,
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 4,
  patchSize: 2,
  latentSize: 4,
  noiseSize: 8,
  numMlpLayers: 2,
  numSamples: 8,
  numTargetSamples: 32,
  ...special,
};
const frozenAutoencoder = () =>
  Object.fromEntries(Object.entries(aeParams).map(([k, v]) => [k, tf.tidy(() => tf.variable(v.clone(), false))]));
const calmEnergy = new CalmModel(calmConfig({ ...calmSizes, head: 'energy' }), aeConfig, {
  rng: createRng(30),
  aeParams: frozenAutoencoder(),
});
const calmGaussian = new CalmModel(calmConfig(calmSizes), aeConfig, {
  rng: createRng(30),
  aeParams: frozenAutoencoder(),
  head: new DiagonalGaussianHead(32, 4, 64, createRng(31)), // our head; the config records its kind
});
console.log(`${calmGaussian.config.head} head inside CALM: ${Object.keys(calmGaussian.head.params).join(', ')}`);

const trainCalm = async (model: CalmModel, seed: number): Promise<{ step: number; loss: number }[]> => {
  const rng = createRng(seed);
  const optimizer = new AdamW(model.params, { lr: 3e-3, weightDecay: 0 });
  const curve: { step: number; loss: number }[] = [];
  for (let step = 0; step < settings.calmSteps; step++) {
    const ids = tf.tensor2d(walk(rng, 8), [8, 16], 'int32'); // [B, T]
    const { loss, gradNorm } = trainStep(optimizer, model.params, [() => model.loss(ids, { rng })]);
    if (step % 20 === 0 || step === settings.calmSteps - 1) curve.push({ step, loss: (await loss.data())[0]! });
    tf.dispose([ids, loss, gradNorm]);
  }
  optimizer.dispose();
  return curve;
};
const calmCurves = { energy: await trainCalm(calmEnergy, 40), gaussian: await trainCalm(calmGaussian, 41) };
for (const [name, curve] of Object.entries(calmCurves))
  console.log(`CALM + ${name} head: loss ${curve[0]!.loss.toFixed(3)} → ${curve.at(-1)!.loss.toFixed(3)}`);

// %% [markdown]
// Both models are now ordinary `CalmModel`s: `evaluateCalm` scores them with BrierLM, and
// `generateCalm` samples (here at temperature 1/2 with the batch approximation). `saveCalm` writes
// the Gaussian head's weights under its own names, with `model_type` = its kind; `loadCalm` reads
// them back into a fresh instance of the head.
//
// Read the scores with the budget in mind: a few hundred steps on a CPU. The Gaussian head's
// closed-form likelihood gives it strong gradients from the first step, while the energy head
// learns only through samples and is far from converged here (`CALM_FULL=1` trains 4× longer).
// What does not depend on the budget: nothing in `CalmModel`, BrierLM or generation knew which
// head it was running.

// %%
const calmBlocks = Array.from({ length: 2 * settings.evalBlocks }, (_, i) => walk(createRng(`eval/${i}`), 1));
const brierOptions = { seed: settings.seed, samplesPerPosition: 8 }; // 8 draws per position: a lower-variance estimate
const truthSampler: ChunkSampler = {
  chunkSize: 2,
  vocabSize: V,
  async sample(contexts, numSamples) {
    const out = new Int32Array(contexts.length * numSamples * 2); // the walk's next chunk after each context
    contexts.forEach((ctx, b) => {
      for (let s = 0; s < numSamples; s++) {
        const a = (ctx.at(-1)! + 1 + trueRng.int(2)) % 9;
        out.set([a, (a + 1 + trueRng.int(2)) % 9], (b * numSamples + s) * 2);
      }
    });
    return out;
  },
};
const brierRow = (model: string, r: Awaited<ReturnType<typeof evaluateCalm>>, sample: string) => ({
  model,
  'Brier-1': r.brier[0].toFixed(3),
  'Brier-4': r.brier[3].toFixed(3),
  'BrierLM ×100': Number.isNaN(r.brierLMStderr)
    ? `${r.brierLM.toFixed(1)} (a Brier-n ≤ 0)`
    : `${r.brierLM.toFixed(1)} ± ${r.brierLMStderr.toFixed(1)}`,
  'sample (T = 1/2) after BOS 3': sample,
});
const calmRows = [];
for (const [name, model] of [
  ['CALM + energy head', calmEnergy],
  ['CALM + gaussian head', calmGaussian],
] as const) {
  const r = await evaluateCalm(model, calmBlocks, brierOptions);
  const { generated } = await generateCalm(model, [Int32Array.of(special.bosTokenId, 3)], {
    rng: createRng(50),
    maxNewTokens: 8,
    temperature: 0.5,
    poolSize: 32,
  });
  calmRows.push(brierRow(name, r, Array.from(generated[0]!).join(' ')));
}
const truthScore = await evaluateBrierLM({ kind: 'chunk', sampler: truthSampler }, calmBlocks, brierOptions);
calmRows.push(brierRow('true process', truthScore, ''));
showTable(calmRows, `BrierLM on ${calmBlocks.length} held-out walks (K = 2)`);

const savedDir = outPath('04-calm-gaussian-head');
await saveCalm(savedDir, calmGaussian);
const { model: reloaded } = await loadCalm(savedDir, { head: new DiagonalGaussianHead(32, 4, 64, createRng(99)) });
const sameWeights = Object.entries(calmGaussian.params).every(([k, v]) => {
  const a = v.dataSync();
  const b = reloaded.params[k]!.dataSync();
  return a.length === b.length && a.every((x, i) => x === b[i]);
});
console.log(`saved and reloaded: model_type "${reloaded.config.head}", identical weights: ${sameWeights}`);
reloaded.dispose();

// %% [markdown]
// ## Where to go from here
//
// - Swap `loss` for the energy score of reparameterised samples (`posteriorEnergyLoss` from
//   `@calm/energy-head`) and the Gaussian head becomes a likelihood-free head too — still
//   unimodal, though.
// - `head: 'flow'` and `head: 'diffusion'` in a CALM config build the paper's flow-matching and
//   diffusion heads (`FlowMatchingHead`, `DiffusionHead`) behind the same interface; `calm train`
//   takes them as `model.head`.
// - `createHeadChunkSampler` is the one adapter from a head to a `ChunkSampler`; `calmChunkSampler`
//   is it with the backbone for `hiddenStates` and the autoencoder's decoder for `decode`.

// %%
energyHead.dispose();
gaussianHead.dispose();
calmEnergy.dispose();
calmGaussian.dispose();
disposeParams(aeParams);
console.log(`tensors still alive: ${tf.memory().numTensors}`);
