#!/usr/bin/env node
// The `calm` command line: quickstart, the two training stages and the AR baseline from JSON
// configs, BrierLM evaluation, generation, checkpoint conversion and plots. Progress bars go to
// stderr; every command ends with a one-line summary on stderr and a JSON result on stdout.

import { join } from 'node:path';
import { Command, Option } from 'commander';
import { createRng, isCalmError } from '@calm/core';
import { createProgressBar, readJsonFile, type ProgressBar } from '@calm/core/node';
import { loadTokenizer, loadSotuCorpus, readJsonlTexts } from '@calm/data-pile/node';
import { packEvalBlocks } from '@calm/data-pile';
import { initBackend } from '@calm/nn';
import { convertCheckpoint, detectCheckpointKind, loadAr, loadCalm } from '@calm/model/node';
import {
  calmEnergyBounds,
  evaluateAr,
  evaluateCalm,
  generateAr,
  generateCalm,
  type GenerateResult,
  brierSummary,
} from '@calm/model';
import { fail } from './internal/errors.js';
import { brierVsFlopsSpec, trainingCurvesSpec, writePlot } from './plots.js';
import { runQuickstart } from './quickstart.js';
import { resolveRunConfig, type RunConfig, trainFromConfig, readMetrics } from '@calm/trainer';

const err = (line: string) => void process.stderr.write(`${line}\n`);

function done(summaryLine: string, result: unknown): void {
  err(summaryLine);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

async function trainCommand(
  stage: RunConfig['stage'],
  opts: {
    config?: string;
    out?: string;
    steps?: string;
    maxMinutes?: string;
    tokenizer?: string;
    autoencoder?: string;
  },
): Promise<void> {
  const raw = (
    opts.config
      ? await readJsonFile(opts.config, 'the run config must be one JSON object; fix its syntax or the path', {
          notJsonCode: 'INVALID_CONFIG',
        })
      : {}
  ) as Record<string, unknown>;
  const overrides: Record<string, unknown> = { ...raw };
  if (opts.out) overrides.outDir = opts.out;
  if (opts.tokenizer) overrides.tokenizer = opts.tokenizer;
  if (opts.autoencoder) overrides.autoencoder = opts.autoencoder;
  const train = { ...((raw.train as object) ?? {}) } as Record<string, unknown>;
  if (opts.steps !== undefined) train.steps = Number(opts.steps);
  if (opts.maxMinutes !== undefined) train.maxMinutes = Number(opts.maxMinutes);
  if (Object.keys(train).length) overrides.train = train;
  const config = resolveRunConfig(overrides, { stage, source: opts.config ?? 'command-line options' });
  let bar: ProgressBar | undefined;
  const result = await trainFromConfig(config, {
    onInfo: (line) => (bar ? bar.log(line) : err(line)),
    onLog: (r) => {
      if (r.type === 'eval') (bar ? bar.log.bind(bar) : err)(`step ${r.step} eval: ${JSON.stringify(r.metrics)}`);
    },
    onProgress: (p) => {
      bar ??= createProgressBar({
        label: stage === 'ae' ? 'autoencoder' : stage === 'calm' ? 'CALM' : 'AR',
        total: p.steps,
        unit: 'tok/s',
      });
      bar.update(p.step, { rate: p.tokensPerSecond, note: `lr ${p.lr.toExponential(1)}` });
    },
  });
  bar?.stop();
  done(
    `${stage}: ${result.steps} steps, ${result.tokens} tokens, ${result.flops.toExponential(2)} FLOPs, last loss ${result.lastLoss.toFixed(4)} (${result.stoppedBy}) -> ${result.finalDir}`,
    result,
  );
}

async function evalBlocksFor(
  opts: { tokenizer: string; data: string; file?: string; blocks: string; blockSize: string },
  k: number,
) {
  const tokenizer = await loadTokenizer(opts.tokenizer);
  let texts: string[];
  if (opts.data === 'sotu') texts = loadSotuCorpus({ split: 'test' }).texts;
  else if (opts.data === 'jsonl' || opts.data === 'wikitext') {
    if (!opts.file) fail('INVALID_ARGUMENT', `--data ${opts.data} needs --file <path>.`);
    texts = await readJsonlTexts(opts.file);
  } else return fail('INVALID_ARGUMENT', `--data must be sotu, jsonl or wikitext, got ${opts.data}.`);
  const blockSize = Number(opts.blockSize);
  if (!Number.isInteger(blockSize) || blockSize % k !== 0)
    fail('INVALID_ARGUMENT', `--block-size must be a multiple of K = ${k}, got ${opts.blockSize}.`);
  const { blocks } = await packEvalBlocks(texts, tokenizer, { blockSize });
  return { tokenizer, blocks: blocks.slice(0, Number(opts.blocks)) };
}

async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('calm')
    .description('CALM (Continuous Autoregressive Language Models) on TensorFlow.js: train, evaluate, generate.')
    .showHelpAfterError();

  program
    .command('quickstart')
    .description(
      'Train a BPE tokenizer, an autoencoder, CALM and an AR baseline on the embedded SOTU corpus; report BrierLM, a sample and plots.',
    )
    .option('--out <dir>', 'output folder', 'calm-quickstart')
    .option('--budget-minutes <n>', 'wall-clock budget in minutes', '13')
    .option('--seed <n>', 'seed of every random draw', '1')
    .option('--ngram-order <n>', 'order of the n-gram reference of the paper-estimator table', '2')
    .option('--workers <n>', 'data-parallel worker threads per stage (default: the available cores)')
    .action(async (o: { out: string; budgetMinutes: string; seed: string; ngramOrder: string; workers?: string }) => {
      let bar: ProgressBar | undefined;
      const r = await runQuickstart({
        outDir: o.out,
        budgetMinutes: Number(o.budgetMinutes),
        seed: Number(o.seed),
        ngramOrder: Number(o.ngramOrder),
        ...(o.workers !== undefined ? { workers: Number(o.workers) } : {}),
        onEvent: (e) => {
          if (e.type === 'phase') bar = createProgressBar({ label: e.phase, total: e.total, unit: e.unit });
          else if (e.type === 'progress')
            bar?.update(e.value, {
              ...(e.rate !== undefined ? { rate: e.rate } : {}),
              ...(e.note ? { note: e.note } : {}),
              ...(e.total !== undefined ? { total: e.total } : {}),
            });
          else if (e.type === 'phaseEnd') {
            bar?.stop();
            bar = undefined;
          } else bar ? bar.log(e.message) : err(e.message);
        },
      });
      done(
        `quickstart: ${(r.elapsedMs / 60000).toFixed(1)} min on ${r.workers} worker(s); AE reconstruction ${(100 * r.autoencoder.tokenAccuracy).toFixed(2)} %; like-for-like Brier-1 (×100) CALM ${(100 * r.likeForLike.calm.brier[0]!).toFixed(2)}, AR ${(100 * r.likeForLike.ar.brier[0]!).toFixed(2)}, unigram ${(100 * r.likeForLike.unigram.brier[0]!).toFixed(2)}, bigram ${(100 * r.likeForLike.bigram.brier[0]!).toFixed(2)}; CALM learned context: ${r.calmLearnedContext}; report: ${join(r.outDir, 'report.md')}`,
        r,
      );
    });

  for (const [name, stage, what] of [
    ['train-ae', 'ae', 'stage 1: train the autoencoder'],
    ['train', 'calm', 'stage 2: train CALM with a frozen autoencoder'],
    ['train-ar', 'ar', 'train the AR baseline'],
  ] as const) {
    const cmd = program
      .command(name)
      .description(
        `${what} from a JSON run config (defaults filled in, every problem reported at once); resumes from the run folder's last checkpoint`,
      )
      .option('--config <file>', 'run config (JSON)')
      .option('--out <dir>', 'run folder (overrides outDir)')
      .option('--tokenizer <path>', 'tokenizer.json / tokenizer.model (overrides tokenizer)')
      .option('--steps <n>', 'optimiser steps (overrides train.steps)')
      .option('--max-minutes <n>', 'stop after this many minutes (overrides train.maxMinutes)');
    if (stage === 'calm') cmd.option('--autoencoder <dir>', 'trained autoencoder folder (overrides autoencoder)');
    cmd.action((o: Record<string, string>) => trainCommand(stage, o));
  }

  program
    .command('eval')
    .description('BrierLM of a CALM (energy, flow or diffusion head) or AR checkpoint on held-out text')
    .requiredOption('--model <dir>', 'checkpoint folder (CALM or LlamaForCausalLM)')
    .requiredOption('--tokenizer <path>', 'tokenizer of the checkpoint')
    .option('--ae <dir>', 'autoencoder folder for CALM checkpoints without ae_model.* weights')
    .addOption(new Option('--data <name>', 'held-out text').choices(['sotu', 'jsonl', 'wikitext']).default('sotu'))
    .option('--file <path>', 'JSON-lines file for --data jsonl/wikitext')
    .option('--blocks <n>', 'blocks to evaluate', '32')
    .option('--block-size <n>', 'tokens per block', '256')
    .option('--seed <n>', 'seed', '0')
    .option('--samples-per-position <n>', 'samples per scored position (2 = the paper; more for weak models)', '2')
    .option('--no-bounds', 'CALM: skip the held-out energy loss and its oracle and unconditional bounds')
    .action(
      async (o: {
        model: string;
        tokenizer: string;
        ae?: string;
        data: string;
        file?: string;
        blocks: string;
        blockSize: string;
        seed: string;
        samplesPerPosition: string;
        bounds: boolean;
      }) => {
        const samplesPerPosition = Number(o.samplesPerPosition);
        err(`backend: ${(await initBackend()).detail}`);
        const kind = await detectCheckpointKind(o.model);
        if (kind !== 'calm' && kind !== 'ar')
          fail('INVALID_ARGUMENT', `--model ${o.model} is not a CALM or AR checkpoint (config.json architectures).`);
        const model =
          kind === 'calm'
            ? (await loadCalm(o.model, o.ae ? { aePath: o.ae } : {})).model
            : (await loadAr(o.model)).model;
        const { blocks } = await evalBlocksFor(o, kind === 'calm' ? (model as { chunkSize: number }).chunkSize : 1);
        const bar = createProgressBar({ label: 'BrierLM', total: blocks.length });
        const onProgress = (p: { blocksDone: number; calls: number }) =>
          bar.update(p.blocksDone, { note: `${p.calls} calls` });
        const r =
          kind === 'calm'
            ? await evaluateCalm(model as Awaited<ReturnType<typeof loadCalm>>['model'], blocks, {
                seed: o.seed,
                samplesPerPosition,
                onProgress,
              })
            : await evaluateAr(model as Awaited<ReturnType<typeof loadAr>>['model'], blocks, {
                seed: o.seed,
                samplesPerPosition,
                onProgress,
              });
        bar.stop();
        const head = kind === 'calm' ? (model as { head: { kind: string } }).head.kind : null;
        // CALM: the held-out energy loss between the oracle and the unconditional generator.
        const energy =
          kind === 'calm' && o.bounds
            ? await calmEnergyBounds(model as Awaited<ReturnType<typeof loadCalm>>['model'], blocks, { seed: o.seed })
            : null;
        const bounds = energy
          ? `; energy loss ${energy.model.toFixed(3)} (oracle ${energy.oracle.toFixed(3)}, unconditional ${energy.unconditional.toFixed(3)})`
          : '';
        done(
          `BrierLM ${r.brierLM.toFixed(3)} ± ${r.brierLMStderr.toFixed(3)} (${kind}${head ? `, ${head} head` : ''}, ${r.numPositions} positions in ${r.numBlocks} blocks, ${r.samplesPerPosition} samples per position)${bounds}`,
          { kind, head, ...brierSummary(r), energy, result: r },
        );
      },
    );

  program
    .command('generate')
    .description('Generate a continuation with a CALM (energy, flow or diffusion head) or AR checkpoint')
    .requiredOption('--model <dir>', 'checkpoint folder')
    .requiredOption('--tokenizer <path>', 'tokenizer of the checkpoint')
    .requiredOption('--prompt <text>', 'prompt text (BOS is prepended)')
    .option('--ae <dir>', 'autoencoder folder for CALM checkpoints without ae_model.* weights')
    .option('--max-new-tokens <n>', 'tokens to generate', '64')
    .option('--temperature <t>', 'temperature (CALM: 1/n for the batch method)', '0.5')
    .addOption(new Option('--method <m>', 'CALM temperature sampler').choices(['batch', 'exact']).default('batch'))
    .option('--pool <n>', 'pool size of the batch approximation', '200')
    .option('--seed <n>', 'seed', '0')
    .action(
      async (o: {
        model: string;
        tokenizer: string;
        prompt: string;
        ae?: string;
        maxNewTokens: string;
        temperature: string;
        method: 'batch' | 'exact';
        pool: string;
        seed: string;
      }) => {
        err(`backend: ${(await initBackend()).detail}`);
        const tokenizer = await loadTokenizer(o.tokenizer);
        const prompt = Int32Array.from([tokenizer.bos, ...(await tokenizer.encode(o.prompt))]);
        const kind = await detectCheckpointKind(o.model);
        const rng = createRng(Number(o.seed));
        const maxNewTokens = Number(o.maxNewTokens);
        const temperature = Number(o.temperature);
        const bar = createProgressBar({ label: 'generate', total: maxNewTokens, unit: 'steps/s' });
        const t0 = performance.now();
        let tokensPerStep = 1; // K for CALM
        let head: string | null = null;
        const onStep = (s: number) => bar.update(s * tokensPerStep, { rate: s / ((performance.now() - t0) / 1000) });
        let r: GenerateResult;
        if (kind === 'calm') {
          const { model } = await loadCalm(o.model, o.ae ? { aePath: o.ae } : {});
          tokensPerStep = model.chunkSize;
          head = model.head.kind;
          r = await generateCalm(model, [prompt], {
            rng,
            maxNewTokens,
            temperature,
            temperatureMethod: o.method,
            poolSize: Number(o.pool),
            onStep,
          });
        } else if (kind === 'ar') {
          const { model } = await loadAr(o.model);
          r = await generateAr(model, [prompt], { rng, maxNewTokens, temperature, onStep });
        } else return fail('INVALID_ARGUMENT', `--model ${o.model} is not a CALM or AR checkpoint.`);
        bar.stop();
        const text = await tokenizer.decode(r.generated[0]!.filter((t) => t !== tokenizer.eos));
        const secs = (performance.now() - t0) / 1000;
        done(`${o.prompt}${text}`, {
          kind,
          head,
          prompt: o.prompt,
          text,
          tokens: Array.from(r.generated[0]!),
          tokensPerSecond: r.generated[0]!.length / secs,
          temperatureStats: r.temperatureStats ?? null,
        });
      },
    );

  program
    .command('convert')
    .description('Convert an official checkpoint (pytorch_model.bin) to config.json + model.safetensors')
    .argument('<src>', 'checkpoint folder or weights file')
    .argument('<out>', 'destination folder')
    .option('--ae <dir>', 'autoencoder folder (CALM checkpoints without ae_model.*)')
    .addOption(new Option('--dtype <d>', 'stored dtype').choices(['keep', 'F32', 'F16', 'BF16']).default('keep'))
    .action(async (src: string, out: string, o: { ae?: string; dtype: 'keep' | 'F32' | 'F16' | 'BF16' }) => {
      const r = await convertCheckpoint(src, out, { dtype: o.dtype, ...(o.ae ? { aePath: o.ae } : {}) });
      done(`converted ${r.kind} ${r.source} -> ${r.files.weightsFile} (${r.tensorCount} tensors, ${r.storedDtype})`, r);
    });

  program
    .command('plot')
    .description('Plot training curves and BrierLM vs training FLOPs of run folders (SVG and PNG)')
    .argument('<runs...>', 'run folders (each with metrics.jsonl)')
    .option('--out <dir>', 'output folder', 'plots')
    .action(async (runs: string[], o: { out: string }) => {
      const byName: Record<string, Awaited<ReturnType<typeof readMetrics>>> = {};
      for (const r of runs) byName[r] = await readMetrics(r);
      const a = await writePlot(join(o.out, 'training-curves'), trainingCurvesSpec(byName));
      const b = await writePlot(join(o.out, 'brierlm-vs-flops'), brierVsFlopsSpec(byName));
      done(`plots written to ${o.out}`, { files: [a.svg, a.png, b.svg, b.png] });
    });

  await program.parseAsync(argv);
}

main(process.argv).then(
  () => process.exit(0),
  (e: unknown) => {
    if (isCalmError(e)) {
      err(`error [${e.code}]: ${e.message}`);
      process.stdout.write(
        `${JSON.stringify({ error: { code: e.code, message: e.message, details: e.details ?? null } }, null, 2)}\n`,
      );
      process.exit(e.code === 'INVALID_CONFIG' || e.code === 'INVALID_ARGUMENT' ? 2 : 1);
    }
    err(`error: ${(e as Error)?.stack ?? String(e)}`);
    process.exit(1);
  },
);
