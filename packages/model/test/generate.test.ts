// The models as black-box samplers and their generation loops: CALM's ChunkSampler pads contexts
// like the official code and its teacher-forced path equals per-prefix sampling; KV-cache
// generation equals uncached step-by-step sampling for CALM and AR; EOS, PAD stripping,
// temperature; the AR NextTokenModel's fast path equals its per-context path.
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, padToMultiple } from '@calm/core';
import { expectNoLeak } from '@calm/testing/tfjs';
import { type ArModel, CalmModel, arNextTokenModel, calmChunkSampler, generateAr, generateCalm } from '../src/index.js';
import { loadFixture, tinyArFromFixture, tinyCalmFromFixture, useWasm } from './helpers.js';

let calm: CalmModel;
let ar: ArModel;
let prompt10: Int32Array;
let prompt12: Int32Array;
beforeAll(async () => {
  await useWasm();
  const fx = loadFixture('calm-tiny.safetensors');
  calm = tinyCalmFromFixture(fx);
  ar = tinyArFromFixture(loadFixture('ar-tiny.safetensors'));
  const gen = fx.values('input.gen_ids') as Int32Array; // [2, 12]; row 0 = 10 tokens + 2 PAD
  prompt10 = gen.slice(0, 10);
  prompt12 = gen.slice(12, 24);
});

describe('calmChunkSampler', () => {
  it('pads a context with PAD to a multiple of K, as the official generate', async () => {
    const a = await calmChunkSampler(calm, { rng: createRng(7) }).sample([prompt10], 3);
    const b = await calmChunkSampler(calm, { rng: createRng(7) }).sample([padToMultiple(prompt10, 4, 79)], 3);
    expect(a.length).toBe(3 * 4);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a).every((x) => x >= 0 && x < 80)).toBe(true);
  });

  it('teacher-forced draws equal per-prefix draws from the same noise', async () => {
    const seq = Int32Array.from([...prompt12, ...prompt12.slice(4, 12)]); // 5 chunks
    const [tfDraws] = await calmChunkSampler(calm, { rng: createRng(11) }).sampleTeacherForced!([seq], 2);
    const prefixes = [1, 2, 3, 4].map((t) => seq.slice(0, t * 4));
    const perPrefix = await calmChunkSampler(calm, { rng: createRng(11) }).sample(prefixes, 2);
    expect(tfDraws!.length).toBe(4 * 2 * 4);
    expect(Array.from(tfDraws!)).toEqual(Array.from(perPrefix));
  });

  it('rejects bad contexts with a fix', async () => {
    const s = calmChunkSampler(calm, { rng: createRng(0) });
    await expect(s.sample([new Int32Array(0)], 1)).rejects.toThrow(/at least one token/);
    await expect(s.sample([Int32Array.of(80)], 1)).rejects.toThrow(/outside the vocabulary/);
    await expect(s.sampleTeacherForced!([Int32Array.of(1, 2, 3)], 1)).rejects.toThrow(/multiple of K/);
  });
});

describe('generateCalm', () => {
  it('KV-cache generation equals uncached sampling step by step; PAD is stripped', async () => {
    const out = await expectNoLeak(() =>
      generateCalm(calm, [prompt10], { rng: createRng(5), maxNewTokens: 12, stopAtEos: false }),
    );
    expect(out.steps).toBe(3);
    // Replay without a cache: the sampler sees the padded prompt plus generated chunks.
    const sampler = calmChunkSampler(calm, { rng: createRng(5) });
    let ctx = padToMultiple(prompt10, 4, 79);
    for (let s = 0; s < 3; s++) {
      const next = await sampler.sample([ctx], 1);
      ctx = Int32Array.from([...ctx, ...next]);
    }
    const expected = Array.from(ctx).filter((x) => x !== 79);
    expect(Array.from(out.sequences[0]!)).toEqual(expected);
    expect(Array.from(out.sequences[0]!.slice(0, 10))).toEqual(Array.from(prompt10));
    expect(out.generated[0]!.length).toBe(expected.length - 10);
  });

  it('stops a row at a chunk containing EOS and fills later chunks with PAD', async () => {
    const free = await generateCalm(calm, [prompt12], { rng: createRng(9), maxNewTokens: 8, stopAtEos: false });
    const eos = free.generated[0]![1]!; // a token of the first generated chunk
    const withEos = new CalmModel({ ...calm.config, eosTokenId: eos }, calm.aeConfig, {
      params: calm.params,
      aeParams: calm.aeParams,
    });
    const out = await generateCalm(withEos, [prompt12, prompt12.slice(0, 9)], { rng: createRng(9), maxNewTokens: 16 });
    expect(out.finishedAtEos[0]).toBe(true);
    expect(Array.from(out.generated[0]!)).toEqual(Array.from(free.generated[0]!.slice(0, 4)));
    expect(out.sequences.every((s) => !s.includes(79))).toBe(true);
  });

  it('streams each chunk of each prompt through onTokens as it is generated', async () => {
    const streamed: number[][] = [[], []];
    const steps: number[] = [];
    const r = await generateCalm(calm, [prompt10, prompt12], {
      rng: createRng(3),
      maxNewTokens: 12,
      stopAtEos: false,
      onStep: (n) => steps.push(n),
      onTokens: (p, tokens) => streamed[p]!.push(...tokens),
    });
    expect(streamed.map((s) => s.length)).toEqual([12, 12]);
    expect(streamed[0]).toEqual(Array.from(r.generated[0]!));
    expect(streamed[1]).toEqual(Array.from(r.generated[1]!));
    expect(steps.length).toBe(r.steps);
  });

  it('temperature 1/2 through the batch approximation, and the exact sampler', async () => {
    const a = await generateCalm(calm, [prompt12], {
      rng: createRng(1),
      maxNewTokens: 8,
      temperature: 0.5,
      poolSize: 16,
      stopAtEos: false,
    });
    const b = await generateCalm(calm, [prompt12], {
      rng: createRng(1),
      maxNewTokens: 8,
      temperature: 0.5,
      poolSize: 16,
      stopAtEos: false,
    });
    expect(Array.from(a.generated[0]!)).toEqual(Array.from(b.generated[0]!));
    expect(a.temperatureStats!.drawn).toBe(2 * 16);
    const c = await generateCalm(calm, [prompt12], {
      rng: createRng(1),
      maxNewTokens: 4,
      temperature: 0.5,
      temperatureMethod: 'exact',
      stopAtEos: false,
    });
    expect(c.generated[0]!.length).toBe(4);
    await expect(
      generateCalm(calm, [prompt12], { rng: createRng(1), maxNewTokens: 4, temperature: 1.5 }),
    ).rejects.toThrow(/temperature/);
  });
});

describe('AR baseline as a NextTokenModel and generator', () => {
  it('teacher-forced probabilities equal per-context probabilities', async () => {
    const m = arNextTokenModel(ar);
    const seq = Int32Array.from([93, 50, 47, 56, 39, 49]);
    const tfp = await m.teacherForcedProbs!(seq);
    const per = await m.nextTokenProbs([1, 2, 3, 4, 5, 6].map((t) => seq.slice(0, t)));
    expect(tfp.length).toBe(6 * 96);
    for (let i = 0; i < tfp.length; i++) expect(Math.abs(tfp[i]! - per[i]!)).toBeLessThan(1e-6);
    let sum = 0;
    for (let i = 0; i < 96; i++) sum += per[i]!;
    expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
  });

  it('KV-cache generation equals uncached sampling from nextTokenProbs', async () => {
    const prompt = Int32Array.from([93, 50, 47]);
    const out = await expectNoLeak(() =>
      generateAr(ar, [prompt], { rng: createRng(3), maxNewTokens: 6, temperature: 0.7, stopAtEos: false }),
    );
    const m = arNextTokenModel(ar, { temperature: 0.7 });
    const rng = createRng(3);
    const ctx = Array.from(prompt);
    for (let s = 0; s < 6; s++) ctx.push(rng.categorical(await m.nextTokenProbs([Int32Array.from(ctx)])));
    expect(Array.from(out.sequences[0]!)).toEqual(ctx);
  });
});
