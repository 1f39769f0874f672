// The API examples of @calm/energy-head: every region below is included in the TSDoc of the
// export it shows (`{@includeCode ../test/examples.test.ts#name}`), so the documented code is the
// code CI runs. Sizes are tiny (H = 16, l = 4) so the file runs in a few seconds on one core.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '@calm/core';
import { AdamW, initBackend, paramGrads, trainStep } from '@calm/nn';
import { expectNoLeak } from '@calm/testing/tfjs';
import {
  DiffusionHead,
  EnergyHead,
  FlowMatchingHead,
  checkEnergyAlpha,
  createHeadChunkSampler,
  diffusionHeadParamSpecs,
  diffusionScheduleProblems,
  energyHeadParamSpecs,
  energyLoss,
  energyScore,
  energyScoreFlops,
  flowHeadParamSpecs,
  normalNoise,
  posteriorEnergyLoss,
  posteriorEnergyScore,
  uniformNoise,
  type GenerativeHead,
  type TargetPosterior,
} from '../src/index.js';
import { useWasm } from './backend.js';

beforeAll(useWasm);

describe('@calm/energy-head examples', () => {
  it('README quick start: trains the energy head towards a posterior and samples from it', async () => {
    // #region readme
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { AdamW, initBackend, trainStep } from '@calm/nn';
    // import { EnergyHead } from '@calm/energy-head';
    await initBackend(); // wasm with @calm/nn's training kernels
    const rng = createRng(0);
    const head = new EnergyHead({ hiddenSize: 16, latentSize: 4, noiseSize: 8, numMlpLayers: 2 }, { rng }); // N = 8, M = 100
    const hidden = tf.randomNormal([8, 16], 0, 1, 'float32', 1) as tf.Tensor2D; // [B, H] float32: Transformer outputs
    const mean = tf.fill([8, 4], 0.5) as tf.Tensor2D; // [B, L] float32: the posterior of each next chunk's latent
    const logStd = tf.fill([8, 4], -2) as tf.Tensor2D; // [B, L] float32
    const optimizer = new AdamW(head.params, { lr: 3e-3 });
    for (let step = 0; step < 100; step++) {
      const loss = () => head.loss(hidden, { mean, logStd }, { rng }); // −energy score, a float32 scalar
      tf.dispose(Object.values(trainStep(optimizer, head.params, [loss])));
    }
    const samples = head.sample(hidden, 16, { rng }); // [B, 16, L] float32: draws of the next latent, no likelihood
    // #endregion readme
    const avg = (await samples.mean().data())[0]!;
    expect(samples.shape).toEqual([8, 16, 4]);
    expect(Math.abs(avg - 0.5)).toBeLessThan(0.15);
    tf.dispose([hidden, mean, logStd, samples]);
    optimizer.dispose();
    head.dispose();
  });

  it('samples from the energy head and trains it', async () => {
    await expectNoLeak(() => {
      // #region energy-head
      // import * as tf from '@tensorflow/tfjs';
      // import { createRng } from '@calm/core';
      // import { AdamW, initBackend, paramGrads, trainStep } from '@calm/nn';
      // import { EnergyHead, energyHeadParamSpecs } from '@calm/energy-head';
      const rng = createRng(0);
      const head = new EnergyHead(
        { hiddenSize: 16, latentSize: 4, noiseSize: 8, numMlpLayers: 1, numSamples: 4, numTargetSamples: 16 },
        { rng },
      );
      const specs = energyHeadParamSpecs(head.config); // official names: mlp_generator.hidden_embd.weight, …
      const hidden = tf.randomNormal([3, 16], 0, 1, 'float32', 1) as tf.Tensor2D; // [B, H] Transformer outputs
      const posterior = { mean: tf.zeros([3, 4]) as tf.Tensor2D, logStd: tf.fill([3, 4], -1) as tf.Tensor2D }; // [B, l] each
      const optimizer = new AdamW(head.params, { lr: 1e-3 });
      const { value, grads } = paramGrads(() => head.loss(hidden, posterior, { rng }), head.params); // float32 scalar
      optimizer.step(grads);
      const samples = head.sample(hidden, 8, { rng }); // [B, 8, l] float32
      const flops = head.flopsPerSample(8); // forward FLOPs per sample, hidden path shared by 8 samples
      tf.dispose([hidden, posterior.mean, posterior.logStd, value, ...Object.values(grads), samples]);
      optimizer.dispose();
      head.dispose();
      // #endregion energy-head
      expect(Object.keys(specs)).toEqual(Object.keys(head.params));
      expect(samples.shape).toEqual([3, 8, 4]);
      expect(flops).toBeGreaterThan(0);
    });
  });

  it('uses any head through the GenerativeHead interface', async () => {
    await expectNoLeak(() => {
      // #region generative-head
      // import * as tf from '@tensorflow/tfjs';
      // import { createRng, type Rng } from '@calm/core';
      // import { DiffusionHead, EnergyHead, FlowMatchingHead, type GenerativeHead, type TargetPosterior } from '@calm/energy-head';
      // Code written against the interface runs any head: EnergyHead, FlowMatchingHead, DiffusionHead or your own.
      function lossAndSamples(head: GenerativeHead, hidden: tf.Tensor2D, posterior: TargetPosterior, rng: Rng) {
        const loss = head.loss(hidden, posterior, { rng }); // float32 scalar
        const samples = head.sample(hidden, 2, { rng }); // [B, 2, l] float32
        return { loss, samples };
      }
      const rng = createRng(1);
      const heads: GenerativeHead[] = [
        new EnergyHead({ hiddenSize: 16, latentSize: 4, numMlpLayers: 1, numSamples: 2, numTargetSamples: 8 }, { rng }),
        new FlowMatchingHead(
          { hiddenSize: 16, latentSize: 4, numMlpLayers: 1, numSamples: 2, numSteps: 2, frequencyEmbeddingSize: 8 },
          { rng },
        ),
        new DiffusionHead(
          {
            hiddenSize: 16,
            latentSize: 4,
            numMlpLayers: 1,
            numSamples: 2,
            samplingSteps: 4,
            frequencyEmbeddingSize: 8,
          },
          { rng },
        ),
      ];
      const hidden = tf.ones([2, 16]) as tf.Tensor2D;
      const posterior = { mean: tf.zeros([2, 4]) as tf.Tensor2D, logStd: tf.zeros([2, 4]) as tf.Tensor2D };
      const results = heads.map((head) => lossAndSamples(head, hidden, posterior, rng));
      // #endregion generative-head
      expect(results.map((r) => r.samples.shape)).toEqual([
        [2, 2, 4],
        [2, 2, 4],
        [2, 2, 4],
      ]);
      expect(results.every((r) => Number.isFinite(r.loss.dataSync()[0]!))).toBe(true);
      tf.dispose([hidden, posterior.mean, posterior.logStd, ...results.flatMap((r) => [r.loss, r.samples])]);
      heads.forEach((h) => h.dispose());
    });
  });

  it('samples from and trains the flow-matching head', async () => {
    await expectNoLeak(() => {
      // #region flow-head
      // import * as tf from '@tensorflow/tfjs';
      // import { createRng } from '@calm/core';
      // import { FlowMatchingHead, flowHeadParamSpecs } from '@calm/energy-head';
      const rng = createRng(2);
      const config = {
        hiddenSize: 16,
        latentSize: 4,
        numMlpLayers: 1,
        numSamples: 2,
        solver: 'midpoint' as const,
        numSteps: 4,
        frequencyEmbeddingSize: 8,
      };
      const head = new FlowMatchingHead(config, { rng });
      const specs = flowHeadParamSpecs(config); // official names: generative_head.net.input_proj.weight, …
      const hidden = tf.randomNormal([3, 16], 0, 1, 'float32', 2) as tf.Tensor2D; // [B, H]
      const posterior: TargetPosterior = { mean: tf.zeros([3, 4]), logStd: tf.zeros([3, 4]) }; // [B, l] each
      const loss = head.loss(hidden, posterior, { rng }); // float32 scalar
      const samples = head.sample(hidden, 5, { rng }); // [B, 5, l] float32, 4 midpoint steps from t = 0 to 1
      // #endregion flow-head
      expect(Object.keys(specs)).toEqual(Object.keys(head.params));
      expect(samples.shape).toEqual([3, 5, 4]);
      expect(loss.shape).toEqual([]);
      tf.dispose([hidden, posterior.mean, posterior.logStd, loss, samples]);
      head.dispose();
    });
  });

  it('samples from and trains the diffusion head', async () => {
    await expectNoLeak(() => {
      // #region diffusion-head
      // import * as tf from '@tensorflow/tfjs';
      // import { createRng } from '@calm/core';
      // import { AdamW, initBackend, paramGrads, trainStep } from '@calm/nn';
      // import { DiffusionHead, diffusionHeadParamSpecs } from '@calm/energy-head';
      const rng = createRng(3);
      // Official defaults: cosine schedule, 1000 training steps, learned variance, 100 sampling steps.
      const config = { hiddenSize: 16, latentSize: 4, numMlpLayers: 1, numSamples: 2, samplingSteps: 10 };
      const head = new DiffusionHead(config, { rng });
      const specs = diffusionHeadParamSpecs(config); // official names: generative_head.net.input_proj.weight, …
      const hidden = tf.randomNormal([3, 16], 0, 1, 'float32', 3) as tf.Tensor2D; // [B, H]
      const posterior: TargetPosterior = { mean: tf.zeros([3, 4]), logStd: tf.fill([3, 4], -1) }; // [B, l] each
      const optimizer = new AdamW(head.params, { lr: 1e-3 });
      // ε MSE + variational-bound term, N = 2 replicas per hidden state with random timesteps: float32 scalar
      const { value, grads } = paramGrads(() => head.loss(hidden, posterior, { rng }), head.params);
      optimizer.step(grads);
      const samples = head.sample(hidden, 5, { rng }); // [B, 5, l] float32: 10 denoising steps from x_T ~ N(0, I)
      const cooler = head.sample(hidden, 5, { rng, temperature: 0.5 }); // the noise added at each step halved
      const flops = head.flopsPerSample(5); // one network call per sampling step
      tf.dispose([hidden, posterior.mean, posterior.logStd, value, ...Object.values(grads), samples, cooler]);
      optimizer.dispose();
      head.dispose();
      // #endregion diffusion-head
      expect(Object.keys(specs)).toEqual(Object.keys(head.params));
      expect(samples.shape).toEqual([3, 5, 4]);
      expect(head.samplingTimesteps).toEqual([0, 111, 222, 333, 444, 555, 666, 777, 888, 999]);
      expect(flops).toBeGreaterThan(0);
    });
  });

  it('checks the schedule settings of a diffusion configuration', () => {
    // #region diffusion-schedule-problems
    // import { diffusionScheduleProblems } from '@calm/energy-head';
    const problems = diffusionScheduleProblems({ numTimesteps: 10, samplingSteps: 20, noiseSchedule: 'linear' });
    // ['samplingSteps must be in [2, numTimesteps = 10] (the sampler respaces the training timesteps), got 20',
    //  "noiseSchedule 'linear' needs numTimesteps >= 20 (its last beta, 20/steps, must be <= 1), got 10"]
    const inFile = diffusionScheduleProblems({ numTimesteps: 1 }, (key) => `diffusion.${key}`);
    // ['diffusion.numTimesteps must be >= 2 (a diffusion needs at least two timesteps), got 1', 'diffusion.samplingSteps must be in [2, …']
    // #endregion diffusion-schedule-problems
    expect(problems).toEqual([
      'samplingSteps must be in [2, numTimesteps = 10] (the sampler respaces the training timesteps), got 20',
      "noiseSchedule 'linear' needs numTimesteps >= 20 (its last beta, 20/steps, must be <= 1), got 10",
    ]);
    expect(inFile[0]).toBe('diffusion.numTimesteps must be >= 2 (a diffusion needs at least two timesteps), got 1');
    expect(diffusionScheduleProblems({})).toEqual([]);
  });

  it('scores samples with the energy score', async () => {
    await expectNoLeak(() => {
      // #region energy-score
      // import * as tf from '@tensorflow/tfjs';
      // import { checkEnergyAlpha, energyLoss, energyScore, energyScoreFlops } from '@calm/energy-head';
      const samples = tf.randomNormal([4, 8, 16], 0, 1, 'float32', 3) as tf.Tensor3D; // [B, N, L]: 8 samples per position
      const targets = tf.randomNormal([4, 100, 16], 0, 1, 'float32', 4) as tf.Tensor3D; // [B, M, L]
      const { score, fidelity, diversity } = energyScore(samples, targets, { alpha: 1 }); // each [B] float32
      const loss = energyLoss(samples, targets); // float32 scalar: the mean over positions of −score
      const warnings = checkEnergyAlpha(2); // one warning: α = 2 is only proper, not strictly proper
      const flops = energyScoreFlops(8, 100, 16); // per position, 'matmul' method
      // #endregion energy-score
      expect(score.shape).toEqual([4]);
      expect(loss.dataSync()[0]).toBeCloseTo(-tf.tidy(() => tf.mean(score).dataSync()[0]!), 5);
      expect(warnings).toHaveLength(1);
      expect(checkEnergyAlpha(1)).toEqual([]);
      expect(flops).toBeGreaterThan(0);
      tf.dispose([samples, targets, score, fidelity, diversity, loss]);
    });
  });

  it('scores samples against a Gaussian posterior with injected noise', async () => {
    await expectNoLeak(() => {
      // #region posterior-energy
      // import * as tf from '@tensorflow/tfjs';
      // import { createRng } from '@calm/core';
      // import { normalNoise, posteriorEnergyLoss, posteriorEnergyScore, uniformNoise } from '@calm/energy-head';
      const rng = createRng(5);
      const samples = uniformNoise(rng, [4, 8, 16]) as tf.Tensor3D; // [B, N, L] float32 in U(−0.5, 0.5)
      const posterior = { mean: tf.zeros([4, 16]) as tf.Tensor2D, logStd: tf.fill([4, 16], -2) as tf.Tensor2D }; // [B, L] each
      const targetNoise = normalNoise(rng, [4, 100, 16]) as tf.Tensor3D; // ε of y = μ + σ·ε, [B, M, L] float32
      const parts = posteriorEnergyScore(samples, posterior, { targetNoise }); // score, fidelity, diversity: [B]
      const loss = posteriorEnergyLoss(samples, posterior, { targetNoise }); // float32 scalar, the same targets
      // #endregion posterior-energy
      expect(loss.dataSync()[0]).toBeCloseTo(-tf.tidy(() => tf.mean(parts.score).dataSync()[0]!), 5);
      tf.dispose([
        samples,
        posterior.mean,
        posterior.logStd,
        targetNoise,
        parts.score,
        parts.fidelity,
        parts.diversity,
        loss,
      ]);
    });
  });

  it('turns a head into a ChunkSampler', async () => {
    const head = new EnergyHead({ hiddenSize: 8, latentSize: 2, noiseSize: 4, numMlpLayers: 1 }, { rng: createRng(6) });
    // #region chunk-sampler
    // import * as tf from '@tensorflow/tfjs';
    // import { createRng } from '@calm/core';
    // import { createHeadChunkSampler } from '@calm/energy-head';
    // head: a GenerativeHead with H = 8, l = 2. In CALM the hidden states come from the
    // Transformer and decode is the autoencoder's; here: one-hot of the last token, and the
    // sign pattern of the latent as a token in [0, 4).
    const sampler = createHeadChunkSampler({
      head,
      chunkSize: 1,
      vocabSize: 4,
      hiddenStates: (contexts) =>
        tf.tidy(
          () =>
            tf
              .oneHot(
                tf.tensor1d(
                  contexts.map((c) => c[c.length - 1]!),
                  'int32',
                ),
                8,
              )
              .toFloat() as tf.Tensor2D,
        ), // [B, H]
      decode: (z) => {
        const v = z.dataSync(); // [S, l] float32
        return Int32Array.from({ length: z.shape[0] }, (_, i) => (v[2 * i]! > 0 ? 1 : 0) + (v[2 * i + 1]! > 0 ? 2 : 0)); // [S·K] int32
      },
      rng: createRng(0),
    });
    const ids = await sampler.sample([Int32Array.from([1, 2]), Int32Array.from([3])], 5); // Int32Array [B = 2, n = 5, K = 1]
    // #endregion chunk-sampler
    expect(ids).toHaveLength(10);
    expect(ids.every((v) => v >= 0 && v < 4)).toBe(true);
    head.dispose();
  });
});
