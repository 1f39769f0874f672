// Panel 2: the exact and batch temperature samplers on a small implicit sampler, with the draws
// per sample and the distribution at several temperatures as charts.

import { barChart } from './chart.js';
import { blackBoxLaw, isInverseInteger, runTemperatureDemo, WORDS } from './temperature.js';
import { errorText, field, h, nextFrame, numberOf, statusLine } from './ui.js';

const COLORS = ['#9aa5b1', '#3b6ea5', '#d07a2d', '#5b9e4d', '#a24c8f', '#c9b037'];

/** Parses "1, 0.7, 1/2, 1/3" into temperatures in (0, 1]. */
export function parseTemperatures(text: string): number[] {
  const out = text
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map((s) => {
      const m = /^(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(s);
      const v = m ? Number(m[1]) / Number(m[2]) : Number(s);
      if (!(v > 0 && v <= 1)) throw new Error(`temperature "${s}" must be in (0, 1] (e.g. 0.7 or 1/3).`);
      return v;
    });
  if (out.length === 0 || out.length > 5) throw new Error('give one to five temperatures, e.g. "1, 0.7, 1/2, 1/3".');
  return out;
}

const label = (t: number): string =>
  isInverseInteger(t) && t < 1 ? `1/${Math.round(1 / t)}` : String(Number(t.toFixed(3)));

export function mountTemperaturePanel(root: HTMLElement): void {
  const temps = h('input', { type: 'text', value: '1, 0.7, 1/2, 1/3', 'data-testid': 'temp-list', size: 18 });
  const samples = h('input', {
    type: 'number',
    min: 100,
    max: 100000,
    step: 100,
    value: 2000,
    'data-testid': 'temp-samples',
  });
  const pool = h('input', { type: 'number', min: 1, max: 2000, step: 1, value: 200, 'data-testid': 'temp-pool' });
  const seed = h('input', { type: 'number', value: 0, step: 1 });
  const run = h('button', { type: 'button', 'data-testid': 'temp-run' }, 'Sample');
  const status = statusLine('temp-status');
  const table = h('table', { class: 'numbers', 'data-testid': 'temp-table' });
  const charts = h('div', { class: 'charts', 'data-testid': 'temp-charts' });
  const P = blackBoxLaw();
  root.append(
    h('h2', {}, '2 · Temperature sampling from a black box'),
    h(
      'p',
      { class: 'lede' },
      `The black box draws one of ten words (P ∝ 1/rank^1.1; P("the") = ${P[0]!.toFixed(3)}) and can do nothing else — like CALM's energy head. @calm/temperature-sampler tempers it to P^(1/T)/Z: the exact sampler (Algorithm 1) for any T, at a random cost; the batch sampler (Algorithm 2, the official one) for T = 1/n, at a fixed cost of N draws and with a small bias.`,
    ),
    h(
      'div',
      { class: 'row' },
      field('temperatures', temps).row,
      field('samples per T', samples).row,
      field('pool N (batch)', pool).row,
      field('seed', seed).row,
      run,
    ),
    status.el,
    table,
    charts,
  );
  run.addEventListener('click', async () => {
    run.disabled = true;
    table.replaceChildren();
    charts.replaceChildren();
    try {
      const temperatures = parseTemperatures(temps.value);
      const n = numberOf(samples, 'samples', 100, 100000, true);
      const poolSize = numberOf(pool, 'pool N', 1, 2000, true);
      const t0 = performance.now();
      status.set('info', 'Sampling…');
      await nextFrame();
      table.append(
        h(
          'tr',
          {},
          ...['T', 'exact: draws / sample', 'Theorem 2', 'TV to P_T', 'batch: draws / sample', 'TV to P_T'].map((c) =>
            h('th', {}, c),
          ),
        ),
      );
      const rows = await runTemperatureDemo(
        { temperatures, samples: n, poolSize, seed: numberOf(seed, 'seed', 0, 2 ** 31, true) },
        (r, i) => {
          status.set('info', `Sampling: T = ${label(r.temperature)} done (${i + 1}/${temperatures.length})…`);
          table.append(
            h(
              'tr',
              {},
              h('td', {}, label(r.temperature)),
              h('td', {}, r.exactDraws.toFixed(2)),
              h('td', {}, r.expectedDraws.toFixed(2)),
              h('td', {}, r.tvExact.toFixed(3)),
              h('td', {}, r.batchDraws !== undefined ? r.batchDraws.toFixed(0) : '— (T ≠ 1/n)'),
              h('td', {}, r.tvBatch !== undefined ? r.tvBatch.toFixed(3) : '—'),
            ),
          );
        },
      );
      charts.append(
        barChart({
          title: `Exact sampler, ${n} samples per T (bars) and P_T (lines)`,
          groups: WORDS,
          series: [
            ...rows.map((r, i) => ({
              name: `T = ${label(r.temperature)}`,
              values: Array.from(r.exact),
              color: COLORS[i % COLORS.length]!,
            })),
            ...rows
              .filter((r) => r.temperature === Math.min(...temperatures))
              .map((r) => ({
                name: `P_T, T = ${label(r.temperature)}`,
                values: Array.from(r.target),
                kind: 'marker' as const,
                color: '#222',
              })),
          ],
          yLabel: 'probability',
          width: 620,
        }),
        barChart({
          title: 'Draws per sample (log scale)',
          groups: rows.map((r) => `T = ${label(r.temperature)}`),
          series: [
            { name: 'exact, measured', values: rows.map((r) => r.exactDraws), color: '#3b6ea5' },
            { name: 'exact, Theorem 2', values: rows.map((r) => r.expectedDraws), color: '#9aa5b1' },
            { name: `batch, N = ${poolSize}`, values: rows.map((r) => r.batchDraws ?? 0), color: '#d07a2d' },
          ],
          yLabel: 'draws',
          logY: true,
          width: 620,
        }),
      );
      status.set(
        'ok',
        `Done in ${((performance.now() - t0) / 1000).toFixed(2)} s. Lower T sharpens the law towards "the"; the exact sampler's cost grows as T falls, the batch sampler always pays N.`,
      );
    } catch (e) {
      status.set('error', errorText(e));
    } finally {
      run.disabled = false;
    }
  });
}
