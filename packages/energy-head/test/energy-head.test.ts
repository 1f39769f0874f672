import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { countParams, paramGrads } from '@calm/nn';
import { expectClose, expectNoLeak } from '@calm/testing/tfjs';
import { EnergyHead, energyHeadParamSpecs, type GenerativeHead } from '../src/index.js';
import { createRng, normal, uniform, useWasm } from './backend.js';

beforeAll(useWasm);

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

function maxAbs(t: tf.Tensor): number {
  const m = tf.tidy(() => tf.max(tf.abs(t)));
  const v = m.dataSync()[0]!;
  m.dispose();
  return v;
}

const small = { hiddenSize: 16, latentSize: 4, noiseSize: 6, numMlpLayers: 2, numSamples: 4, numTargetSamples: 5 };

describe('EnergyHead', () => {
  it('creates the official parameter set with the official initialisation', () => {
    const head = new EnergyHead(small, { rng: createRng(1) });
    const keys = Object.keys(head.params);
    expect(keys[0]).toBe('mlp_generator.noise_embd.weight');
    expect(keys).toContain('mlp_generator.mlp_blocks.1.linears.4.weight');
    expect(keys).toContain('mlp_generator.final_layer.in_ln.bias');
    expect(head.params['mlp_generator.mlp_blocks.0.linears.0.weight']!.shape).toEqual([16, 32]);
    expect(head.params['mlp_generator.mlp_blocks.0.linears.4.weight']!.shape).toEqual([32, 16]);
    // 2 + 2 + 2 + 2 (embd + norms) + 2·10 (blocks) + 6 (final) = 34 tensors
    expect(keys).toHaveLength(34);
    const h = 16;
    const expectedCount =
      6 * h +
      h +
      (h * h + h) +
      4 * h +
      2 * (2 * h + (2 * h * h + h) + (h * h + h) + (2 * h * h + 2 * h) + (h * h + h)) +
      2 * h +
      (h * h + h) +
      (4 * h + 4);
    expect(countParams(head.params)).toBe(expectedCount);
    // The last Linear is zero: every sample of a fresh head is exactly 0.
    const rng = createRng(2);
    const hidden = normal(rng, [3, 16]) as tf.Tensor2D;
    const z = head.sample(hidden, 5, { rng });
    expect(z.shape).toEqual([3, 5, 4]);
    expect(Array.from(z.dataSync()).every((v) => v === 0)).toBe(true);
    const w = head.params['mlp_generator.noise_embd.weight']!.dataSync() as Float32Array;
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    expect(std).toBeGreaterThan(0.015);
    expect(std).toBeLessThan(0.025);
    expect(Array.from(head.params['mlp_generator.norm_noise.weight']!.dataSync()).every((v) => v === 1)).toBe(true);
    tf.dispose([hidden, z]);
    head.dispose();
  });

  it('supports the generative_head alias prefix and adopts loaded parameters', () => {
    const specs = energyHeadParamSpecs(small, 'generative_head');
    expect(Object.keys(specs).every((k) => k.startsWith('generative_head.'))).toBe(true);
    const a = new EnergyHead(small, { rng: createRng(3), prefix: 'generative_head' });
    const extra = tf.variable(tf.ones([2]));
    const b = new EnergyHead(small, {
      params: { ...a.params, 'transformer.norm.weight': extra },
      prefix: 'generative_head',
    });
    expect(Object.keys(b.params)).toEqual(Object.keys(a.params)); // extra keys ignored
    expect(b.params['generative_head.hidden_embd.weight']).toBe(a.params['generative_head.hidden_embd.weight']); // same variables
    const { 'generative_head.hidden_embd.bias': _dropped, ...missing } = a.params;
    const e1 = catchError(() => new EnergyHead(small, { params: missing, prefix: 'generative_head' }));
    expect(isCalmError(e1, 'MISSING_PARAMETER')).toBe(true);
    expect(String((e1 as Error).message)).toMatch(/hidden_embd\.bias/);
    const e2 = catchError(
      () => new EnergyHead({ ...small, noiseSize: 7 }, { params: a.params, prefix: 'generative_head' }),
    );
    expect(isCalmError(e2, 'SHAPE_MISMATCH')).toBe(true);
    expect(
      isCalmError(
        catchError(() => new EnergyHead(small)),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => new EnergyHead(small, { rng: createRng(0), prefix: 'mlp_generator.' })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    a.dispose();
    extra.dispose();
  });

  it('validates the configuration, listing every problem', () => {
    const e = catchError(
      () => new EnergyHead({ hiddenSize: 0, latentSize: 2.5, numSamples: 1 }, { rng: createRng(0) }),
    );
    expect(isCalmError(e, 'INVALID_CONFIG')).toBe(true);
    expect((e as { details: { problems: string[] } }).details.problems).toEqual([
      'hiddenSize must be a positive integer, got 0',
      'latentSize must be a positive integer, got 2.5',
      'numSamples must be an integer >= 2, got 1',
    ]);
    expect((e as Error).message).toMatch(/^\[@calm\/energy-head\] EnergyHead config has 3 problems:\n- hiddenSize/);
  });

  it('accepts beta in (0, 2), warns through the logger at 2, and rejects beta <= 0 or > 2', () => {
    const warnings: string[] = [];
    const h1 = new EnergyHead(
      { ...small, beta: 1.5 },
      { rng: createRng(0), logger: { warn: (w) => warnings.push(w) } },
    );
    expect(warnings).toEqual([]);
    expect(h1.warnings).toEqual([]);
    const h2 = new EnergyHead({ ...small, beta: 2 }, { rng: createRng(0), logger: { warn: (w) => warnings.push(w) } });
    expect(warnings).toHaveLength(1);
    expect(h2.warnings).toEqual(warnings);
    for (const beta of [0, -0.5, 2.01, Number.NaN]) {
      expect(
        isCalmError(
          catchError(() => new EnergyHead({ ...small, beta }, { rng: createRng(0) })),
          'INVALID_ARGUMENT',
        ),
        `beta ${beta}`,
      ).toBe(true);
    }
    h1.dispose();
    h2.dispose();
  });

  it('shares the hidden-state path across samples exactly like the per-row official forward', () => {
    const head = new EnergyHead(small, { rng: createRng(4) });
    // Make the zero-initialised last layer non-zero so outputs carry information.
    head.params['mlp_generator.final_layer.linears.2.weight']!.assign(normal(createRng(5), [4, 16]) as tf.Tensor2D);
    const rng = createRng(6);
    const hidden = normal(rng, [3, 16]) as tf.Tensor2D;
    const noise = uniform(rng, [3, 5, 6], -0.5, 0.5) as tf.Tensor3D;
    const shared = head.generate(hidden, noise); // [3, 5, 4]
    const rows = tf.tidy(() => {
      const h = tf.reshape(tf.tile(tf.expandDims(hidden, 1), [1, 5, 1]), [15, 16]) as tf.Tensor2D;
      return head.generate(h, tf.reshape(noise, [15, 1, 6]) as tf.Tensor3D).reshape([3, 5, 4]);
    });
    expectClose(shared, rows, { atol: 1e-5 });
    tf.dispose([hidden, noise, shared, rows]);
    head.dispose();
  });

  it('samples reproducibly from an rng, and rejects missing randomness and bad shapes', () => {
    const head = new EnergyHead(small, { rng: createRng(7) });
    head.params['mlp_generator.final_layer.linears.2.bias']!.assign(tf.tensor1d([1, 2, 3, 4]));
    head.params['mlp_generator.final_layer.linears.2.weight']!.assign(normal(createRng(8), [4, 16]) as tf.Tensor2D);
    const hidden = normal(createRng(9), [2, 16]) as tf.Tensor2D;
    const a = head.sample(hidden, 3, { rng: createRng(10) });
    const b = head.sample(hidden, 3, { rng: createRng(10) });
    const c = head.sample(hidden, 3, { rng: createRng(11) });
    expectClose(a, b, { atol: 0 });
    expect(tf.tidy(() => maxAbs(tf.sub(a, c)))).toBeGreaterThan(1e-3);
    expect(
      isCalmError(
        catchError(() => head.sample(hidden, 3, {})),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isCalmError(
        catchError(() => head.sample(hidden, 0, { rng: createRng(0) })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    const wrong = tf.zeros([2, 15]) as tf.Tensor2D;
    expect(
      isCalmError(
        catchError(() => head.sample(wrong, 3, { rng: createRng(0) })),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    const badNoise = tf.zeros([2, 4, 6]) as tf.Tensor3D;
    expect(
      isCalmError(
        catchError(() => head.sample(hidden, 3, { noise: badNoise })),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    tf.dispose([hidden, a, b, c, wrong, badNoise]);
    head.dispose();
  });

  it('has a finite loss and gradient at initialisation, where all samples coincide', async () => {
    const head: GenerativeHead = new EnergyHead(small, { rng: createRng(12) });
    const rng = createRng(13);
    const hidden = normal(rng, [3, 16]) as tf.Tensor2D;
    const mean = normal(rng, [3, 4]) as tf.Tensor2D;
    const logStd = normal(rng, [3, 4], -1, 0.1) as tf.Tensor2D;
    await expectNoLeak(() => {
      const { value, grads } = paramGrads(() => head.loss(hidden, { mean, logStd }, { rng }), head.params);
      expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
      for (const [name, g] of Object.entries(grads))
        expect(Array.from(g.dataSync()).every(Number.isFinite), name).toBe(true);
      // Only the zero last layer gets a gradient signal through the fidelity term at first.
      expect(maxAbs(grads['mlp_generator.final_layer.linears.2.bias']!)).toBeGreaterThan(0);
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([hidden, mean, logStd]);
    head.dispose();
  });

  it('counts FLOPs per sample, amortising the hidden-state path', () => {
    const head = new EnergyHead({ hiddenSize: 64, latentSize: 128 }, { rng: createRng(0) });
    const h = 64;
    const one = head.flopsPerSample();
    // One sample with the official per-row computation: 2·(noise·H + H² + 4·(2H² + H² + 2H² + H²) + H² + H·l).
    expect(one).toBe(2 * (64 * h + h * h + 4 * 6 * h * h + h * h + h * 128));
    expect(head.flopsPerSample(8)).toBeLessThan(one);
    expect(
      isCalmError(
        catchError(() => head.flopsPerSample(0)),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    head.dispose();
  });
});
