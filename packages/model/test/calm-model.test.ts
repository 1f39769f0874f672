// Parity of the CALM LM with the PyTorch reference (calm-tiny, calm-tiny-gqa): input compression,
// target posteriors from the frozen AE, backbone hidden states, head samples, the energy loss with
// injected noise and its gradients (PAD row exactly zero, AE frozen), and one KV-cache generation
// step equal to the full forward.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import type { EnergyHead } from '@calm/energy-head';
import { paramGrads } from '@calm/nn';
import { expectNoLeak } from '@calm/testing/tfjs';
import { CalmModel, KvCache } from '../src/index.js';
import { expectParity, loadFixture, tinyCalmFromFixture, useWasm, type Fixture } from './helpers.js';

beforeAll(useWasm);

for (const file of ['calm-tiny.safetensors', 'calm-tiny-gqa.safetensors']) {
  describe(`CALM LM parity (${file})`, () => {
    let fx: Fixture;
    let model: CalmModel;
    beforeAll(() => {
      fx = loadFixture(file);
      model = tinyCalmFromFixture(fx);
    });

    it('compression, target posteriors, hidden states and head samples', async () => {
      await expectNoLeak(() => {
        tf.tidy(() => {
          const ids = fx.tensor('input.ids') as tf.Tensor2D; // [2, 24]
          expectParity(model.compress(ids), fx.values('expected.compressed_all'), 'compressed_all');
          const { mean, logStd } = model.encodeTargets(ids.slice([0, 4], [2, 20]));
          expectParity(mean, fx.values('expected.target_mean'), 'target_mean');
          expectParity(logStd, fx.values('expected.target_log_std'), 'target_log_std');
          const hidden = model.hidden(ids.slice([0, 0], [2, 20]));
          expectParity(hidden, fx.values('expected.hidden'), 'hidden');
          const noise = fx.tensor('noise.head_uniform').reshape([10, 4, 8]) as tf.Tensor3D;
          const samples = (model.head as EnergyHead).generate(hidden.reshape([10, 32]) as tf.Tensor2D, noise);
          expectParity(samples, fx.values('expected.samples'), 'samples');
        });
      });
    });

    it('energy loss with injected noise and its gradients', async () => {
      await expectNoLeak(() => {
        const ids = fx.tensor('input.ids') as tf.Tensor2D;
        const head = fx.tensor('noise.head_uniform') as tf.Tensor4D;
        const target = fx.tensor('noise.target_eps') as tf.Tensor4D;
        const { value, grads } = paramGrads(() => model.loss(ids, { noise: { head, target } }), model.params);
        expectParity(value, fx.values('expected.loss'), 'loss');
        for (const name of fx.names.filter((n) => n.startsWith('grad.'))) {
          const key = name.slice('grad.'.length);
          expect(grads[key], `gradient of ${key}`).toBeDefined();
          expectParity(grads[key]!, fx.values(name), name, 1e-3, 1e-6);
        }
        // PAD row (79) of the LM embedding gets exactly zero gradient; the AE gets none.
        const g = grads['transformer.embed_tokens.weight']!.dataSync();
        expect(Array.from(g.slice(79 * 32, 80 * 32)).every((x) => x === 0)).toBe(true);
        expect(Object.keys(grads).some((k) => k.startsWith('encoder.') || k.startsWith('decoder.'))).toBe(false);
        tf.dispose([ids, head, target, value, ...Object.values(grads)]);
      });
    });

    it('one KV-cache generation step equals the full forward', async () => {
      await expectNoLeak(() => {
        const cache = new KvCache();
        tf.tidy(() => {
          const gen = fx.tensor('input.gen_ids') as tf.Tensor2D; // [2, 12]
          const prefix = model.hidden(gen, cache); // [2, 3, 32]
          expectParity(prefix, fx.values('expected.gen_prefix_hidden'), 'gen_prefix_hidden');
          const last = prefix.slice([0, 2, 0], [2, 1, 32]).reshape([2, 32]) as tf.Tensor2D;
          const z = (model.head as EnergyHead).generate(
            last,
            fx.tensor('noise.gen_uniform').reshape([2, 1, 8]) as tf.Tensor3D,
          ); // [2, 1, 8]
          expectParity(z, fx.values('expected.gen_latent'), 'gen_latent');
          const next = model.decodeChunks(z); // [2, 1, 4]
          expect(Array.from(next.dataSync())).toEqual(Array.from(fx.values('expected.gen_next_ids')));
          const step = model.hidden(next.reshape([2, 4]) as tf.Tensor2D, cache);
          expectParity(step, fx.values('expected.gen_hidden_step'), 'gen_hidden_step');
          const full = model.hidden(tf.concat([gen, next.reshape([2, 4])], 1) as tf.Tensor2D);
          expectParity(full, fx.values('expected.gen_hidden_full'), 'gen_hidden_full');
          // sampleChunks with injected noise is the same draw.
          const again = model.sampleChunks(last, 1, {
            noise: fx.tensor('noise.gen_uniform').reshape([2, 1, 8]) as tf.Tensor3D,
          });
          expect(Array.from(again.dataSync())).toEqual(Array.from(fx.values('expected.gen_next_ids')));
        });
        cache.dispose();
      });
    });

    it('fresh official init: PAD row zero, head output layer zero, AE frozen', () => {
      const fresh = new CalmModel(model.config, model.aeConfig, { rng: createRng(3), aeParams: model.aeParams });
      const emb = fresh.params['transformer.embed_tokens.weight']!.dataSync();
      expect(Array.from(emb.slice(79 * 32, 80 * 32)).every((x) => x === 0)).toBe(true);
      expect(
        Array.from(fresh.params['mlp_generator.final_layer.linears.2.weight']!.dataSync()).every((x) => x === 0),
      ).toBe(true);
      expect(fresh.trainableVariables().length).toBe(Object.keys(fresh.params).length);
      expect(Object.values(fresh.aeParams).every((v) => !v.trainable)).toBe(true);
      for (const v of Object.values(fresh.params)) v.dispose();
    });
  });
}
