// The energy bounds: the oracle's loss equals its closed form E‖X − X′‖ with X, X′ ~ N(μ, σ²)
// (2·fidelity − diversity of the true distribution), the oracle is below the unconditional
// generator and the untrained model, and the result is reproducible from the seed.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import { tinyCalm } from '@calm/testing/models';
import { expectNoLeak, useWasm } from '@calm/testing/tfjs';
import { type CalmModel, calmEnergyBounds } from '../src/index.js';

let model: CalmModel;
let blocks: Int32Array[];
beforeAll(async () => {
  await useWasm();
  model = tinyCalm(3);
  // Narrow posteriors (σ = e^-3) so that positions are told apart: the unconditional bound then
  // sits well above the oracle's.
  const bias = model.aeParams['encoder.hidden_to_latent.bias']!;
  const l = model.config.latentSize;
  tf.tidy(() => bias.assign(tf.concat([tf.slice(bias, [0], [l]), tf.fill([l], -3)])));
  const rng = createRng(11);
  blocks = Array.from({ length: 5 }, () => Int32Array.from({ length: 32 }, () => 97 + rng.int(26)));
});
afterAll(() => model.dispose());

describe('calmEnergyBounds', () => {
  it('scores the oracle at its closed form, below the unconditional generator and an untrained model', async () => {
    const b = await expectNoLeak(() => calmEnergyBounds(model, blocks, { seed: 1, batchSize: 2 }));
    expect(b.positions).toBe(5 * 7);
    // Monte Carlo of E‖X − X′‖, X − X′ ~ N(0, 2σ²), per target position, from the same posteriors.
    const ids = tf.tensor2d(Int32Array.from(blocks.flatMap((x) => Array.from(x.subarray(4)))), [5, 28], 'int32');
    const { mean, logStd } = model.encodeTargets(ids);
    const sig = logStd.dataSync();
    const l = model.config.latentSize;
    const rng = createRng(5);
    let expected = 0;
    for (let p = 0; p < 35; p++) {
      let acc = 0;
      for (let i = 0; i < 4000; i++) {
        let sq = 0;
        for (let d = 0; d < l; d++) sq += 2 * Math.exp(2 * sig[p * l + d]!) * rng.normal() ** 2;
        acc += Math.sqrt(sq);
      }
      expected += acc / 4000 / 35;
    }
    tf.dispose([ids, mean, logStd]);
    expect(Math.abs(b.oracle - expected) / expected).toBeLessThan(0.05);
    expect(b.oracle).toBeLessThan(b.unconditional);
    expect(b.oracle).toBeLessThan(b.model);
    expect(await calmEnergyBounds(model, blocks, { seed: 1, batchSize: 2 })).toEqual(b);
  });

  it('rejects blocks that are not chunks', async () => {
    await expect(calmEnergyBounds(model, [Int32Array.of(1, 2, 3)])).rejects.toThrow(/multiple of K/);
    await expect(calmEnergyBounds(model, [])).rejects.toThrow(/at least one/);
  });
});
