// The API examples of @calm/brierlm: each `#region` is included into a TSDoc `@example` with
// `{@includeCode}`, so the documented code is the code that runs here. A byte-level n-gram model
// on a few sentences keeps every evaluation to milliseconds. Assertions stay outside the regions.
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRng } from '@calm/core';
import {
  NGramModel,
  byteTokenizer,
  chunkSamplerFromCallback,
  chunkSamplerFromNextTokenModel,
  combineBrierLM,
  cutIntoBlocks,
  evaluateBrierLM,
  formatSummary,
  makeEvalBlocks,
  nextTokenModelFromCallback,
  officialBrierLM,
  parseJsonlTexts,
  positionsToJsonl,
  toBrierGenerator,
  toHarnessResults,
  tokenSamplerFromCallback,
} from '../src/index.js';
import { loadEvalBlocks, writeResultFiles } from '../src/node.js';
import { createOpenAICompletionsSampler, createServerTokenizer } from '../src/http.js';
import { ngramHandler, startServer } from './fixtures/server.js';

const trainText = 'the cat sat on the mat. the dog sat on the log. the cat saw the dog. '.repeat(4);
const testDocs = ['the dog sat on the mat and the cat sat on the log.', 'the cat saw the dog on the mat.'];
const tmp = mkdtempSync(join(tmpdir(), 'calm-brierlm-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('@calm/brierlm examples', () => {
  it('README quick start: one model, the exact and the sampling estimator', async () => {
    // #region readme
    // import { NGramModel, byteTokenizer, evaluateBrierLM, makeEvalBlocks } from '@calm/brierlm';
    const tok = byteTokenizer(); // ids 0..255 = UTF-8 bytes, 256 = BOS
    const text = 'the cat sat on the mat. the dog sat on the log. the cat saw the dog. '.repeat(4);
    const lm = NGramModel.fit([tok.encode(text)], { order: 3, vocabSize: tok.vocabSize }); // stands in for your model
    const testDocs = ['the dog sat on the mat and the cat sat on the log.', 'the cat saw the dog on the mat.'];
    const { blocks } = await makeEvalBlocks(testDocs, tok, { blockSize: 32, bosId: tok.bosId }); // int32 blocks
    // A model with probabilities gets the exact estimator; one that can only draw chunks, the chunk estimator.
    const exact = await evaluateBrierLM({ kind: 'explicit', model: lm }, blocks, { seed: 0 });
    const sampled = await evaluateBrierLM({ kind: 'chunk', sampler: lm.asChunkSampler(4) }, blocks, { seed: 0 });
    // exact.brierLM: BrierLM ×100; exact.brier: Brier-1..4; exact.brierLMStderr; exact.warnings
    // #endregion readme
    expect(exact.estimator).toBe('explicit');
    expect(sampled.estimator).toBe('chunk');
    expect(exact.brierLM).toBeGreaterThan(0);
    expect(exact.brierLM).toBeLessThan(100);
    expect(exact.brier).toHaveLength(4);
    expect(sampled.numPositions).toBeLessThan(exact.numPositions); // chunk boundaries only
  });

  it('scores an n-gram model with the explicit estimator', async () => {
    // #region score-ngram
    // import { NGramModel, byteTokenizer, evaluateBrierLM, formatSummary, makeEvalBlocks } from '@calm/brierlm';
    // trainText: a string to fit on; testDocs: the documents to evaluate on (strings)
    const tok = byteTokenizer(); // ids 0..255 = UTF-8 bytes, 256 = BOS
    const lm = NGramModel.fit([tok.encode(trainText)], { order: 3, vocabSize: tok.vocabSize });
    const { blocks } = await makeEvalBlocks(testDocs, tok, { blockSize: 32, bosId: tok.bosId }); // int32 blocks of 32 ids
    const result = await evaluateBrierLM({ kind: 'explicit', model: lm }, blocks, { seed: 1 });
    const summary = formatSummary(result); // 'BrierLM (x100): … ± …', then Brier-1..4, counts, seed
    // #endregion score-ngram
    expect(summary).toMatch(/^BrierLM \(x100\): /);
    expect(blocks).toHaveLength(2);
    expect(result.estimator).toBe('explicit');
    expect(result.brierLM).toBeGreaterThan(0);
    expect(result.brierLM).toBeLessThan(100);
  });

  it('scores implicit samplers built from callbacks', async () => {
    const tok = byteTokenizer();
    const lm = NGramModel.fit([tok.encode(trainText)], { order: 3, vocabSize: tok.vocabSize });
    const { blocks } = await makeEvalBlocks(testDocs, tok, { blockSize: 32, bosId: tok.bosId });
    // #region callback-samplers
    // import { createRng } from '@calm/core';
    // import { chunkSamplerFromCallback, evaluateBrierLM, nextTokenModelFromCallback, tokenSamplerFromCallback } from '@calm/brierlm';
    // lm: any model that can draw continuations (here an NGramModel); blocks: eval blocks, int32
    const rng = createRng(7);
    const chunks = chunkSamplerFromCallback((context) => lm.sampleContinuation(context, 4, rng), { chunkSize: 4 }); // K = 4 ids per draw
    const tokens = tokenSamplerFromCallback((context, maxTokens) => lm.sampleContinuation(context, maxTokens, rng));
    const probs = nextTokenModelFromCallback((context) => lm.probs(context), { vocabSize: lm.vocabSize }); // V probabilities
    const byChunks = await evaluateBrierLM({ kind: 'chunk', sampler: chunks }, blocks, { seed: 1 });
    const byTokens = await evaluateBrierLM({ kind: 'token', sampler: tokens }, blocks, { seed: 1 });
    const exact = await evaluateBrierLM({ kind: 'explicit', model: probs }, blocks, { seed: 1 });
    // #endregion callback-samplers
    expect(byChunks.chunkSize).toBe(4);
    expect(byChunks.numPositions).toBe(2 * (32 / 4 - 1));
    expect(byTokens.numPositions).toBe(2 * (32 - 4));
    expect(exact.estimator).toBe('explicit');
    for (const r of [byChunks, byTokens, exact]) expect(r.brierLM).toBeGreaterThanOrEqual(0);
  });

  it('scores a chunk generator and explicit models like for like, with 8 samples per position', async () => {
    const tok = byteTokenizer();
    const { blocks } = await makeEvalBlocks(testDocs, tok, { blockSize: 32, bosId: tok.bosId });
    const fit = (order: number) => NGramModel.fit([tok.encode(trainText)], { order, vocabSize: tok.vocabSize });
    const calm = fit(3).asChunkSampler(4, { seed: 3 }); // stands in for a CALM model's ChunkSampler (K = 4)
    // #region explicit-as-chunks
    // import { NGramModel, chunkSamplerFromNextTokenModel, evaluateBrierLM } from '@calm/brierlm';
    // calm: a ChunkSampler with K = 4; fit(order): an NGramModel (any NextTokenModel works: an AR baseline too)
    // blocks: eval blocks, int32, multiples of K tokens
    const samplers = {
      calm,
      unigram: chunkSamplerFromNextTokenModel(fit(1), { chunkSize: 4, seed: 1 }), // draws 4 tokens autoregressively
      bigram: chunkSamplerFromNextTokenModel(fit(2), { chunkSize: 4, seed: 2 }),
    };
    const table: { name: string; brier: readonly number[]; stderr: readonly number[] }[] = [];
    for (const [name, sampler] of Object.entries(samplers)) {
      // Same estimator, same chunk-boundary positions, same n for every model.
      const r = await evaluateBrierLM({ kind: 'chunk', sampler }, blocks, { samplesPerPosition: 8, seed: 0 });
      table.push({ name, brier: r.brier, stderr: r.brierStderr }); // Brier-1..4 and their standard errors
    }
    // #endregion explicit-as-chunks
    expect(table.map((r) => r.name)).toEqual(['calm', 'unigram', 'bigram']);
    for (const r of table) {
      expect(r.brier).toHaveLength(4);
      expect(r.stderr.every((x) => x >= 0)).toBe(true);
    }
    expect(table[2]!.brier[0]).toBeGreaterThan(table[1]!.brier[0]!); // the bigram beats the unigram
  });

  it('tags a sampler with the estimator that fits it', async () => {
    const lm = NGramModel.fit([Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1, 2])], { order: 2, vocabSize: 3 });
    // #region to-generator
    // import { NGramModel, evaluateBrierLM, toBrierGenerator } from '@calm/brierlm';
    // lm: an NGramModel of order 2 over 3 token ids
    toBrierGenerator(lm.asChunkSampler(2)).kind; // 'chunk': it has sample() and a chunkSize
    toBrierGenerator(lm.asTokenSampler()).kind; // 'token'
    const generator = toBrierGenerator(lm, 'explicit'); // an NGramModel is all three; choose
    const result = await evaluateBrierLM(generator, [Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1])]);
    // #endregion to-generator
    expect(toBrierGenerator(lm.asChunkSampler(2)).kind).toBe('chunk');
    expect(toBrierGenerator(lm.asTokenSampler()).kind).toBe('token');
    expect(result.estimator).toBe('explicit');
  });

  it('combines Brier-n into BrierLM', () => {
    // #region combine
    // import { combineBrierLM, officialBrierLM } from '@calm/brierlm';
    combineBrierLM([0.5, 0.3, 0.2, 0.1]); // 100 · (0.5 · 0.3 · 0.2 · 0.1)^(1/4) ≈ 23.4
    combineBrierLM([0.5, 0.3, 0.2, -0.01]); // 0: a geometric mean needs every Brier-n > 0
    officialBrierLM([0.5, 0.3, -0.2, -0.1]); // ≈ 23.4, as the official code's ** 0.25 of the product
    // #endregion combine
    expect(combineBrierLM([0.5, 0.3, 0.2, 0.1])).toBeCloseTo(23.4, 1);
    expect(combineBrierLM([0.5, 0.3, 0.2, -0.01])).toBe(0);
    expect(officialBrierLM([0.5, 0.3, -0.2, -0.1])).toBeCloseTo(23.4, 1);
  });

  it('cuts token streams and reads JSON lines', () => {
    // #region blocks
    // import { cutIntoBlocks, parseJsonlTexts } from '@calm/brierlm';
    const texts = parseJsonlTexts('{"text": "first document"}\n{"text": "second document"}\n'); // ['first document', 'second document']
    const stream = Int32Array.from({ length: 10 }, (_, i) => i); // an already tokenised stream, int32
    const blocks = cutIntoBlocks(stream, 4); // [[0..3], [4..7]]; the 2 leftover ids are dropped
    // #endregion blocks
    expect(texts).toEqual(['first document', 'second document']);
    expect(blocks.map((b) => Array.from(b))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
  });

  it('writes lm-evaluation-harness results and per-position records', async () => {
    const lm = NGramModel.fit([Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1, 2])], { order: 2, vocabSize: 3 });
    const blocks = [Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1])];
    // #region harness
    // import { evaluateBrierLM, positionsToJsonl, toHarnessResults } from '@calm/brierlm';
    // lm, blocks: a model and eval blocks, as in the evaluateBrierLM example
    const result = await evaluateBrierLM({ kind: 'explicit', model: lm }, blocks, { seed: 0, keepPositions: true });
    const json = JSON.stringify(toHarnessResults(result, { model: 'ngram-2', blockSize: 8 }), null, 2); // results['wikitext103_brierlm']['brierlm,none'], …
    const jsonl = positionsToJsonl(result.positions!); // one {block, position, target, brier, …} per line
    // #endregion harness
    const parsed = JSON.parse(json) as { results: Record<string, Record<string, unknown>> };
    expect(parsed.results['wikitext103_brierlm']!['brierlm,none']).toBeCloseTo(result.brierLM, 10);
    expect(jsonl.trim().split('\n')).toHaveLength(result.numPositions);
  });
});

describe('@calm/brierlm/node examples', () => {
  it('loads a JSON-lines eval set and writes the result files', async () => {
    const dir = tmp;
    const tok = byteTokenizer();
    const lm = NGramModel.fit([tok.encode(trainText)], { order: 3, vocabSize: tok.vocabSize });
    await writeFile(join(dir, 'test.jsonl'), testDocs.map((text) => JSON.stringify({ text })).join('\n'));
    // #region node-files
    // import { byteTokenizer, evaluateBrierLM } from '@calm/brierlm';
    // import { loadEvalBlocks, writeResultFiles } from '@calm/brierlm/node';
    // dir: an output folder; tok, lm: a tokenizer and a model, as in the evaluateBrierLM example
    const { blocks, documents } = await loadEvalBlocks(join(dir, 'test.jsonl'), tok, {
      blockSize: 32,
      bosId: tok.bosId,
    });
    const result = await evaluateBrierLM({ kind: 'explicit', model: lm }, blocks, { keepPositions: true });
    await writeResultFiles(
      result,
      { output: join(dir, 'results.json'), samples: join(dir, 'samples.jsonl') },
      { model: 'ngram-3' },
    );
    // #endregion node-files
    expect(documents).toBe(2);
    expect(JSON.parse(await readFile(join(dir, 'results.json'), 'utf8'))).toHaveProperty('results');
    expect((await readFile(join(dir, 'samples.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(result.numPositions);
  });
});

describe('@calm/brierlm/http examples', () => {
  it('scores a model served over an OpenAI-compatible endpoint', async () => {
    const tok = byteTokenizer();
    const lm = NGramModel.fit([tok.encode(trainText)], { order: 3, vocabSize: tok.vocabSize });
    const server = await startServer(ngramHandler(lm, { bytes: true })); // stands in for llama-server or vLLM
    const baseUrl = server.url;
    try {
      // #region http-sampler
      // import { evaluateBrierLM } from '@calm/brierlm';
      // import { createOpenAICompletionsSampler, createServerTokenizer } from '@calm/brierlm/http';
      // baseUrl: the server, e.g. 'http://127.0.0.1:8080' (llama-server) or 'http://127.0.0.1:8000' (vLLM)
      const tokenizer = createServerTokenizer({ baseUrl }); // the server's own /tokenize and /detokenize
      const ids = await tokenizer.encode('the cat sat on the mat.'); // token ids of the served model
      const sampler = createOpenAICompletionsSampler({ baseUrl, model: 'my-model', concurrency: 4 });
      const result = await evaluateBrierLM({ kind: 'token', sampler }, [Int32Array.from(ids)], { seed: 1 });
      sampler.stats; // { requests, retries, … }
      // #endregion http-sampler
      expect(Array.from(ids)).toEqual(Array.from(tok.encode('the cat sat on the mat.')));
      expect(result.numPositions).toBe(ids.length - 4);
      expect(sampler.stats.requests).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });
});
