// Fused operations with analytic gradients: one kernel forward and one backward where the active
// backend has our fused kernels (wasm, after registerWasmKernels), else the same math from stock
// tfjs ops (the reference the fused kernels are tested against).

import * as tf from '@tensorflow/tfjs';
import { fail } from './internal/errors.js';

/**
 * Whether the active backend runs `@calm/nn`'s fused kernels (the wasm backend after
 * `registerWasmKernels`, which `initBackend` calls). Packages built on `@calm/nn` use it to pick
 * an algorithm; the fused ops themselves fall back to stock ops without it.
 * @returns `true` when the fused kernels are registered for the active backend.
 * @example
 * {@includeCode ../test/examples.test.ts#fused-ops}
 * @category Backends
 */
export function fusedKernelsActive(): boolean {
  return hasKernel('CalmPairwiseDistanceMeans');
}

/** Whether the active backend has a kernel of that name. */
export function hasKernel(name: string): boolean {
  const backend = tf.getBackend();
  return backend !== null && backend !== undefined && tf.getKernel(name, backend) !== undefined;
}

type Inputs = Record<string, tf.Tensor>;
type Attrs = Record<string, number | boolean | number[] | string>;

/** Runs a registered kernel (outputs are owned by the caller's scope). */
export function runKernel(name: string, inputs: Inputs, attrs: Attrs = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs as never, attrs as never) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
type Forward = (save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFunc };

/** tf.customGrad over explicit inputs, with the forward written as a closure. */
export function withGradient(inputs: tf.Tensor[], forward: Forward): tf.Tensor {
  const f = tf.customGrad(((...args: unknown[]) => forward(args[args.length - 1] as tf.GradSaveFunc)) as never);
  return (f as (...xs: tf.Tensor[]) => tf.Tensor)(...inputs);
}

function lastDim(x: tf.Tensor): number {
  return x.shape[x.rank - 1] ?? 1;
}

/** RMSNorm over the last axis (`w · x / √(mean(x²) + eps)`); x [..., d], w [d]. */
export function rmsNormOp(x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  if (!hasKernel('CalmRmsNorm') || x.dtype !== 'float32')
    return tf.tidy(() => {
      const ms = tf.mean(tf.square(x), -1, true); // [..., 1]
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
    });
  return withGradient([x, w], (save) => {
    const [y, rstd] = runKernel('CalmRmsNorm', { x, weight: w }, { eps }) as [tf.Tensor, tf.Tensor];
    save([x, w, rstd]);
    return {
      value: y,
      gradFunc: (dy, [sx, sw, sr]) =>
        runKernel('CalmRmsNormGrad', { dy, x: sx!, weight: sw!, rstd: sr! }) as [tf.Tensor, tf.Tensor],
    };
  });
}

/** LayerNorm over the last axis (biased variance); x [..., d], w and b [d]. */
export function layerNormOp(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  if (!hasKernel('CalmLayerNorm') || x.dtype !== 'float32')
    return tf.tidy(() => {
      const mean = tf.mean(x, -1, true);
      const centered = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centered), -1, true);
      return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), w), b);
    });
  return withGradient([x, w, b], (save) => {
    const [y, mean, rstd] = runKernel('CalmLayerNorm', { x, weight: w, bias: b }, { eps }) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    save([x, w, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy, [sx, sw, sm, sr]) =>
        runKernel('CalmLayerNormGrad', { dy, x: sx!, weight: sw!, mean: sm!, rstd: sr! }) as tf.Tensor[],
    };
  });
}

/** SiLU, x·σ(x). */
export function siluOp(x: tf.Tensor): tf.Tensor {
  if (!hasKernel('CalmSilu') || x.dtype !== 'float32') return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
  return withGradient([x], (save) => {
    const [y] = runKernel('CalmSilu', { x }) as [tf.Tensor];
    save([x]);
    return { value: y, gradFunc: (dy, [sx]) => runKernel('CalmSiluGrad', { dy, x: sx! })[0]! };
  });
}

/**
 * SwiGLU gating of a tensor whose last axis holds a gate and an up projection side by side:
 * `silu(x[..., :h]) · x[..., h:]`, one fused kernel on the wasm backend.
 *
 * @remarks
 * The layout of Llama's and CALM's MLPs when the gate and up projections are computed by one
 * matrix product (their weights concatenated, gate first), and of the energy head's blocks, whose
 * last Linear outputs `[gate, up]`.
 * @param x - Gate and up projections, shape `[..., 2h]`, float32.
 * @returns `silu(gate) · up`, shape `[..., h]`, float32. Caller owns the returned tensor and must
 *   dispose it. Inputs are not disposed.
 * @throws `CalmError` `SHAPE_MISMATCH` when the last dimension is odd.
 * @example
 * {@includeCode ../test/examples.test.ts#fused-ops}
 * @category Layers
 */
export function swiGlu(x: tf.Tensor): tf.Tensor {
  const two = lastDim(x);
  if (two % 2 !== 0 || x.rank < 1)
    fail(
      'SHAPE_MISMATCH',
      `swiGlu: the last dimension holds [gate, up] and must be even, got [${x.shape.join(', ')}].`,
    );
  if (!hasKernel('CalmSwiGlu') || x.dtype !== 'float32')
    return tf.tidy(() => {
      const [gate, up] = tf.split(x, 2, -1) as [tf.Tensor, tf.Tensor];
      return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
    });
  return withGradient([x], (save) => {
    const [y] = runKernel('CalmSwiGlu', { x }) as [tf.Tensor];
    save([x]);
    return { value: y, gradFunc: (dy, [sx]) => runKernel('CalmSwiGluGrad', { dy, x: sx! })[0]! };
  });
}

/**
 * Per position, the mean α-power distance between two sets of points and within the first set:
 * `cross[b] = mean_{n,m} ‖x_bn − y_bm‖^α` and `self[b] = mean_{n≠k} ‖x_bn − x_bk‖^α` (the two
 * terms of the energy score), from exact differences.
 *
 * @remarks
 * Distances of exactly 0 have gradient 0 (PyTorch's convention for the norm at 0), so the result
 * and its gradient stay finite when points coincide. On the wasm backend with `@calm/nn`'s kernels
 * this is one fused kernel forward and one backward (memory O(B)); elsewhere it materialises the
 * `[B, N, M, L]` differences.
 * @param x - Points, shape `[B, N, L]`, float32.
 * @param y - Points, shape `[B, M, L]`, float32.
 * @param alpha - The exponent α, in (0, 2].
 * @returns `cross` and `self`, each shape `[B]`, float32 (`self` is 0 when N = 1). Caller owns the
 *   returned tensors and must dispose them. Inputs are not disposed.
 * @throws `CalmError` `SHAPE_MISMATCH` for inconsistent shapes, `INVALID_ARGUMENT` for α outside (0, 2].
 * @example
 * {@includeCode ../test/examples.test.ts#fused-ops}
 * @category Losses
 */
export function pairwiseDistanceMeans(
  x: tf.Tensor3D,
  y: tf.Tensor3D,
  alpha: number,
): { cross: tf.Tensor1D; self: tf.Tensor1D } {
  if (x.rank !== 3 || y.rank !== 3 || x.shape[0] !== y.shape[0] || x.shape[2] !== y.shape[2])
    fail(
      'SHAPE_MISMATCH',
      `pairwiseDistanceMeans: x must be [B, N, L] and y [B, M, L], got [${x.shape.join(', ')}] and [${y.shape.join(', ')}].`,
    );
  if (!(alpha > 0 && alpha <= 2))
    fail('INVALID_ARGUMENT', `pairwiseDistanceMeans: alpha must be in (0, 2], got ${alpha}.`);
  const n = x.shape[1];
  if (!hasKernel('CalmPairwiseDistanceMeans') || x.dtype !== 'float32' || y.dtype !== 'float32') {
    return tf.tidy(() => {
      const pw = (sq: tf.Tensor): tf.Tensor => {
        if (alpha === 2) return sq;
        const mask = tf.step(sq); // 1 where sq > 0; the masked entries are raised from 1, not 0
        const safe = tf.add(sq, tf.sub(1, mask));
        return tf.mul(alpha === 1 ? tf.sqrt(safe) : tf.pow(safe, tf.scalar(alpha / 2)), mask);
      };
      const sqDist = (a: tf.Tensor3D, b: tf.Tensor3D) =>
        tf.sum(tf.square(tf.sub(tf.expandDims(a, 2), tf.expandDims(b, 1))), -1);
      const cross = tf.mean(pw(sqDist(x, y)), [1, 2]) as tf.Tensor1D;
      const self =
        n > 1
          ? (tf.div(tf.sum(pw(sqDist(x, x)), [1, 2]), n * (n - 1)) as tf.Tensor1D) // the diagonal is 0
          : (tf.zeros([x.shape[0]]) as tf.Tensor1D);
      return { cross, self };
    });
  }
  // One custom-gradient op over both terms: the kernel returns them stacked, [2, B].
  const both = withGradient([x, y], (save) => {
    const [value] = runKernel('CalmPairwiseDistanceMeans', { x, y }, { alpha }) as [tf.Tensor];
    save([x, y]);
    return {
      value,
      gradFunc: (dy, [sx, sy]) => runKernel('CalmPairwiseDistanceMeansGrad', { x: sx!, y: sy!, dy }, { alpha }),
    };
  });
  const [cross, self] = tf.unstack(both) as [tf.Tensor1D, tf.Tensor1D];
  both.dispose();
  return { cross, self };
}

/** Mean cross-entropy of logits [N, V] against int32 labels [N]; fused on wasm. */
export function crossEntropyFused(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return withGradient([logits], (save) => {
    const [loss, probs] = runKernel('CalmCrossEntropy', { logits, labels }) as [tf.Scalar, tf.Tensor];
    save([probs, labels]);
    return {
      value: loss,
      gradFunc: (dy, [sp, sl]) => runKernel('CalmCrossEntropyGrad', { probs: sp!, labels: sl!, dy })[0]!,
    };
  }) as tf.Scalar;
}
