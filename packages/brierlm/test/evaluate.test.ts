// The evaluation API: positions and contexts of each estimator, the roll-out conditioning,
// perfect / always-wrong / argmax generators, warnings, reproducibility, records and errors.
import { describe, expect, it } from 'vitest';
import {
  createRng,
  isCalmError,
  restoreRng,
  type ChunkSampler,
  type NextTokenModel,
  type TokenSampler,
} from '@calm/core';
import { NGramModel, evaluateBrierLM, type BrierGenerator } from '../src/index.js';
import { argmaxChunkSampler, constantGenerators, perfectGenerators } from '../../testing/src/brierlm-helpers.js';

const V = 5;
const rng0 = createRng('evaluate-data');
const block = Int32Array.from({ length: 48 }, () => rng0.int(V - 1)); // token V−1 never occurs
const lm = NGramModel.fit([Int32Array.from({ length: 400 }, () => rng0.int(V - 1))], { order: 2, vocabSize: V });

/** Wraps a chunk sampler and records the context length and last tokens of every call. */
function spyChunk(inner: ChunkSampler, useTf: boolean) {
  const calls: { lengths: number[]; contexts: Int32Array[]; numSamples: number }[] = [];
  const sampler: ChunkSampler = {
    chunkSize: inner.chunkSize,
    async sample(contexts, numSamples, o) {
      calls.push({ lengths: contexts.map((c) => c.length), contexts: contexts.map((c) => c.slice()), numSamples });
      return inner.sample(contexts, numSamples, o);
    },
    ...(useTf && inner.sampleTeacherForced ? { sampleTeacherForced: inner.sampleTeacherForced } : {}),
  };
  return { sampler, calls };
}

describe('positions and contexts', () => {
  it('chunk K >= 4: targets are chunks 1..L-1, one sampling step per position', async () => {
    for (const K of [4, 8]) {
      const { sampler, calls } = spyChunk(lm.asChunkSampler(K, { seed: 1 }), false);
      const res = await evaluateBrierLM({ kind: 'chunk', sampler }, [block], { batchSize: 1000, keepPositions: true });
      const L = block.length / K;
      expect(res.numPositions).toBe(L - 1);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.lengths).toEqual(Array.from({ length: L - 1 }, (_, t) => (t + 1) * K));
      expect(calls[0]!.numSamples).toBe(2);
      expect(res.positions!.map((p) => p.tokenIndex)).toEqual(Array.from({ length: L - 1 }, (_, t) => (t + 1) * K));
      expect(res.positions![0]!.target).toEqual(Array.from(block.subarray(K, K + 4)));
    }
  });

  it('chunk K < 4: only positions where a whole 4-gram fits; roll-outs continue along sample 1', async () => {
    // A peaked model (mostly x → x+1), so the two samples often agree and roll-outs happen.
    const peaked = NGramModel.fit([Int32Array.from({ length: 400 }, (_, i) => (i % 37 === 0 ? 0 : i % 4))], {
      order: 2,
      vocabSize: V,
    });
    for (const K of [1, 2, 3]) {
      const { sampler, calls } = spyChunk(peaked.asChunkSampler(K, { seed: 2 }), false);
      const res = await evaluateBrierLM({ kind: 'chunk', sampler }, [block], { batchSize: 1000, keepPositions: true });
      const L = block.length / K;
      const s = Math.ceil(4 / K);
      expect(res.numPositions).toBe(L - 1 - s);
      // First call: teacher-forced samples at t = 0..L−3 (the official code never uses t = L−2 here).
      expect(calls[0]!.lengths).toEqual(Array.from({ length: L - 2 }, (_, t) => (t + 1) * K));
      // Roll-out calls: context = gold prefix of t+1 chunks + sample-1 chunks of the earlier steps.
      const records = res.positions!;
      expect(calls.length, 'some positions collided at step 0 and were rolled out').toBeGreaterThan(1);
      for (let r = 1; r < calls.length; r++) {
        expect(calls[r]!.numSamples).toBe(2);
        for (const ctx of calls[r]!.contexts) {
          expect(ctx.length % K).toBe(0);
          // Find the position whose gold prefix this extends and whose sample 1 agrees.
          const matches = records.filter((p) => {
            const gold = p.tokenIndex;
            if (ctx.length <= gold) return false;
            for (let i = 0; i < gold; i++) if (ctx[i] !== block[i]) return false;
            const rolled = Array.from(ctx.subarray(gold, gold + Math.min(K, 4)));
            return rolled.every((v, j) => v === p.sample1![j]);
          });
          expect(
            matches.length,
            `roll-out context of length ${ctx.length} continues a position's sample 1`,
          ).toBeGreaterThan(0);
        }
      }
      // A roll-out step only happens for rows whose samples agreed so far.
      for (const p of records) {
        if (p.sample1![0] !== p.sample2![0]) expect(p.collision).toEqual([0, 0, 0, 0]);
      }
    }
  });

  it('token and explicit estimators: positions i = 0..T-5 with the n-gram = tokens i+1..i+n', async () => {
    const seen: number[] = [];
    const inner = lm.asTokenSampler({ seed: 3 });
    const token: TokenSampler = {
      async sample(contexts, maxTokens, numSamples) {
        seen.push(...contexts.map((c) => c.length));
        expect(maxTokens).toBe(4);
        expect(numSamples).toBe(2);
        return inner.sample(contexts, maxTokens, numSamples);
      },
    };
    const res = await evaluateBrierLM({ kind: 'token', sampler: token }, [block], {
      batchSize: 10,
      keepPositions: true,
    });
    expect(res.numPositions).toBe(block.length - 4);
    expect(seen).toEqual(Array.from({ length: block.length - 4 }, (_, i) => i + 1));
    expect(res.positions!.at(-1)!.target).toEqual(Array.from(block.subarray(block.length - 4)));
    const ex = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block], { keepPositions: true });
    expect(ex.numPositions).toBe(block.length - 4);
    const first = ex.positions![0]!;
    expect(first.targetProb![0]).toBeCloseTo(lm.prob(block.subarray(0, 1), block[1]!), 6);
    expect(first.brier[0]).toBeCloseTo(
      2 * lm.prob(block.subarray(0, 1), block[1]!) - lm.probs(block.subarray(0, 1)).reduce((a, p) => a + p * p, 0),
      6,
    );
  });

  it('every Brier-n is averaged over all positions of all blocks before combining', async () => {
    const blocks = [block, block.slice(0, 24)];
    const res = await evaluateBrierLM({ kind: 'explicit', model: lm }, blocks, { keepPositions: true, seed: 5 });
    expect(res.positionsPerBlock).toEqual([44, 20]);
    for (let n = 0; n < 4; n++) {
      const mean = res.positions!.reduce((a, p) => a + p.brier[n]!, 0) / res.positions!.length;
      expect(res.brier[n]).toBeCloseTo(mean, 12);
    }
    expect(res.brierLM).toBeCloseTo(
      100 *
        Math.pow(
          res.brier.reduce((a, b) => a * b, 1),
          0.25,
        ),
      10,
    );
    expect(res.scale).toBe(100);
  });
});

describe('reference generators', () => {
  const gens = (
    g: ReturnType<typeof perfectGenerators> | ReturnType<typeof constantGenerators>,
  ): [string, BrierGenerator][] => [
    ...[1, 2, 3, 4, 8].map((K): [string, BrierGenerator] => [`chunk K=${K}`, { kind: 'chunk', sampler: g.chunk(K) }]),
    ['token', { kind: 'token', sampler: g.token }],
    ['explicit', { kind: 'explicit', model: g.explicit }],
  ];

  it('a perfect deterministic generator scores BrierLM 100', async () => {
    for (const [name, g] of gens(perfectGenerators(block, V))) {
      const res = await evaluateBrierLM(g, [block]);
      expect(res.brier, name).toEqual([1, 1, 1, 1]);
      expect(res.brierLM, name).toBe(100);
      expect(res.brierLMStderr, name).toBe(0);
    }
  });

  it('a generator that always outputs one wrong token scores 0 (clipped), with the official formula flagged', async () => {
    for (const [name, g] of gens(constantGenerators(V - 1, V))) {
      const res = await evaluateBrierLM(g, [block]);
      expect(res.brier, name).toEqual([-1, -1, -1, -1]);
      expect(res.brierLM, name).toBe(0);
      expect(
        res.warnings.some((w) => w.includes('BrierLM is 0') && w.includes('official')),
        name,
      ).toBe(true);
    }
  });

  it('argmax decoding for both samples is detected and reported in warnings', async () => {
    const res = await evaluateBrierLM({ kind: 'chunk', sampler: argmaxChunkSampler((c) => lm.probs(c), 2) }, [block]);
    expect(res.numPositions).toBeGreaterThanOrEqual(16);
    expect(res.collision).toEqual([1, 1, 1, 1]);
    expect(res.warnings.some((w) => w.includes('deterministic'))).toBe(true);
    const honest = await evaluateBrierLM({ kind: 'chunk', sampler: lm.asChunkSampler(2, { seed: 9 }) }, [block]);
    expect(honest.numPositions).toBe(res.numPositions);
    expect(honest.warnings.some((w) => w.includes('deterministic'))).toBe(false);
  });
});

describe('reproducibility and options', () => {
  it('same seeds give identical results; the batch size does not change them', async () => {
    const run = (batchSize: number, seed: number): Promise<number[]> =>
      Promise.all([
        evaluateBrierLM({ kind: 'chunk', sampler: lm.asChunkSampler(2, { seed }) }, [block], { batchSize, seed }),
        evaluateBrierLM({ kind: 'token', sampler: lm.asTokenSampler({ seed }) }, [block], { batchSize, seed }),
        evaluateBrierLM({ kind: 'explicit', model: lm }, [block], { batchSize, seed, teacherForced: 'never' }),
      ]).then((rs) => rs.flatMap((r) => [...r.brier]));
    const a = await run(3, 11);
    expect(await run(3, 11)).toEqual(a);
    expect(await run(64, 11)).toEqual(a);
    expect(await run(3, 12)).not.toEqual(a);
  });

  it('records the seed and the initial RNG state, which reproduces an injected-RNG run', async () => {
    const rng = createRng('injected');
    const res = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block], { rng });
    expect(res.seed).toBeNull();
    const again = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block], {
      rng: restoreRng(res.initialRngState),
    });
    expect(again.brier).toEqual(res.brier);
    const seeded = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block], { seed: 'abc' });
    expect(seeded.seed).toBe('abc');
  });

  it('limit, async iterables and progress reports', async () => {
    async function* gen() {
      for (let i = 0; i < 5; i++) yield block;
    }
    const progress: number[] = [];
    const res = await evaluateBrierLM({ kind: 'token', sampler: lm.asTokenSampler() }, gen(), {
      limit: 2,
      batchSize: 16,
      onProgress: (p) => progress.push(p.blocksDone + p.blockFraction),
    });
    expect(res.numBlocks).toBe(2);
    expect(progress.at(-1)).toBe(2);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThanOrEqual(progress[i - 1]!);
    expect(res.calls).toBe(2 * Math.ceil(44 / 16));
  });

  it('standard-error units: auto picks blocks from 10 blocks on', async () => {
    const few = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block, block], {});
    expect(few.stderrUnit).toBe('position');
    expect(few.warnings.some((w) => w.includes('independent'))).toBe(true);
    const many = await evaluateBrierLM(
      { kind: 'explicit', model: lm },
      Array.from({ length: 10 }, () => block),
      {},
    );
    expect(many.stderrUnit).toBe('block');
    const boot = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block], {
      stderr: { method: 'bootstrap', bootstrapSamples: 200 },
    });
    expect(boot.stderrMethod).toBe('bootstrap');
    expect(boot.brierLMCI[0]).toBeLessThanOrEqual(boot.brierLM);
    expect(boot.brierLMCI[1]).toBeGreaterThanOrEqual(boot.brierLM);
  });
});

describe('errors', () => {
  const expectCode = async (p: Promise<unknown>, code: string, text?: RegExp): Promise<void> => {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isCalmError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    if (text) expect((e as Error).message).toMatch(text);
  };

  it('rejects bad generators, options and blocks with a fix in the message', async () => {
    await expectCode(
      evaluateBrierLM({ kind: 'nope' } as unknown as BrierGenerator, [block]),
      'INVALID_ARGUMENT',
      /kind/,
    );
    await expectCode(
      evaluateBrierLM({ kind: 'chunk', sampler: lm.asChunkSampler(5) }, [block]),
      'INVALID_ARGUMENT',
      /multiple of the chunk size/,
    );
    await expectCode(
      evaluateBrierLM({ kind: 'chunk', sampler: lm.asChunkSampler(4) }, [block.subarray(0, 4)]),
      'INVALID_ARGUMENT',
      /too short/,
    );
    await expectCode(
      evaluateBrierLM({ kind: 'token', sampler: lm.asTokenSampler() }, []),
      'INVALID_ARGUMENT',
      /no eval blocks/,
    );
    await expectCode(
      evaluateBrierLM({ kind: 'explicit', model: lm }, [block], { batchSize: 0 }),
      'INVALID_ARGUMENT',
      /batchSize/,
    );
    await expectCode(
      evaluateBrierLM({ kind: 'explicit', model: lm }, [block], { seed: 1, rng: createRng(1) }),
      'INVALID_ARGUMENT',
      /either/,
    );
    await expectCode(
      evaluateBrierLM({ kind: 'explicit', model: lm }, [Int32Array.from([0, 1, 2, 3, 9, 1])]),
      'INVALID_ARGUMENT',
      /vocabulary/,
    );
  });

  it('reports samplers that return the wrong shape or bad values', async () => {
    const short: ChunkSampler = { chunkSize: 4, sample: async (c) => new Int32Array(c.length) };
    await expectCode(
      evaluateBrierLM({ kind: 'chunk', sampler: short }, [block]),
      'SHAPE_MISMATCH',
      /\[B = \d+, 2, K = 4\]/,
    );
    const plain = { sample: async () => [1, 2, 3] } as unknown as TokenSampler;
    await expectCode(evaluateBrierLM({ kind: 'token', sampler: plain }, [block]), 'SHAPE_MISMATCH', /Int32Array/);
    const unnormalised: NextTokenModel = {
      vocabSize: V,
      nextTokenProbs: async (c) => new Float32Array(c.length * V).fill(1),
    };
    await expectCode(
      evaluateBrierLM({ kind: 'explicit', model: unnormalised }, [block]),
      'INVALID_ARGUMENT',
      /sums to/,
    );
    const negative: TokenSampler = { sample: async (c, m, n) => new Int32Array(c.length * m * n).fill(-7) };
    await expectCode(evaluateBrierLM({ kind: 'token', sampler: negative }, [block]), 'INVALID_ARGUMENT', /NO_TOKEN/);
  });

  it('aborts between calls with ABORTED and forwards the signal', async () => {
    const controller = new AbortController();
    let signalSeen: AbortSignal | undefined;
    const sampler: TokenSampler = {
      async sample(contexts, maxTokens, numSamples, o) {
        signalSeen = o?.signal;
        controller.abort();
        return new Int32Array(contexts.length * maxTokens * numSamples);
      },
    };
    await expectCode(
      evaluateBrierLM({ kind: 'token', sampler }, [block], { signal: controller.signal, batchSize: 4 }),
      'ABORTED',
    );
    expect(signalSeen).toBe(controller.signal);
  });
});
