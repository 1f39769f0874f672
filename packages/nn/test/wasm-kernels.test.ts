import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak } from '@calm/testing/tfjs';
import {
  initBackend,
  registerCpuKernels,
  registerWasmKernels,
  unregisterWasmKernels,
  wasmKernelsRegistered,
  WASM_KERNEL_OVERRIDES,
} from '../src/index.js';
import { expectSameResults, randomValues, runOn, seeded } from '../../testing/src/nn-helpers.js';
import { forceGemmVariant, type GemmVariant, relaxedSimdSupported } from '../src/internal/simd/features.js';

// Every override is compared with the cpu backend (tfjs's reference implementation) on the same
// inputs, forward and backward, to 1e-5 relative to the output's scale.
const REL = 1e-5;

let stockCpuSegmentSum: tf.KernelConfig;

beforeAll(async () => {
  await initBackend({ backend: 'cpu', patchKernels: false });
  stockCpuSegmentSum = { ...tf.getKernel('UnsortedSegmentSum', 'cpu')! };
  registerCpuKernels();
  const info = await initBackend({ backend: 'wasm' });
  expect(info.kernelsPatched).toBe(true);
});

async function compare(fn: () => tf.Tensor | tf.Tensor[], label: string, reference = fn): Promise<void> {
  const wasm = await runOn('wasm', fn);
  const cpu = await runOn('cpu', reference);
  expectSameResults(wasm, cpu, REL, label);
}

describe('registration', () => {
  it('replaces the stock kernels, idempotently, and can restore them', () => {
    expect(wasmKernelsRegistered()).toBe(true);
    const before = WASM_KERNEL_OVERRIDES.map((k) => tf.getKernel(k, 'wasm')!.kernelFunc);
    registerWasmKernels();
    expect(WASM_KERNEL_OVERRIDES.map((k) => tf.getKernel(k, 'wasm')!.kernelFunc)).toEqual(before);
    unregisterWasmKernels();
    expect(wasmKernelsRegistered()).toBe(false);
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeUndefined(); // missing in stock tfjs
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).not.toBe(before[0]);
    registerWasmKernels();
    expect(wasmKernelsRegistered()).toBe(true);
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(before[0]);
    registerCpuKernels();
    registerCpuKernels();
  });

  it('can register a subset, and names unknown kernels', () => {
    unregisterWasmKernels();
    registerWasmKernels({ kernels: ['UnsortedSegmentSum'] });
    expect(wasmKernelsRegistered(['UnsortedSegmentSum'])).toBe(true);
    expect(wasmKernelsRegistered(['BatchMatMul'])).toBe(false);
    expect(() => registerWasmKernels({ kernels: ['Conv2D' as never] })).toThrow(/unknown kernels Conv2D/);
    registerWasmKernels();
    expect(wasmKernelsRegistered()).toBe(true);
  });
});

// Both matrix-product variants where the engine has relaxed SIMD (Node 20 switches it on): multiply
// then add, and fused multiply-add with its taller 6-row tiles.
const GEMM_VARIANTS: GemmVariant[] = relaxedSimdSupported() ? ['plain', 'fma'] : ['plain'];

describe.each(GEMM_VARIANTS)('BatchMatMul (%s gemm)', (variant) => {
  beforeAll(() => forceGemmVariant(variant));
  afterAll(() => forceGemmVariant(undefined));
  const rng = seeded(`matmul ${variant}`);
  // tfjs's BatchMatMul gradient does not reduce over broadcast batch dimensions (on any backend),
  // so broadcasting cases (`bcast`) are checked forward only.
  const cases: Array<{ a: number[]; b: number[]; tA?: boolean; tB?: boolean; bcast?: boolean }> = [
    { a: [5, 7], b: [7, 3] },
    { a: [7, 5], b: [7, 3], tA: true },
    { a: [5, 7], b: [3, 7], tB: true },
    { a: [7, 5], b: [3, 7], tA: true, tB: true },
    { a: [6, 40], b: [6, 3], tA: true }, // wide aᵀ: computed as (bᵀ·a)ᵀ, transposing b and the result
    { a: [2, 5], b: [30, 5], tB: true }, // tall bᵀ: computed as (b·aᵀ)ᵀ
    { a: [4, 5, 7], b: [7, 3], bcast: true }, // right operand without batch: folded into rows
    { a: [4, 5, 7], b: [1, 7, 3], bcast: true }, // batch 1
    { a: [4, 7, 5], b: [1, 3, 7], tA: true, tB: true, bcast: true },
    { a: [1, 5, 7], b: [4, 7, 3], bcast: true }, // left operand broadcast over the right's batch
    { a: [5, 7], b: [4, 7, 3], bcast: true },
    { a: [3, 5, 7], b: [3, 7, 3] },
    { a: [3, 7, 5], b: [3, 7, 3], tA: true },
    { a: [3, 5, 7], b: [3, 3, 7], tB: true },
    { a: [3, 7, 5], b: [3, 3, 7], tA: true, tB: true },
    { a: [2, 1, 5, 7], b: [1, 3, 7, 4], bcast: true }, // two broadcast batch dims
    { a: [2, 3, 7, 5], b: [2, 3, 4, 7], tA: true, tB: true },
    { a: [8, 32, 16], b: [8, 16, 32] }, // attention-shaped
    // larger than one block of the SIMD product (MC 128 rows plain, 120 fma; KC 256 deep; NC 2048 wide), with edges
    { a: [130, 300], b: [300, 9] },
    { a: [300, 130], b: [9, 300], tA: true, tB: true },
    { a: [3, 5], b: [5, 2050] },
    { a: [2, 67, 260], b: [2, 260, 33] },
    // a few rows against a transposed weight: dot products without packing (row counts 1–8, odd k)
    { a: [1, 37], b: [9, 37], tB: true },
    { a: [3, 64], b: [130, 64], tB: true },
    { a: [2, 3, 33], b: [5, 33], tB: true, bcast: true },
    { a: [8, 16], b: [7, 16], tB: true },
    { a: [13, 35], b: [6, 35], tB: true }, // passes of eight rows, the second short
    { a: [16, 64], b: [11, 64], tB: true },
    { a: [1, 1, 1], b: [1, 1, 1] },
  ];
  for (const c of cases) {
    const name = `[${c.a}]${c.tA ? 'ᵀ' : ''} × [${c.b}]${c.tB ? 'ᵀ' : ''}`;
    it(`${name} forward${c.bcast ? '' : ' and gradients'} equal cpu`, async () => {
      const av = randomValues(c.a, rng);
      const bv = randomValues(c.b, rng);
      const outShape = tf.tidy(() => tf.matMul(tf.zeros(c.a), tf.zeros(c.b), c.tA, c.tB).shape);
      const wv = randomValues(outShape, rng);
      // tfjs's cpu kernel gets two-sided broadcasting wrong: the reference tiles both operands
      // to the full batch shape first.
      const tiled = (): tf.Tensor => {
        const batch = outShape.slice(0, -2);
        const tile = (v: Float32Array, shape: number[]): tf.Tensor => {
          const full = [...new Array<number>(batch.length + 2 - shape.length).fill(1), ...shape];
          return tf.tile(
            tf.tensor(v, full),
            full.map((d, i) => (i < batch.length ? batch[i]! / d : 1)),
          );
        };
        return tf.matMul(tile(av, c.a), tile(bv, c.b), c.tA, c.tB);
      };
      await compare(
        () => {
          const a = tf.tensor(av, c.a);
          const b = tf.tensor(bv, c.b);
          const w = tf.tensor(wv, outShape);
          const out = tf.matMul(a, b, c.tA, c.tB);
          if (c.bcast) return [out];
          const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, c.tA, c.tB), w)))([
            a,
            b,
          ]);
          return [out, ga!, gb!];
        },
        name,
        c.bcast ? tiled : undefined,
      );
    });
  }

  it('does not leak tensors, and rejects mismatched inner dimensions like tfjs', async () => {
    await tf.setBackend('wasm');
    const a = tf.ones([3, 4, 5]);
    const b = tf.ones([3, 6, 5]);
    const c = tf.ones([5, 2]);
    await expectNoLeak(() => {
      tf.matMul(a, b, false, true).dispose();
      tf.matMul(a, c).dispose();
      tf.matMul(b, a, false, true).dispose();
    });
    expect(() => tf.matMul(a, b)).toThrow(/inner shapes/);
    tf.dispose([a, b, c]);
  });
});

describe('Sum', () => {
  it('over leading axes (column sums), other axes, keepDims and all axes equals cpu', async () => {
    const xv = randomValues([6, 5, 7], seeded('sum'));
    await compare(() => {
      const x = tf.tensor3d(xv, [6, 5, 7]);
      return [
        tf.sum(x, 0),
        tf.sum(x, [0, 1]),
        tf.sum(x, [1, 0], true),
        tf.sum(x, -1),
        tf.sum(x, 1),
        tf.sum(x),
        tf.sum(tf.reshape(x, [30, 7]), 0),
        tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.add(y, tf.ones([7])), y)))(x), // broadcast-add gradient
      ];
    }, 'sum');
  });
});

describe('Slice, split and unstack', () => {
  const rng = seeded('slice');
  const cases: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
    { shape: [10], begin: [3], size: [4] },
    { shape: [6, 5], begin: [2, 0], size: [3, 5] }, // contiguous rows
    { shape: [6, 5], begin: [1, 1], size: [4, 3] },
    { shape: [4, 6, 5], begin: [1, 2, 0], size: [2, 3, 5] },
    { shape: [4, 6, 5], begin: [0, 0, 1], size: [4, 6, 3] },
    { shape: [3, 4, 6, 5], begin: [1, 0, 2, 1], size: [2, 4, 3, 4] },
    { shape: [2, 3, 4, 3, 5], begin: [0, 1, 0, 2, 0], size: [2, 2, 4, 1, 5] },
    { shape: [4, 6, 5], begin: [2, 3, 1], size: [0, 2, 2] }, // empty
  ];
  for (const c of cases) {
    it(`slice [${c.shape}] at [${c.begin}] size [${c.size}] (float32, int32, bool; gradient)`, async () => {
      const xv = randomValues(c.shape, rng);
      await compare(
        () => {
          const x = tf.tensor(xv, c.shape);
          const out = tf.slice(x, c.begin, c.size);
          const asInt = tf.slice(tf.cast(tf.mul(x, 10), 'int32'), c.begin, c.size).toFloat();
          const asBool = tf.slice(tf.greater(x, 0), c.begin, c.size).toFloat();
          const g = tf.grad((y: tf.Tensor) => tf.sum(tf.square(tf.slice(y, c.begin, c.size))))(x);
          return [out, asInt, asBool, g];
        },
        `slice ${JSON.stringify(c)}`,
      );
    });
  }

  it('split and unstack along every axis equal cpu', async () => {
    const shape = [4, 6, 8];
    const xv = randomValues(shape, rng);
    await compare(() => {
      const x = tf.tensor(xv, shape);
      return [
        ...tf.split(x, 2, 0),
        ...tf.split(x, [1, 2, 3], 1),
        ...tf.split(x, 4, 2),
        ...tf.unstack(x, 0),
        ...tf.unstack(x, 1),
        ...tf.unstack(x, 2),
        tf.grad((y: tf.Tensor) =>
          tf.add(tf.sum(tf.square(tf.split(y, 2, 2)[1]!)), tf.sum(tf.mul(tf.unstack(y, 1)[3]!, 2))),
        )(x),
      ];
    }, 'split/unstack');
  });
});

describe('GatherV2 and UnsortedSegmentSum', () => {
  const rng = seeded('gather');
  it('gathers rows with repeated indices (axis 0, 1-D and 2-D indices) and its gradient', async () => {
    const table = randomValues([50, 8], rng);
    const ids = [3, 7, 3, 3, 49, 0, 7, 12];
    await compare(() => {
      const x = tf.tensor(table, [50, 8]);
      const i1 = tf.tensor1d(ids, 'int32');
      const i2 = tf.tensor2d(ids, [2, 4], 'int32');
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, i2))))(x);
      return [tf.gather(x, i1), tf.gather(x, i2), g];
    }, 'gather axis 0');
  });

  it('gathers along inner axes, with batch dims, and int32 tables', async () => {
    const xv = randomValues([3, 5, 4], rng);
    await compare(() => {
      const x = tf.tensor(xv, [3, 5, 4]);
      const byCol = tf.gather(x, tf.tensor1d([4, 0, 4, 2], 'int32'), 1);
      const last = tf.gather(x, tf.tensor1d([3, 3, 1], 'int32'), 2);
      const batched = tf.gather(
        x,
        tf.tensor2d(
          [
            [0, 4],
            [1, 1],
            [3, 2],
          ],
          [3, 2],
          'int32',
        ),
        1,
        1,
      );
      const ints = tf.gather(tf.cast(tf.mul(x, 100), 'int32'), tf.tensor1d([2, 0, 2], 'int32')).toFloat();
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, tf.tensor1d([4, 0, 4], 'int32'), 1)))(x);
      return [byCol, last, batched, ints, g];
    }, 'gather inner axes');
  });

  it('rejects out-of-range indices with a CalmError', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([4, 2]);
    const bad = tf.tensor1d([1, 4], 'int32');
    expect(() => tf.gather(x, bad)).toThrow(/index value 4 is not in \[0, 3\]/);
    tf.dispose([x, bad]);
  });

  it('UnsortedSegmentSum equals cpu (repeated ids, dropped out-of-range ids, rank-2 ids, int32)', async () => {
    const xv = randomValues([6, 3], rng);
    await compare(() => {
      const x = tf.tensor(xv, [6, 3]);
      const a = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 2, 5, 1], 'int32'), 6);
      const dropped = tf.unsortedSegmentSum(x, tf.tensor1d([1, -1, 7, 1, 0, 3], 'int32'), 4);
      const rank2 = tf.unsortedSegmentSum(
        tf.reshape(x, [2, 3, 3]),
        tf.tensor2d(
          [
            [0, 1, 0],
            [2, 2, 0],
          ],
          [2, 3],
          'int32',
        ) as unknown as tf.Tensor1D,
        3,
      );
      const ints = tf
        .unsortedSegmentSum(tf.cast(tf.mul(x, 10), 'int32'), tf.tensor1d([0, 0, 1, 1, 0, 1], 'int32'), 2)
        .toFloat();
      return [a, dropped, rank2, ints];
    }, 'segment sum');
  });

  it('the cpu override equals the stock cpu kernel', async () => {
    const xv = randomValues([7, 4], rng);
    const run = () =>
      runOn('cpu', () => tf.unsortedSegmentSum(tf.tensor(xv, [7, 4]), tf.tensor1d([3, 1, 3, 0, 9, 1, 3], 'int32'), 5));
    const patched = await run();
    const k = tf.getKernel('UnsortedSegmentSum', 'cpu')!;
    expect(k.kernelFunc).not.toBe(stockCpuSegmentSum.kernelFunc);
    tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
    tf.registerKernel(stockCpuSegmentSum);
    try {
      const stock = await run();
      expectSameResults(patched, stock, 1e-6, 'cpu segment sum');
    } finally {
      tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
      tf.registerKernel(k);
    }
  });
});
