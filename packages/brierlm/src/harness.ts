// Serialising results: the lm-evaluation-harness results layout (`results` with "metric,filter"
// keys and `*_stderr`, `configs`, `versions`, `config`, `date`), per-position samples as JSON
// lines, and a short human-readable summary.

import type { BrierLMResult, PositionRecord } from './types.js';

/**
 * Run metadata written into the harness JSON.
 * @see {@link toHarnessResults}
 * @category Results
 */
export interface HarnessMetadata {
  /** Task name; default `"wikitext103_brierlm"`. */
  task?: string;
  /** Model description (module path, endpoint, name). */
  model?: string;
  /** Model arguments as one string, like lm-eval's `model_args`. */
  modelArgs?: string;
  /** Dataset path or name. */
  dataset?: string;
  /** Tokens per eval block. */
  blockSize?: number;
  /** Blocks available before `limit` (lm-eval's `n-samples.original`). */
  totalBlocks?: number;
  /** The `--limit` used, or `null`. */
  limit?: number | null;
  /** Contexts per sampler call. */
  batchSize?: number;
  /** Version of @calm/brierlm that produced the result. */
  version?: string;
  /** Wall-clock seconds of the evaluation. */
  evaluationSeconds?: number;
  /** The time of the run; default now. */
  date?: Date;
  /** Further `config` fields. */
  extra?: Record<string, unknown>;
}

/**
 * The lm-evaluation-harness results layout.
 * @see {@link toHarnessResults}
 * @category Results
 */
export interface HarnessResults {
  /** Per task: `"brier1,none"` … `"brierlm,none"` and the matching `"…_stderr,none"` keys. */
  results: Record<string, Record<string, string | number | null>>;
  /** Per task configuration. */
  configs: Record<string, Record<string, unknown>>;
  /** Per task version. */
  versions: Record<string, number>;
  /** Per task: 0 (no few-shot). */
  'n-shot': Record<string, number>;
  /** Per task and metric: whether higher is better. */
  higher_is_better: Record<string, Record<string, boolean>>;
  /** Per task: blocks before and after `limit`, and scored positions. */
  'n-samples': Record<string, { original: number; effective: number; positions: number }>;
  /** Run configuration (model, seeds, estimator, `samples_per_position`, standard-error method). */
  config: Record<string, unknown>;
  /** Unix time in seconds. */
  date: number;
  /** Warnings from the evaluation. */
  warnings: string[];
  /** Wall-clock seconds, as a string (lm-eval's convention). */
  total_evaluation_time_seconds?: string;
}

const TASK_VERSION = 1;

/** JSON has no NaN: undefined values become null. */
function num(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/**
 * Lays a result out as lm-evaluation-harness does (`results`, `*_stderr`, `configs`,
 * `versions`, `config`, `date`), so existing tooling can read it.
 * @remarks
 * The samples per position n are stated as `config.samples_per_position` and in the task's
 * `configs[task].metadata.samples_per_position`: results with different n estimate the same
 * Brier-n but with different standard errors.
 * @param result - The evaluation result.
 * @param meta - Run metadata.
 * @returns A JSON-serialisable object; `brierlm` is ×100, `brier1..4` are not.
 * @example
 * {@includeCode ../test/examples.test.ts#harness}
 * @category Results
 */
export function toHarnessResults(result: BrierLMResult, meta: HarnessMetadata = {}): HarnessResults {
  const task = meta.task ?? 'wikitext103_brierlm';
  const metrics: Record<string, string | number | null> = { alias: task };
  for (let n = 0; n < 4; n++) {
    metrics[`brier${n + 1},none`] = num(result.brier[n]!);
    metrics[`brier${n + 1}_stderr,none`] = num(result.brierStderr[n]!);
  }
  metrics['brierlm,none'] = num(result.brierLM);
  metrics['brierlm_stderr,none'] = num(result.brierLMStderr);
  metrics['brierlm_ci_lower,none'] = num(result.brierLMCI[0]);
  metrics['brierlm_ci_upper,none'] = num(result.brierLMCI[1]);
  const date = meta.date ?? new Date();
  const out: HarnessResults = {
    results: { [task]: metrics },
    configs: {
      [task]: {
        task,
        dataset_path: meta.dataset ?? null,
        output_type: 'brier_sampling',
        metric_list: [
          ...[1, 2, 3, 4].map((n) => ({
            metric: `brier${n}`,
            aggregation: 'mean over all positions',
            higher_is_better: true,
          })),
          {
            metric: 'brierlm',
            aggregation: '100 * (brier1*brier2*brier3*brier4)^(1/4), 0 if any brier_n <= 0',
            higher_is_better: true,
          },
        ],
        metadata: {
          version: TASK_VERSION,
          estimator: result.estimator,
          chunk_size: result.chunkSize,
          samples_per_position: result.samplesPerPosition,
          block_size: meta.blockSize ?? null,
          brierlm_scale: result.scale,
          brierlm_note: 'brierlm is multiplied by 100 (paper convention); brier1..brier4 are not.',
        },
      },
    },
    versions: { [task]: TASK_VERSION },
    'n-shot': { [task]: 0 },
    higher_is_better: { [task]: { brier1: true, brier2: true, brier3: true, brier4: true, brierlm: true } },
    'n-samples': {
      [task]: {
        original: meta.totalBlocks ?? result.numBlocks,
        effective: result.numBlocks,
        positions: result.numPositions,
      },
    },
    config: {
      model: meta.model ?? null,
      model_args: meta.modelArgs ?? null,
      batch_size: meta.batchSize ?? null,
      limit: meta.limit ?? null,
      random_seed: result.seed,
      initial_rng_state: result.initialRngState,
      estimator: result.estimator,
      chunk_size: result.chunkSize,
      samples_per_position: result.samplesPerPosition,
      stderr_method: result.stderrMethod,
      stderr_unit: result.stderrUnit,
      confidence: result.confidence,
      brierlm_scale: result.scale,
      calls: result.calls,
      brierlm_version: meta.version ?? null,
      ...meta.extra,
    },
    date: date.getTime() / 1000,
    warnings: [...result.warnings],
  };
  if (meta.evaluationSeconds !== undefined) out.total_evaluation_time_seconds = String(meta.evaluationSeconds);
  return out;
}

/**
 * Per-position records as JSON lines (one object per line, newline-terminated).
 * @param records - Records from a result evaluated with `keepPositions: true`.
 * @returns The JSONL text.
 * @example
 * {@includeCode ../test/examples.test.ts#harness}
 * @category Results
 */
export function positionsToJsonl(records: readonly PositionRecord[]): string {
  let s = '';
  for (const r of records) s += JSON.stringify(r) + '\n';
  return s;
}

/**
 * A short human-readable summary of a result (several lines, no trailing newline).
 * @param result - The evaluation result.
 * @returns Text stating Brier-1..4 ± standard error, BrierLM (×100) ± standard error and
 *   interval, counts, samples per position, seed and warnings.
 * @example
 * {@includeCode ../test/examples.test.ts#score-ngram}
 * @category Results
 */
export function formatSummary(result: BrierLMResult): string {
  const pct = Math.round(result.confidence * 100);
  const f = (x: number, d = 4): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const lines = [
    `BrierLM (x100): ${f(result.brierLM, 2)} ± ${f(result.brierLMStderr, 2)}  [${pct}% CI ${f(result.brierLMCI[0], 2)}, ${f(result.brierLMCI[1], 2)}]`,
    ...result.brier.map((b, n) => `  Brier-${n + 1}: ${f(b)} ± ${f(result.brierStderr[n]!)}`),
    `  estimator: ${result.estimator}${result.chunkSize === null ? '' : ` (K = ${result.chunkSize})`}; ${result.numPositions} positions in ${result.numBlocks} block(s); ` +
      `${result.samplesPerPosition} samples per position; ` +
      `stderr: ${result.stderrMethod} over ${result.stderrUnit}s; seed: ${result.seed === null ? 'injected rng' : JSON.stringify(result.seed)}`,
  ];
  for (const w of result.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
