// One model, any head: a tiny CalmModel with each built-in head (energy, flow, diffusion) and with a
// head defined outside the head package (GaussianHead, a user's GenerativeHead) trains through the
// public API (trainStep from @calm/nn; the loss falls), saves and reloads (same parameters, same
// kind), scores with BrierLM (evaluateCalm) and generates (T = 1 and T = 1/2, batch and exact),
// without leaking tensors (loss, sampling, an aborted generation).
// Sizes: V = 16 (ids 0..12 are text; BOS 13, EOS 14, PAD 15), K = 2, so chunks repeat often and the
// exact temperature sampler finds collisions quickly even for an untrained model.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, isCalmError, type Rng } from '@calm/core';
import { autoencoderConfig, createAutoencoderParams } from '@calm/autoencoder';
import { AdamW, trainStep } from '@calm/nn';
import { expectNoLeak } from '@calm/testing/tfjs';
import {
  CalmModel,
  calmChunkSampler,
  calmConfig,
  calmParamSpecs,
  evaluateCalm,
  generateCalm,
  type CalmConfig,
} from '../src/index.js';
import { loadCalm, readCalmCheckpoint, saveCalm } from '../src/node.js';
import { GaussianHead } from './gaussian-head.js';
import { useWasm } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'calm-heads-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(useWasm);

const SPECIAL = { bosTokenId: 13, eosTokenId: 14, padTokenId: 15 };
const AE = autoencoderConfig({
  vocabSize: 16,
  hiddenSize: 16,
  intermediateSize: 32,
  latentSize: 4,
  patchSize: 2,
  ...SPECIAL,
});

function config(head: CalmConfig['head']): CalmConfig {
  return calmConfig({
    vocabSize: 16,
    hiddenSize: 16,
    intermediateSize: 32,
    numHiddenLayers: 1,
    numAttentionHeads: 2,
    numKeyValueHeads: 2,
    patchSize: 2,
    latentSize: 4,
    noiseSize: 4,
    numMlpLayers: 1,
    numSamples: 4,
    numTargetSamples: 8,
    head,
    flowSteps: 3,
    diffusionSteps: 50,
    diffusionSamplingSteps: 4,
    ...SPECIAL,
  });
}

type Kind = 'energy' | 'flow' | 'diffusion' | 'custom';

/**
 * A stand-in for a trained autoencoder: a random one whose posterior means depend visibly on the
 * chunk (the μ rows of hidden_to_latent scaled up) with σ = e^−2, so the next latent is learnable.
 */
function autoencoderParams(seed: number) {
  const params = createAutoencoderParams(AE, createRng(`ae/${seed}`));
  const l = AE.latentSize;
  const w = params['encoder.hidden_to_latent.weight']!; // [2L, H]: rows 0..L−1 → μ, L..2L−1 → log σ
  const b = params['encoder.hidden_to_latent.bias']!;
  tf.tidy(() => {
    const [mu, logStd] = tf.split(w, 2, 0);
    w.assign(tf.concat([tf.mul(mu!, 25), tf.zerosLike(logStd!)], 0));
    b.assign(tf.concat([tf.zeros([l]), tf.fill([l], -2)]));
  });
  return params;
}

function build(kind: Kind, seed: number): CalmModel {
  const aeParams = autoencoderParams(seed);
  if (kind === 'custom')
    return new CalmModel(config('energy'), AE, {
      rng: createRng(seed),
      aeParams,
      head: new GaussianHead(16, 4, createRng(`head/${seed}`)),
    });
  return new CalmModel(config(kind), AE, { rng: createRng(seed), aeParams });
}

/** Blocks of 16 tokens: BOS, then a count mod 13 from a random start with step 1 or 2. */
function corpus(rng: Rng, blocks: number): Int32Array {
  const out = new Int32Array(blocks * 16);
  for (let b = 0; b < blocks; b++) {
    let v = rng.int(13);
    const step = 1 + rng.int(2);
    out[b * 16] = SPECIAL.bosTokenId;
    for (let i = 1; i < 16; i++) {
      out[b * 16 + i] = v;
      v = (v + step) % 13;
    }
  }
  return out;
}

const mean = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

describe.each(['energy', 'flow', 'diffusion', 'custom'] as const)('CalmModel with the %s head', (kind) => {
  let model: CalmModel;
  beforeAll(() => {
    model = build(kind, 1);
  });
  afterAll(() => model.dispose());

  it('is built through the interface with the head parameters in model.params', () => {
    const expected = kind === 'custom' ? 'gaussian' : kind;
    expect(model.head.kind).toBe(expected);
    expect(model.config.head).toBe(expected);
    for (const [k, v] of Object.entries(model.head.params)) expect(model.params[k]).toBe(v);
    const specs = calmParamSpecs(model.config, kind === 'custom' ? { head: model.head } : {});
    expect(Object.keys(model.params)).toEqual(Object.keys(specs));
    expect(model.trainableVariables()).toHaveLength(Object.keys(model.params).length);
  });

  it('trains with trainStep from @calm/nn: the loss falls over 30 steps', async () => {
    const rng = createRng(`train/${kind}`);
    const data = createRng(`data/${kind}`);
    const optimizer = new AdamW(model.params, { lr: 3e-3, weightDecay: 0 });
    const losses: number[] = [];
    await expectNoLeak(async () => {
      for (let step = 0; step < 30; step++) {
        const ids = tf.tensor2d(corpus(data, 4), [4, 16], 'int32');
        const { loss, gradNorm } = trainStep(optimizer, model.params, [() => model.loss(ids, { rng })]);
        losses.push((await loss.data())[0]!);
        tf.dispose([ids, loss, gradNorm]);
      }
      optimizer.dispose();
    });
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));
  });

  it('saves and reloads with the same parameters and head kind', async () => {
    const dir = join(tmp, kind);
    await saveCalm(dir, model);
    await expectNoLeak(async () => {
      // A custom head's checkpoint loads into a fresh instance of the head (any initial values).
      const head = kind === 'custom' ? { head: new GaussianHead(16, 4, createRng('another init')) } : {};
      const { model: back, report } = await loadCalm(dir, head);
      expect(back.config.head).toBe(model.config.head);
      expect(back.head.kind).toBe(model.head.kind);
      expect(report.headKeys.sort()).toEqual(Object.keys(model.head.params).sort());
      expect(Object.keys(back.params)).toEqual(Object.keys(model.params));
      for (const [k, v] of Object.entries(model.params))
        expect(Array.from(back.params[k]!.dataSync()), k).toEqual(Array.from(v.dataSync()));
      back.dispose(); // frees the head too
    });
    if (kind === 'custom') {
      // Without the head instance: readable as arrays, not loadable as a model.
      const read = await readCalmCheckpoint(dir);
      expect(read.config.head).toBe('gaussian');
      expect(read.report.headKeys.every((k) => k.startsWith('gaussian_head.'))).toBe(true);
      await expect(loadCalm(dir)).rejects.toSatisfy(
        (e: unknown) => isCalmError(e, 'INVALID_ARGUMENT') && /options\.head/.test((e as Error).message),
      );
    }
  });

  it('scores with BrierLM (evaluateCalm)', async () => {
    const blocks = [corpus(createRng('eval'), 1), corpus(createRng('eval2'), 1)];
    const r = await expectNoLeak(() => evaluateCalm(model, blocks, { seed: 0 }));
    expect(r.numPositions).toBeGreaterThan(0);
    expect(Number.isFinite(r.brierLM)).toBe(true);
    expect(r.brier.every(Number.isFinite)).toBe(true);
  });

  it('generates at T = 1 and T = 1/2 (batch and exact)', async () => {
    const prompts = [Int32Array.of(13, 1, 2), Int32Array.of(13, 5, 7, 9)];
    const runs = [
      { temperature: 1 },
      { temperature: 0.5, poolSize: 16 },
      { temperature: 0.5, temperatureMethod: 'exact' as const },
    ];
    for (const run of runs) {
      const out = await expectNoLeak(() =>
        generateCalm(model, prompts, { rng: createRng(7), maxNewTokens: 4, stopAtEos: false, ...run }),
      );
      expect(out.steps).toBe(2); // both prompts pad to 4 tokens: one group, two chunks of K = 2
      for (const g of out.generated) {
        expect(g.length).toBeLessThanOrEqual(4); // PAD is stripped from the output, as officially
        expect(g.every((t) => t >= 0 && t < 16 && t !== SPECIAL.padTokenId)).toBe(true);
      }
      if (run.temperature < 1) expect(out.temperatureStats!.accepted).toBe(2 * 2);
    }
  });

  it('leaks nothing: loss, sampling, an aborted generation', async () => {
    const ids = tf.tensor2d(corpus(createRng('leak'), 2), [2, 16], 'int32');
    await expectNoLeak(() => tf.dispose(model.loss(ids, { rng: createRng(1) })));
    ids.dispose();
    await expectNoLeak(() => calmChunkSampler(model, { rng: createRng(2) }).sample([Int32Array.of(13, 4)], 3));
    const controller = new AbortController();
    await expectNoLeak(async () => {
      const run = generateCalm(model, [Int32Array.of(13, 1)], {
        rng: createRng(3),
        maxNewTokens: 12,
        stopAtEos: false,
        temperature: 0.5,
        poolSize: 8,
        signal: controller.signal,
        onStep: (steps) => {
          if (steps === 2) controller.abort();
        },
      });
      await expect(run).rejects.toSatisfy((e: unknown) => isCalmError(e, 'ABORTED'));
    });
  });
});

describe('CalmModel heads: errors', () => {
  it('needs the instance for a custom head kind, and a head that fits the config', () => {
    const aeParams = autoencoderParams(0);
    expect(() => new CalmModel(config('gaussian'), AE, { rng: createRng(0), aeParams })).toThrow(/options\.head/);
    const wrong = new GaussianHead(8, 4, createRng(0));
    expect(() => new CalmModel(config('energy'), AE, { rng: createRng(0), aeParams, head: wrong })).toThrow(
      /hiddenSize 8/,
    );
    wrong.dispose();
    for (const v of Object.values(aeParams)) v.dispose();
  });

  it('maps injected noise onto any head, and asks for the RNG where the head draws more', () => {
    const flow = build('flow', 2);
    const ids = tf.tensor2d(corpus(createRng('n'), 1), [1, 16], 'int32'); // S = 8 chunks: 7 targets
    const x0 = tf.randomNormal([1, 7, 4, 4], 0, 1, 'float32', 1) as tf.Tensor4D; // [B, S−1, N, L]
    const eps = tf.randomNormal([1, 7, 4, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const a = flow.loss(ids, { rng: createRng(5), noise: { head: x0, target: eps } });
    const b = flow.loss(ids, { rng: createRng(5), noise: { head: x0, target: eps } });
    expect(a.dataSync()[0]).toBe(b.dataSync()[0]);
    expect(() => flow.loss(ids, { noise: { head: x0, target: eps } })).toThrow(/options\.rng/);
    expect(() =>
      flow.loss(ids, { rng: createRng(5), noise: { head: x0.slice([0, 0], [1, 6]) as tf.Tensor4D } }),
    ).toThrow(/S−1 = 7/);
    tf.dispose([ids, x0, eps, a, b]);
    flow.dispose();
  });
});
