// What the built-in heads hold and do the same way: their resolved configuration and sizes, the
// state-dict prefix, the parameters (created with the official initialisation or adopted from the
// caller), the trainable variables and disposal of what they created (ParamHead); and, for the flow
// and diffusion heads, the SimpleMLPAdaLN network with the loss on posterior replicas (AdaLNHead).
// The heads add `kind`, `warnings`, `sample`, `loss` and `flopsPerSample`. Internal; not exported.

import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { disposeParams, trainableVariables, type ParamRecord, type ParamSpec } from '@calm/nn';
import type { TargetPosterior } from '../types.js';
import { AdaLNMlp, type AdaLNMlpSizes } from './adaln-mlp.js';
import { checkPrefix, checkSamplesPerHidden, createOrAdopt, posteriorReplicas } from './shared.js';

/** The constructor options every head takes. */
export interface ParamHeadOptions {
  /** Initialises fresh parameters. */
  rng?: Rng;
  /** Existing variables keyed by full state-dict name; used as they are (no copies). */
  params?: ParamRecord;
  /** State-dict prefix, without trailing dot. */
  prefix?: string;
}

/** The parameter-owning part of a built-in head. */
export abstract class ParamHead<C extends { readonly hiddenSize: number; readonly latentSize: number }> {
  /** The resolved configuration (defaults filled in). */
  readonly config: Readonly<C>;
  /** H, the size of the hidden states the head is conditioned on. */
  readonly hiddenSize: number;
  /** l, the size of the latent vectors it produces. */
  readonly latentSize: number;
  /** State-dict prefix of the head's keys, without trailing dot (e.g. `'mlp_generator'`). */
  readonly prefix: string;
  /** Parameters by full state-dict key. */
  readonly params: ParamRecord;
  private readonly ownsParams: boolean;

  /**
   * Takes the resolved configuration and creates (with `options.rng`) or adopts (`options.params`)
   * the parameters `specsOf` describes under the checked prefix.
   */
  protected constructor(
    what: string,
    config: C,
    specsOf: (config: C, prefix: string) => Record<string, ParamSpec>,
    defaultPrefix: string,
    options: ParamHeadOptions,
  ) {
    this.config = Object.freeze(config);
    this.hiddenSize = config.hiddenSize;
    this.latentSize = config.latentSize;
    this.prefix = checkPrefix(options.prefix, defaultPrefix);
    this.params = createOrAdopt(specsOf(config, this.prefix), options.params, options.rng, what);
    this.ownsParams = options.params === undefined;
  }

  /**
   * The variables an optimiser should update, in registration order.
   * @returns The trainable variables: every head parameter, float32, in its PyTorch shape (a Linear weight is [out, in]).
   */
  trainableVariables(): tf.Variable[] {
    return trainableVariables(this.params);
  }

  /** Disposes the variables the head created; adopted `options.params` stay the caller's. */
  dispose(): void {
    if (this.ownsParams) disposeParams(this.params);
  }
}

/**
 * The part the flow and diffusion heads share on top of {@link ParamHead}: the SimpleMLPAdaLN
 * network over their parameters (prefix `generative_head.net`), the loss on posterior replicas,
 * FLOPs per network call and disposal of the network's cached tensors.
 */
export abstract class AdaLNHead<
  C extends { readonly hiddenSize: number; readonly latentSize: number; readonly numSamples: number },
  L extends { rng?: Rng; targetNoise?: tf.Tensor3D },
> extends ParamHead<C> {
  /** @internal The network over the head's parameters. */
  protected readonly mlp: AdaLNMlp;

  /** Creates or adopts the parameters, then the network of `netSizes(config)` over them. */
  protected constructor(
    what: string,
    config: C,
    specsOf: (config: C, prefix: string) => Record<string, ParamSpec>,
    netSizes: (config: C) => AdaLNMlpSizes,
    options: ParamHeadOptions,
  ) {
    super(what, config, specsOf, 'generative_head.net', options);
    this.mlp = new AdaLNMlp(this.params, this.prefix, netSizes(this.config));
  }

  /**
   * The head's loss on given latent targets.
   * @param hidden - Hidden states, shape [B, H], float32.
   * @param targets - Targets, shape [B, N, l], float32.
   * @param options - The head's draws.
   * @returns The loss, a float32 scalar.
   */
  abstract targetLoss(hidden: tf.Tensor2D, targets: tf.Tensor3D, options: L): tf.Scalar;

  /** @internal The loss on N posterior samples per hidden state (`fn` names the caller in messages). */
  protected replicaLoss(hidden: tf.Tensor2D, posterior: TargetPosterior, options: L, fn: string): tf.Scalar {
    return tf.tidy(() => this.targetLoss(hidden, posteriorReplicas(this, hidden, posterior, options, fn), options));
  }

  /** @internal FLOPs per sample of `calls` network calls, the (h, t) work amortised over `samplesPerHidden`. */
  protected networkFlops(calls: number, samplesPerHidden: number): number {
    checkSamplesPerHidden(samplesPerHidden);
    return this.mlp.flopsPerSample(calls, samplesPerHidden);
  }

  /** Disposes the variables the head created (adopted `options.params` stay the caller's) and the network's cached tensors. */
  override dispose(): void {
    super.dispose();
    this.mlp.dispose();
  }
}
