// A terminal progress bar for command lines, with no dependencies: on a terminal it redraws one
// line (bar, value/total, rate, ETA, note) at most five times a second; elsewhere (a log file, CI)
// it prints a plain line at most every five seconds and at the end. Library code never creates
// one: a CLI does, explicitly, and feeds it from a library's progress callback.

/**
 * Where a progress bar writes: `process.stderr`, or any object with `write` (tests pass a fake).
 * @see {@link createProgressBar}
 * @category CLI
 */
export interface ProgressStream {
  /**
   * Writes text as is.
   * @param text - The text.
   */
  write(text: string): unknown;
  /** `true` on a terminal: the bar redraws one line in place; otherwise it prints plain lines. */
  readonly isTTY?: boolean;
  /** Terminal width in characters; a redrawn line is cut to fit it. */
  readonly columns?: number;
}

/**
 * Options of {@link createProgressBar}.
 * @category CLI
 */
export interface ProgressBarOptions {
  /** Name of the phase shown first on the line (e.g. `BrierLM`, `autoencoder`). */
  label: string;
  /** Total work units (steps, blocks, tokens); change it later with `update(v, { total })`. */
  total: number;
  /**
   * Unit of the `rate` passed to `update` (e.g. `tok/s`).
   * @defaultValue `''`
   */
  unit?: string;
  /**
   * Where to write.
   * @defaultValue `process.stderr`
   */
  stream?: ProgressStream;
  /**
   * Clock in milliseconds (for tests).
   * @defaultValue `Date.now`
   */
  now?: () => number;
}

/**
 * What {@link ProgressBar.update} may carry besides the value.
 * @see {@link createProgressBar}
 * @category CLI
 */
export interface ProgressBarUpdate {
  /** A rate to show, in the bar's `unit` (e.g. tokens per second). The ETA does not use it. */
  rate?: number;
  /** Free text shown after the ETA (e.g. `lr 3.0e-4`, `42 calls`). */
  note?: string;
  /** A new total. */
  total?: number;
}

/**
 * A progress bar created by {@link createProgressBar}.
 * @category CLI
 */
export interface ProgressBar {
  /**
   * Sets the work done and redraws (on a terminal at most five times a second; otherwise a plain
   * line at most every five seconds, and when the value reaches the total).
   * @param value - Work done, in the units of `total` (fractions allowed).
   * @param extra - `rate` and `note` to show, and a new `total`.
   */
  update(value: number, extra?: ProgressBarUpdate): void;
  /**
   * Prints a line without tearing the bar (on a terminal, above it).
   * @param line - The text, without a newline.
   */
  log(line: string): void;
  /** Draws the final state and ends the line; later `update` calls are ignored. Idempotent. */
  stop(): void;
}

const REDRAW_MS = 200;
const PLAIN_LINE_MS = 5000;
/** Time constant of the smoothed rate behind the ETA. */
const RATE_TAU_MS = 10_000;
const BAR_WIDTH = 30;

/** Formats a rate: 3.0, 0.4, 42, 12.5k, 1.2M. */
function formatRate(r: number): string {
  if (!Number.isFinite(r)) return '?';
  if (Math.abs(r) >= 1e6) return `${(r / 1e6).toFixed(1)}M`;
  if (Math.abs(r) >= 1e3) return `${(r / 1e3).toFixed(1)}k`;
  return Math.abs(r) < 10 ? r.toFixed(1) : r.toFixed(0);
}

/** Formats seconds as 45s, 3m05s, 2h07m; `--` when unknown. */
function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const fmtValue = (v: number): string => (Number.isInteger(v) ? String(v) : String(Math.floor(v)));

/**
 * Starts a progress bar for one phase of a command line: a one-line bar redrawn in place on a
 * terminal, plain periodic lines elsewhere.
 *
 * @remarks
 * On a terminal (`stream.isTTY`) the line is drawn at once and redrawn with `\r` and
 * erase-line at most five times a second: the label, a bar of block characters, the percentage,
 * value/total, the rate in `unit`, an ETA from a smoothed rate of progress (exponential moving
 * average, 10 s time constant) and the note, cut to the terminal's width. Otherwise each
 * `update` prints `label: value/total rate unit note` at most every five seconds, plus once when
 * the value reaches the total and, if the last state was not printed, at `stop`. It has no
 * dependencies. Library code never prints: only command lines create progress bars, and feed
 * them from a library's `onProgress` callback.
 *
 * @param options - Label, total, rate unit, stream (default `process.stderr`) and clock.
 * @returns The bar; call `stop` when the phase ends.
 * @example
 * {@includeCode ../test/examples.test.ts#progress-bar}
 * @category CLI
 */
export function createProgressBar(options: ProgressBarOptions): ProgressBar {
  const { label, unit = '', now = Date.now } = options;
  const stream: ProgressStream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  let total = options.total;
  let value = 0;
  let rate: number | undefined;
  let note = '';
  let stopped = false;
  // The smoothed rate of progress (value units per ms) and the sample it was last updated from;
  // the first update is only a baseline (a resumed run starts high, not fast).
  let speed: number | undefined;
  let sample: { at: number; value: number } | undefined;
  let drawn: { at: number; value: number } | undefined;
  let printed: { at: number; value: number; text: string } | undefined;
  let unprinted = false;

  const rateText = () =>
    rate === undefined || !Number.isFinite(rate) ? '' : `${formatRate(rate)}${unit ? ` ${unit}` : ''}`;

  const line = (): string => {
    const frac = total > 0 ? Math.min(1, Math.max(0, value / total)) : 0;
    const filled = Math.round(frac * BAR_WIDTH);
    const eta = value >= total ? 0 : speed !== undefined && speed > 0 ? (total - value) / speed / 1000 : Number.NaN;
    const parts = [
      `${label} ${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)} ${String(Math.floor(frac * 100)).padStart(3)}% ${fmtValue(value)}/${total}`,
      rateText(),
      `ETA ${formatDuration(eta)}`,
      note,
    ].filter((p) => p !== '');
    const text = parts.join(' | ');
    const width = stream.columns;
    return width !== undefined && width > 1 && text.length > width - 1 ? text.slice(0, width - 1) : text;
  };

  const draw = () => {
    drawn = { at: now(), value };
    stream.write(`\r\x1b[K${line()}`);
  };

  const plainLine = (): string => {
    const r = rateText();
    return `${label}: ${fmtValue(value)}/${total}${r ? ` ${r}` : ''}${note ? ` ${note}` : ''}\n`;
  };
  const plain = () => {
    printed = { at: now(), value, text: plainLine() };
    unprinted = false;
    stream.write(printed.text);
  };

  if (tty) draw();

  return {
    update(v, extra = {}) {
      if (stopped) return;
      const t = now();
      if (extra.total !== undefined) total = extra.total;
      if (extra.rate !== undefined) rate = extra.rate;
      if (extra.note !== undefined) note = extra.note;
      if (sample === undefined || v < sample.value) {
        speed = undefined; // the baseline, or a restart (the value went backwards)
        sample = { at: t, value: v };
      } else if (t > sample.at && v > sample.value) {
        const dt = t - sample.at;
        const inst = (v - sample.value) / dt;
        speed = speed === undefined ? inst : speed + (1 - Math.exp(-dt / RATE_TAU_MS)) * (inst - speed);
        sample = { at: t, value: v };
      }
      value = v;
      // The end is always shown, once; otherwise throttled.
      const end = value >= total;
      if (tty) {
        if (drawn === undefined || t - drawn.at >= REDRAW_MS || (end && drawn.value !== value)) draw();
      } else if (printed === undefined || t - printed.at >= PLAIN_LINE_MS || (end && printed.value !== value)) plain();
      else unprinted = plainLine() !== printed.text;
    },
    log(text) {
      if (tty && !stopped) {
        stream.write(`\r\x1b[K${text}\n`);
        draw();
      } else stream.write(`${text}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (tty) {
        draw();
        stream.write('\n');
      } else if (unprinted) plain();
    },
  };
}
