// @calm/testing/models: tiny model setups shared by the model, trainer and CLI tests (and the child
// process of the SIGKILL test): a byte-level tokenizer (data-pile `Tokenizer`), a synthetic corpus,
// and tiny AE / CALM / AR models, all seeded.
import { createRng } from '@calm/core';
import type { Tokenizer } from '@calm/data-pile';
import { autoencoderConfig, createAutoencoderParams } from '@calm/autoencoder';
import { ArModel, CalmModel, arConfig, calmConfig } from '@calm/model';

/** Bytes 0..255, BOS 256, EOS 257, PAD 258. */
export function byteTokenizer(): Tokenizer {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const encode = async (text: string) => Int32Array.from(enc.encode(text));
  return {
    name: 'bytes',
    vocabSize: 259,
    fingerprint: 'bytes-v1',
    bos: 256,
    eos: 257,
    pad: 258,
    encode,
    encodeBatch: (texts) => Promise.all(texts.map(encode)),
    decode: async (ids) => dec.decode(Uint8Array.from(Array.from(ids).filter((x) => x < 256))),
  };
}

/** A repetitive synthetic corpus (learnable in a few steps). */
export function syntheticTexts(n = 40): string[] {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'far'];
  const rng = createRng('corpus');
  return Array.from(
    { length: n },
    () => Array.from({ length: 60 }, () => words[rng.int(words.length)]).join(' ') + '.',
  );
}

export const SPECIAL = { padTokenId: 258, bosTokenId: 256, eosTokenId: 257 };

export function tinyAeConfig() {
  return autoencoderConfig({
    vocabSize: 259,
    hiddenSize: 32,
    intermediateSize: 64,
    latentSize: 8,
    patchSize: 4,
    ...SPECIAL,
  });
}

export function tinyCalm(seed = 1): CalmModel {
  const config = calmConfig({
    vocabSize: 259,
    hiddenSize: 32,
    intermediateSize: 64,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    patchSize: 4,
    latentSize: 8,
    noiseSize: 8,
    numMlpLayers: 1,
    numSamples: 4,
    numTargetSamples: 8,
    ...SPECIAL,
  });
  const ae = tinyAeConfig();
  return new CalmModel(config, ae, {
    rng: createRng(seed),
    aeParams: createAutoencoderParams(ae, createRng(seed + 100)),
  });
}

export function tinyAr(seed = 1): ArModel {
  return new ArModel(
    arConfig({
      vocabSize: 259,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 4,
      ...SPECIAL,
    }),
    { rng: createRng(seed) },
  );
}
