// The examples' plot helper: a Vega-Lite specification is rendered headlessly to SVG (vega) and
// PNG (resvg), then shown as an image in a notebook or written to examples/notebooks/out/ when the
// example runs as a script. No hand-drawn SVG anywhere.

import { existsSync, writeFileSync } from 'node:fs';
import { IN_NOTEBOOK, importEsm, outPath, shortPath, tslabDisplay } from './notebook.js';

/** A Vega-Lite specification as plain JSON (data inlined). */
export type VegaLiteSpec = Record<string, unknown>;

interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
}
interface VegaLiteModule {
  compile(spec: never): { spec: unknown };
}
interface ResvgModule {
  Resvg: new (svg: string, options: Record<string, unknown>) => { render(): { asPng(): Uint8Array } };
}

// DejaVu Sans when installed (scripts/notebooks.sh installs fonts-dejavu-core), else system fonts.
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

/**
 * Renders a Vega-Lite specification to SVG markup and PNG bytes.
 * @param spec - The specification.
 * @param scale - PNG pixels per SVG unit.
 * @returns SVG text and PNG file contents.
 */
export async function renderPlot(spec: VegaLiteSpec, scale = 2): Promise<{ svg: string; png: Uint8Array }> {
  const [vega, vl, resvg] = await Promise.all([
    importEsm<VegaModule>('vega'),
    importEsm<VegaLiteModule>('vega-lite'),
    importEsm<ResvgModule>('@resvg/resvg-js'),
  ]);
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: { font: 'DejaVu Sans' }, ...spec };
  const view = new vega.View(vega.parse(vl.compile(full as never).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const font = existsSync(FONT)
    ? { fontFiles: [FONT], loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans' }
    : { loadSystemFonts: true };
  const png = new resvg.Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font, background: 'white' })
    .render()
    .asPng();
  return { svg, png: new Uint8Array(png) };
}

/**
 * Shows a plot: an image output in a notebook; `out/<name>.svg` and `out/<name>.png` in a script.
 * @param name - File stem, e.g. `brier-by-estimator`.
 * @param spec - The Vega-Lite specification.
 */
export async function showPlot(name: string, spec: VegaLiteSpec): Promise<void> {
  const { svg, png } = await renderPlot(spec);
  const display = tslabDisplay();
  if (IN_NOTEBOOK && display) {
    display.png(png);
    return;
  }
  const base = outPath(name);
  writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.png`, png);
  console.log(`plot: ${shortPath(`${base}.png`)} (and .svg)`);
}
