// Unbiasedness of the three estimators against analytically known Brier scores: an i.i.d.
// categorical toy and an order-3 n-gram with peaked transitions, for K ∈ {1, 2, 3, 4, 8}; and
// the explicit estimator's lower variance.
import { describe, expect, it } from 'vitest';
import { createRng, type Rng } from '@calm/core';
import { meanAndStderr } from '@calm/testing';
import { NGramModel, evaluateBrierLM, type BrierGenerator } from '../src/index.js';
import { chunkPositions, exactMeanBrier, tokenPositions } from '../../testing/src/brierlm-helpers.js';

const KS = [1, 2, 3, 4, 8] as const;

/** A first-order Markov chain with the given transition rows. */
function markovSequence(rng: Rng, length: number, rows: readonly (readonly number[])[]): Int32Array {
  const out = new Int32Array(length);
  let x = 0;
  for (let i = 0; i < length; i++) {
    x = rng.categorical(rows[x]!);
    out[i] = x;
  }
  return out;
}

// Training chain: some rows nearly deterministic, others flat, so the collision probability
// depends strongly on the context and a roll-out conditioned on the wrong tokens is biased.
const TRAIN_ROWS = [
  [0.02, 0.94, 0.02, 0.02],
  [0.25, 0.25, 0.25, 0.25],
  [0.02, 0.02, 0.02, 0.94],
  [0.4, 0.1, 0.4, 0.1],
];
// Held-out chain: different transitions, so the model is not the data distribution.
const EVAL_ROWS = [
  [0.1, 0.3, 0.3, 0.3],
  [0.5, 0.1, 0.3, 0.1],
  [0.3, 0.3, 0.1, 0.3],
  [0.1, 0.5, 0.3, 0.1],
];

/** Runs R seeded evaluations and returns the per-n replicate estimates. */
async function replicate(R: number, make: (r: number) => BrierGenerator, block: Int32Array): Promise<number[][]> {
  const est: number[][] = [[], [], [], []];
  for (let r = 0; r < R; r++) {
    const res = await evaluateBrierLM(make(r), [block], { seed: r, batchSize: 7 });
    for (let n = 0; n < 4; n++) est[n]!.push(res.brier[n]!);
  }
  return est;
}

function expectUnbiased(est: number[][], truth: readonly number[], label: string): void {
  for (let n = 0; n < 4; n++) {
    const { mean, stderr } = meanAndStderr(est[n]!);
    const tol = Math.max(3 * stderr, 1e-6);
    expect(
      Math.abs(mean - truth[n]!),
      `${label} Brier-${n + 1}: mean ${mean} vs truth ${truth[n]} (3·SE = ${3 * stderr})`,
    ).toBeLessThanOrEqual(tol);
  }
}

describe('categorical toy (i.i.d. tokens, closed-form Brier)', () => {
  const p = [0.5, 0.3, 0.2];
  const cat = NGramModel.fit([[0, 0, 0, 0, 0, 1, 1, 1, 2, 2]], { order: 1, vocabSize: 3, addK: 0 });
  const dataRng = createRng('categorical-data');
  const block = Int32Array.from({ length: 24 }, () => dataRng.categorical([0.3, 0.3, 0.4]));
  const sumSq = p.reduce((a, v) => a + v * v, 0);
  const closedForm = (starts: number[]): number[] =>
    [1, 2, 3, 4].map((n) => {
      let s = 0;
      for (const st of starts) {
        let py = 1;
        for (let j = 0; j < n; j++) py *= p[block[st + j]!]!;
        s += 2 * py - sumSq ** n;
      }
      return s / starts.length;
    });

  it('the model is the categorical distribution and the exact helper agrees with the closed form', () => {
    expect(Array.from(cat.probs([2, 1]))).toEqual(p.map((v) => expect.closeTo(v, 12)));
    const starts = tokenPositions(block.length);
    const exact = exactMeanBrier((c) => cat.probs(c), block, starts);
    closedForm(starts).forEach((v, n) => expect(exact[n]).toBeCloseTo(v, 12));
  });

  for (const K of KS) {
    it(`chunk estimator is unbiased, K = ${K}`, async () => {
      const est = await replicate(
        400,
        (r) => ({
          kind: 'chunk',
          sampler: cat.asChunkSampler(K, { seed: `cat${K}-${r}`, teacherForced: r % 2 === 0 }),
        }),
        block,
      );
      expectUnbiased(est, closedForm(chunkPositions(block.length, K)), `categorical chunk K=${K}`);
    });
  }

  it('token estimator is unbiased', async () => {
    const est = await replicate(
      300,
      (r) => ({ kind: 'token', sampler: cat.asTokenSampler({ seed: `catT-${r}` }) }),
      block,
    );
    expectUnbiased(est, closedForm(tokenPositions(block.length)), 'categorical token');
  });

  it('explicit estimator is unbiased', async () => {
    const est = await replicate(300, () => ({ kind: 'explicit', model: cat }), block);
    expectUnbiased(est, closedForm(tokenPositions(block.length)), 'categorical explicit');
  });
});

describe('n-gram toy (order 3, V = 4, exact Brier by enumeration)', () => {
  const V = 4;
  const lm = NGramModel.fit([markovSequence(createRng('train'), 3000, TRAIN_ROWS)], {
    order: 3,
    vocabSize: V,
    addK: 0.5,
  });
  const probs = (c: ArrayLike<number>): Float64Array => lm.probs(c);
  // Held-out text from a less peaked chain: the model is not the data distribution.
  const block = markovSequence(createRng('eval'), 48, EVAL_ROWS);

  for (const K of KS) {
    it(`chunk estimator is unbiased, K = ${K}`, async () => {
      const truth = exactMeanBrier(probs, block, chunkPositions(block.length, K));
      const est = await replicate(
        250,
        (r) => ({ kind: 'chunk', sampler: lm.asChunkSampler(K, { seed: `ng${K}-${r}`, teacherForced: r % 2 === 1 }) }),
        block,
      );
      expectUnbiased(est, truth, `n-gram chunk K=${K}`);
    });
  }

  it('token and explicit estimators are unbiased, and the explicit one has lower variance', async () => {
    const truth = exactMeanBrier(probs, block, tokenPositions(block.length));
    const token = await replicate(
      250,
      (r) => ({ kind: 'token', sampler: lm.asTokenSampler({ seed: `ngT-${r}` }) }),
      block,
    );
    const explicit = await replicate(250, () => ({ kind: 'explicit', model: lm }), block);
    expectUnbiased(token, truth, 'n-gram token');
    expectUnbiased(explicit, truth, 'n-gram explicit');
    for (let n = 0; n < 4; n++) {
      const t = meanAndStderr(token[n]!).std;
      const e = meanAndStderr(explicit[n]!).std;
      expect(e, `Brier-${n + 1}: explicit sd ${e} vs two-sample sd ${t}`).toBeLessThan(t);
    }
    // Brier-1 of the explicit estimator is exact: 2p(y) − Σp².
    expect(meanAndStderr(explicit[0]!).std).toBeLessThan(1e-9);
  });

  it('the explicit estimator also works without the teacher-forced fast path', async () => {
    const truth = exactMeanBrier(probs, block, tokenPositions(block.length));
    const est: number[][] = [[], [], [], []];
    for (let r = 0; r < 150; r++) {
      const res = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block], {
        seed: r,
        teacherForced: 'never',
        batchSize: 5,
      });
      for (let n = 0; n < 4; n++) est[n]!.push(res.brier[n]!);
    }
    expectUnbiased(est, truth, 'n-gram explicit (no fast path)');
  });
});
