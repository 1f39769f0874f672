// A small n-gram language model fit on token ids (add-k unigram, backoff to shorter contexts),
// shipped as a reference generator: it is at once a ChunkSampler for any K, a TokenSampler and a
// NextTokenModel with exact probabilities, so the three BrierLM estimators can be cross-checked.

import {
  createRng,
  type ChunkSampler,
  type NextTokenModel,
  type Rng,
  type SampleCallOptions,
  type TokenIds,
  type TokenSampler,
} from '@calm/core';
import { checkInt, checkNumber, fail, throwIfAborted } from './internal/util.js';

/**
 * Options of {@link NGramModel.fit}.
 * @category N-gram
 */
export interface NGramOptions {
  /** n: the model conditions on the last n−1 tokens (1 = unigram). */
  order: number;
  /** V: token ids must be in [0, V). */
  vocabSize: number;
  /** k of the add-k unigram (k ≥ 0): P₁(x) = (c(x) + k) / (N + k·V); default 0.5. */
  addK?: number;
  /**
   * Weight α of the shorter context in P(x | h) = (c(h, x) + α_h · P(x | h′)) / (c(h) + α_h),
   * where h′ drops the oldest token of h. A number fixes α_h; `'witten-bell'` (default) sets
   * α_h to the number of distinct tokens seen after h.
   */
  backoff?: number | 'witten-bell';
}

/**
 * Options of the sampler views of an {@link NGramModel}.
 * @category N-gram
 */
export interface NGramSamplerOptions {
  /** RNG for the samples; default `createRng(seed ?? 0)`. */
  rng?: Rng;
  /** Seed used when no `rng` is given; default 0. */
  seed?: number | string;
}

/**
 * Options of {@link NGramModel.asChunkSampler}.
 * @category N-gram
 */
export interface NGramChunkSamplerOptions extends NGramSamplerOptions {
  /** Provide the `sampleTeacherForced` fast path (default true). */
  teacherForced?: boolean;
}

/** One context node of the trie: counts of the tokens seen after this context. */
class Node {
  total = 0;
  readonly next = new Map<number, number>();
  children: Map<number, Node> | null = null;
  // Sampling tables, built on first use after fitting.
  tokens: Int32Array | null = null;
  cum: Float64Array | null = null;

  child(token: number): Node {
    this.children ??= new Map();
    let c = this.children.get(token);
    if (!c) {
      c = new Node();
      this.children.set(token, c);
    }
    return c;
  }

  add(token: number): void {
    this.total++;
    this.next.set(token, (this.next.get(token) ?? 0) + 1);
  }

  table(): { tokens: Int32Array; cum: Float64Array } {
    if (!this.tokens || !this.cum) {
      const tokens = new Int32Array(this.next.size);
      const cum = new Float64Array(this.next.size);
      let i = 0;
      let acc = 0;
      for (const [t, c] of [...this.next].sort((a, b) => a[0] - b[0])) {
        acc += c;
        tokens[i] = t;
        cum[i] = acc;
        i++;
      }
      this.tokens = tokens;
      this.cum = cum;
    }
    return { tokens: this.tokens, cum: this.cum };
  }
}

/**
 * An n-gram language model over token ids with add-k/backoff smoothing.
 *
 * @remarks
 * P(x | h) = (c(h, x) + α_h · P(x | h′)) / (c(h) + α_h) recursively down to the add-k unigram,
 * where h is the longest suffix (≤ n−1 tokens) of the context seen in training; a context never
 * seen backs off entirely. Sampling draws from exactly this distribution (choosing the level of
 * the mixture first), so the probabilities from {@link NGramModel.probs} are the true
 * distribution of {@link NGramModel.sampleContinuation}. Contexts never cross the boundaries of
 * the training sequences.
 *
 * @example
 * {@includeCode ../test/examples.test.ts#score-ngram}
 * @category N-gram
 */
export class NGramModel implements NextTokenModel {
  /** n, the order. */
  readonly order: number;
  /** V, the vocabulary size. */
  readonly vocabSize: number;
  /** k of the add-k unigram. */
  readonly addK: number;
  /** The backoff weight rule. */
  readonly backoff: number | 'witten-bell';
  /** Number of training tokens. */
  readonly trainingTokens: number;
  private readonly root: Node;
  private readonly unigram: Float64Array;

  private constructor(options: Required<NGramOptions>, root: Node) {
    this.order = options.order;
    this.vocabSize = options.vocabSize;
    this.addK = options.addK;
    this.backoff = options.backoff;
    this.root = root;
    this.trainingTokens = root.total;
    const V = this.vocabSize;
    const denom = root.total + this.addK * V;
    this.unigram = new Float64Array(V).fill(this.addK / denom);
    for (const [t, c] of root.next) this.unigram[t] = (c + this.addK) / denom;
  }

  /**
   * Fits an n-gram model by counting.
   * @param sequences - Training token sequences (each int32 ids in [0, V)); n-grams do not cross sequence boundaries.
   * @param options - Order, vocabulary size and smoothing.
   * @returns The fitted model.
   * @throws `CalmError` `INVALID_ARGUMENT` for bad options, a token outside [0, V), or
   *   `addK = 0` with no training tokens.
   */
  static fit(sequences: Iterable<ArrayLike<number>>, options: NGramOptions): NGramModel {
    if (options == null || typeof options !== 'object')
      fail('INVALID_ARGUMENT', 'NGramModel.fit: pass options { order, vocabSize }.');
    const order = checkInt(options.order, 'NGramModel order', 1, 64);
    const V = checkInt(options.vocabSize, 'NGramModel vocabSize', 1, 2 ** 31 - 1);
    const addK = checkNumber(options.addK ?? 0.5, 'NGramModel addK', 0);
    const backoff = options.backoff ?? 'witten-bell';
    if (backoff !== 'witten-bell') checkNumber(backoff, 'NGramModel backoff', Number.MIN_VALUE);
    const root = new Node();
    let s = 0;
    for (const seq of sequences) {
      for (let i = 0; i < seq.length; i++) {
        const x = seq[i]!;
        if (!Number.isInteger(x) || x < 0 || x >= V) {
          fail(
            'INVALID_ARGUMENT',
            `NGramModel.fit: sequence ${s} token ${i} = ${x} is outside [0, ${V}); raise vocabSize or fix the tokens.`,
          );
        }
        let node = root;
        node.add(x);
        for (let l = 1; l < order && i - l >= 0; l++) {
          node = node.child(seq[i - l]!);
          node.add(x);
        }
      }
      s++;
    }
    if (addK === 0 && root.total === 0)
      fail(
        'INVALID_ARGUMENT',
        'NGramModel.fit: no training tokens and addK = 0 leave no distribution; pass data or addK > 0.',
      );
    return new NGramModel({ order, vocabSize: V, addK, backoff }, root);
  }

  /** The chain of trie nodes for a context: root, then the longest seen suffixes of length 1, 2, …. */
  private chain(context: ArrayLike<number>, end: number, start = 0): Node[] {
    const out = [this.root];
    let node = this.root;
    for (let l = 1; l < this.order && end - l >= start; l++) {
      const c = node.children?.get(context[end - l]!);
      if (!c) break;
      node = c;
      out.push(node);
    }
    return out;
  }

  private alpha(node: Node): number {
    return this.backoff === 'witten-bell' ? node.next.size : this.backoff;
  }

  /**
   * The exact next-token distribution after a context.
   * @param context - Token ids (any length, may be empty); only the last n−1 matter.
   * @returns Probabilities, length V, float64, summing to 1.
   */
  probs(context: ArrayLike<number>): Float64Array {
    const p = Float64Array.from(this.unigram);
    const nodes = this.chain(context, context.length);
    for (let l = 1; l < nodes.length; l++) {
      const node = nodes[l]!;
      const a = this.alpha(node);
      const z = node.total + a;
      const scale = a / z;
      for (let x = 0; x < p.length; x++) p[x]! *= scale;
      for (const [t, c] of node.next) p[t]! += c / z;
    }
    return p;
  }

  /**
   * The exact probability of one next token.
   * @param context - Token ids.
   * @param token - The next token id.
   * @returns P(token | context).
   */
  prob(context: ArrayLike<number>, token: number): number {
    let p = this.unigram[token] ?? 0;
    const nodes = this.chain(context, context.length);
    for (let l = 1; l < nodes.length; l++) {
      const node = nodes[l]!;
      const a = this.alpha(node);
      p = ((node.next.get(token) ?? 0) + a * p) / (node.total + a);
    }
    return p;
  }

  /** Draws one token after `buf[start..end)` from the exact distribution. */
  private drawNext(buf: ArrayLike<number>, start: number, end: number, rng: Rng): number {
    const nodes = this.chain(buf, end, start);
    for (let l = nodes.length - 1; l >= 1; l--) {
      const node = nodes[l]!;
      const a = this.alpha(node);
      if (rng.uniform() * (node.total + a) < node.total) return drawFromCounts(node, rng);
    }
    const n = this.root.total;
    if (rng.uniform() * (n + this.addK * this.vocabSize) < n) return drawFromCounts(this.root, rng);
    return rng.int(this.vocabSize);
  }

  /**
   * Samples a continuation token by token.
   * @param context - Token ids to continue.
   * @param length - Tokens to draw (≥ 0).
   * @param rng - Random number generator.
   * @returns The drawn ids, int32, length `length`.
   */
  sampleContinuation(context: ArrayLike<number>, length: number, rng: Rng): Int32Array {
    const keep = Math.min(context.length, this.order - 1);
    const buf = new Int32Array(keep + length);
    for (let i = 0; i < keep; i++) buf[i] = context[context.length - keep + i]!;
    for (let i = 0; i < length; i++) buf[keep + i] = this.drawNext(buf, 0, keep + i, rng);
    return buf.slice(keep);
  }

  /**
   * Next-token distributions after each context (`NextTokenModel` method).
   * @param contexts - B token sequences, int32.
   * @param options - Abort signal.
   * @returns Probabilities, shape [B, V] flattened row-major, float32.
   * @throws `CalmError` `ABORTED` when the signal has fired.
   */
  async nextTokenProbs(contexts: readonly TokenIds[], options?: SampleCallOptions): Promise<Float32Array> {
    throwIfAborted(options?.signal);
    const V = this.vocabSize;
    const out = new Float32Array(contexts.length * V);
    contexts.forEach((c, b) => out.set(this.probs(c), b * V));
    return out;
  }

  /**
   * The distribution after every prefix of one sequence (`NextTokenModel` fast path).
   * @param sequence - T token ids, int32.
   * @param options - Abort signal.
   * @returns Probabilities, shape [T, V] flattened row-major, float32; row t is P(· | tokens[0..t]).
   * @throws `CalmError` `ABORTED` when the signal has fired.
   */
  async teacherForcedProbs(sequence: TokenIds, options?: SampleCallOptions): Promise<Float32Array> {
    throwIfAborted(options?.signal);
    const V = this.vocabSize;
    const out = new Float32Array(sequence.length * V);
    for (let t = 0; t < sequence.length; t++) out.set(this.probs(sequence.subarray(0, t + 1)), t * V);
    return out;
  }

  /**
   * This model as an implicit chunk generator with chunk size K.
   * @param chunkSize - K, tokens per chunk (≥ 1).
   * @param options - RNG or seed; whether to provide `sampleTeacherForced`.
   * @returns A `ChunkSampler` drawing K tokens autoregressively per sample.
   * @throws `CalmError` `INVALID_ARGUMENT` for a bad chunk size.
   */
  asChunkSampler(chunkSize: number, options: NGramChunkSamplerOptions = {}): ChunkSampler {
    const K = checkInt(chunkSize, 'chunkSize', 1);
    const rng = samplerRng(options);
    const sample = async (
      contexts: readonly TokenIds[],
      numSamples: number,
      opts?: SampleCallOptions,
    ): Promise<Int32Array> => {
      throwIfAborted(opts?.signal);
      checkInt(numSamples, 'numSamples', 1);
      const out = new Int32Array(contexts.length * numSamples * K);
      contexts.forEach((c, b) => {
        for (let m = 0; m < numSamples; m++) out.set(this.sampleContinuation(c, K, rng), (b * numSamples + m) * K);
      });
      return out;
    };
    const sampler: ChunkSampler = { chunkSize: K, vocabSize: this.vocabSize, sample };
    if (options.teacherForced ?? true) {
      return {
        ...sampler,
        sampleTeacherForced: async (sequences, numSamples, opts) => {
          throwIfAborted(opts?.signal);
          checkInt(numSamples, 'numSamples', 1);
          return sequences.map((seq) => {
            if (seq.length % K !== 0)
              fail(
                'INVALID_ARGUMENT',
                `sampleTeacherForced: sequence length ${seq.length} is not a multiple of K = ${K}.`,
              );
            const L = seq.length / K;
            const out = new Int32Array(Math.max(0, L - 1) * numSamples * K);
            for (let t = 1; t < L; t++) {
              const prefix = seq.subarray(0, t * K);
              for (let m = 0; m < numSamples; m++)
                out.set(this.sampleContinuation(prefix, K, rng), ((t - 1) * numSamples + m) * K);
            }
            return out;
          });
        },
      };
    }
    return sampler;
  }

  /**
   * This model as an implicit token-level generator.
   * @param options - RNG or seed.
   * @returns A `TokenSampler` drawing continuations autoregressively (never stops early).
   */
  asTokenSampler(options: NGramSamplerOptions = {}): TokenSampler {
    const rng = samplerRng(options);
    return {
      vocabSize: this.vocabSize,
      sample: async (contexts, maxTokens, numSamples, opts) => {
        throwIfAborted(opts?.signal);
        checkInt(maxTokens, 'maxTokens', 1);
        checkInt(numSamples, 'numSamples', 1);
        const out = new Int32Array(contexts.length * numSamples * maxTokens);
        contexts.forEach((c, b) => {
          for (let m = 0; m < numSamples; m++)
            out.set(this.sampleContinuation(c, maxTokens, rng), (b * numSamples + m) * maxTokens);
        });
        return out;
      },
    };
  }
}

function samplerRng(options: NGramSamplerOptions): Rng {
  if (options.rng && options.seed !== undefined) fail('INVALID_ARGUMENT', 'pass either rng or seed, not both.');
  return options.rng ?? createRng(options.seed ?? 0);
}

function drawFromCounts(node: Node, rng: Rng): number {
  const { tokens, cum } = node.table();
  const u = rng.uniform() * cum[cum.length - 1]!;
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (u < cum[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return tokens[lo]!;
}
