// A grouped bar chart as hand-drawn SVG: groups along x, one bar per series, optional error bars
// (± one standard error), optional marker series (a short line per group, e.g. an exact value),
// linear or log y axis, and a legend. No chart library.

const SVG = 'http://www.w3.org/2000/svg';

/** One series of a {@link barChart}. */
export interface Series {
  name: string;
  values: readonly number[];
  /** Half-heights of error bars, drawn as whiskers. */
  errors?: readonly number[];
  /** `'bar'` (default) or `'marker'`: a horizontal tick at the value over the whole group. */
  kind?: 'bar' | 'marker';
  color: string;
}

/** What to draw. */
export interface BarChartSpec {
  title: string;
  groups: readonly string[];
  series: readonly Series[];
  yLabel: string;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Decimals of the y tick labels. */
  digits?: number;
}

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

/** Draws the chart; returns the `<svg>` element. */
export function barChart(spec: BarChartSpec): SVGSVGElement {
  const width = spec.width ?? 560;
  const height = spec.height ?? 260;
  const m = { top: 30, right: 12, bottom: 58, left: 58 };
  const w = width - m.left - m.right;
  const hgt = height - m.top - m.bottom;
  const all = spec.series.flatMap((s) => s.values.map((v, i) => v + (s.errors?.[i] ?? 0)));
  const lows = spec.series.flatMap((s) => s.values.map((v, i) => v - (s.errors?.[i] ?? 0)));
  let y: (v: number) => number;
  let ticks: number[];
  if (spec.logY) {
    const pos = all.filter((v) => v > 0);
    // One decade below the smallest value, so that a bar at a power of ten still shows.
    const lo = 10 ** Math.floor(Math.log10(Math.min(...pos, 1) * 0.999));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...pos, 10)));
    y = (v) => m.top + hgt - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * hgt;
    ticks = [];
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  } else {
    const lo = Math.min(0, ...lows);
    const hi = Math.max(...all, 1e-9);
    ticks = niceTicks(lo, hi);
    const top = Math.max(hi, ticks[ticks.length - 1]!);
    const bottom = Math.min(lo, ticks[0]!);
    y = (v) => m.top + hgt - ((v - bottom) / (top - bottom)) * hgt;
  }
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': spec.title,
    class: 'chart',
  }) as SVGSVGElement;
  svg.append(el('text', { x: m.left, y: 16, class: 'chart-title' }, spec.title));
  for (const t of ticks) {
    const ty = y(t);
    svg.append(el('line', { x1: m.left, x2: m.left + w, y1: ty, y2: ty, class: 'grid' }));
    const label = spec.logY ? String(t) : t.toFixed(spec.digits ?? 2);
    svg.append(el('text', { x: m.left - 6, y: ty + 4, 'text-anchor': 'end', class: 'tick' }, label));
  }
  svg.append(
    el(
      'text',
      {
        x: 14,
        y: m.top + hgt / 2,
        transform: `rotate(-90 14 ${m.top + hgt / 2})`,
        'text-anchor': 'middle',
        class: 'axis',
      },
      spec.yLabel,
    ),
  );
  const zero = spec.logY ? m.top + hgt : y(0);
  svg.append(el('line', { x1: m.left, x2: m.left + w, y1: zero, y2: zero, class: 'axis-line' }));
  const groupW = w / spec.groups.length;
  const bars = spec.series.filter((s) => (s.kind ?? 'bar') === 'bar');
  const barW = Math.min(40, (groupW * 0.8) / Math.max(1, bars.length));
  spec.groups.forEach((g, gi) => {
    const gx = m.left + gi * groupW;
    svg.append(el('text', { x: gx + groupW / 2, y: m.top + hgt + 16, 'text-anchor': 'middle', class: 'tick' }, g));
    const start = gx + (groupW - barW * bars.length) / 2;
    bars.forEach((s, si) => {
      const v = s.values[gi]!;
      const x = start + si * barW;
      const top = Math.min(y(v), zero);
      const bar = el('rect', { x, y: top, width: barW - 2, height: Math.abs(zero - y(v)), fill: s.color });
      bar.append(el('title', {}, `${s.name}, ${g}: ${v.toPrecision(4)}`));
      svg.append(bar);
      const e = s.errors?.[gi];
      if (e !== undefined && Number.isFinite(e) && e > 0) {
        const cx = x + (barW - 2) / 2;
        svg.append(el('line', { x1: cx, x2: cx, y1: y(v - e), y2: y(v + e), class: 'whisker' }));
        for (const yy of [y(v - e), y(v + e)])
          svg.append(el('line', { x1: cx - 4, x2: cx + 4, y1: yy, y2: yy, class: 'whisker' }));
      }
    });
    for (const s of spec.series.filter((x) => x.kind === 'marker')) {
      const v = s.values[gi]!;
      svg.append(
        el('line', {
          x1: start - 3,
          x2: start + barW * bars.length + 1,
          y1: y(v),
          y2: y(v),
          stroke: s.color,
          'stroke-width': 2.5,
        }),
      );
    }
  });
  let lx = m.left;
  const ly = height - 14;
  for (const s of spec.series) {
    svg.append(
      s.kind === 'marker'
        ? el('line', { x1: lx, x2: lx + 12, y1: ly - 4, y2: ly - 4, stroke: s.color, 'stroke-width': 2.5 })
        : el('rect', { x: lx, y: ly - 10, width: 12, height: 10, fill: s.color }),
    );
    const t = el('text', { x: lx + 16, y: ly, class: 'legend' }, s.name);
    svg.append(t);
    lx += 26 + s.name.length * 6.2;
  }
  return svg;
}
