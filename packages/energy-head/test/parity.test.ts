// Parity with the PyTorch reference (tools/reference): head samples with injected noise, the
// energy loss with injected target noise for alpha 1 and 1.5, gradients, coinciding samples.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOL } from '@calm/testing';
import { expectClose, expectNoLeak } from '@calm/testing/tfjs';
import { EnergyHead, energyScore, type DistanceMethod } from '../src/index.js';
import { useWasm } from './backend.js';
import { loadFixture, type Fixture } from './fixtures.js';

const ATOL = TOL.parity;

let fx: Fixture;
let head: EnergyHead;
let hidden: tf.Tensor2D;
let noise: tf.Tensor3D; // [B, N, noise]
let mean: tf.Tensor2D;
let logStd: tf.Tensor2D;
let eps: tf.Tensor3D;

interface CalmCfg {
  hidden_size: number;
  latent_size: number;
  noise_size: number;
  num_mlp_layers: number;
  num_samples: number;
  num_target_samples: number;
}

function makeHead(beta: number, method: DistanceMethod = 'matmul'): EnergyHead {
  const c = fx.config.calm as CalmCfg;
  return new EnergyHead(
    {
      hiddenSize: c.hidden_size,
      latentSize: c.latent_size,
      noiseSize: c.noise_size,
      numMlpLayers: c.num_mlp_layers,
      numSamples: c.num_samples,
      numTargetSamples: c.num_target_samples,
      beta,
      distanceMethod: method,
    },
    { params: head.params, prefix: 'mlp_generator' },
  );
}

beforeAll(async () => {
  await useWasm();
  fx = loadFixture('head-tiny.safetensors');
  const c = fx.config.calm as CalmCfg;
  head = new EnergyHead(
    {
      hiddenSize: c.hidden_size,
      latentSize: c.latent_size,
      noiseSize: c.noise_size,
      numMlpLayers: c.num_mlp_layers,
      numSamples: c.num_samples,
      numTargetSamples: c.num_target_samples,
    },
    { params: fx.variables('mlp_generator') },
  );
  hidden = fx.tensor('input.hidden') as tf.Tensor2D;
  noise = tf.tidy(() => tf.transpose(fx.tensor('noise.uniform'), [1, 0, 2])) as tf.Tensor3D; // fixture: [N, B, noise]
  mean = fx.tensor('input.target_mean') as tf.Tensor2D;
  logStd = fx.tensor('input.target_log_std') as tf.Tensor2D;
  eps = fx.tensor('noise.target_eps') as tf.Tensor3D;
});

afterAll(() => {
  head?.dispose();
  tf.dispose(Object.values(head?.params ?? {})); // adopted from the fixture: ours to free
  tf.dispose([hidden, noise, mean, logStd, eps]);
});

describe('EnergyHead parity with the PyTorch MLPGenerator', () => {
  it('uses exactly the official parameter names', () => {
    const weights = fx.names.filter((n) => n.startsWith('mlp_generator.'));
    expect(Object.keys(head.params).sort()).toEqual([...weights].sort());
  });

  it('reproduces the head samples with injected noise', async () => {
    await expectNoLeak(() => {
      const samples = head.sample(hidden, fx.config.N as number, { noise });
      const expected = tf.tidy(() => tf.transpose(fx.tensor('expected.samples'), [1, 0, 2])); // [B, N, l]
      expectClose(samples, expected, { atol: ATOL, label: 'samples' });
      tf.dispose([samples, expected]);
    });
  });

  for (const [alpha, tag, gradPrefix] of [
    [1, 'alpha1', 'grad.'],
    [1.5, 'alpha1_5', 'grad_alpha1_5.'],
  ] as const) {
    for (const method of ['matmul', 'direct'] as const) {
      it(`reproduces the energy loss and its gradients (alpha ${alpha}, ${method})`, async () => {
        const h = makeHead(alpha, method);
        await expectNoLeak(() => {
          const hiddenVar = tf.variable(hidden);
          const vars = [...h.trainableVariables(), hiddenVar];
          const { value, grads } = tf.variableGrads(
            () => h.loss(hiddenVar as tf.Variable<tf.Rank.R2>, { mean, logStd }, { noise, targetNoise: eps }),
            vars,
          );
          expectClose(value, fx.values(`expected.loss_${tag}`), { atol: ATOL, label: 'loss' });
          for (const name of fx.names.filter((n) => n.startsWith(gradPrefix))) {
            const key = name.slice(gradPrefix.length);
            const g = key === 'input.hidden' ? grads[hiddenVar.name] : grads[h.params[key]?.name ?? ''];
            if (key === 'input.coincide_samples') continue;
            expect(g, name).toBeDefined();
            expectClose(g!, fx.values(name), { atol: ATOL, label: name });
          }
          tf.dispose([value, hiddenVar, ...Object.values(grads)]);
        });
      });

      it(`reproduces score parts and coinciding-sample gradients (alpha ${alpha}, ${method})`, async () => {
        await expectNoLeak(() => {
          const samples = head.sample(hidden, fx.config.N as number, { noise });
          const targets = fx.tensor('expected.targets') as tf.Tensor3D;
          const parts = energyScore(samples, targets, { alpha, method });
          expectClose(parts.score, fx.values(`expected.score_${tag}`), { atol: ATOL, label: 'score' });
          expectClose(parts.fidelity, fx.values(`expected.fidelity_${tag}`), { atol: ATOL, label: 'fidelity' });
          expectClose(parts.diversity, fx.values(`expected.diversity_${tag}`), { atol: ATOL, label: 'diversity' });
          const cs = fx.tensor('input.coincide_samples') as tf.Tensor3D;
          const ct = fx.tensor('input.coincide_targets') as tf.Tensor3D;
          const f = (x: tf.Tensor) =>
            tf.tidy(() => {
              const p = energyScore(x as tf.Tensor3D, ct, { alpha, method });
              return tf.neg(tf.mean(p.score)) as tf.Scalar;
            });
          const { value, grad } = tf.valueAndGrad(f)(cs);
          expectClose(value, fx.values(`expected.coincide_loss_${tag}`), { atol: ATOL, label: 'coincide loss' });
          expectClose(grad, fx.values(`${gradPrefix}input.coincide_samples`), { atol: ATOL, label: 'coincide grad' });
          tf.dispose([samples, targets, parts.score, parts.fidelity, parts.diversity, cs, ct, value, grad]);
        });
      });
    }
  }
});
