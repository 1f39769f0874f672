// Example 6 (notebook and script): load checkpoints in the official format — `config.json` plus
// `pytorch_model.bin` as the released CALM-M and CALM-Autoencoder ship — inspect, convert to
// safetensors, and use them: reconstruction, generation, BrierLM. Runs on a tiny checkpoint in the
// official format by default; point CALM_CHECKPOINTS at downloaded copies for the real models.

// %% [markdown]
// # 6 · Load the official checkpoints
//
// The paper's models are published on Hugging Face as `cccczshao/CALM-M` (and -L, -XL) and
// `cccczshao/CALM-Autoencoder`: a `config.json` with the official field names and a PyTorch
// `pytorch_model.bin` (or `model.safetensors`). `@calm/model` and `@calm/autoencoder` read them
// as they are:
//
// - parameter names are the official `state_dict` keys, so loading is a key-by-key copy, with
//   every missing, unexpected or mis-shaped key reported at once;
// - `.bin` files are read by an allow-listed unpickler that accepts tensors and state-dict
//   containers and nothing else — unlike `torch.load`, it never runs code from the file;
// - bf16 and fp16 weights are widened to float32; tied aliases (`decoder.lm_head_weight`,
//   `generative_head.*`) are checked equal to the tensors they alias and dropped.
//
// **Which checkpoint.** No network here, so by default this notebook uses a *tiny* checkpoint in
// exactly the official layout and format (the `tiny-official` fixture of `@calm/model`'s tests,
// written by the PyTorch reference in `tools/reference`, random weights, vocabulary of 80). For
// the real models, download both repositories and set `CALM_CHECKPOINTS` to the folder holding
// `CALM-M/` and `CALM-Autoencoder/`; the Llama 3 tokenizer is read from `../shared/data` (or
// `CALM_DATA_DIR`). Everything below then runs on the real weights (slowly, on a CPU).
//
// Run it: `scripts/notebooks.sh 06`, or
// `pnpm exec tsx --conditions=@calm/source examples/notebooks/06-official-checkpoints.ts`.

// %%
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng } from '@calm/core';
import { countParams, initBackend } from '@calm/nn';
import { evaluateReconstruction } from '@calm/autoencoder';
import { loadAutoencoder } from '@calm/autoencoder/node';
import { loadTokenizer, loadWikiTextEval } from '@calm/data-pile/node';
import { calmChunkSampler, evaluateCalm, generateCalm } from '@calm/model';
import { convertCheckpoint, detectCheckpointKind, loadCalm, readCalmCheckpoint } from '@calm/model/node';
import { outPath, repoRoot, sharedDataPath, shortPath, showTable } from './lib/notebook.js';

const FULL = process.env['CALM_FULL'] === '1';
const realDir = process.env['CALM_CHECKPOINTS'];
const checkpoints = realDir ?? join(repoRoot(), 'packages', 'model', 'test', 'fixtures', 'tiny-official');
const calmDir = join(checkpoints, 'CALM-M');
const aeDir = join(checkpoints, 'CALM-Autoencoder');
console.log(`${realDir ? 'real checkpoints' : 'tiny official-format checkpoint'}: ${shortPath(checkpoints)}`);
console.log((await initBackend()).detail);

// %% [markdown]
// ## What is in the folder
//
// `detectCheckpointKind` reads `architectures` from `config.json` (`EnergyTransformer` for CALM,
// `Autoencoder`, `LlamaForCausalLM` for the AR baseline). The CALM config carries the backbone,
// head and chunking fields, and an `ae_path` pointing at the *authors'* server — which is why
// loaders take an `aePath` option.

// %%
const calmJson = JSON.parse(readFileSync(join(calmDir, 'config.json'), 'utf8')) as Record<string, unknown>;
showTable(
  [
    'architectures',
    'hidden_size',
    'num_hidden_layers',
    'num_attention_heads',
    'patch_size',
    'latent_size',
    'num_mlp_layers',
    'num_samples',
    'noise_size',
    'beta',
    'vocab_size',
    'ae_path',
    'model_type',
  ].map((key) => ({
    'config.json field': key,
    value: JSON.stringify(calmJson[key]),
  })),
  `CALM-M/config.json (${await detectCheckpointKind(calmDir)})`,
);

// %% [markdown]
// ## Read the weights and see what the loader did
//
// `readCalmCheckpoint` returns typed arrays (no tensors yet) and a report: the file format, where
// the autoencoder's weights came from (inside the checkpoint as `ae_model.*`, or from `aePath`),
// the aliases it checked and dropped, and the stored dtypes.

// %%
const read = await readCalmCheckpoint(calmDir, { aePath: aeDir });
showTable(
  [
    { item: 'weights file', value: shortPath(read.report.weightsFile) },
    { item: 'format', value: read.report.format },
    { item: 'autoencoder weights from', value: read.report.aeWeights },
    { item: 'stored dtypes', value: read.report.dtypes.join(', ') },
    {
      item: 'aliases checked and dropped',
      value: `${read.report.aliases.length} (e.g. ${read.report.aliases.slice(0, 2).join(', ')})`,
    },
    { item: 'LM tensors', value: read.lm.size },
    { item: 'autoencoder tensors', value: read.ae.size },
  ],
  'readCalmCheckpoint report',
);

// %% [markdown]
// ## The autoencoder on its own
//
// `loadAutoencoder` builds the parameters as `tf.Variable`s. On text tokenised like its training
// data, the released autoencoder reconstructs more than 99.9 % of tokens (paper §2.2); the tiny
// checkpoint has random weights, so its accuracy is at chance — the point here is the code path.

// %%
const ae = await loadAutoencoder(aeDir);
console.log(
  `autoencoder: ${countParams(ae.params).toLocaleString('en')} parameters, K = ${ae.config.patchSize}, L = ${ae.config.latentSize}, read from ${ae.report.format}`,
);
const tokenizer = realDir ? await loadTokenizer(sharedDataPath('llama3-tokenizer')) : null;
const evalSet = tokenizer
  ? await loadWikiTextEval(sharedDataPath('wikitext-103-document-test.jsonl'), tokenizer, { blockSize: 8192 })
  : { blocks: Array.from({ length: 4 }, (_, b) => Int32Array.from({ length: 256 }, (_, i) => (b * 31 + i * 7) % 77)) };
const stream = evalSet.blocks[0]!.subarray(0, FULL ? 8192 : 1024);
const recon = await evaluateReconstruction(ae.params, ae.config, stream, { latent: 'sample', rng: createRng(0) });
console.log(
  `reconstruction of ${recon.chunks} chunks from a sampled latent: ${(100 * recon.tokenAccuracy).toFixed(2)} % of tokens, ${(100 * recon.chunkAccuracy).toFixed(2)} % of chunks`,
);
for (const v of Object.values(ae.params)) v.dispose();

// %% [markdown]
// ## Convert to safetensors
//
// `convertCheckpoint` (the `calm convert` command) writes `config.json` + `model.safetensors`,
// keeping the stored dtype, and folds the autoencoder in as `ae_model.*`. Loading the converted
// folder gives bit-identical parameters.

// %%
const convertedDir = outPath('06-CALM-M-safetensors');
const converted = await convertCheckpoint(calmDir, convertedDir, { aePath: aeDir });
console.log(
  `converted ${converted.kind}: ${converted.tensorCount} tensors as ${converted.storedDtype} → ${shortPath(converted.files.weightsFile)}`,
);
const fromBin = await loadCalm(calmDir, { aePath: aeDir });
const fromSafetensors = await loadCalm(convertedDir);
let maxDiff = 0;
for (const [name, v] of Object.entries(fromBin.model.params)) {
  const a = v.dataSync();
  const b = fromSafetensors.model.params[name]!.dataSync();
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
}
console.log(
  `${Object.keys(fromBin.model.params).length} LM parameters, ${fromBin.model.numParams().toLocaleString('en')} numbers; largest difference between the two loads: ${maxDiff}`,
);
fromSafetensors.model.dispose();
const model = fromBin.model;

// %% [markdown]
// ## Generate
//
// `generateCalm` follows `CALM.generate`: the prompt (starting with BOS) is padded to a multiple of
// K, the backbone runs with a KV cache, and each step samples one chunk — at T = 1/2 through the
// batch approximation with a pool of 200 head samples, as the official code does.

// %%
const promptText = 'The history of the Roman Empire';
const prompt = tokenizer
  ? Int32Array.from([model.config.bosTokenId!, ...(await tokenizer.encode(promptText))])
  : Int32Array.from([model.config.bosTokenId!, 5, 17, 42, 8, 23]);
const generation = await generateCalm(model, [prompt], {
  rng: createRng(1),
  maxNewTokens: FULL ? 64 : 16,
  temperature: 0.5,
});
console.log(`prompt ids:    ${Array.from(prompt).join(' ')}`);
console.log(`generated ids: ${Array.from(generation.generated[0]!).join(' ')}`);
if (tokenizer) console.log(`text: ${promptText}${await tokenizer.decode(generation.generated[0]!)}`);

// %% [markdown]
// ## BrierLM
//
// `evaluateCalm` is BrierLM's chunk estimator on the model wrapped as a `ChunkSampler`
// (`calmChunkSampler`, with the teacher-forced fast path: one backbone pass per block). With the
// real checkpoints and the official protocol this is the paper's evaluation (WikiText-103, blocks
// of 8192 Llama 3 tokens); one block takes a while on a CPU, so the default scores one block, and
// the full mode more. Random weights score 0.

// %%
const blocks = evalSet.blocks.slice(0, FULL ? 8 : 1);
const brier = await evaluateCalm(model, blocks, { seed: 0 });
showTable([
  {
    blocks: blocks.length,
    positions: brier.numPositions,
    'Brier-1': brier.brier[0].toFixed(4),
    'Brier-4': brier.brier[3].toFixed(4),
    'BrierLM ×100': brier.brierLM.toFixed(2),
  },
]);
const sampler = calmChunkSampler(model, { rng: createRng(2) });
const draws = await sampler.sample([prompt], 3); // the same model as a plain ChunkSampler: [1, 3, K]
console.log(`three independent next chunks after the prompt: ${JSON.stringify(Array.from(draws))}`);
model.dispose();
console.log(`tensors still alive: ${tf.memory().numTensors}`);
