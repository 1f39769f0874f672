// Plots of training runs (Node only): Vega-Lite specifications for training curves and for
// BrierLM against training FLOPs, rendered headlessly to SVG by vega and to PNG by resvg. The
// rendering libraries are loaded on first use.

import { writeFileAtomic } from '@calm/core/node';
import { fail } from './internal/errors.js';
import type { MetricRecord } from '@calm/trainer';

/**
 * A Vega-Lite specification (plain JSON).
 * @see {@link trainingCurvesSpec}
 * @category Plots
 */
export type VegaLiteSpec = Record<string, unknown>;

/**
 * Renders a Vega-Lite specification to SVG text and PNG bytes.
 * @param spec - The specification (data inlined).
 * @param options - `scale` of the PNG relative to the SVG's size. @defaultValue 2
 * @returns The SVG markup and the PNG file contents.
 * @throws `CalmError` `MISSING_DEPENDENCY` when vega, vega-lite or @resvg/resvg-js is not
 *   installed, `INVALID_ARGUMENT` when the specification does not compile.
 * @example
 * {@includeCode ../test/examples.test.ts#plots}
 * @category Plots
 */
export async function renderVegaLite(
  spec: VegaLiteSpec,
  options: { scale?: number } = {},
): Promise<{ svg: string; png: Uint8Array }> {
  let vega: typeof import('vega');
  let vl: typeof import('vega-lite');
  let resvg: typeof import('@resvg/resvg-js');
  try {
    [vega, vl, resvg] = await Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]);
  } catch (e) {
    return fail(
      'MISSING_DEPENDENCY',
      `plots need vega, vega-lite and @resvg/resvg-js (dependencies of @calm/trainer): ${(e as Error).message}`,
      { cause: e },
    );
  }
  let svg: string;
  try {
    const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0]).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    svg = await view.toSVG();
    view.finalize();
  } catch (e) {
    return fail('INVALID_ARGUMENT', `the plot specification does not render: ${(e as Error).message}`, { cause: e });
  }
  const scale = options.scale ?? 2;
  const png = new resvg.Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true } })
    .render()
    .asPng();
  return { svg, png: new Uint8Array(png) };
}

/**
 * Writes a plot as `<base>.svg` and `<base>.png`, atomically.
 * @param base - Path without extension.
 * @param spec - The Vega-Lite specification.
 * @returns The two files written.
 * @throws `CalmError` as {@link renderVegaLite}, and `IO_ERROR`.
 * @example
 * {@includeCode ../test/examples.test.ts#plots}
 * @category Plots
 */
export async function writePlot(base: string, spec: VegaLiteSpec): Promise<{ svg: string; png: string }> {
  const { svg, png } = await renderVegaLite(spec);
  await writeFileAtomic(`${base}.svg`, svg);
  await writeFileAtomic(`${base}.png`, png);
  return { svg: `${base}.svg`, png: `${base}.png` };
}

/** The held-out energy numbers of a CALM evaluation record (`metrics.energy`), when present. */
function energyOf(r: MetricRecord): { model?: number; oracle?: number; unconditional?: number } | undefined {
  if (r.type !== 'eval') return undefined;
  const e = r.metrics.energy as Record<string, unknown> | undefined;
  return e && typeof e === 'object' ? (e as { model?: number; oracle?: number; unconditional?: number }) : undefined;
}

/**
 * A Vega-Lite chart of training losses against steps, one panel per run (their losses live on
 * different scales: cross-entropy, energy score, autoencoder loss). For a CALM run whose
 * evaluation records carry `metrics.energy` (`calmEnergyBounds` of `@calm/model`), its panel also
 * shows the held-out energy loss and the oracle and unconditional bounds as labelled horizontal
 * lines.
 * @param runs - Metrics records of each run, by run name (e.g. `{ autoencoder: [...], calm: [...] }`).
 * @returns The specification.
 * @example
 * {@includeCode ../test/examples.test.ts#plots}
 * @category Plots
 */
export function trainingCurvesSpec(runs: Record<string, readonly MetricRecord[]>): VegaLiteSpec {
  const values: Array<{ run: string; step: number; value: number; series: string; bound: boolean }> = [];
  for (const [run, records] of Object.entries(runs)) {
    let last: ReturnType<typeof energyOf>;
    for (const r of records) {
      if (r.type === 'train') values.push({ run, step: r.step, value: r.loss, series: 'training loss', bound: false });
      const e = energyOf(r);
      if (e && typeof e.model === 'number') {
        values.push({ run, step: r.step, value: e.model, series: 'held-out energy loss', bound: false });
        last = e;
      }
    }
    for (const name of ['oracle', 'unconditional'] as const) {
      const v = last?.[name];
      if (typeof v === 'number')
        values.push({ run, step: 0, value: v, series: `${name} bound (held-out)`, bound: true });
    }
  }
  const y = { field: 'value', type: 'quantitative', title: 'loss', scale: { zero: false } };
  const color = { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 0 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Training loss (and, for CALM, the held-out energy loss between its bounds)',
    data: { values },
    facet: { column: { field: 'run', type: 'nominal', title: null } },
    spec: {
      width: 260,
      height: 200,
      layer: [
        {
          transform: [{ filter: '!datum.bound' }],
          mark: { type: 'line', point: false },
          encoding: { x: { field: 'step', type: 'quantitative', title: 'optimizer step' }, y, color },
        },
        { transform: [{ filter: 'datum.bound' }], mark: { type: 'rule', strokeDash: [6, 4] }, encoding: { y, color } },
        {
          transform: [{ filter: 'datum.bound' }],
          mark: { type: 'text', align: 'left', dx: 4, dy: -6, fontSize: 10 },
          encoding: { x: { value: 0 }, y, text: { field: 'series' }, color },
        },
      ],
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
  };
}

/**
 * A Vega-Lite chart of BrierLM (or Brier-1) against cumulative training FLOPs (log scale), one
 * line per model, from the evaluation records of each run (`metrics.brierLM`, or `metrics.brier`
 * = Brier-1..4 for `metric: 'brier1'`).
 * @param runs - Metrics records by model name (e.g. `{ CALM: [...], AR: [...] }`).
 * @param references - Horizontal reference lines in the plotted unit (×100), e.g. `{ '3-gram': 1.9 }`.
 * @param options - `metric`: `'brierLM'` (default) or `'brier1'` (Brier-1 ×100).
 * @returns The specification.
 * @example
 * {@includeCode ../test/examples.test.ts#plots}
 * @category Plots
 */
export function brierVsFlopsSpec(
  runs: Record<string, readonly MetricRecord[]>,
  references: Record<string, number> = {},
  options: { metric?: 'brierLM' | 'brier1' } = {},
): VegaLiteSpec {
  const metric = options.metric ?? 'brierLM';
  const metricOf = (m: Record<string, unknown>): number | undefined => {
    if (metric === 'brierLM') return typeof m.brierLM === 'number' ? m.brierLM : undefined;
    const b = m.brier as unknown;
    return Array.isArray(b) && typeof b[0] === 'number' ? 100 * b[0] : undefined;
  };
  const values: Array<{ model: string; flops: number; brierLM: number }> = [];
  for (const [model, records] of Object.entries(runs)) {
    for (const r of records) {
      const v = r.type === 'eval' ? metricOf(r.metrics) : undefined;
      if (r.type !== 'eval' || v === undefined || !(r.flops > 0)) continue;
      values.push({ model, flops: r.flops, brierLM: v });
    }
  }
  const refs = Object.entries(references).map(([name, brierLM]) => ({ name, brierLM }));
  const layers: unknown[] = [
    {
      data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'flops',
          type: 'quantitative',
          title: 'training FLOPs',
          scale: { type: 'log' },
          axis: { format: '.0e' },
        },
        y: {
          field: 'brierLM',
          type: 'quantitative',
          title: metric === 'brierLM' ? 'BrierLM (×100, held-out)' : 'Brier-1 (×100, held-out)',
        },
        color: { field: 'model', type: 'nominal', title: 'model' },
      },
    },
  ];
  if (refs.length) {
    layers.push({
      data: { values: refs },
      mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
      encoding: { y: { field: 'brierLM', type: 'quantitative' } },
    });
    layers.push({
      data: { values: refs },
      mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: 'gray' },
      encoding: { y: { field: 'brierLM', type: 'quantitative' }, text: { field: 'name' }, x: { value: 0 } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: metric === 'brierLM' ? 'BrierLM vs training compute' : 'Brier-1 vs training compute',
    width: 420,
    height: 280,
    layer: layers,
  };
}
