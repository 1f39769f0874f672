// The diffusion head: parity with the PyTorch reference (tools/reference DiffusionHead, audited
// against the official DiffLoss and models/diffusion/) — schedule tables and respacing, the
// network, p_mean_variance, the MSE + VLB loss and its gradients, the respaced sampler with
// injected noise — and behaviour: shapes, leaks, determinism, validation, FLOPs, a short training.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { AdamW, paramGrads } from '@calm/nn';
import { TOL } from '@calm/testing';
import { expectClose, expectNoLeak } from '@calm/testing/tfjs';
import {
  DiffusionHead,
  FlowMatchingHead,
  diffusionHeadParamSpecs,
  type DiffusionHeadConfig,
  type GenerativeHead,
} from '../src/index.js';
import { timestepEmbedding } from '../src/internal/adaln-mlp.js';
import {
  diffusionTables,
  gatherTable,
  namedBetaSchedule,
  pMeanVariance,
  spaceTimesteps,
  trainingTerms,
  type DiffusionTables,
  type StepCoefs,
} from '../src/internal/gaussian-diffusion.js';
import { createRng, normal, useWasm } from './backend.js';
import { loadFixture, type Fixture } from './fixtures.js';

const PREFIX = 'generative_head.net';
const FIXED_PREFIX = 'fixed_sigma.generative_head.net';
let fx: Fixture;
let base: DiffusionHeadConfig;
let head: DiffusionHead; // learned variance, 100 sampling steps
let fixedHead: DiffusionHead; // fixed-large variance, 5 sampling steps

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The project's parity rule, |a − e| ≤ 1e-4·max|e| + 1e-5, plus an optional per-element relative bound. */
function expectParity(actual: tf.Tensor | ArrayLike<number>, name: string, rtol?: number): void {
  const e = fx.values(name);
  const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(actual, e, { atol: TOL.parity * scale + 1e-5, label: name });
  if (rtol !== undefined) expectClose(actual, e, { atol: 1e-6, rtol, label: `${name} (elementwise)` });
}

/** An int32 tensor of a fixture's I32 tensor. */
function ints(name: string): tf.Tensor {
  return tf.tidy(() => tf.cast(fx.tensor(name), 'int32'));
}

const TABLES: Record<string, keyof DiffusionTables> = {
  betas: 'betas',
  log_betas: 'logBetas',
  alphas_cumprod: 'alphasCumprod',
  alphas_cumprod_prev: 'alphasCumprodPrev',
  sqrt_alphas_cumprod: 'sqrtAlphasCumprod',
  sqrt_one_minus_alphas_cumprod: 'sqrtOneMinusAlphasCumprod',
  sqrt_recip_alphas_cumprod: 'sqrtRecipAlphasCumprod',
  sqrt_recipm1_alphas_cumprod: 'sqrtRecipm1AlphasCumprod',
  posterior_variance: 'posteriorVariance',
  posterior_log_variance_clipped: 'posteriorLogVarianceClipped',
  posterior_mean_coef1: 'posteriorMeanCoef1',
  posterior_mean_coef2: 'posteriorMeanCoef2',
  fixed_large_log_variance: 'fixedLargeLogVariance',
};

beforeAll(async () => {
  await useWasm();
  fx = loadFixture('diffusion-tiny.safetensors');
  const c = fx.config.calm as { hidden_size: number; latent_size: number; num_mlp_layers: number; num_samples: number };
  base = {
    hiddenSize: c.hidden_size,
    latentSize: c.latent_size,
    numMlpLayers: c.num_mlp_layers,
    numSamples: c.num_samples,
  };
  head = new DiffusionHead(base, { params: fx.variables(PREFIX) });
  fixedHead = new DiffusionHead(
    { ...base, learnSigma: false, samplingSteps: 5 },
    { params: fx.variables(FIXED_PREFIX), prefix: FIXED_PREFIX },
  );
});

afterAll(() => {
  for (const h of [head, fixedHead]) {
    h?.dispose();
    tf.dispose(Object.values(h?.params ?? {})); // adopted from the fixture: ours to free
  }
});

describe('DiffusionHead parity with the PyTorch reference of the official DiffLoss', () => {
  it('uses exactly the official parameter names and shapes', () => {
    expect(Object.keys(head.params).sort()).toEqual(fx.names.filter((n) => n.startsWith(`${PREFIX}.`)).sort());
    expect(head.params[`${PREFIX}.final_layer.linear.weight`]!.shape).toEqual([16, 16]); // [2l, H]: ε and v
    expect(fixedHead.params[`${FIXED_PREFIX}.final_layer.linear.weight`]!.shape).toEqual([8, 16]);
  });

  it('builds the cosine schedule tables and the respaced sampler tables (float64, to 1e-6 relative)', () => {
    const betas = namedBetaSchedule('cosine', 1000);
    const tables: Record<string, DiffusionTables> = {
      train: diffusionTables(
        betas,
        Array.from({ length: 1000 }, (_, i) => i),
      ),
      gen: diffusionTables(betas, spaceTimesteps(1000, [100])),
    };
    for (const [tag, t] of Object.entries(tables)) {
      expect(t.timestepMap, `${tag} map`).toEqual(Array.from(fx.values(`expected.${tag}.timestep_map`)));
      for (const [py, ts] of Object.entries(TABLES))
        expectClose(t[ts] as Float64Array, fx.values(`expected.${tag}.${py}`), {
          atol: 0,
          rtol: 1e-6,
          label: `${tag}.${py}`,
        });
    }
    expect(head.samplingTimesteps).toEqual(tables.gen!.timestepMap);
    for (const count of [2, 5, 7, 10, 25, 40, 50, 60, 100, 250, 999, 1000])
      expect(spaceTimesteps(1000, [count]), `S = ${count}`).toEqual(
        Array.from(fx.values(`expected.timestep_map_${count}`)),
      );
    const linear = diffusionTables(
      namedBetaSchedule('linear', 1000),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    expectClose(linear.betas, fx.values('expected.linear.betas'), { atol: 0, rtol: 1e-6, label: 'linear betas' });
    expectClose(linear.alphasCumprod, fx.values('expected.linear.alphas_cumprod'), { atol: 0, rtol: 1e-6 });
  });

  it('reproduces the time embedding and the network (both variance modes)', async () => {
    await expectNoLeak(() => {
      const x = fx.tensor('input.x') as tf.Tensor2D;
      const cond = fx.tensor('input.cond') as tf.Tensor2D;
      const t = ints('input.timesteps') as tf.Tensor1D;
      const emb = tf.tidy(() => timestepEmbedding(tf.cast(t, 'float32') as tf.Tensor1D, 256));
      expectParity(emb, 'expected.t_embedding');
      const out = head.modelOutput(x, t, cond);
      expectParity(out, 'expected.model_output');
      const fixedOut = fixedHead.modelOutput(x, t, cond);
      expectParity(fixedOut, 'expected.fixed_sigma.model_output');
      tf.dispose([x, cond, t, emb, out, fixedOut]);
    });
  });

  it('reproduces p_mean_variance of the 100-step sampler at its first, middle and last steps', async () => {
    await expectNoLeak(() => {
      const gen = diffusionTables(namedBetaSchedule('cosine', 1000), spaceTimesteps(1000, [100]));
      const x = fx.tensor('input.pmv_x') as tf.Tensor2D;
      const cond = fx.tensor('input.cond') as tf.Tensor2D;
      const k = ints('input.pmv_steps');
      const mapped = tf.tensor1d(
        Array.from(k.dataSync(), (s) => gen.timestepMap[s]!),
        'int32',
      );
      const out = head.modelOutput(x, mapped, cond);
      expectParity(out, 'expected.pmv_model_output');
      const r = tf.tidy(() => {
        const c = (tb: Float64Array) => gatherTable(tb, k);
        const coefs: StepCoefs = {
          sqrtRecipAlphasCumprod: c(gen.sqrtRecipAlphasCumprod),
          sqrtRecipm1AlphasCumprod: c(gen.sqrtRecipm1AlphasCumprod),
          posteriorMeanCoef1: c(gen.posteriorMeanCoef1),
          posteriorMeanCoef2: c(gen.posteriorMeanCoef2),
          posteriorLogVarianceClipped: c(gen.posteriorLogVarianceClipped),
          logBetas: c(gen.logBetas),
          fixedLargeLogVariance: c(gen.fixedLargeLogVariance),
        };
        const [eps, v] = tf.split(out, 2, -1);
        return pMeanVariance(eps!, v!, x, coefs) as unknown as Record<string, tf.Tensor>;
      });
      expectParity(r.mean!, 'expected.pmv_mean', 1e-3);
      expectParity(r.logVariance!, 'expected.pmv_log_variance', 1e-4);
      expectParity(r.predXstart!, 'expected.pmv_pred_xstart', 1e-3);
      tf.dispose([x, cond, k, mapped, out, ...Object.values(r)]);
    });
  });

  it('reproduces the loss (ε MSE + VLB, decoder NLL at t = 0) and its gradients', async () => {
    await expectNoLeak(() => {
      const hidden = tf.tidy(() => tf.variable(fx.tensor('input.hidden'))) as tf.Variable<tf.Rank.R2>;
      const mean = fx.tensor('input.target_mean') as tf.Tensor2D;
      const logStd = fx.tensor('input.target_log_std') as tf.Tensor2D;
      const targetNoise = fx.tensor('noise.target_eps') as tf.Tensor3D;
      const noise = fx.tensor('noise.eps') as tf.Tensor3D;
      const timesteps = ints('noise.timesteps') as tf.Tensor2D;
      const opts = { targetNoise, noise, timesteps };
      const { value, grads } = tf.variableGrads(
        () => head.loss(hidden, { mean, logStd }, opts),
        [...head.trainableVariables(), hidden],
      );
      expectParity(value, 'expected.loss');
      for (const name of fx.names.filter((n) => n.startsWith(`grad.${PREFIX}.`))) {
        const g = grads[head.params[name.slice(5)]!.name];
        expect(g, name).toBeDefined();
        expectParity(g!, name);
      }
      expectParity(grads[hidden.name]!, 'grad.input.hidden');
      // the per-row terms through the public network, row by row
      const [b, n, l] = [3, 2, 8];
      const terms = tf.tidy(() => {
        const train = diffusionTables(
          namedBetaSchedule('cosine', 1000),
          Array.from({ length: 1000 }, (_, i) => i),
        );
        const x0 = fx.tensor('expected.x_start');
        const rows = tf.reshape(tf.tile(tf.expandDims(hidden, 1), [1, n, 1]), [b * n, 16]) as tf.Tensor2D;
        const model = (xt: tf.Tensor) =>
          head
            .modelOutput(xt.reshape([b * n, l]) as tf.Tensor2D, timesteps.reshape([b * n]) as tf.Tensor1D, rows)
            .reshape([b, n, 2 * l]);
        const r = trainingTerms(train, model, x0, timesteps, noise, true);
        return { xt: r.xt, mse: r.mse, vb: r.vb!, loss: tf.add(r.mse, r.vb!) };
      });
      expectParity(terms.xt, 'expected.x_t', 1e-4);
      expectParity(terms.mse, 'expected.mse', 1e-4);
      expectParity(terms.vb, 'expected.vb', 1e-4);
      expectParity(terms.loss, 'expected.loss_rows', 1e-4);
      // fixed variance: the MSE alone
      const fixed = tf.variableGrads(
        () => fixedHead.loss(hidden, { mean, logStd }, opts),
        fixedHead.trainableVariables(),
      );
      expectParity(fixed.value, 'expected.fixed_sigma.loss');
      const fname = `${FIXED_PREFIX}.final_layer.linear.weight`;
      expectParity(fixed.grads[fixedHead.params[fname]!.name]!, `grad.${fname}`);
      tf.dispose([hidden, mean, logStd, targetNoise, noise, timesteps, value, ...Object.values(grads)]);
      tf.dispose([...Object.values(terms), fixed.value, ...Object.values(fixed.grads)]);
    });
  });

  it('reproduces the respaced ancestral sampler from injected noise (100 steps; 5 steps at T = 1 and 0.5)', async () => {
    await expectNoLeak(() => {
      const hidden = fx.tensor('input.hidden') as tf.Tensor2D;
      const [xT, steps, xT5, steps5] = [
        'noise.sample_x_T',
        'noise.sample_steps',
        'noise.sample5_x_T',
        'noise.sample5_steps',
      ].map((k) => fx.tensor(k)) as [tf.Tensor3D, tf.Tensor4D, tf.Tensor3D, tf.Tensor4D];
      const z = head.sample(hidden, 2, { noise: xT, stepNoise: steps });
      expectParity(z, 'expected.sample', 1e-3);
      const head5 = new DiffusionHead({ ...base, samplingSteps: 5 }, { params: head.params });
      expect(head5.samplingTimesteps).toEqual([0, 250, 500, 749, 999]);
      const z5 = head5.sample(hidden, 2, { noise: xT5, stepNoise: steps5 });
      expectParity(z5, 'expected.sample5', 1e-3);
      const z5cold = head5.sample(hidden, 2, { noise: xT5, stepNoise: steps5, temperature: 0.5 });
      expectParity(z5cold, 'expected.sample5_t0_5', 1e-3);
      const zf = fixedHead.sample(hidden, 2, { noise: xT5, stepNoise: steps5 });
      expectParity(zf, 'expected.fixed_sigma.sample5', 1e-3);
      head5.dispose(); // adopted params stay
      tf.dispose([hidden, xT, steps, xT5, steps5, z, z5, z5cold, zf]);
    });
  });
});

const small: DiffusionHeadConfig = { hiddenSize: 16, latentSize: 4, numMlpLayers: 2, numSamples: 3, samplingSteps: 10 };

/** A head whose zero-initialised output layers are randomised, so the network output is non-zero. */
function liveHead(config: DiffusionHeadConfig = small): DiffusionHead {
  const h = new DiffusionHead(config, { rng: createRng(1) });
  const rng = createRng(2);
  for (const [name, v] of Object.entries(h.params)) {
    if (name.includes('adaLN_modulation') || name.includes('final_layer.linear'))
      v.assign(normal(rng, v.shape, 0, 0.2));
  }
  return h;
}

describe('DiffusionHead', () => {
  it('creates the official parameters and initialisation; a fresh head denoises with ε̂ = 0, v = 0', () => {
    const h = new DiffusionHead(small, { rng: createRng(0) });
    expect(h.kind).toBe('diffusion');
    expect(Object.keys(h.params)).toEqual(Object.keys(diffusionHeadParamSpecs(small)));
    expect(Object.keys(h.params)[0]).toBe(`${PREFIX}.time_embed.mlp.0.weight`);
    expect(h.params[`${PREFIX}.final_layer.linear.weight`]!.shape).toEqual([8, 16]);
    expect(h.config).toMatchObject({ numTimesteps: 1000, noiseSchedule: 'cosine', learnSigma: true });
    // Zero output layer: ε̂ = 0 and v = 0 (frac ½), so at temperature 0 every step is x ← (coef1·√(1/ᾱ) + coef2)·x.
    const hidden = normal(createRng(3), [2, 16]) as tf.Tensor2D;
    const xT = normal(createRng(4), [2, 3, 4]) as tf.Tensor3D;
    const got = h.sample(hidden, 3, { noise: xT, rng: createRng(5), temperature: 0 });
    const gen = diffusionTables(namedBetaSchedule('cosine', 1000), spaceTimesteps(1000, [10]));
    let factor = 1;
    for (let k = 9; k >= 0; k--)
      factor *= Math.fround(
        Math.fround(gen.posteriorMeanCoef1[k]!) * Math.fround(gen.sqrtRecipAlphasCumprod[k]!) +
          Math.fround(gen.posteriorMeanCoef2[k]!),
      );
    const want = tf.mul(xT, factor);
    expectClose(got, want, { atol: 1e-5, rtol: 1e-4 });
    tf.dispose([hidden, xT, got, want]);
    h.dispose();
  });

  it('samples [B, n, l] deterministically from injected noise or a seeded rng, without leaks', async () => {
    const h = liveHead();
    const hidden = normal(createRng(6), [2, 16]) as tf.Tensor2D;
    await expectNoLeak(() => {
      const a = h.sample(hidden, 4, { rng: createRng(7) });
      const b = h.sample(hidden, 4, { rng: createRng(7) });
      expect(a.shape).toEqual([2, 4, 4]);
      expectClose(a, b, { atol: 0 });
      const xT = normal(createRng(8), [2, 4, 4]) as tf.Tensor3D;
      const steps = normal(createRng(9), [9, 2, 4, 4]) as tf.Tensor4D;
      const c = h.sample(hidden, 4, { noise: xT, stepNoise: steps });
      const d = h.sample(hidden, 4, { noise: xT, stepNoise: steps });
      expectClose(c, d, { atol: 0 });
      // temperature 0: the step noise no longer matters
      const other = tf.tidy(() => tf.mul(steps, -3)) as tf.Tensor4D;
      const e = h.sample(hidden, 4, { noise: xT, stepNoise: steps, temperature: 0 });
      const f = h.sample(hidden, 4, { noise: xT, stepNoise: other, temperature: 0 });
      expectClose(e, f, { atol: 0 });
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(c, e))).dataSync()[0]!)).toBeGreaterThan(1e-3);
      tf.dispose([a, b, xT, steps, c, d, other, e, f]);
    });
    tf.dispose(hidden);
    h.dispose();
  });

  it('computes a finite loss with gradients for every parameter, reproducibly and without leaks', async () => {
    const h = liveHead();
    const rng = createRng(10);
    const hidden = normal(rng, [2, 16]) as tf.Tensor2D;
    const mean = normal(rng, [2, 4]) as tf.Tensor2D;
    const logStd = normal(rng, [2, 4], -1, 0.2) as tf.Tensor2D;
    await expectNoLeak(() => {
      const a = h.loss(hidden, { mean, logStd }, { rng: createRng(11) });
      const b = h.loss(hidden, { mean, logStd }, { rng: createRng(11) });
      expectClose(a, b, { atol: 0 });
      const { value, grads } = paramGrads(() => h.loss(hidden, { mean, logStd }, { rng: createRng(12) }), h.params);
      expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
      expect(Object.keys(grads)).toHaveLength(Object.keys(h.params).length);
      expect(Object.values(grads).every((g) => tf.tidy(() => tf.all(tf.isFinite(g)).dataSync()[0]) === 1)).toBe(true);
      tf.dispose([a, b, value, ...Object.values(grads)]);
    });
    tf.dispose([hidden, mean, logStd]);
    h.dispose();
  });

  it('implements GenerativeHead and counts FLOPs over the sampling steps', () => {
    const heads: GenerativeHead[] = [new DiffusionHead({ hiddenSize: 32, latentSize: 8 }, { rng: createRng(0) })];
    const d = heads[0] as DiffusionHead;
    expect(d.config.samplingSteps).toBe(100);
    expect(d.samplingTimesteps).toHaveLength(100);
    // Same network with l outputs and 20 calls = the flow head's default (10 midpoint steps).
    const d20 = new DiffusionHead(
      { hiddenSize: 32, latentSize: 8, samplingSteps: 20, learnSigma: false },
      { rng: createRng(0) },
    );
    const flow = new FlowMatchingHead({ hiddenSize: 32, latentSize: 8 }, { rng: createRng(0) });
    expect(d20.flopsPerSample(4)).toBe(flow.flopsPerSample(4));
    expect(d.flopsPerSample()).toBeGreaterThan(5 * d20.flopsPerSample());
    expect(d.flopsPerSample(8)).toBeLessThan(d.flopsPerSample());
    expect(
      isCalmError(
        catchError(() => d.flopsPerSample(0)),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    for (const h of [d, d20, flow]) h.dispose();
  });

  it('rejects bad configurations (all problems at once) and bad inputs with CalmErrors', () => {
    const err = catchError(
      () =>
        new DiffusionHead(
          {
            hiddenSize: 0,
            samplingSteps: 1,
            noiseSchedule: 'quad' as 'cosine',
            learnSigma: 'yes' as unknown as boolean,
          },
          { rng: createRng(0) },
        ),
    ) as { details?: { problems?: string[] } };
    expect(isCalmError(err, 'INVALID_CONFIG')).toBe(true);
    expect(err.details?.problems).toHaveLength(4);
    expect(
      isCalmError(
        catchError(
          () => new DiffusionHead({ hiddenSize: 8, numTimesteps: 10, noiseSchedule: 'linear', samplingSteps: 5 }),
        ),
        'INVALID_CONFIG',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => new DiffusionHead({ hiddenSize: 8, samplingSteps: 1001 })),
        'INVALID_CONFIG',
      ),
    ).toBe(true);
    const h = new DiffusionHead(small, { rng: createRng(0) });
    const hidden = tf.zeros([2, 16]) as tf.Tensor2D;
    const post = { mean: tf.zeros([2, 4]) as tf.Tensor2D, logStd: tf.zeros([2, 4]) as tf.Tensor2D };
    const xT = tf.zeros([2, 1, 4]) as tf.Tensor3D;
    expect(
      isCalmError(
        catchError(() => h.sample(hidden, 1, { noise: xT })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => h.sample(hidden, 1, { rng: createRng(0), temperature: -1 })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    const badSteps = tf.zeros([10, 2, 1, 4]) as tf.Tensor4D; // S − 1 = 9 expected
    expect(
      isCalmError(
        catchError(() => h.sample(hidden, 1, { noise: xT, stepNoise: badSteps })),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => h.loss(hidden, post, {})),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    const tFloat = tf.zeros([2, 3]) as tf.Tensor2D;
    const tBig = tf.fill([2, 3], 1000, 'int32') as tf.Tensor2D;
    expect(
      isCalmError(
        catchError(() => h.loss(hidden, post, { rng: createRng(0), timesteps: tFloat })),
        'DTYPE_UNSUPPORTED',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => h.loss(hidden, post, { rng: createRng(0), timesteps: tBig })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => h.sample(tf.zeros([2, 5]) as tf.Tensor2D, 1, { rng: createRng(0) })),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    tf.dispose([hidden, post.mean, post.logStd, xT, badSteps, tFloat, tBig]);
    h.dispose();
  });

  it('lowers its loss when trained for a few dozen AdamW steps on a toy target', () => {
    const h = new DiffusionHead(
      { hiddenSize: 32, latentSize: 2, numMlpLayers: 2, numSamples: 32 },
      { rng: createRng(20) },
    );
    const rng = createRng(21);
    const hidden = normal(rng, [4, 32]) as tf.Tensor2D;
    const post = {
      mean: tf.tensor2d([0.8, -0.5, -0.8, 0.5, 0.3, 0.3, -0.3, -0.3], [4, 2]),
      logStd: tf.fill([4, 2], Math.log(0.2)) as tf.Tensor2D,
    };
    // A fixed evaluation batch: the same targets, noise and timesteps before and after training.
    const evalLoss = () => tf.tidy(() => h.loss(hidden, post, { rng: createRng(22) }).dataSync()[0]!);
    const before = evalLoss();
    const opt = new AdamW(h.params, { lr: 3e-3, weightDecay: 0 });
    for (let s = 0; s < 40; s++) {
      const { value, grads } = paramGrads(() => h.loss(hidden, post, { rng }), h.params);
      opt.step(grads);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const after = evalLoss();
    expect(after, `loss ${before} → ${after}`).toBeLessThan(0.3 * before);
    opt.dispose?.();
    tf.dispose([hidden, post.mean, post.logStd]);
    h.dispose();
  });
});
