// Learning bounds of CALM's energy loss on held-out text: the loss of the model's own head
// samples, of an oracle that samples the target posterior itself, and of an unconditional
// generator that samples the marginal of chunk latents (the posteriors of other positions). A
// model whose held-out loss is not below the unconditional bound has learned nothing from its
// context; the oracle's is the floor the latent space allows.

import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '@calm/core';
import { posteriorEnergyLoss } from '@calm/energy-head';
import type { CalmModel } from './calm-model.js';
import { fail } from './internal/errors.js';

/**
 * Held-out energy losses of {@link calmEnergyBounds} (mean over positions of
 * 2·fidelity − diversity, with the model's N samples and M posterior targets).
 * @category Evaluation
 */
export interface EnergyBounds {
  /** The model: N head samples from its hidden state at each position. */
  model: number;
  /** The oracle: N samples of the target chunk's own posterior (the floor of the latent space). */
  oracle: number;
  /** The unconditional generator: N samples of the posteriors of random other positions. */
  unconditional: number;
  /** Positions scored (S − 1 per block). */
  positions: number;
}

/**
 * Options of {@link calmEnergyBounds}.
 * @category Evaluation
 */
export interface EnergyBoundsOptions {
  /** Seed of every draw (head noise, posterior samples, the shuffle). @defaultValue 0 */
  seed?: number | string;
  /** Blocks per forward pass. @defaultValue 8 */
  batchSize?: number;
}

/** Scores samples [P, N, L] against the targets' posteriors [P, L] (M targets each). */
function energyOf(model: CalmModel, samples: tf.Tensor3D, mean: tf.Tensor2D, logStd: tf.Tensor2D, rng: Rng): number {
  const loss = posteriorEnergyLoss(
    samples,
    { mean, logStd },
    {
      rng,
      numTargetSamples: model.config.numTargetSamples,
      alpha: model.config.beta,
    },
  );
  const v = loss.dataSync()[0]!;
  loss.dispose();
  return v;
}

/** N samples [P, N, L] of the posteriors N(μ_j, σ_j²) of positions `rows` (host arrays [*, L]). */
function posteriorSamples(
  mu: Float32Array,
  logSigma: Float32Array,
  rows: Int32Array,
  n: number,
  latent: number,
  rng: Rng,
): tf.Tensor3D {
  const p = rows.length / n;
  const eps = rng.fillNormal(new Float32Array(p * n * latent));
  const out = new Float32Array(p * n * latent);
  for (let r = 0; r < p * n; r++) {
    const j = rows[r]!;
    for (let d = 0; d < latent; d++)
      out[r * latent + d] = mu[j * latent + d]! + Math.exp(logSigma[j * latent + d]!) * eps[r * latent + d]!;
  }
  return tf.tensor3d(out, [p, n, latent]);
}

/**
 * The held-out energy loss of a CALM model next to the two bounds that frame it: an oracle that
 * samples each target chunk's own posterior, and an unconditional generator that samples the
 * posteriors of random other positions (the marginal of chunk latents, i.e. a model that ignores
 * its context).
 *
 * @remarks
 * Every generator is scored like the training loss: N samples (`numSamples`) against M samples
 * (`numTargetSamples`) of the target posterior, energy score with α = `beta`, mean over positions.
 * A model has learned something from its context when its loss is below `unconditional`; the
 * distance to `oracle` is what is left to learn in this latent space.
 * @param model - A CALM model (any head).
 * @param blocks - Held-out blocks, each a multiple of K tokens with at least 2 chunks (int32).
 * @param options - Seed and batch size.
 * @returns The three losses and the number of positions.
 * @throws `CalmError` `INVALID_ARGUMENT` without blocks or with blocks that are not at least 2 chunks of K.
 * @example
 * {@includeCode ../test/examples.test.ts#energy-bounds}
 * @category Evaluation
 */
export async function calmEnergyBounds(
  model: CalmModel,
  blocks: readonly Int32Array[],
  options: EnergyBoundsOptions = {},
): Promise<EnergyBounds> {
  const k = model.chunkSize;
  const latent = model.config.latentSize; // L
  const n = model.config.numSamples;
  const batchSize = options.batchSize ?? 8;
  if (blocks.length === 0) fail('INVALID_ARGUMENT', 'calmEnergyBounds: pass at least one held-out block.');
  const t = blocks[0]!.length;
  if (blocks.some((b) => b.length !== t) || t % k !== 0 || t < 2 * k)
    fail(
      'INVALID_ARGUMENT',
      `calmEnergyBounds: every block must have the same length, a multiple of K = ${k} holding at least 2 chunks.`,
    );
  const rng = createRng(`${options.seed ?? 0}/energy-bounds`);
  const s1 = t / k - 1; // S − 1 target positions per block
  const total = blocks.length * s1;
  const mu = new Float32Array(total * latent);
  const logSigma = new Float32Array(total * latent);
  let modelSum = 0;
  let oracleSum = 0;
  for (let b0 = 0; b0 < blocks.length; b0 += batchSize) {
    const group = blocks.slice(b0, b0 + batchSize);
    const ids = tf.tensor2d(Int32Array.from(group.flatMap((x) => Array.from(x))), [group.length, t], 'int32');
    const p = group.length * s1;
    const { hidden, mean, logStd } = tf.tidy(() => {
      const inputs = tf.slice(ids, [0, 0], [group.length, t - k]);
      const targets = tf.slice(ids, [0, k], [group.length, t - k]);
      const post = model.encodeTargets(targets); // [G, S−1, L]
      return {
        hidden: tf.reshape(model.hidden(inputs), [p, model.config.hiddenSize]) as tf.Tensor2D, // [P, H]
        mean: tf.reshape(post.mean, [p, latent]) as tf.Tensor2D, // [P, L]
        logStd: tf.reshape(post.logStd, [p, latent]) as tf.Tensor2D, // [P, L]
      };
    });
    ids.dispose();
    mu.set(mean.dataSync(), b0 * s1 * latent);
    logSigma.set(logStd.dataSync(), b0 * s1 * latent);
    const own = Int32Array.from({ length: p * n }, (_, r) => b0 * s1 + Math.floor(r / n)); // each position itself
    const samples = model.head.sample(hidden, n, { rng }); // [P, N, L]
    const oracle = posteriorSamples(mu, logSigma, own, n, latent, rng); // [P, N, L]
    modelSum += p * energyOf(model, samples, mean, logStd, rng);
    oracleSum += p * energyOf(model, oracle, mean, logStd, rng);
    tf.dispose([hidden, samples, oracle]);
    tf.dispose([mean, logStd]);
  }
  // The unconditional generator: every position is predicted by posteriors of other positions
  // drawn uniformly from the whole held-out set.
  let unconditionalSum = 0;
  for (let start = 0; start < total; start += batchSize * s1) {
    const p = Math.min(batchSize * s1, total - start);
    const others = new Int32Array(p * n);
    for (let r = 0; r < p * n; r++) {
      const self = start + Math.floor(r / n);
      let j = total > 1 ? rng.int(total - 1) : self;
      if (total > 1 && j >= self) j += 1; // never the position itself
      others[r] = j;
    }
    const samples = posteriorSamples(mu, logSigma, others, n, latent, rng);
    const mean = tf.tensor2d(mu.subarray(start * latent, (start + p) * latent), [p, latent]);
    const logStd = tf.tensor2d(logSigma.subarray(start * latent, (start + p) * latent), [p, latent]);
    unconditionalSum += p * energyOf(model, samples, mean, logStd, rng);
    tf.dispose([samples, mean, logStd]);
  }
  return {
    model: modelSum / total,
    oracle: oracleSum / total,
    unconditional: unconditionalSum / total,
    positions: total,
  };
}
