// Panel 3: load a `calm quickstart` checkpoint (folder picker or URL) and its tokenizer, and
// generate text with temperature (exact or batch), streaming the tokens, with tokens/s and the
// backend (wasm; WebGPU when the browser has it).

import { createRng } from '@calm/core';
import { bpeTokenizerFromJson, type Tokenizer } from '@calm/data-pile';
import { generateCalm, loadCalmFromBytes, type CalmModel } from '@calm/model';
import { startBackend, webgpuAvailable, type BackendChoice } from './backend.js';
import { fromFiles, fromUrl, type FoundCheckpoint } from './checkpoint-source.js';
import { parseTemperatures } from './temperature-panel.js';
import { errorText, field, h, nextFrame, numberOf, statusLine } from './ui.js';

const DEFAULT_URL = `${import.meta.env.BASE_URL}quickstart/`;

export function mountCalmPanel(root: HTMLElement): void {
  const folder = h('input', { type: 'file', webkitdirectory: true, multiple: true, 'data-testid': 'calm-folder' });
  const url = h('input', { type: 'text', value: DEFAULT_URL, size: 32, 'data-testid': 'calm-url' });
  const loadUrl = h('button', { type: 'button', 'data-testid': 'calm-load-url' }, 'Load from URL');
  const backend = h(
    'select',
    { 'data-testid': 'calm-backend-choice' },
    h('option', { value: 'auto' }, 'auto (WebGPU if available, else wasm)'),
    h('option', { value: 'wasm' }, 'wasm'),
    h('option', { value: 'webgpu' }, 'WebGPU'),
    h('option', { value: 'cpu' }, 'cpu (slow reference)'),
  );
  const prompt = h('textarea', { rows: 2, 'data-testid': 'calm-prompt' }, 'The state of the Union is');
  const maxTokens = h('input', { type: 'number', min: 4, max: 2048, step: 4, value: 48, 'data-testid': 'calm-max' });
  const temperature = h('input', { type: 'text', value: '1/2', size: 5, 'data-testid': 'calm-temperature' });
  const method = h(
    'select',
    { 'data-testid': 'calm-method' },
    h('option', { value: 'batch' }, 'batch (Algorithm 2, T = 1/n)'),
    h('option', { value: 'exact' }, 'exact (Algorithm 1, any T)'),
  );
  const pool = h('input', { type: 'number', min: 1, max: 2000, step: 1, value: 200 });
  const seed = h('input', { type: 'number', value: 0, step: 1, 'data-testid': 'calm-seed' });
  const generate = h('button', { type: 'button', disabled: true, 'data-testid': 'calm-generate' }, 'Generate');
  const stop = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Stop');
  const status = statusLine('calm-status');
  const info = h('p', { class: 'summary', 'data-testid': 'calm-info' });
  const backendLine = h('p', { class: 'backend', 'data-testid': 'calm-backend' }, 'Backend: not started');
  const output = h('pre', { class: 'output', 'data-testid': 'calm-output' });
  const stats = h('p', { class: 'summary', 'data-testid': 'calm-stats' });

  root.append(
    h('h2', {}, '3 · Generate with CALM'),
    h(
      'p',
      { class: 'lede' },
      'Loads the folder that ',
      h('code', {}, 'npm run quickstart'),
      ' writes (',
      h('code', {}, 'calm-quickstart/'),
      ': tokenizer.json and calm/final/) — pick it, or give its URL (the dev server serves it at ',
      h('code', {}, DEFAULT_URL),
      '). Each step draws the next vector from the energy head and decodes it into K tokens with the frozen autoencoder; temperature goes through @calm/temperature-sampler.',
    ),
    h('div', { class: 'row' }, field('quickstart folder', folder).row, field('or URL', url).row, loadUrl),
    h('div', { class: 'row' }, field('backend', backend).row),
    status.el,
    backendLine,
    info,
    prompt,
    h(
      'div',
      { class: 'row' },
      field('new tokens', maxTokens).row,
      field('temperature', temperature).row,
      field('sampler', method).row,
      field('pool N', pool).row,
      field('seed', seed).row,
      generate,
      stop,
    ),
    output,
    stats,
  );
  void webgpuAvailable().then((ok) => {
    const opt = backend.querySelector('option[value="webgpu"]') as HTMLOptionElement;
    opt.disabled = !ok;
    if (!ok) opt.textContent = 'WebGPU (not available in this browser)';
  });

  let model: CalmModel | undefined;
  let tokenizer: Tokenizer | undefined;
  let backendName = '';
  let aborter: AbortController | undefined;

  const load = async (find: () => Promise<FoundCheckpoint>) => {
    generate.disabled = true;
    output.textContent = '';
    stats.textContent = '';
    try {
      const t0 = performance.now();
      status.set('info', 'Starting the backend…');
      const b = await startBackend(backend.value as BackendChoice);
      backendName = b.name;
      backendLine.textContent = `Backend: ${b.detail}`;
      backendLine.dataset['backend'] = b.name;
      status.set('info', 'Reading the checkpoint…');
      const found = await find();
      status.set('info', 'Building the model…');
      await nextFrame();
      const tk = bpeTokenizerFromJson(found.tokenizerJson, { fileName: found.where.tokenizer });
      const { model: m, report } = loadCalmFromBytes(found.bytes);
      if (m.config.vocabSize !== tk.vocabSize) {
        m.dispose();
        throw new Error(
          `the tokenizer has ${tk.vocabSize} ids but the model ${m.config.vocabSize}; pick the tokenizer.json written with this checkpoint.`,
        );
      }
      model?.dispose();
      model = m;
      tokenizer = tk;
      const c = m.config;
      info.textContent =
        `Loaded ${found.where.checkpoint}: CALM with hidden ${c.hiddenSize}, ${c.numHiddenLayers} layers, K = ${c.patchSize}, ` +
        `latent ${c.latentSize}, ${(m.numParams() / 1e6).toFixed(2)}M parameters; autoencoder ${report.aeWeights === 'checkpoint' ? 'weights from the checkpoint' : 'weights from its folder'}, ` +
        `config ${report.aeConfigSource === 'aePath' ? `from ${found.where.autoencoder}` : 'inferred from its weights'}; tokenizer ${tk.vocabSize} ids. ` +
        `${(found.size / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s.`;
      status.set('ok', 'Ready: press Generate.');
      generate.disabled = false;
    } catch (e) {
      status.set('error', errorText(e));
    }
  };
  folder.addEventListener('change', () => {
    const files = folder.files ? Array.from(folder.files) : [];
    if (files.length > 0) void load(() => fromFiles(files));
  });
  loadUrl.addEventListener('click', () => void load(() => fromUrl(url.value.trim(), (t) => status.set('info', t))));

  stop.addEventListener('click', () => aborter?.abort());
  generate.addEventListener('click', async () => {
    if (!model || !tokenizer) return;
    const m = model;
    const tk = tokenizer;
    generate.disabled = true;
    stop.disabled = false;
    output.replaceChildren();
    stats.textContent = '';
    delete stats.dataset['tokens'];
    delete stats.dataset['ids'];
    aborter = new AbortController();
    try {
      const [t] = parseTemperatures(temperature.value);
      const temp = t!;
      const which = method.value as 'batch' | 'exact';
      if (which === 'batch' && Math.abs(1 / temp - Math.round(1 / temp)) > 1e-9 / temp)
        throw new Error(
          `the batch sampler needs T = 1/n (e.g. 1/2, 1/3); T = ${temperature.value} needs the exact sampler.`,
        );
      const maxNewTokens = numberOf(maxTokens, 'new tokens', 1, 2048, true);
      const promptIds = Int32Array.from([tk.bos, ...(await tk.encode(prompt.value))]);
      const head = h('span', { class: 'prompt' }, prompt.value);
      const body = h('span', { class: 'generated', 'data-testid': 'calm-generated' });
      output.append(head, body);
      const ids: number[] = [];
      const t0 = performance.now();
      status.set('info', 'Generating…');
      let pending = Promise.resolve();
      const result = await generateCalm(m, [promptIds], {
        rng: createRng(numberOf(seed, 'seed', 0, 2 ** 31, true)),
        maxNewTokens,
        temperature: temp,
        temperatureMethod: which,
        poolSize: numberOf(pool, 'pool N', 1, 2000, true),
        signal: aborter.signal,
        onTokens: (_, tokens) => {
          for (const x of tokens) if (x !== tk.eos) ids.push(x);
          const n = ids.length;
          const seconds = (performance.now() - t0) / 1000;
          // Decode everything so far: a chunk may end inside a multi-byte character.
          pending = pending.then(async () => {
            body.textContent = await tk.decode(ids.slice(0, n));
            stats.textContent = `${n} tokens in ${seconds.toFixed(2)} s — ${(n / seconds).toFixed(1)} tokens/s on ${backendName}…`;
          });
        },
      });
      await pending;
      const seconds = (performance.now() - t0) / 1000;
      const n = result.generated[0]!.length;
      const ts = result.temperatureStats;
      const cost =
        ts && ts.accepted > 0 ? `; ${(ts.drawn / ts.accepted).toFixed(1)} head draws per chunk (${which} sampler)` : '';
      stats.dataset['tokens'] = String(n);
      stats.dataset['ids'] = JSON.stringify(Array.from(result.generated[0]!));
      stats.dataset['tokensPerSecond'] = String(n / seconds);
      stats.textContent = `${n} tokens (${result.steps} steps of K = ${m.chunkSize}) in ${seconds.toFixed(2)} s — ${(n / seconds).toFixed(1)} tokens/s on ${backendName}${cost}${result.finishedAtEos[0] ? '; stopped at EOS' : ''}.`;
      status.set('ok', 'Done.');
    } catch (e) {
      status.set(
        (e as { code?: string }).code === 'ABORTED' ? 'info' : 'error',
        (e as { code?: string }).code === 'ABORTED' ? 'Stopped.' : errorText(e),
      );
    } finally {
      generate.disabled = false;
      stop.disabled = true;
    }
  });
}
