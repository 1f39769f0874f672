// The quickstart's report (`report.md`), rendered from its result and the settings it ran with
// (`QUICKSTART_SETTINGS`), so that no number or hyper-parameter is written twice. It says in
// plain words what CALM learned, with the like-for-like numbers behind the sentence.

import type { LikeForLikeScore, QuickstartBrier, QuickstartResult, QuickstartStage } from './quickstart.js';

const pct = (x: number, d = 2) => (Number.isFinite(x) ? (100 * x).toFixed(d) : 'n/a');
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const sci = (x: number) => x.toExponential(2);
const kilo = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`);

function stageCells(s: QuickstartStage): string {
  return `${(s.params / 1e6).toFixed(2)}M | ${kilo(s.tokens)} | ${fmt(s.tokensPerSecond, 0)} | ${sci(s.flops)}`;
}

function likeRow(name: string, s: LikeForLikeScore): string {
  return `| ${name} | ${s.brier.map((b, i) => `${pct(b)} ± ${pct(s.brierStderr[i]!)}`).join(' | ')} |`;
}

function paperRow(name: string, b: QuickstartBrier, estimator: string): string {
  return `| ${name} | ${estimator} | **${fmt(b.brierLM)}** ± ${fmt(b.brierLMStderr)} | ${b.brier.map((x) => pct(x)).join(' / ')} | ${b.positions} |`;
}

/** What CALM learned, in plain words, with the numbers behind it. */
function verdict(r: QuickstartResult): string {
  const l = r.likeForLike;
  const e = r.energyBounds;
  const ev = r.calmContextEvidence;
  const sigmas = ev.differenceStderr > 0 ? ev.brier1Difference / ev.differenceStderr : Number.NaN;
  const brier = `CALM's Brier-1 at chunk boundaries is ${pct(l.calm.brier[0]!)} ± ${pct(l.calm.brierStderr[0]!)} (×100), against ${pct(l.unigram.brier[0]!)} for a unigram model that ignores all context: a difference of ${pct(ev.brier1Difference)} ± ${pct(ev.differenceStderr)}, ${fmt(sigmas, 1)} standard errors`;
  const energy = `its held-out energy loss is ${fmt(e.final, 3)}, ${ev.energyMargin > 0 ? 'below' : 'not below'} the ${fmt(e.unconditional, 3)} of a generator that samples chunk latents without looking at the context (the oracle that samples the true posterior reaches ${fmt(e.oracle, 3)})`;
  const ar = `The AR baseline, scored the same way, reaches Brier-1 ${pct(l.ar.brier[0]!)} ± ${pct(l.ar.brierStderr[0]!)} against the bigram's ${pct(l.bigram.brier[0]!)} ± ${pct(l.bigram.brierStderr[0]!)}.`;
  if (r.calmLearnedContext)
    return `**CALM learned to use its context.** ${brier}; and ${energy}. It is still far from the oracle: at this scale CALM learns slowly (see "What to expect" below). ${ar}`;
  return `**CALM did not learn to use its context measurably in this budget.** ${brier} (the bar is 3); and ${energy}. Give it a larger budget (\`--budget-minutes\`) or more cores: see "What to expect" below. ${ar}`;
}

/**
 * Renders `report.md` of a quickstart run.
 * @param r - The run's result (its `settings` are the ones it ran with).
 * @returns The Markdown text.
 */
export function reportMarkdown(r: QuickstartResult): string {
  const S = r.settings;
  const l = r.likeForLike;
  const minutes = (r.elapsedMs / 60_000).toFixed(1);
  const backbone = `hidden ${S.calm.model.hiddenSize}, ${S.calm.model.numHiddenLayers} layers, ${S.calm.model.numAttentionHeads} heads, intermediate ${S.calm.model.intermediateSize}`;
  return `# CALM quickstart report

The whole CALM recipe at toy scale on the State of the Union corpus (offline, CPU), in ${minutes} minutes
(budget ${r.budgetMinutes}; seed ${r.seed}; ${r.backend}; every stage trained data-parallel on ${r.workers} worker thread(s)).

## What CALM learned

${verdict(r)}

## Like for like: one estimator, the same positions

Every model draws ${l.samplesPerPosition} samples of the next ${S.calm.model.patchSize} tokens at each of the same ${l.positions} chunk-boundary
positions of ${r.data.evalBlocks} held-out blocks of ${r.data.blockSize} tokens, scored with the unbiased ${l.samplesPerPosition}-sample Brier estimator
(×100, ± one standard error). The AR baseline and the n-gram models sample token by token from their exact probabilities.

| model | Brier-1 | Brier-2 | Brier-3 | Brier-4 |
|---|---|---|---|---|
${likeRow(`CALM (K = ${S.calm.model.patchSize})`, l.calm)}
${likeRow('AR baseline', l.ar)}
${likeRow('unigram', l.unigram)}
${likeRow('bigram', l.bigram)}

## The paper's estimators

BrierLM as the paper computes it, on the first ${Math.min(S.evaluation.paperBlocks, r.data.evalBlocks)} held-out blocks: CALM with two samples per chunk position, the AR
baseline and the n-gram reference with exact probabilities at every token position. With two samples, a weak model's
Brier-3 and Brier-4 are rarely anything but 0, so its BrierLM says little; the table above is the comparison to read.

| model | estimator | BrierLM | Brier-1..4 (×100) | positions |
|---|---|---|---|---|
${paperRow(`CALM (K = ${S.calm.model.patchSize})`, r.calm.brier, 'chunk, 2 samples')}
${paperRow('AR baseline', r.ar.brier, 'explicit')}
${paperRow(`${r.ngram.order}-gram reference`, r.ngram.brier, 'explicit')}

## Training

| stage | parameters | training tokens | tokens/s | training FLOPs |
|---|---|---|---|---|
| autoencoder | ${stageCells(r.autoencoder)} |
| CALM | ${stageCells(r.calm)} |
| AR baseline | ${stageCells(r.ar)} |

Inference FLOPs per token: CALM ${sci(r.calm.inferenceFlopsPerToken)}, AR baseline ${sci(r.ar.inferenceFlopsPerToken)}.

## CALM's energy loss between its bounds

On the held-out blocks (${r.energyBounds.positions} positions, ${S.calm.model.numSamples} samples against ${S.calm.model.numTargetSamples} posterior targets each):
oracle (samples of the target posterior) **${fmt(r.energyBounds.oracle, 3)}**, CALM **${fmt(r.energyBounds.final, 3)}**,
unconditional generator (posteriors of random other positions) **${fmt(r.energyBounds.unconditional, 3)}**. The training-curve plot
draws both bounds.

## Autoencoder (stage 1)

Token reconstruction **${pct(r.autoencoder.tokenAccuracy)} %** (whole chunks ${pct(r.autoencoder.chunkAccuracy)} %) on the held-out blocks with a
sampled latent. Robustness, decoding μ + s·σ⊙ε:

| s (× posterior σ) | ${r.autoencoder.robustness.map((p) => p.scale).join(' | ')} |
|---|${r.autoencoder.robustness.map(() => '---').join('|')}|
| token accuracy (%) | ${r.autoencoder.robustness.map((p) => pct(p.tokenAccuracy)).join(' | ')} |
| chunk accuracy (%) | ${r.autoencoder.robustness.map((p) => pct(p.chunkAccuracy)).join(' | ')} |

## Sample (CALM, T = ${r.sample.temperature}, batch approximation with ${S.sample.poolSize} draws)

> **${r.sample.prompt}**${r.sample.text.replace(/\n/g, ' ')}

## Plots

![training curves](plots/training-curves.png)

![Brier-1 vs training FLOPs](plots/brier1-vs-flops.png)

## Setup

- Tokenizer: byte-level BPE with ${r.data.vocabSize} ids trained on the training addresses (${r.data.trainTokens} tokens; held-out: ${r.data.heldOutTokens}).
- Autoencoder: hidden ${S.autoencoder.model.hiddenSize}, intermediate ${S.autoencoder.model.intermediateSize}, latent ${S.autoencoder.model.latentSize}, K = ${S.autoencoder.model.patchSize}; the official loss (token masking, latent dropout, clamped KL) with dropout ${S.autoencoder.model.aeDropout}, KL weight ${S.autoencoder.model.klWeight} and initial log σ ${S.autoencoder.initialLogStd}; lr ${S.autoencoder.lr}, ${S.autoencoder.batchSize} blocks per step.
- CALM: Llama backbone (${backbone}), energy head with ${S.calm.model.numMlpLayers} blocks and noise ${S.calm.model.noiseSize}, N = ${S.calm.model.numSamples} samples and M = ${S.calm.model.numTargetSamples} posterior targets (official: 8 and 100), autoencoder frozen; lr ${S.calm.lr}, ${S.calm.batchSize} blocks per step.
- AR baseline: the same backbone over tokens with an untied output layer; lr ${S.ar.lr}, ${S.ar.batchSize} blocks per step.
- AdamW (β ${S.optimizer.beta1}/${S.optimizer.beta2}, weight decay ${S.optimizer.weightDecay} not on norms and biases), ${S.optimizer.warmupSteps} warm-up steps, clipping at ${S.optimizer.maxGradNorm}, a cosine decay to ${S.optimizer.lrFloor}·lr over each stage's time; blocks of ${S.blockSize} tokens. Time shares of the budget: autoencoder ${S.shares.autoencoder}, CALM ${S.shares.calm}, AR baseline ${S.shares.ar}.
- Files: ${r.files.join(', ')}.

## What to expect at this scale

Small CALMs learn slowly: the paper's models train for 250,000 steps of 2M tokens. Here CALM sees what its share of
the budget allows (the Training table above); its Brier-1 climbs above the unigram level first, while Brier-3 and
Brier-4 stay near 0 for a long time. The AR baseline learns faster per token at this size. Tokens per second decide
what you see: longer budgets and more cores help directly. \`bench/BASELINES.md\` ("Quickstart scaling") records
measured runs at longer budgets; the CLI guide (\`docs/guides/cli.md\`) says what to look for.
`;
}
