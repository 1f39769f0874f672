// The docs rule checker on a tiny package written to a temporary folder: TypeDoc converts it for
// real (root typedoc.json options), with a stand-in `@tensorflow/tfjs-core` that declares the
// tensor types, so the test covers includes, link resolution and type detection end to end.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPackages, type DocProblem } from '../check-docs.ts';

const repo = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'calm-docs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const files: Record<string, string> = {
  'package.json': JSON.stringify({ name: '@fixture/docs', version: '0.0.0', type: 'module' }),
  'tsconfig.json': JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      strict: true,
      skipLibCheck: true,
      types: [],
    },
    include: ['src'],
  }),
  'typedoc.json': JSON.stringify({
    entryPoints: ['src/index.ts'],
    readme: 'none',
    jsDocCompatibility: { exampleTag: false },
  }),
  'node_modules/@tensorflow/tfjs-core/package.json': JSON.stringify({
    name: '@tensorflow/tfjs-core',
    version: '0.0.0',
    types: 'index.d.ts',
  }),
  'node_modules/@tensorflow/tfjs-core/index.d.ts':
    'export declare class Tensor { shape: number[]; }\nexport declare class Tensor2D extends Tensor {}\nexport declare class Scalar extends Tensor {}\n',
  'test/examples.test.ts': ['// #region add-one', 'const y = addOne(1);', '// #endregion add-one', ''].join('\n'),
  'src/index.ts': `import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import type * as tf from '@tensorflow/tfjs-core';

/**
 * Adds one.
 * @example
 * {@includeCode ../test/examples.test.ts#add-one}
 */
export function addOne(x: number): number { return x + 1; }

/**
 * Adds two.
 * @see {@link addOne}
 */
export function addTwo(x: number): number { return x + 2; }

/** Adds three, like {@link addTwo} (a link to a link is not an example). */
export function addThree(x: number): number { return x + 3; }

/** A counter.
 * @example
 * \`\`\`ts
 * new Counter().reset();
 * \`\`\`
 */
export class Counter {
  /** Resets it. */
  reset(): void {}
}

/** Resets counters, as {@link Counter.reset} does (a member of an export with an example). */
export function resetAll(): void {}

/**
 * Means of rows, documented.
 * @param x - Token ids, [batch, seq] int32.
 * @returns The mean, a scalar float32.
 * @see {@link addOne}
 */
export function meanOfIds(x: Tensor2D): Scalar { return x as unknown as Scalar; }

/**
 * Means of rows, undocumented shapes.
 * @param x - The input matrix.
 * @returns The mean, float32.
 * @see {@link addOne}
 */
export function meanOf(x: Record<string, tf.Tensor2D>): Scalar { return x as unknown as Scalar; }

/** Holds a tensor. @see {@link addOne} */
export interface Holder {
  /** The held tensor, [rows, cols]. */
  held: Tensor2D;
}

/**
 * Has an example whose region does not exist.
 * @example
 * {@includeCode ../test/examples.test.ts#no-such-region}
 */
export function broken(): void {}

export function bare(): void {}

/**
 * Fails loudly.
 * @throws {@link Counter} (a link in \`@throws\` names a type, not an example of this function)
 */
export function fails(): void {}
`,
  // A second package keeps TypeDoc's default `@example` parsing, which shows includes as literal text.
  'literal/package.json': JSON.stringify({ name: '@fixture/literal', version: '0.0.0', type: 'module' }),
  'literal/tsconfig.json': JSON.stringify({ compilerOptions: { strict: true, types: [] }, include: ['src'] }),
  'literal/typedoc.json': JSON.stringify({ entryPoints: ['src/index.ts'], readme: 'none' }),
  'literal/test/examples.test.ts': ['// #region one', 'const x = one();', '// #endregion one', ''].join('\n'),
  'literal/src/index.ts':
    '/**\n * Returns one.\n * @example\n * {@includeCode ../test/examples.test.ts#one}\n */\nexport function one(): number { return 1; }\n',
};

let result: { problems: DocProblem[]; typedocErrors: boolean };
beforeAll(async () => {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(tmp, path)), { recursive: true });
    writeFileSync(join(tmp, path), text);
  }
  result = await checkPackages([tmp, join(tmp, 'literal')], join(repo, 'typedoc.json'));
});

const lines = (): string[] => result.problems.map((p) => `${p.pkg}: ${p.name}: ${p.problem}`);

describe('check-docs', () => {
  it('passes compliant exports: an included example, a link to one, a link to a member, shaped tensor docs', () => {
    const flagged = new Set(result.problems.map((p) => p.name));
    for (const name of ['addOne', 'addTwo', 'Counter', 'resetAll', 'meanOfIds'])
      expect(flagged.has(name), name).toBe(false);
  });

  it('flags every broken rule, and only those', () => {
    const noExample = 'no @example and no {@link} to an export (or member of one) that has an @example';
    expect(lines()).toEqual([
      '@fixture/docs: Holder: property held: tensor doc shows no dtype (float32, int32, …)',
      `@fixture/docs: addThree: ${noExample}`,
      '@fixture/docs: bare: no summary',
      `@fixture/docs: bare: ${noExample}`,
      '@fixture/docs: broken: @example has no code',
      `@fixture/docs: fails: ${noExample}`,
      '@fixture/docs: meanOf: parameter x: tensor doc shows no shape ([batch, seq] or scalar) and no dtype (float32, int32, …)',
      '@fixture/docs: meanOf: return value: tensor doc shows no shape ([batch, seq] or scalar)',
      '@fixture/literal: one: @example shows {@includeCode} as literal text (set jsDocCompatibility.exampleTag to false)',
    ]);
    // The missing region is also a TypeDoc error, so the CLI fails even without the rule.
    expect(result.typedocErrors).toBe(true);
  });
});
