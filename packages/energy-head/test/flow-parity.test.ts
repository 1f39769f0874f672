// Parity of the flow-matching head with the PyTorch reference (tools/reference FlowHead, which
// feeds t to the time embedding as the official code does: t·1000 truncated to an integer timestep).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOL } from '@calm/testing';
import { expectClose, expectNoLeak } from '@calm/testing/tfjs';
import { FlowMatchingHead } from '../src/index.js';
import { useWasm } from './backend.js';
import { loadFixture, type Fixture } from './fixtures.js';

const ATOL = TOL.parity;
let fx: Fixture;
let head: FlowMatchingHead;

beforeAll(async () => {
  await useWasm();
  fx = loadFixture('flow-tiny.safetensors');
  const c = fx.config.calm as { hidden_size: number; latent_size: number; num_mlp_layers: number };
  head = new FlowMatchingHead(
    {
      hiddenSize: c.hidden_size,
      latentSize: c.latent_size,
      numMlpLayers: c.num_mlp_layers,
      numSteps: fx.config.sample_steps as number,
      solver: 'midpoint',
    },
    { params: fx.variables('generative_head.net') },
  );
});

afterAll(() => {
  head?.dispose();
  tf.dispose(Object.values(head?.params ?? {})); // adopted from the fixture: ours to free
});

describe('FlowMatchingHead parity with the PyTorch SimpleMLPAdaLN reference', () => {
  it('uses exactly the official parameter names', () => {
    expect(Object.keys(head.params).sort()).toEqual(
      fx.names.filter((n) => n.startsWith('generative_head.net.')).sort(),
    );
  });

  it('reproduces the time embedding and the velocity network', async () => {
    await expectNoLeak(() => {
      const [x, t, cond] = ['input.x', 'input.t', 'input.cond'].map((k) => fx.tensor(k));
      const emb = head.timeEmbedding(t as tf.Tensor1D);
      expectClose(emb, fx.values('expected.t_embedding'), { atol: ATOL, label: 't embedding' });
      const v = head.velocity(x as tf.Tensor2D, t as tf.Tensor1D, cond as tf.Tensor2D);
      expectClose(v, fx.values('expected.velocity'), { atol: ATOL, label: 'velocity' });
      tf.dispose([x!, t!, cond!, emb, v]);
    });
  });

  it('reproduces the midpoint sampler from injected x0', async () => {
    await expectNoLeak(() => {
      const cond = fx.tensor('input.cond') as tf.Tensor2D;
      const x0 = tf.tidy(() => fx.tensor('noise.sample_x0').expandDims(1)) as tf.Tensor3D; // [R, 1, l]
      const z = head.sample(cond, 1, { noise: x0 });
      expectClose(z, fx.values('expected.sample'), { atol: ATOL, label: 'sample' });
      tf.dispose([cond, x0, z]);
    });
  });

  it('reproduces the loss and its gradients', async () => {
    await expectNoLeak(() => {
      const cond = fx.tensor('input.cond') as tf.Tensor2D;
      const [x1, x0] = ['input.x1', 'noise.x0'].map((k) => tf.tidy(() => fx.tensor(k).expandDims(1))) as [
        tf.Tensor3D,
        tf.Tensor3D,
      ];
      const time = tf.tidy(() => fx.tensor('noise.t').expandDims(1)) as tf.Tensor2D;
      const { value, grads } = tf.variableGrads(
        () => head.targetLoss(cond, x1, { noise: x0, time }),
        head.trainableVariables(),
      );
      expectClose(value, fx.values('expected.loss'), { atol: ATOL, label: 'loss' });
      for (const name of fx.names.filter((n) => n.startsWith('grad.'))) {
        const g = grads[head.params[name.slice(5)]!.name];
        expect(g, name).toBeDefined();
        expectClose(g!, fx.values(name), { atol: ATOL, label: name });
      }
      tf.dispose([cond, x1, x0, time, value, ...Object.values(grads)]);
    });
  });
});
