// Panel 1: BrierLM of a byte-level n-gram model on text pasted or loaded from a file, with
// standard errors and Brier-1..4 as a chart.

import { barChart } from './chart.js';
import { scoreNgram, type NgramBrierOptions } from './brier.js';
import { errorText, field, h, nextFrame, numberOf, pm, statusLine } from './ui.js';

const SAMPLE = `${import.meta.env.BASE_URL}sotu-1790-1793.txt`;

export function mountBrierPanel(root: HTMLElement): void {
  const text = h('textarea', {
    rows: 8,
    spellcheck: false,
    'data-testid': 'brier-text',
    placeholder: 'Paste text here…',
  });
  const file = h('input', { type: 'file', accept: '.txt,.md,.csv,.json,.jsonl,text/*', 'data-testid': 'brier-file' });
  const sample = h('button', { type: 'button', class: 'secondary' }, 'Load sample text');
  const order = h('input', { type: 'number', min: 1, max: 8, step: 1, value: 3, 'data-testid': 'brier-order' });
  const estimator = h(
    'select',
    { 'data-testid': 'brier-estimator' },
    h('option', { value: 'explicit' }, 'explicit (exact P(y))'),
    h('option', { value: 'token', selected: true }, 'token (two samples)'),
    h('option', { value: 'chunk' }, 'chunk K = 4 (as CALM)'),
  );
  const seed = h('input', { type: 'number', value: 0, step: 1, 'data-testid': 'brier-seed' });
  const blockSize = h('input', {
    type: 'number',
    min: 16,
    max: 8192,
    step: 1,
    value: 256,
    'data-testid': 'brier-block',
  });
  const run = h('button', { type: 'button', 'data-testid': 'brier-run' }, 'Score');
  const status = statusLine('brier-status');
  const summary = h('p', { class: 'summary', 'data-testid': 'brier-summary' });
  const table = h('table', { class: 'numbers' });
  const chart = h('div', { class: 'chart-box', 'data-testid': 'brier-chart' });

  root.append(
    h('h2', {}, '1 · BrierLM of an n-gram model'),
    h(
      'p',
      { class: 'lede' },
      'Fits a byte-level n-gram on all documents of the text but the last tenth (documents are separated by blank lines) and scores it on the rest with @calm/brierlm: Brier-n from two samples per position (or exact probabilities), BrierLM = 100·(Brier-1…4)^¼, with standard errors. Seeded: the same text, order and seed give the same number here and in Node.',
    ),
    text,
    h('div', { class: 'row' }, file, sample),
    h(
      'div',
      { class: 'row' },
      field('order', order).row,
      field('estimator', estimator).row,
      field('seed', seed).row,
      field('block size (bytes)', blockSize).row,
      run,
    ),
    status.el,
    summary,
    table,
    chart,
  );

  const loadSample = async () => {
    status.set('info', 'Loading the sample text…');
    try {
      const r = await fetch(SAMPLE);
      if (!r.ok) throw new Error(`${SAMPLE}: HTTP ${r.status}`);
      text.value = await r.text();
      status.set(
        'info',
        `Sample loaded: George Washington's annual messages, 1790–1793 (${text.value.length.toLocaleString('en')} characters, public domain). Press Score.`,
      );
    } catch (e) {
      status.set('error', `Could not load the sample: ${errorText(e)}`);
    }
  };
  sample.addEventListener('click', () => void loadSample());
  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    if (!f) return;
    text.value = await f.text();
    status.set('info', `Loaded ${f.name} (${text.value.length.toLocaleString('en')} characters). Press Score.`);
  });
  run.addEventListener('click', async () => {
    run.disabled = true;
    summary.textContent = '';
    table.replaceChildren();
    chart.replaceChildren();
    delete summary.dataset['result'];
    try {
      const options: NgramBrierOptions = {
        order: numberOf(order, 'order', 1, 8, true),
        seed: numberOf(seed, 'seed', 0, 2 ** 31, true),
        estimator: estimator.value as NgramBrierOptions['estimator'],
        blockSize: numberOf(blockSize, 'block size', 16, 8192, true),
      };
      status.set('info', 'Fitting the n-gram and scoring…');
      await nextFrame();
      const out = await scoreNgram(text.value, options, (p) =>
        status.set('info', `Scoring: ${p.blocksDone}/${p.blocksTotal ?? '?'} blocks, ${p.positionsDone} positions…`),
      );
      const r = out.result;
      summary.dataset['result'] = JSON.stringify({
        brierLM: r.brierLM,
        brierLMStderr: r.brierLMStderr,
        brier: r.brier,
        brierStderr: r.brierStderr,
        numPositions: r.numPositions,
      });
      summary.textContent = `BrierLM (×100) = ${pm(r.brierLM, r.brierLMStderr, 2)} over ${r.numPositions.toLocaleString('en')} positions in ${out.blocks} blocks (${r.estimator} estimator; ${out.trainDocuments} of ${out.documents} documents, ${out.trainBytes.toLocaleString('en')} bytes, fit the ${options.order}-gram).`;
      table.append(
        h('tr', {}, h('th', {}, ''), ...[1, 2, 3, 4].map((n) => h('th', {}, `Brier-${n}`))),
        h('tr', {}, h('td', {}, 'estimate ± se'), ...r.brier.map((b, i) => h('td', {}, pm(b, r.brierStderr[i]!)))),
      );
      chart.append(
        barChart({
          title: `Brier-n of the ${options.order}-gram (± 1 standard error)`,
          groups: ['Brier-1', 'Brier-2', 'Brier-3', 'Brier-4'],
          series: [
            {
              name: `order ${options.order}, ${r.estimator}`,
              values: r.brier,
              errors: r.brierStderr,
              color: '#3b6ea5',
            },
          ],
          yLabel: 'Brier-n',
          digits: 2,
        }),
      );
      const warn = r.warnings.length ? ` Note: ${r.warnings.join(' ')}` : '';
      status.set('ok', `Done in ${out.seconds.toFixed(2)} s.${warn}`);
    } catch (e) {
      status.set('error', errorText(e));
    } finally {
      run.disabled = false;
    }
  });
  void loadSample();
}
