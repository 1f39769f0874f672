// Example: BrierLM of a byte-level n-gram model on WikiText-103, with all three estimators.
// Fits the n-gram on the first documents, evaluates on blocks built from the held-out ones with
// the official protocol (BOS per document, concatenate, cut into blocks, drop the remainder).
// Framework-free: nothing here (or in @calm/brierlm) needs tfjs.
//
//   pnpm start                          # defaults: order 4, 50 training docs, 2 blocks of 2048
//   pnpm start -- --limit 1 --order 3 --data /path/to/wikitext-103-document-test.jsonl

import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  NGramModel,
  byteTokenizer,
  evaluateBrierLM,
  makeEvalBlocks,
  type BrierGenerator,
  type BrierLMResult,
} from '@calm/brierlm';
import { readJsonlTexts } from '@calm/brierlm/node';

const argv = process.argv.slice(2);
const { values } = parseArgs({
  args: argv[0] === '--' ? argv.slice(1) : argv, // `pnpm start -- --limit 1` passes the separator through
  options: {
    data: {
      type: 'string',
      default: fileURLToPath(new URL('../../../shared/data/wikitext-103-document-test.jsonl', import.meta.url)),
    },
    order: { type: 'string', default: '4' },
    'train-docs': { type: 'string', default: '50' },
    'block-size': { type: 'string', default: '2048' },
    'chunk-size': { type: 'string', default: '4' },
    limit: { type: 'string', default: '2' },
    seed: { type: 'string', default: '0' },
  },
});
const int = (name: keyof typeof values): number => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer, got ${values[name]}`);
  return v;
};
const order = int('order');
const trainDocs = int('train-docs');
const blockSize = int('block-size');
const K = int('chunk-size');
const limit = int('limit');
const seed = int('seed');

const tok = byteTokenizer();
const docs = await readJsonlTexts(values.data!);
if (trainDocs >= docs.length)
  throw new Error(`--train-docs ${trainDocs} leaves no held-out documents (the file has ${docs.length})`);

let t0 = performance.now();
const lm = NGramModel.fit(
  docs.slice(0, trainDocs).map((d) => {
    const ids = tok.encode(d);
    const withBos = new Int32Array(ids.length + 1);
    withBos[0] = tok.bosId;
    withBos.set(ids, 1);
    return withBos;
  }),
  { order, vocabSize: tok.vocabSize },
);
console.log(
  `n-gram: order ${order}, ${lm.trainingTokens} training bytes from ${trainDocs} documents, fit in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

const { blocks, totalTokens } = await makeEvalBlocks(docs.slice(trainDocs), tok, {
  blockSize,
  bosId: tok.bosId,
  maxBlocks: limit,
});
console.log(
  `held-out: ${docs.length - trainDocs} documents, ${blocks.length} block(s) of ${blockSize} bytes evaluated (${totalTokens} bytes read)\n`,
);

const generators: [string, BrierGenerator][] = [
  ['explicit (exact P(y), train_ar.py)', { kind: 'explicit', model: lm }],
  ['token (two 4-token samples)', { kind: 'token', sampler: lm.asTokenSampler({ seed }) }],
  [`chunk K=${K} (eval_brier)`, { kind: 'chunk', sampler: lm.asChunkSampler(K, { seed }) }],
];
const rows: [string, BrierLMResult, number][] = [];
for (const [name, generator] of generators) {
  t0 = performance.now();
  const result = await evaluateBrierLM(generator, blocks, { seed, batchSize: 256 });
  rows.push([name, result, (performance.now() - t0) / 1000]);
}

const f = (x: number, se: number, d = 4): string => `${x.toFixed(d)} ± ${se.toFixed(d)}`;
console.log(
  'estimator                              positions  Brier-1            Brier-2            Brier-3            Brier-4            BrierLM (x100)    time',
);
for (const [name, r, s] of rows) {
  const cols = r.brier.map((b, n) => f(b, r.brierStderr[n]!).padEnd(19)).join('');
  console.log(
    `${name.padEnd(39)}${String(r.numPositions).padEnd(11)}${cols}${f(r.brierLM, r.brierLMStderr, 2).padEnd(18)}${s.toFixed(1)} s`,
  );
}
for (const w of new Set(rows.flatMap(([, r]) => r.warnings))) console.log(`note: ${w}`);
console.log(
  '\nThe explicit and token estimators score the same positions and estimate the same quantity; the chunk estimator scores n-grams starting at chunk boundaries only.',
);
