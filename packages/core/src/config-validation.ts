// Field-by-field validation of configuration objects that reports every problem at once. The
// model configurations of `@calm/autoencoder` and `@calm/trainer` mirror official Hugging Face
// `config.json` files (camelCase keys in TypeScript, snake_case in the file); both describe their
// fields as tables of {@link ConfigField}s and raise one INVALID_CONFIG error listing everything
// that is wrong, so a user fixes a config file in one pass.

import { CalmError } from './errors.js';

/**
 * The built-in rules for one configuration value, by name.
 *
 * @remarks
 * - `posInt`: a safe integer ≥ 1.
 * - `nonNegInt`: a safe integer ≥ 0.
 * - `int`: any safe integer (a seed).
 * - `pos`: a finite number > 0.
 * - `nonNeg`: a finite number ≥ 0.
 * - `prob`: a number in [0, 1) (a dropout or masking probability, an Adam β).
 * - `tokenId`: a safe integer ≥ 0.
 * - `tokenIdOrNull`: a token id, or `null` when the vocabulary has no such token.
 * - `bool`: `true` or `false`.
 * - `string`: any string.
 * - `stringList`: an array of strings (file lists).
 *
 * @see {@link checkConfigValue}, which applies them; {@link configOrNull}, {@link configOptional},
 *   {@link configOneOf}, {@link configIntAtLeast} and {@link configRule} for the rules they do not
 *   cover.
 * @category Config validation
 */
export type ConfigValueKind =
  | 'posInt'
  | 'nonNegInt'
  | 'int'
  | 'pos'
  | 'nonNeg'
  | 'prob'
  | 'tokenId'
  | 'tokenIdOrNull'
  | 'bool'
  | 'string'
  | 'stringList';

/**
 * A custom rule for one configuration value, for constraints the built-in
 * {@link ConfigValueKind}s do not express.
 *
 * @remarks
 * Called with the field's name as it should appear in the message (camelCase or the JSON name)
 * and the value. Returns `null` when the value is fine, else one sentence that starts with the
 * name, says what was expected and shows the value. {@link configRule} writes that sentence for
 * you; write the function by hand only when the message depends on the value.
 *
 * @see {@link checkConfigValue}, whose example defines one.
 * @category Config validation
 */
export type ConfigValueRule = (name: string, value: unknown) => string | null;

/**
 * A {@link ConfigValueRule} that also carries its test and what it expects, so that combinators
 * such as {@link configOrNull} can extend it. Made by {@link configRule} and the `config*`
 * rule builders.
 *
 * @see {@link configRule}
 * @category Config validation
 */
export interface DescribedConfigRule {
  /**
   * Checks one value.
   * @param name - The field's name as it should appear in the message.
   * @param value - The value (`undefined` when absent).
   * @returns `null` when `test(value)` holds, else `<name> must be <expected>, got <value>`.
   */
  (name: string, value: unknown): string | null;
  /** What a valid value is, completing "must be …" (e.g. `a positive integer`). */
  readonly expected: string;
  /**
   * Tells whether a value passes.
   * @param value - The value.
   * @returns `true` when it passes.
   */
  readonly test: (value: unknown) => boolean;
}

/**
 * One row of a configuration's field table: the key in the TypeScript object, the key in the
 * JSON file, and the rule the value must pass.
 *
 * @typeParam K - The configuration's keys (e.g. `keyof MyConfig & string`).
 * @see {@link collectConfigProblems}, which checks a whole object against a table.
 * @category Config validation
 */
export type ConfigField<K extends string = string> = readonly [
  key: K,
  jsonName: string,
  rule: ConfigValueKind | ConfigValueRule,
];

/**
 * Shows a value in a message: JSON where it has one (`"gelu"`, `[1]`), else `String` (`NaN`,
 * `undefined`); cut to 120 characters, so a large or cyclic object never floods (or breaks) one.
 */
function showValue(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/**
 * Builds a rule from a test and a description of the values that pass; its message reads
 * `<name> must be <expected>, got <value>`.
 *
 * @param expected - What a valid value is, completing "must be …" (e.g. `a non-empty path`).
 * @param test - Tells whether a value passes.
 * @returns The rule, usable in a {@link ConfigField} and by {@link configOrNull}.
 * @example
 * {@includeCode ../test/config-validation.test.ts#rule-builders}
 * @category Config validation
 */
export function configRule(expected: string, test: (value: unknown) => boolean): DescribedConfigRule {
  const rule = (name: string, value: unknown) =>
    test(value) ? null : `${name} must be ${expected}, got ${showValue(value)}`;
  return Object.assign(rule, { expected, test });
}

const isSafeIntAtLeast = (v: unknown, min: number) => Number.isSafeInteger(v) && (v as number) >= min;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const KINDS: Readonly<Record<ConfigValueKind, DescribedConfigRule>> = {
  posInt: configRule('a positive integer', (v) => isSafeIntAtLeast(v, 1)),
  nonNegInt: configRule('a non-negative integer', (v) => isSafeIntAtLeast(v, 0)),
  int: configRule('an integer', (v) => Number.isSafeInteger(v)),
  pos: configRule('a finite number > 0', (v) => isFiniteNumber(v) && v > 0),
  nonNeg: configRule('a finite number >= 0', (v) => isFiniteNumber(v) && v >= 0),
  prob: configRule('a probability in [0, 1)', (v) => typeof v === 'number' && v >= 0 && v < 1),
  tokenId: configRule('a non-negative integer token id', (v) => isSafeIntAtLeast(v, 0)),
  tokenIdOrNull: configRule('a non-negative integer token id or null', (v) => v === null || isSafeIntAtLeast(v, 0)),
  bool: configRule('true or false', (v) => typeof v === 'boolean'),
  string: configRule('a string', (v) => typeof v === 'string'),
  stringList: configRule('a list of strings', (v) => Array.isArray(v) && v.every((x) => typeof x === 'string')),
};

/**
 * The rule for a safe integer at least `min` (for lower bounds other than the 0 and 1 of
 * `nonNegInt` and `posInt`).
 *
 * @param min - The smallest valid value.
 * @returns A rule whose message reads `<name> must be an integer >= <min>, got <value>`.
 * @example
 * {@includeCode ../test/config-validation.test.ts#rule-builders}
 * @category Config validation
 */
export function configIntAtLeast(min: number): DescribedConfigRule {
  return configRule(`an integer >= ${min}`, (v) => isSafeIntAtLeast(v, min));
}

/**
 * The rule for one of a fixed set of values (an enumeration such as a solver name).
 *
 * @param values - The valid values, compared with `===`.
 * @returns A rule whose message reads `<name> must be one of "a", "b", got <value>`.
 * @example
 * {@includeCode ../test/config-validation.test.ts#rule-builders}
 * @category Config validation
 */
export function configOneOf(...values: ReadonlyArray<string | number | boolean>): DescribedConfigRule {
  return configRule(`one of ${values.map((o) => JSON.stringify(o)).join(', ')}`, (v) =>
    (values as readonly unknown[]).includes(v),
  );
}

/**
 * Lets a rule also accept `null` (a setting that can be switched off).
 *
 * @param rule - A built-in kind or a rule from {@link configRule} and the other builders.
 * @returns A rule that passes `null` and whatever `rule` passes; its message says `… or null`.
 * @example
 * {@includeCode ../test/config-validation.test.ts#rule-builders}
 * @category Config validation
 */
export function configOrNull(rule: ConfigValueKind | DescribedConfigRule): DescribedConfigRule {
  const r = typeof rule === 'string' ? KINDS[rule] : rule;
  return configRule(`${r.expected} or null`, (v) => v === null || r.test(v));
}

/**
 * Lets a rule also accept `undefined` (an option that may be left out and has no default).
 *
 * @param rule - A built-in kind or a rule from {@link configRule} and the other builders.
 * @returns A rule that passes `undefined` and whatever `rule` passes; its message says `… or absent`.
 * @example
 * {@includeCode ../test/config-validation.test.ts#rule-builders}
 * @category Config validation
 */
export function configOptional(rule: ConfigValueKind | DescribedConfigRule): DescribedConfigRule {
  const r = typeof rule === 'string' ? KINDS[rule] : rule;
  return configRule(`${r.expected} or absent`, (v) => v === undefined || r.test(v));
}

/**
 * Checks one configuration value against a rule.
 *
 * @param name - The field's name as it should appear in the message.
 * @param rule - A built-in {@link ConfigValueKind} or a custom {@link ConfigValueRule}.
 * @param value - The value to check (any JSON value; `undefined` when absent).
 * @returns `null` when the value passes, else the problem as one sentence, e.g.
 *   `hiddenSize must be a positive integer, got 1.5`.
 * @example
 * {@includeCode ../test/config-validation.test.ts#check-value}
 * @category Config validation
 */
export function checkConfigValue(name: string, rule: ConfigValueKind | ConfigValueRule, value: unknown): string | null {
  return (typeof rule === 'function' ? rule : KINDS[rule])(name, value);
}

/**
 * Checks every field of a configuration object against its field table and returns all the
 * problems, in table order.
 *
 * @param config - The configuration, keyed by each field's `key` (camelCase).
 * @param fields - The field table.
 * @param options - `jsonNames: true` names the fields by their JSON names in the messages (for
 *   errors about a `config.json` file); the default uses the camelCase keys.
 * @returns One sentence per problem; empty when the configuration is valid.
 * @example
 * {@includeCode ../test/config-validation.test.ts#collect-problems}
 * @category Config validation
 */
export function collectConfigProblems(
  config: Readonly<Record<string, unknown>>,
  fields: ReadonlyArray<ConfigField>,
  options: { jsonNames?: boolean } = {},
): string[] {
  const problems: string[] = [];
  for (const [key, jsonName, rule] of fields) {
    const p = checkConfigValue(options.jsonNames === true ? jsonName : key, rule, config[key]);
    if (p !== null) problems.push(p);
  }
  return problems;
}

/**
 * Returns a function that names a field the way {@link collectConfigProblems} does, for the
 * cross-field checks a configuration adds after the per-field ones.
 *
 * @param fields - The field table.
 * @param jsonNames - `true` to map each key to its JSON name; `false` to keep the key.
 * @returns `(key) => name`; keys missing from the table are returned unchanged.
 * @example
 * {@includeCode ../test/config-validation.test.ts#field-namer}
 * @category Config validation
 */
export function configFieldNamer(fields: ReadonlyArray<ConfigField>, jsonNames: boolean): (key: string) => string {
  if (!jsonNames) return (key) => key;
  const names = new Map(fields.map(([key, jsonName]) => [key, jsonName]));
  return (key) => names.get(key) ?? key;
}

/**
 * Throws one `INVALID_CONFIG` {@link CalmError} listing every problem, or returns when there
 * are none.
 *
 * @remarks
 * The message reads `<what> has N problems:` followed by one `- problem` line each; the list is
 * also in the error's `details.problems`, for programs.
 * @param problems - The problems found (e.g. by {@link collectConfigProblems}).
 * @param what - What was checked, e.g. `autoencoder config` or a file name.
 * @param source - The package raising the error, prefixed to the message (e.g. `@calm/trainer`).
 * @param code - The error code: `INVALID_CONFIG` (the default) for a configuration,
 *   `INVALID_ARGUMENT` for the options of a function call. @defaultValue `'INVALID_CONFIG'`
 * @throws {@link CalmError} `INVALID_CONFIG` (or `code`) when `problems` is not empty.
 * @example
 * {@includeCode ../test/config-validation.test.ts#throw-problems}
 * @category Config validation
 */
export function throwConfigProblems(
  problems: readonly string[],
  what: string,
  source?: string,
  code: 'INVALID_CONFIG' | 'INVALID_ARGUMENT' = 'INVALID_CONFIG',
): void {
  if (problems.length === 0) return;
  throw new CalmError(
    code,
    `${what} has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n- ${problems.join('\n- ')}`,
    {
      ...(source === undefined ? {} : { source }),
      details: { problems: [...problems] },
    },
  );
}
