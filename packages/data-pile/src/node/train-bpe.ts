// Training a small byte-level BPE tokenizer (a few thousand tokens) on local text with HF
// `tokenizers`, for CPU-sized experiments, saved as a standard `tokenizer.json`.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJsonFile } from '@calm/core/node';
import { fail, checkInt } from '../internal/errors.js';
import type { Tokenizer } from '../tokenizer.js';
import { byteLevelAlphabet, byteLevelBpeTokenizerJson } from '../internal/byte-level-bpe.js';
import { hfTokenizerFromJson } from './tokenizers.js';

/**
 * Options of {@link trainBpeTokenizer}.
 * @see {@link trainBpeTokenizer}
 * @category Tokenizers
 */
export interface TrainBpeOptions {
  /** Training documents (written to a temporary file), or use `files`. */
  texts?: readonly string[];
  /** Training text files (HF reads them line by line). */
  files?: readonly string[];
  /**
   * Total vocabulary size: 256 byte tokens + merges + 3 special tokens. The result is smaller
   * when the text supports fewer merges.
   * @defaultValue 4096
   */
  vocabSize?: number;
  /** Where to write `tokenizer.json`; nothing is written when absent. */
  outPath?: string;
  /**
   * Special token strings (BOS, EOS, PAD), placed after the merges.
   * @defaultValue `['<|begin_of_text|>', '<|end_of_text|>', '[PAD]']`
   */
  specialTokens?: readonly [string, string, string];
}

/**
 * A trained tokenizer and its `tokenizer.json`.
 * @see {@link trainBpeTokenizer}
 * @category Tokenizers
 */
export interface TrainedBpe {
  /** The tokenizer, ready to use. */
  tokenizer: Tokenizer;
  /** The `tokenizer.json` text (load it again with `hfTokenizerFromJson` or `loadHfTokenizer`). */
  json: string;
  /** Number of merges kept. */
  merges: number;
  /** The path written, when `outPath` was given. */
  path?: string;
}

// Runs in a child process: HF's trainer is synchronous (it would block the event loop) and
// writes progress output to stdout, which library code must not do.
const TRAIN_SCRIPT = `
const tk = require(process.argv[1]);
const t = new tk.Tokenizer(tk.BPE.empty());
t.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
t.train(JSON.parse(process.argv[2]));
t.save(process.argv[3]);
`;

function runTrainer(files: string[], out: string): Promise<void> {
  const modulePath = createRequire(import.meta.url).resolve('tokenizers');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', TRAIN_SCRIPT, modulePath, JSON.stringify(files), out], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 4000) err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`trainer exited with code ${code}: ${err.trim().slice(-2000)}`));
    });
  });
}

/**
 * Trains a byte-level BPE tokenizer on local text with HF `tokenizers`.
 *
 * @remarks
 * HF's JavaScript trainer takes no options (it learns up to 30,000 tokens over the bytes it sees),
 * so the result is cut afterwards: ids 0–255 are the 256 byte tokens (all of them, so any text
 * round-trips exactly, even bytes absent from the training text), then the first merges in the
 * order they were learned, then BOS, EOS and PAD. Pre-tokenisation is GPT-2's byte-level regex;
 * the decoder is byte-level. Training runs in a child process (≈2.6 s for 10.8 MB of text).
 * Files are read line by line, so merges never span a newline.
 *
 * @param options - Texts or files, vocabulary size, output path, special tokens.
 * @returns The tokenizer, its JSON and the number of merges.
 * @throws `CalmError` `INVALID_ARGUMENT` without text or with `vocabSize` < 260; `IO_ERROR` when
 * training or writing fails; `MISSING_DEPENDENCY` without `tokenizers`.
 * @example
 * {@includeCode ../../test/examples.test.ts#sotu-bpe}
 * @category Tokenizers
 */
export async function trainBpeTokenizer(options: TrainBpeOptions): Promise<TrainedBpe> {
  const vocabSize = checkInt(options.vocabSize ?? 4096, 'vocabSize', 260);
  const specials = options.specialTokens ?? (['<|begin_of_text|>', '<|end_of_text|>', '[PAD]'] as const);
  if (new Set(specials).size !== 3)
    fail('INVALID_ARGUMENT', 'trainBpeTokenizer: the three special tokens must differ.');
  const texts = options.texts ?? [];
  const files = [...(options.files ?? [])];
  if (texts.length === 0 && files.length === 0)
    fail('INVALID_ARGUMENT', 'trainBpeTokenizer: pass texts or files to train on.');
  const dir = await mkdtemp(join(tmpdir(), 'calm-bpe-'));
  let trained: { model?: { merges?: unknown[] } };
  try {
    if (texts.length > 0) {
      const corpus = join(dir, 'corpus.txt');
      await writeFile(corpus, texts.join('\n'));
      files.push(corpus);
    }
    const out = join(dir, 'trained.json');
    try {
      await runTrainer(files, out);
    } catch (e) {
      fail('IO_ERROR', `BPE training failed: ${(e as Error).message}`, { cause: e });
    }
    trained = (await readJsonFile(
      out,
      'the tokenizers library wrote no usable result; check its version',
    )) as typeof trained;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const rawMerges = trained.model?.merges ?? [];
  const keep = Math.min(rawMerges.length, vocabSize - 256 - 3);
  const alphabet = byteLevelAlphabet();
  const vocab: Record<string, number> = {};
  alphabet.forEach((ch, i) => (vocab[ch] = i));
  let next = 256;
  const merges: [string, string][] = [];
  for (let i = 0; i < keep; i++) {
    const m = rawMerges[i];
    const pair = Array.isArray(m) ? (m as [string, string]) : (String(m).split(' ') as [string, string]);
    const [a, b] = pair;
    if (typeof a !== 'string' || typeof b !== 'string' || !(a in vocab) || !(b in vocab)) {
      fail('INTERNAL', `trained merge ${i} (${JSON.stringify(m)}) uses a token that is not in the vocabulary.`);
    }
    merges.push([a, b]);
    if (!(a + b in vocab)) vocab[a + b] = next++;
  }
  const json = byteLevelBpeTokenizerJson({
    vocab,
    merges,
    specialTokens: specials,
    firstSpecialId: next,
    preTokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    postProcessor: null,
    ignoreMerges: false,
  });
  const tokenizer = await hfTokenizerFromJson(json, {
    name: `bpe-${next + 3}`,
    bosToken: specials[0],
    eosToken: specials[1],
    padToken: specials[2],
  });
  const result: TrainedBpe = { tokenizer, json, merges: merges.length };
  if (options.outPath) {
    try {
      await writeFile(options.outPath, json);
    } catch (e) {
      fail('IO_ERROR', `cannot write ${options.outPath}: ${(e as Error).message}`, { cause: e });
    }
    result.path = options.outPath;
  }
  return result;
}
