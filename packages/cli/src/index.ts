/**
 * `@calm/cli`: the `calm` command line and what only it needs — the quickstart (two-stage CALM
 * training with an AR baseline on the embedded corpus, BrierLM, a sample, plots and a report),
 * and Vega-Lite plots of training runs; its progress bars are `createProgressBar` of
 * `@calm/core/node`. The library packages (`@calm/model`, `@calm/trainer` and below) depend on
 * none of the plotting or CLI libraries used here.
 *
 * Quick start:
 * ```sh
 * npx calm quickstart --out calm-quickstart   # offline, a 13-minute budget by default (--budget-minutes)
 * npx calm plot calm-quickstart/calm --out plots   # training-curves and brierlm-vs-flops, SVG and PNG
 * ```
 *
 * @packageDocumentation
 */
export { renderVegaLite, writePlot, trainingCurvesSpec, brierVsFlopsSpec, type VegaLiteSpec } from './plots.js';
export {
  runQuickstart,
  QUICKSTART_SETTINGS,
  type QuickstartSettings,
  type QuickstartOptions,
  type QuickstartEvent,
  type QuickstartResult,
  type QuickstartBrier,
  type QuickstartStage,
  type LikeForLikeScore,
} from './quickstart.js';
