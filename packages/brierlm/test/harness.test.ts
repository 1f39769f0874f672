// Result serialisation (harness layout, NaN → null, JSONL, summary) and the browser-safety of
// the main and http entry points (no node: imports in their module graphs).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NGramModel, evaluateBrierLM, formatSummary, positionsToJsonl, toHarnessResults } from '../src/index.js';

const lm = NGramModel.fit([[0, 1, 2, 3, 0, 1, 2, 3, 0, 2]], { order: 2, vocabSize: 4 });
const block = Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 3, 3, 2, 1, 0, 0]);

describe('harness layout', () => {
  it('uses "metric,none" keys with *_stderr, configs, versions, config, date', async () => {
    const res = await evaluateBrierLM({ kind: 'explicit', model: lm }, [block], { seed: 4, keepPositions: true });
    const h = toHarnessResults(res, {
      task: 'toy',
      model: 'ngram',
      dataset: 'toy.jsonl',
      blockSize: 16,
      date: new Date(1_700_000_000_000),
      evaluationSeconds: 1.5,
    });
    expect(Object.keys(h.results['toy']!)).toEqual([
      'alias',
      'brier1,none',
      'brier1_stderr,none',
      'brier2,none',
      'brier2_stderr,none',
      'brier3,none',
      'brier3_stderr,none',
      'brier4,none',
      'brier4_stderr,none',
      'brierlm,none',
      'brierlm_stderr,none',
      'brierlm_ci_lower,none',
      'brierlm_ci_upper,none',
    ]);
    expect(h.results['toy']!['brierlm,none']).toBe(res.brierLM);
    expect(h.date).toBe(1_700_000_000);
    expect(h.total_evaluation_time_seconds).toBe('1.5');
    expect(h.config).toMatchObject({ model: 'ngram', random_seed: 4, estimator: 'explicit' });
    expect(h.higher_is_better['toy']!['brierlm']).toBe(true);
    const jsonl = positionsToJsonl(res.positions!);
    expect(jsonl.split('\n')).toHaveLength(res.numPositions + 1);
    expect(JSON.parse(jsonl.split('\n')[0]!)).toMatchObject({ block: 0, position: 0, tokenIndex: 1 });
  });

  it('writes undefined errors as null and says BrierLM is x100 in the summary', async () => {
    const wrong = {
      vocabSize: 4,
      nextTokenProbs: async (c: readonly Int32Array[]) =>
        new Float32Array(c.length * 4).map((_, i) => (i % 4 === 0 ? 1 : 0)),
    };
    const res = await evaluateBrierLM({ kind: 'explicit', model: wrong }, [
      Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1, 2, 1]),
    ]);
    expect(res.brierLM).toBe(0);
    expect(res.brier[0]).toBeLessThan(0);
    expect(res.brierLMStderr).toBeNaN();
    const text = JSON.stringify(toHarnessResults(res));
    expect(JSON.parse(text).results.wikitext103_brierlm['brierlm_stderr,none']).toBeNull();
    const summary = formatSummary(res);
    expect(summary).toMatch(/^BrierLM \(x100\): 0\.00/);
    expect(summary).toMatch(/warning: BrierLM is 0/);
  });
});

describe('browser safety', () => {
  /** All relative modules reachable from an entry, with their import specifiers. */
  function moduleGraph(entry: string): Map<string, string[]> {
    const seen = new Map<string, string[]>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      const src = readFileSync(file, 'utf8');
      const specs = [...src.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
      seen.set(file, specs);
      for (const s of specs) if (s.startsWith('.')) visit(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
    };
    visit(entry);
    return seen;
  }

  it('the main and http entries import nothing from node:', () => {
    const src = join(dirname(new URL(import.meta.url).pathname), '../src');
    for (const entry of ['index.ts', 'http.ts']) {
      const graph = moduleGraph(join(src, entry));
      expect(graph.size).toBeGreaterThan(entry === 'index.ts' ? 5 : 1);
      for (const [file, specs] of graph) {
        for (const s of specs) {
          expect(
            s.startsWith('node:') || s === '@calm/core/node' || ['fs', 'path', 'http', 'url'].includes(s),
            `${file} imports ${s}`,
          ).toBe(false);
        }
      }
    }
    // The node entry is where file access lives (through @calm/core/node's readers and writers).
    expect([...moduleGraph(join(src, 'node.ts')).values()].flat()).toContain('@calm/core/node');
  });
});
