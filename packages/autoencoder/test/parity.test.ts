// Parity with the PyTorch reference (tools/reference/make_fixtures.py): forward passes, the
// training and eval losses with injected noise, and gradients, for K = 4 and K = 2.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { TOL } from '@calm/testing';
import { expectClose } from '@calm/testing/tfjs';
import { disposeParams, paramGrads } from '@calm/nn';
import { autoencoderLoss, autoencoderLossParts, decode, decodeTokens, encode } from '../src/index.js';
import { loadFixture, maxAbs, toTensor, useWasm, type Fixture } from './helpers.js';

/**
 * |actual − expected| ≤ 1e-4 (absolute; the values are O(1)–O(30), and the measured worst
 * difference is about 1e-5, so this is also within the reference README's relative bound).
 */
function close(actual: tf.Tensor, expected: { data: ArrayLike<number>; shape: number[] }, label: string): void {
  expect(actual.shape, `${label} shape`).toEqual(expected.shape);
  expect(maxAbs(expected.data), `${label} is not all zeros`).toBeGreaterThan(0);
  expectClose(actual, expected.data, { atol: TOL.parity, label });
}

for (const file of ['ae-tiny.safetensors', 'ae-tiny-k2.safetensors']) {
  describe(`parity with ${file}`, () => {
    let fx: Fixture;
    beforeAll(async () => {
      await useWasm();
      fx = await loadFixture(file);
    });
    afterAll(() => disposeParams(fx.params));

    it('encodes to the reference mean and log σ', () => {
      tf.tidy(() => {
        const ids = toTensor(fx.get('input.ids')) as tf.Tensor2D;
        const { mean, logStd } = encode(fx.params, fx.config, ids);
        close(mean, fx.get('expected.latent_mean'), 'mean');
        close(logStd, fx.get('expected.latent_log_std'), 'logStd');
      });
    });

    it('decodes to the reference logits and argmax tokens', () => {
      tf.tidy(() => {
        const z = toTensor(fx.get('input.z')) as tf.Tensor3D;
        close(decode(fx.params, fx.config, z), fx.get('expected.decoder_logits'), 'logits');
        expect(Array.from(decodeTokens(fx.params, fx.config, z).dataSync())).toEqual(
          Array.from(fx.get('expected.decoder_argmax').data),
        );
      });
    });

    it('reproduces the training loss and its parts with injected noise', () => {
      tf.tidy(() => {
        const ids = toTensor(fx.get('input.ids')) as tf.Tensor2D;
        const noise = {
          tokenMask: fx.get('noise.token_mask').data,
          eps: fx.get('noise.eps').data,
          latentKeep: fx.get('noise.latent_keep').data,
        };
        const parts = autoencoderLossParts(fx.params, fx.config, ids, { noise });
        expect(Array.from(parts.maskedIds.dataSync())).toEqual(Array.from(fx.get('expected.masked_ids').data));
        close(parts.mean, fx.get('expected.train_latent_mean'), 'train mean');
        close(parts.logStd, fx.get('expected.train_latent_log_std'), 'train logStd');
        close(parts.z, fx.get('expected.train_z'), 'train z');
        close(parts.ce, fx.get('expected.ce'), 'ce');
        close(parts.kl, fx.get('expected.kl'), 'kl');
        close(parts.loss, fx.get('expected.loss'), 'loss');
        // The scalar-only entry point gives the same value; noise given as tensors works too.
        const asTensors = {
          tokenMask: toTensor(fx.get('noise.token_mask')),
          eps: toTensor(fx.get('noise.eps')),
          latentKeep: toTensor(fx.get('noise.latent_keep')),
        };
        close(
          autoencoderLoss(fx.params, fx.config, ids, { noise: asTensors }),
          fx.get('expected.loss'),
          'loss (tensor noise)',
        );
      });
    });

    it('reproduces the eval-mode loss (sampled z, no masking, plain CE)', () => {
      tf.tidy(() => {
        const ids = toTensor(fx.get('input.ids')) as tf.Tensor2D;
        // Masks are ignored in eval mode even when given.
        const noise = { eps: fx.get('noise.eps').data, tokenMask: fx.get('noise.token_mask').data };
        close(
          autoencoderLoss(fx.params, fx.config, ids, { training: false, noise }),
          fx.get('expected.eval_loss'),
          'eval loss',
        );
      });
    });

    it('reproduces the reference gradients of the training loss', () => {
      const gradNames = [...fx.arrays.keys()].filter((k) => k.startsWith('grad.'));
      expect(gradNames.length).toBeGreaterThanOrEqual(5);
      const ids = toTensor(fx.get('input.ids')) as tf.Tensor2D;
      const noise = {
        tokenMask: fx.get('noise.token_mask').data,
        eps: fx.get('noise.eps').data,
        latentKeep: fx.get('noise.latent_keep').data,
      };
      const { value, grads } = paramGrads(() => autoencoderLoss(fx.params, fx.config, ids, { noise }), fx.params);
      try {
        close(value, fx.get('expected.loss'), 'loss');
        for (const g of gradNames) {
          const name = g.slice('grad.'.length);
          expect(grads[name], `gradient of ${name}`).toBeDefined();
          close(grads[name]!, fx.get(g), g);
        }
      } finally {
        tf.dispose([ids, value, ...Object.values(grads)]);
      }
    });
  });
}
