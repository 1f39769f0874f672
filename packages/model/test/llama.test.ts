// Parity of the Llama backbone with the PyTorch reference (calm-tiny MHA and calm-tiny-gqa):
// RoPE tables, the residual stream after layer 0, the final hidden states, and KV-cache decoding
// equal to the full forward.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak } from '@calm/testing/tfjs';
import { KvCache, llamaForward, ropeCosSin, calmConfig, type CalmConfig } from '../src/index.js';
import { expectParity, loadFixture, useWasm } from './helpers.js';

beforeAll(useWasm);

function configOf(c: Record<string, number>): CalmConfig {
  return calmConfig({
    hiddenSize: c.hidden_size!,
    intermediateSize: c.intermediate_size!,
    numHiddenLayers: c.num_hidden_layers!,
    numAttentionHeads: c.num_attention_heads!,
    numKeyValueHeads: c.num_key_value_heads!,
    ropeTheta: c.rope_theta!,
    rmsNormEps: c.rms_norm_eps!,
    vocabSize: c.vocab_size!,
    patchSize: c.patch_size!,
    latentSize: c.latent_size!,
    noiseSize: c.noise_size!,
    numMlpLayers: c.num_mlp_layers!,
    numSamples: c.num_samples!,
    numTargetSamples: c.num_target_samples!,
    padTokenId: 79,
    bosTokenId: 77,
    eosTokenId: 78,
  });
}

for (const file of ['calm-tiny.safetensors', 'calm-tiny-gqa.safetensors']) {
  describe(`Llama backbone parity (${file})`, () => {
    it('RoPE cos/sin in the rotate-half layout', () => {
      const fx = loadFixture(file);
      const { cos, sin } = ropeCosSin(8, 10000, 0, 5);
      expectParity(cos, fx.values('expected.rope_cos'), 'cos', 1e-6, 1e-7);
      expectParity(sin, fx.values('expected.rope_sin'), 'sin', 1e-6, 1e-7);
      tf.dispose([cos, sin]);
    });

    it('layer 0 residual and final hidden states', async () => {
      const fx = loadFixture(file);
      const config = configOf(fx.config.calm as Record<string, number>);
      const params = fx.weights((n) => n.startsWith('transformer.'));
      const x = fx.tensor('input.inputs_embeds') as tf.Tensor3D;
      await expectNoLeak(() => {
        const out = llamaForward(params, config, x, { prefix: 'transformer', outputLayers: true });
        expectParity(out.layers![0]!, fx.values('expected.backbone_layer0'), 'layer0');
        expectParity(out.hidden, fx.values('expected.backbone_hidden'), 'hidden');
        tf.dispose([out.hidden, ...out.layers!]);
      });
      tf.dispose([x, ...Object.values(params)]);
    });

    it('KV-cache decoding equals the full forward, position by position', async () => {
      const fx = loadFixture(file);
      const config = configOf(fx.config.calm as Record<string, number>);
      const params = fx.weights((n) => n.startsWith('transformer.'));
      const x = fx.tensor('input.inputs_embeds') as tf.Tensor3D;
      await expectNoLeak(() => {
        const full = llamaForward(params, config, x, { prefix: 'transformer' }).hidden;
        const cache = new KvCache();
        const slices: tf.Tensor[] = [];
        const sl = (begin: number, size: number): tf.Tensor3D => {
          const s = x.slice([0, begin, 0], [2, size, 32]);
          slices.push(s);
          return s;
        };
        const first = llamaForward(params, config, sl(0, 2), { prefix: 'transformer', cache }).hidden;
        expect(cache.length).toBe(2);
        const parts = [first];
        for (let t = 2; t < 5; t++)
          parts.push(llamaForward(params, config, sl(t, 1), { prefix: 'transformer', cache }).hidden);
        expect(cache.length).toBe(5);
        const stitched = tf.concat(parts, 1);
        expectParity(stitched, full.dataSync(), 'cached vs full', 1e-5, 1e-6);
        // A sliced cache continues from its prefix.
        const short = cache.slice(3);
        const again = llamaForward(params, config, sl(3, 1), { prefix: 'transformer', cache: short }).hidden;
        const want = full.slice([0, 3, 0], [2, 1, 32]);
        expectParity(again, want.dataSync(), 'sliced cache', 1e-5, 1e-6);
        tf.dispose([full, stitched, again, want, ...parts, ...slices]);
        short.dispose();
        cache.dispose();
      });
      tf.dispose([x, ...Object.values(params)]);
    });

    it('a cache that grows past its capacity, on wasm and cpu, keeps decoding equal to the full forward', async () => {
      const fx = loadFixture(file);
      const config = configOf(fx.config.calm as Record<string, number>);
      for (const backend of ['wasm', 'cpu']) {
        await tf.setBackend(backend);
        const params = fx.weights((n) => n.startsWith('transformer.'));
        const x = fx.tensor('input.inputs_embeds') as tf.Tensor3D;
        await expectNoLeak(() => {
          const full = llamaForward(params, config, x, { prefix: 'transformer' }).hidden;
          const cache = new KvCache({ capacity: 2 });
          expect(cache.capacity).toBe(2);
          const parts = [0, 1, 2, 3, 4].map((t) =>
            tf.tidy(
              () =>
                llamaForward(params, config, x.slice([0, t, 0], [2, 1, 32]), { prefix: 'transformer', cache }).hidden,
            ),
          );
          expect(cache.length).toBe(5);
          expect(cache.capacity).toBeGreaterThanOrEqual(5); // grew by doubling
          expect(cache.keys[0]!.shape).toEqual([2, config.numKeyValueHeads, 5, 32 / config.numAttentionHeads]);
          const stitched = tf.concat(parts, 1);
          expectParity(stitched, full.dataSync(), `grown cache (${backend})`, 1e-5, 1e-6);
          tf.dispose([full, stitched, ...parts]);
          cache.dispose();
        });
        tf.dispose([x, ...Object.values(params)]);
      }
      await tf.setBackend('wasm');
    });
  });
}
