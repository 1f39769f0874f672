import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { isCalmError } from '@calm/core';
import { initBackend, type BackendInfo } from '../src/index.js';
import { expectSameResults, randomValues, runOn, seeded } from '../../testing/src/nn-helpers.js';

// The webgpu path is real code: Dawn (the `webgpu` npm package) in Node, with a software OpenGL ES
// adapter when there is no GPU (Mesa: apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri).
// Where no adapter exists at all, the test is skipped and says why.
let info: BackendInfo | undefined;
let reason = '';
try {
  info = await initBackend({ backend: 'webgpu' });
} catch (e) {
  if (!isCalmError(e, 'MISSING_BACKEND')) throw e;
  reason = (e as Error).message;
}

describe('webgpu backend', () => {
  it.skipIf(info === undefined)(
    `runs a matmul and its gradient like cpu${info ? '' : ` (skipped: ${reason})`}`,
    async () => {
      expect(info!.name).toBe('webgpu');
      expect(info!.detail).toMatch(/^webgpu \(.*adapter: /);
      const rng = seeded('webgpu');
      const av = randomValues([16, 24], rng);
      const bv = randomValues([24, 8], rng);
      const fn = () => {
        const a = tf.tensor(av, [16, 24]);
        const b = tf.tensor(bv, [24, 8]);
        const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, b))))(a);
        return [tf.matMul(a, b), g];
      };
      const gpu = await runOn('webgpu', fn);
      // A second call keeps the running device (and its tensors).
      const keep = tf.tensor1d([1, 2]);
      const again = await initBackend({ backend: 'webgpu' });
      expect(again.detail).toMatch(/already initialised/);
      expect(Array.from(await keep.data())).toEqual([1, 2]);
      keep.dispose();
      await initBackend({ backend: 'cpu' });
      expectSameResults(gpu, await runOn('cpu', fn), 1e-5, 'webgpu');
    },
  );

  it('reports a missing adapter as MISSING_BACKEND naming the fix', () => {
    if (info !== undefined) expect(info.name).toBe('webgpu');
    else expect(reason).toMatch(/webgpu/);
  });
});
