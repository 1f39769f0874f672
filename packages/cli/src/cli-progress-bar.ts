// Progress bars for the `calm` command line (cli-progress on stderr): one bar per long phase with
// tokens per second and ETA, and plain log lines that do not tear the bar. Loaded only by the CLI.

import cliProgress from 'cli-progress';

/**
 * A progress bar on stderr for one phase of a command.
 * @category CLI
 */
export interface PhaseBar {
  /**
   * Updates the bar.
   * @param value - Work done (steps, blocks, tokens).
   * @param extra - `rate` (e.g. tokens/s) and `note` shown after the bar.
   */
  update(value: number, extra?: { rate?: number; note?: string; total?: number }): void;
  /**
   * Prints a line above the bar.
   * @param line - The text.
   */
  log(line: string): void;
  /** Stops the bar (leaves it on screen). */
  stop(): void;
}

function fmtRate(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '';
  return r >= 1000 ? `${(r / 1000).toFixed(1)}k` : r.toFixed(0);
}

/**
 * Starts a progress bar (or plain periodic lines when stderr is not a terminal).
 * @param label - Phase name shown before the bar.
 * @param total - Total work units.
 * @param unit - Unit of `rate` (e.g. `tok/s`).
 * @returns The bar.
 * @category CLI
 */
export function phaseBar(label: string, total: number, unit = 'tok/s'): PhaseBar {
  const stream = process.stderr;
  if (!stream.isTTY) {
    let last = 0;
    return {
      update(value, extra = {}) {
        const now = Date.now();
        if (now - last < 5000 && value < (extra.total ?? total)) return;
        last = now;
        stream.write(
          `${label}: ${value}/${extra.total ?? total}${extra.rate !== undefined ? ` ${fmtRate(extra.rate)} ${unit}` : ''}${extra.note ? ` ${extra.note}` : ''}\n`,
        );
      },
      log: (line) => void stream.write(`${line}\n`),
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label.padEnd(12)} {bar} {value}/{total} | {rate} ${unit} | ETA {eta_formatted} {note}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rate: '', note: '' });
  return {
    update(value, extra = {}) {
      if (extra.total !== undefined) bar.setTotal(extra.total);
      bar.update(value, { rate: fmtRate(extra.rate), note: extra.note ?? '' });
    },
    log(line) {
      // Clear the bar line, print, redraw.
      stream.write(`\r\x1b[K${line}\n`);
      bar.render();
    },
    stop: () => bar.stop(),
  };
}
