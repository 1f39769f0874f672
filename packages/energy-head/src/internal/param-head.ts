// What every built-in head holds and does the same way: its resolved configuration and sizes, the
// state-dict prefix, the parameters (created with the official initialisation or adopted from the
// caller), the trainable variables and disposal of what it created. The heads extend it and add
// `kind`, `warnings`, `sample`, `loss` and `flopsPerSample`. Internal; not exported.

import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '@calm/core';
import { disposeParams, trainableVariables, type ParamRecord, type ParamSpec } from '@calm/nn';
import { checkPrefix, createOrAdopt } from './shared.js';

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
