// Parity of the AR baseline (LlamaForCausalLM) with the PyTorch reference (ar-tiny): logits, a
// KV-cache step, the shifted cross-entropy loss and its gradients.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { paramGrads } from '@calm/nn';
import { expectNoLeak } from '@calm/testing/tfjs';
import { type ArModel, KvCache } from '../src/index.js';
import { expectParity, loadFixture, tinyArFromFixture, useWasm, type Fixture } from './helpers.js';

beforeAll(useWasm);

describe('AR baseline parity (ar-tiny)', () => {
  let fx: Fixture;
  let model: ArModel;
  beforeAll(() => {
    fx = loadFixture('ar-tiny.safetensors');
    model = tinyArFromFixture(fx);
  });

  it('logits and a KV-cache step', async () => {
    await expectNoLeak(() => {
      const cache = new KvCache();
      tf.tidy(() => {
        const ids = fx.tensor('input.ids') as tf.Tensor2D;
        expectParity(model.logits(ids), fx.values('expected.logits'), 'logits');
        model.logits(ids.slice([0, 0], [2, 9]), cache);
        expectParity(model.logits(ids.slice([0, 9], [2, 1]), cache), fx.values('expected.step_logits'), 'step_logits');
      });
      cache.dispose();
    });
  });

  it('loss and gradients', async () => {
    await expectNoLeak(() => {
      const ids = fx.tensor('input.ids') as tf.Tensor2D;
      const { value, grads } = paramGrads(() => model.loss(ids), model.params);
      expectParity(value, fx.values('expected.loss'), 'loss');
      for (const name of fx.names.filter((n) => n.startsWith('grad.'))) {
        expectParity(grads[name.slice(5)]!, fx.values(name), name, 1e-3, 1e-6);
      }
      tf.dispose([ids, value, ...Object.values(grads)]);
    });
  });

  it('counts parameters like Table 1 (embedding and lm_head)', () => {
    expect(model.numParams()).toBe(96 * 32 * 2 + 2 * (4 * 32 * 32 + 3 * 32 * 64 + 2 * 32) + 32);
  });
});
