// Training a small byte-level BPE with HF tokenizers: size, exact round trips, reload, determinism.
import { describe, it, expect, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCalmError } from '@calm/core';
import { loadHfTokenizer, loadSotuCorpus, trainBpeTokenizer } from '../src/node.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('trainBpeTokenizer', () => {
  const corpus = loadSotuCorpus({ split: 'train', maxChars: 300_000 });

  it('trains a byte-level BPE of the requested size that round-trips any text, saved as tokenizer.json', async () => {
    const out = join(tmp.dir, 'tokenizer.json');
    const a = await trainBpeTokenizer({ texts: corpus.texts, vocabSize: 1024, outPath: out });
    expect(a.tokenizer.vocabSize).toBe(1024);
    expect(a.merges).toBe(1024 - 256 - 3);
    expect([a.tokenizer.bos, a.tokenizer.eos, a.tokenizer.pad]).toEqual([1021, 1022, 1023]);
    // Exact round trips, including bytes and scripts absent from the training text.
    const texts = [
      'The Congress shall have power',
      'Ωμέγα 東京 🎉\u0000\u0007\r\n\ttab',
      corpus.texts[3]!.slice(0, 2000),
    ];
    for (const t of texts) expect(await a.tokenizer.decode(await a.tokenizer.encode(t))).toBe(t);
    // Merges learned on English compress it: well under one token per character.
    const sample = corpus.texts[5]!.slice(0, 5000);
    expect((await a.tokenizer.encode(sample)).length).toBeLessThan(sample.length / 2.5);
    // Saved, reloaded: identical ids; the JSON is standard (model BPE, byte-level pre-tokenizer).
    const json = JSON.parse(readFileSync(out, 'utf8')) as { model: { type: string }; pre_tokenizer: { type: string } };
    expect(json.model.type).toBe('BPE');
    expect(json.pre_tokenizer.type).toBe('ByteLevel');
    const again = await loadHfTokenizer(out);
    expect(again.vocabSize).toBe(1024);
    expect(Array.from(await again.encode(sample))).toEqual(Array.from(await a.tokenizer.encode(sample)));
    // Training is deterministic.
    const b = await trainBpeTokenizer({ texts: corpus.texts, vocabSize: 1024 });
    expect(b.json).toBe(a.json);
  });

  it('rejects missing text and too small vocabularies', async () => {
    await expect(trainBpeTokenizer({ texts: [] })).rejects.toSatisfy((e) => isCalmError(e, 'INVALID_ARGUMENT'));
    await expect(trainBpeTokenizer({ texts: ['x'], vocabSize: 100 })).rejects.toSatisfy((e) =>
      isCalmError(e, 'INVALID_ARGUMENT'),
    );
    await expect(trainBpeTokenizer({ files: [join(tmp.dir, 'missing.txt')] })).rejects.toSatisfy((e) =>
      isCalmError(e, 'IO_ERROR'),
    );
  });
});
