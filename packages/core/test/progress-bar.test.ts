// The terminal progress bar: what it writes on a (fake) terminal — one line redrawn in place, at
// most five times a second, with bar, value/total, rate, a smoothed ETA and a note — and the plain
// lines it prints elsewhere (at most every five seconds and at the end), with an injected clock.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgressBar, type ProgressStream } from '../src/node.js';

/** A fake stream that records every write, and a clock the test moves by hand. */
function fake(tty: boolean, columns?: number) {
  const writes: string[] = [];
  const stream: ProgressStream = {
    isTTY: tty,
    ...(columns === undefined ? {} : { columns }),
    write: (s: string) => writes.push(s),
  };
  const clock = { t: 1_000_000 };
  return { writes, stream, clock, now: () => clock.t };
}

/** The last redrawn line of a terminal write, without the control sequence. */
const drawnLine = (w: string): string => {
  expect(w.startsWith('\r\x1b[K')).toBe(true);
  return w.slice(4);
};

describe('createProgressBar on a terminal', () => {
  it('draws at once, then redraws one line in place at most five times a second', () => {
    const { writes, stream, clock, now } = fake(true);
    const bar = createProgressBar({ label: 'train', total: 100, unit: 'tok/s', stream, now });
    expect(writes).toHaveLength(1);
    expect(drawnLine(writes[0]!)).toBe(`train ${'░'.repeat(30)}   0% 0/100 | ETA --`);
    bar.update(10, { rate: 1234, note: 'lr 3.0e-4' }); // 0 ms since the first draw: throttled
    expect(writes).toHaveLength(1);
    clock.t += 199;
    bar.update(11);
    expect(writes).toHaveLength(1);
    clock.t += 1;
    bar.update(12);
    expect(writes).toHaveLength(2);
    expect(drawnLine(writes[1]!)).toMatch(/^train █{4}░{26} {2}12% 12\/100 \| 1\.2k tok\/s \| ETA \S+ \| lr 3\.0e-4$/);
    // Every update within 200 ms of a draw is dropped, the latest state shows at the next one.
    for (let i = 13; i < 50; i++) {
      clock.t += 10;
      bar.update(i);
    }
    expect(writes.length).toBeLessThanOrEqual(2 + Math.ceil((37 * 10) / 200));
    expect(writes.every((w) => w.startsWith('\r\x1b[K') && !w.includes('\n'))).toBe(true);
  });

  it('estimates the ETA from a smoothed rate of progress', () => {
    const { writes, stream, clock, now } = fake(true);
    const bar = createProgressBar({ label: 'eval', total: 1000, stream, now });
    bar.update(100); // the baseline (a resumed run starts high, not fast)
    for (let i = 1; i <= 5; i++) {
      clock.t += 1000;
      bar.update(100 + 10 * i); // 10 units per second
    }
    // 850 units left at 10 units/s.
    expect(drawnLine(writes.at(-1)!)).toMatch(/ 150\/1000 \| ETA 1m25s$/);
    clock.t += 1000;
    bar.update(50); // backwards (a restart): the estimate starts afresh
    expect(drawnLine(writes.at(-1)!)).toMatch(/ 50\/1000 \| ETA --$/);
  });

  it('draws the end at once, prints log lines above the bar and ends the line at stop', () => {
    const { writes, stream, now } = fake(true);
    const bar = createProgressBar({ label: 'BrierLM', total: 4, stream, now });
    bar.update(2.5, { note: '40 calls' }); // fractions fill the bar; the count shows whole units
    bar.log('block 2 done');
    expect(writes.at(-2)).toBe('\r\x1b[Kblock 2 done\n');
    expect(drawnLine(writes.at(-1)!)).toBe(`BrierLM ${'█'.repeat(19)}${'░'.repeat(11)}  62% 2/4 | ETA -- | 40 calls`);
    bar.update(4, { total: 4, note: '64 calls' }); // the end is drawn without waiting
    expect(drawnLine(writes.at(-1)!)).toBe(`BrierLM ${'█'.repeat(30)} 100% 4/4 | ETA 0s | 64 calls`);
    const n = writes.length;
    bar.stop();
    expect(writes.slice(n)).toEqual([writes[n - 1], '\n']);
    bar.stop();
    bar.update(3);
    expect(writes).toHaveLength(n + 2);
    bar.log('after'); // after stop, a plain line
    expect(writes.at(-1)).toBe('after\n');
  });

  it('takes a new total and cuts the line to the terminal width', () => {
    const { writes, stream, clock, now } = fake(true, 40);
    const bar = createProgressBar({ label: 'quickstart', total: 10, stream, now });
    clock.t += 500;
    bar.update(5, { total: 20, note: 'a long note that does not fit' });
    const line = drawnLine(writes.at(-1)!);
    expect(line).toHaveLength(39);
    expect(line).toBe(`quickstart ${'█'.repeat(8)}${'░'.repeat(20)}`);
    bar.update(20);
    expect(drawnLine(writes.at(-1)!)).toMatch(/^quickstart █{28}$/);
  });
});

describe('createProgressBar elsewhere (not a terminal)', () => {
  it('prints a plain line at the first update, then at most every 5 s, and at the end', () => {
    const { writes, stream, clock, now } = fake(false);
    const bar = createProgressBar({ label: 'CALM', total: 100, unit: 'tok/s', stream, now });
    expect(writes).toEqual([]); // nothing before the first update
    bar.update(1, { rate: 523.4, note: 'lr 1.0e-3' });
    expect(writes).toEqual(['CALM: 1/100 523 tok/s lr 1.0e-3\n']);
    for (let i = 2; i <= 50; i++) {
      clock.t += 100; // 4.9 s in all: nothing more
      bar.update(i, { rate: 7.25 });
    }
    expect(writes).toHaveLength(1);
    clock.t += 100;
    bar.update(51);
    expect(writes.at(-1)).toBe('CALM: 51/100 7.3 tok/s lr 1.0e-3\n');
    clock.t += 100;
    bar.update(100, { rate: 12_500_000 }); // the end: at once
    expect(writes.at(-1)).toBe('CALM: 100/100 12.5M tok/s lr 1.0e-3\n');
    bar.update(100); // the same end again: not repeated
    bar.stop(); // nothing left unprinted
    expect(writes).toHaveLength(3);
    expect(writes.join('')).not.toContain('\x1b');
    expect(writes.join('')).not.toContain('\r');
  });

  it('prints the last state at stop when it was throttled, and log lines as they come', () => {
    const { writes, stream, clock, now } = fake(false);
    const bar = createProgressBar({ label: 'generate', total: 64, stream, now });
    bar.update(8);
    clock.t += 1000;
    bar.update(16);
    bar.log('a log line');
    bar.stop(); // stopped early (a time budget): the last state is still printed
    bar.stop();
    expect(writes).toEqual(['generate: 8/64\n', 'a log line\n', 'generate: 16/64\n']);
  });
});

describe('createProgressBar defaults', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes to process.stderr', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const bar = createProgressBar({ label: 'x', total: 1 });
    bar.update(1);
    bar.stop();
    expect(write).toHaveBeenCalled();
    expect(String(write.mock.calls.at(-1)![0])).toMatch(process.stderr.isTTY ? /^\n$/ : /^x: 1\/1\n$/);
  });
});
