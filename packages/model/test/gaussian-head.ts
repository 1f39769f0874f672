// A head written outside the repository's head package, as a user would: a diagonal Gaussian
// (an MLP gives μ_h and log σ_h of the next latent; a sample is μ_h + σ_h·ε) trained by maximum
// likelihood against the autoencoder's posterior, through @calm/energy-head's GenerativeHead
// interface and @calm/nn's parameter records. Used by the model tests and the examples.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import {
  normalNoise,
  type GenerativeHead,
  type HeadLossOptions,
  type HeadSampleOptions,
  type TargetPosterior,
} from '@calm/energy-head';
import {
  createParams,
  disposeParams,
  linear,
  normalInit,
  silu,
  trainableVariables,
  zerosInit,
  type ParamRecord,
} from '@calm/nn';

export class GaussianHead implements GenerativeHead {
  readonly kind = 'gaussian';
  readonly prefix = 'gaussian_head';
  readonly warnings: readonly string[] = [];
  readonly params: ParamRecord;

  constructor(
    readonly hiddenSize: number,
    readonly latentSize: number,
    rng: Rng,
    readonly width = 32,
  ) {
    this.params = createParams(
      {
        'gaussian_head.fc.weight': { shape: [width, hiddenSize], init: normalInit(0.2) },
        'gaussian_head.fc.bias': { shape: [width], init: zerosInit() },
        'gaussian_head.out.weight': { shape: [2 * latentSize, width], init: normalInit(0.02) },
        'gaussian_head.out.bias': { shape: [2 * latentSize], init: zerosInit() },
      },
      rng,
    );
  }

  /** μ_h and log σ_h, each [B, L]. */
  private meanAndLogStd(hidden: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
    const out = linear(this.params, 'gaussian_head.out', silu(linear(this.params, 'gaussian_head.fc', hidden))); // [B, 2L]
    const [mean, logStd] = tf.split(out, 2, -1) as [tf.Tensor2D, tf.Tensor2D];
    return [mean, tf.clipByValue(logStd, -7, 3) as tf.Tensor2D];
  }

  trainableVariables(): tf.Variable[] {
    return trainableVariables(this.params);
  }

  sample(hidden: tf.Tensor2D, numSamples: number, options: HeadSampleOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const eps =
        options.noise ?? (normalNoise(options.rng!, [hidden.shape[0], numSamples, this.latentSize]) as tf.Tensor3D);
      const [mean, logStd] = this.meanAndLogStd(hidden);
      return tf.add(tf.expandDims(mean, 1), tf.mul(tf.expandDims(tf.exp(logStd), 1), eps)) as tf.Tensor3D; // [B, n, L]
    });
  }

  /** E_y[−log N(y; μ_h, σ_h²)] for y ~ N(μ, σ²) in closed form (up to a constant); no randomness. */
  loss(hidden: tf.Tensor2D, posterior: TargetPosterior, _options: HeadLossOptions): tf.Scalar {
    return tf.tidy(() => {
      const [mean, logStd] = this.meanAndLogStd(hidden);
      const sq = tf.add(tf.square(tf.sub(posterior.mean, mean)), tf.exp(tf.mul(posterior.logStd, 2)));
      const nll = tf.add(logStd, tf.div(sq, tf.mul(tf.exp(tf.mul(logStd, 2)), 2))); // [B, L]
      return tf.mean(tf.sum(nll, -1)) as tf.Scalar;
    });
  }

  flopsPerSample(samplesPerHidden = 1): number {
    return (2 * (this.hiddenSize * this.width + this.width * 2 * this.latentSize)) / samplesPerHidden;
  }

  dispose(): void {
    disposeParams(this.params);
  }
}
