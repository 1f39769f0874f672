// The page in a real browser: builds it with Vite, serves the build (vite preview) with a tiny
// CALM checkpoint folder written here in the quickstart's layout, drives headless Chromium (Debian's
// `chromium`, through playwright-core) through the three panels, and checks: BrierLM equals Node's
// computation of the same text and seed (1e-9), the temperature panel draws its charts, CALM loads
// by URL and by folder picker and generates tokens on wasm, no console error, and a screenshot is
// saved to examples/web/test-output/.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveAutoencoder } from '@calm/autoencoder/node';
import { byteLevelAlphabet, hfTokenizerFromJson } from '@calm/data-pile/node';
import { createRng } from '@calm/core';
import { generateCalm } from '@calm/model';
import { loadCalm, saveCalm } from '@calm/model/node';
import { tinyCalm } from '@calm/testing/models';
import { useWasm } from '@calm/testing/tfjs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreNgram, type NgramBrierOptions } from '../src/brier.ts';

const WEB = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(WEB, 'test-output');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
// The flags the machines need (docs: node.md): headless, no sandbox as root, no background network.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const timings: Record<string, number> = {};
const t0 = performance.now();
const mark = (name: string, since: number) => {
  timings[name] = Math.round(performance.now() - since);
};

/** A tokenizer.json for the tiny model's vocabulary: the 256 byte tokens, BOS 256, EOS 257, PAD 258, no merges. */
function byteTokenizerJson(): string {
  const vocab = Object.fromEntries(byteLevelAlphabet().map((c, i) => [c, i]));
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<|begin_of_text|>', '<|end_of_text|>', '[PAD]'].map((content, i) => ({
      id: 256 + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, ignore_merges: false, vocab, merges: [] },
  });
}

let quickstart: string;
let server: PreviewServer;
let browser: Browser;
let page: Page;
let baseUrl: string;
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: run .ci/system-deps.sh (as root it installs Debian's chromium) or set CHROMIUM_PATH.`,
    );
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  // A tiny checkpoint folder in the layout `calm quickstart` writes.
  let t = performance.now();
  await useWasm();
  quickstart = mkdtempSync(join(tmpdir(), 'calm-web-quickstart-'));
  const calm = tinyCalm(1);
  await saveAutoencoder(join(quickstart, 'ae', 'final'), calm.aeParams, calm.aeConfig);
  await saveCalm(join(quickstart, 'calm', 'final'), calm, { aePath: '../ae/final' });
  calm.dispose();
  writeFileSync(join(quickstart, 'tokenizer.json'), byteTokenizerJson());
  mark('write checkpoint', t);

  t = performance.now();
  const outDir = join(OUT, 'dist');
  await build({ root: WEB, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  mark('vite build', t);

  process.env['CALM_QUICKSTART_DIR'] = quickstart;
  server = await preview({
    root: WEB,
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false },
  });
  baseUrl = server.resolvedUrls?.local[0] ?? '';
  expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

  t = performance.now();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => consoleErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  await page.goto(baseUrl);
  mark('launch and open', t);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (quickstart) rmSync(quickstart, { recursive: true, force: true });
  timings['total'] = Math.round(performance.now() - t0);
  writeFileSync(join(OUT, 'timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
});

describe('examples/web in headless Chromium', () => {
  it('BrierLM: the page gets the same numbers as Node for the same text and seed', async () => {
    const t = performance.now();
    await page.getByTestId('brier-status').filter({ hasText: 'Sample loaded' }).waitFor();
    const options: NgramBrierOptions = { order: 3, seed: 7, estimator: 'token', blockSize: 256 };
    await page.getByTestId('brier-order').fill(String(options.order));
    await page.getByTestId('brier-seed').fill(String(options.seed));
    await page.getByTestId('brier-estimator').selectOption(options.estimator);
    await page.getByTestId('brier-run').click();
    await page.locator('[data-testid="brier-status"][data-state="ok"]').waitFor({ timeout: 60_000 });
    const inBrowser = JSON.parse((await page.getByTestId('brier-summary').getAttribute('data-result'))!) as {
      brierLM: number;
      brierLMStderr: number;
      brier: number[];
      brierStderr: number[];
      numPositions: number;
    };
    mark('brier panel', t);
    const text = readFileSync(join(WEB, 'public', 'sotu-1790-1793.txt'), 'utf8');
    const { result: inNode } = await scoreNgram(text, options);
    timings['brierLM (browser)'] = inBrowser.brierLM;
    timings['brierLM (node)'] = inNode.brierLM;
    expect(inBrowser.numPositions).toBe(inNode.numPositions);
    expect(Math.abs(inBrowser.brierLM - inNode.brierLM)).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(inBrowser.brierLMStderr - inNode.brierLMStderr)).toBeLessThanOrEqual(1e-9);
    inBrowser.brier.forEach((b, i) => expect(Math.abs(b - inNode.brier[i]!)).toBeLessThanOrEqual(1e-9));
    inBrowser.brierStderr.forEach((s, i) => expect(Math.abs(s - inNode.brierStderr[i]!)).toBeLessThanOrEqual(1e-9));
    expect(inBrowser.brierLM).toBeGreaterThan(0);
    expect(await page.locator('[data-testid="brier-chart"] svg rect').count()).toBeGreaterThanOrEqual(4);
  });

  it('temperature sampling: both samplers at four temperatures, with the cost table and two charts', async () => {
    const t = performance.now();
    await page.getByTestId('temp-run').click();
    await page.locator('[data-testid="temp-status"][data-state="ok"]').waitFor({ timeout: 60_000 });
    mark('temperature panel', t);
    expect(await page.locator('[data-testid="temp-table"] tr').count()).toBe(5);
    expect(await page.locator('[data-testid="temp-charts"] svg').count()).toBe(2);
  });

  it('CALM: loads the quickstart folder by URL and generates tokens on wasm (batch sampler)', async () => {
    let t = performance.now();
    await page.getByTestId('calm-backend-choice').selectOption('wasm');
    await page.getByTestId('calm-url').fill('/quickstart/');
    await page.getByTestId('calm-load-url').click();
    await page.locator('[data-testid="calm-status"][data-state="ok"]').waitFor({ timeout: 60_000 });
    mark('calm load (URL)', t);
    expect(await page.getByTestId('calm-backend').getAttribute('data-backend')).toBe('wasm');
    expect(await page.getByTestId('calm-info').textContent()).toMatch(
      /hidden 32, 2 layers, K = 4.*config from .*ae\/final/,
    );
    t = performance.now();
    await page.getByTestId('calm-max').fill('24');
    await page.getByTestId('calm-temperature').fill('1/2');
    await page.getByTestId('calm-method').selectOption('batch');
    await page.getByTestId('calm-generate').click();
    await page
      .locator('[data-testid="calm-status"][data-state="ok"]')
      .filter({ hasText: 'Done' })
      .waitFor({ timeout: 60_000 });
    mark('calm generate (batch)', t);
    const tokens = Number(await page.getByTestId('calm-stats').getAttribute('data-tokens'));
    timings['tokens (batch)'] = tokens;
    timings['tokens/s (batch)'] = Number(await page.getByTestId('calm-stats').getAttribute('data-tokens-per-second'));
    expect(tokens).toBeGreaterThan(0);
    expect(await page.getByTestId('calm-stats').textContent()).toMatch(
      /tokens\/s on wasm; .* head draws per chunk \(batch sampler\)/,
    );
    // Node, same checkpoint folder, tokenizer (HF tokenizers here), seed and settings: the same tokens.
    const inBrowser = JSON.parse((await page.getByTestId('calm-stats').getAttribute('data-ids'))!) as number[];
    const tokenizer = await hfTokenizerFromJson(readFileSync(join(quickstart, 'tokenizer.json'), 'utf8'));
    const { model } = await loadCalm(join(quickstart, 'calm', 'final'));
    const prompt = Int32Array.from([tokenizer.bos, ...(await tokenizer.encode('The state of the Union is'))]);
    const inNode = await generateCalm(model, [prompt], {
      rng: createRng(0),
      maxNewTokens: 24,
      temperature: 0.5,
      temperatureMethod: 'batch',
      poolSize: 200,
    });
    model.dispose();
    expect(inBrowser).toEqual(Array.from(inNode.generated[0]!));
  });

  it('CALM: loads the same folder through the folder picker and generates with the exact sampler', async () => {
    let t = performance.now();
    await page.getByTestId('calm-folder').setInputFiles(quickstart);
    await page
      .locator('[data-testid="calm-status"][data-state="ok"]')
      .filter({ hasText: 'Ready' })
      .waitFor({ timeout: 60_000 });
    mark('calm load (folder picker)', t);
    expect(await page.getByTestId('calm-info').textContent()).toMatch(/Loaded calm\/final\//);
    t = performance.now();
    await page.getByTestId('calm-temperature').fill('0.7');
    await page.getByTestId('calm-method').selectOption('exact');
    await page.getByTestId('calm-generate').click();
    await page
      .locator('[data-testid="calm-status"][data-state="ok"]')
      .filter({ hasText: 'Done' })
      .waitFor({ timeout: 60_000 });
    mark('calm generate (exact)', t);
    expect(Number(await page.getByTestId('calm-stats').getAttribute('data-tokens'))).toBeGreaterThan(0);
    expect(await page.getByTestId('calm-output').textContent()).toMatch(/^The state of the Union is/);
    await page.screenshot({ path: join(OUT, 'web.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('CALM on WebGPU: Chromium with its software adapter (SwiftShader) runs the same page on webgpu', async () => {
    // A second browser: WebGPU needs the GPU process that --disable-gpu turns off.
    const t = performance.now();
    const gpuBrowser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        ...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'),
        '--enable-unsafe-webgpu',
        '--use-webgpu-adapter=swiftshader',
      ],
    });
    try {
      const gpuPage = await gpuBrowser.newPage();
      const errors: string[] = [];
      gpuPage.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      gpuPage.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      await gpuPage.goto(baseUrl);
      const hasAdapter = await gpuPage.evaluate(
        async () =>
          !!(await (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()),
      );
      expect(hasAdapter, 'Chromium offers a SwiftShader WebGPU adapter').toBe(true);
      await gpuPage.getByTestId('calm-backend-choice').selectOption('auto');
      await gpuPage.getByTestId('calm-load-url').click();
      await gpuPage.locator('[data-testid="calm-status"][data-state="ok"]').waitFor({ timeout: 60_000 });
      expect(await gpuPage.getByTestId('calm-backend').getAttribute('data-backend')).toBe('webgpu');
      await gpuPage.getByTestId('calm-max').fill('4');
      await gpuPage.getByTestId('calm-generate').click();
      await gpuPage
        .locator('[data-testid="calm-status"][data-state="ok"]')
        .filter({ hasText: 'Done' })
        .waitFor({ timeout: 90_000 });
      expect(Number(await gpuPage.getByTestId('calm-stats').getAttribute('data-tokens'))).toBeGreaterThan(0);
      timings['tokens/s (webgpu, SwiftShader)'] = Number(
        await gpuPage.getByTestId('calm-stats').getAttribute('data-tokens-per-second'),
      );
      await gpuPage.locator('#calm-panel').screenshot({ path: join(OUT, 'calm-webgpu.png') });
      expect(errors).toEqual([]);
    } finally {
      await gpuBrowser.close();
      mark('webgpu (launch, load, generate)', t);
    }
  });
});
