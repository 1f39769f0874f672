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
 * - `pos`: a finite number > 0.
 * - `nonNeg`: a finite number ≥ 0.
 * - `prob`: a number in [0, 1) (a dropout or masking probability).
 * - `tokenId`: a safe integer ≥ 0.
 * - `tokenIdOrNull`: a token id, or `null` when the vocabulary has no such token.
 * - `bool`: `true` or `false`.
 * - `string`: any string.
 *
 * @see {@link checkConfigValue}, which applies them.
 * @category Config validation
 */
export type ConfigValueKind =
  | 'posInt'
  | 'nonNegInt'
  | 'pos'
  | 'nonNeg'
  | 'prob'
  | 'tokenId'
  | 'tokenIdOrNull'
  | 'bool'
  | 'string';

/**
 * A custom rule for one configuration value, for constraints the built-in
 * {@link ConfigValueKind}s do not express.
 *
 * @remarks
 * Called with the field's name as it should appear in the message (camelCase or the JSON name)
 * and the value. Returns `null` when the value is fine, else one sentence that starts with the
 * name, says what was expected and shows the value.
 *
 * @see {@link checkConfigValue}, whose example defines one.
 * @category Config validation
 */
export type ConfigValueRule = (name: string, value: unknown) => string | null;

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
  if (typeof rule === 'function') return rule(name, value);
  const v = value;
  const show = JSON.stringify(v) ?? String(v);
  switch (rule) {
    case 'posInt':
      return Number.isSafeInteger(v) && (v as number) >= 1 ? null : `${name} must be a positive integer, got ${show}`;
    case 'nonNegInt':
      return Number.isSafeInteger(v) && (v as number) >= 0
        ? null
        : `${name} must be a non-negative integer, got ${show}`;
    case 'pos':
      return typeof v === 'number' && Number.isFinite(v) && v > 0
        ? null
        : `${name} must be a finite number > 0, got ${show}`;
    case 'nonNeg':
      return typeof v === 'number' && Number.isFinite(v) && v >= 0
        ? null
        : `${name} must be a finite number >= 0, got ${show}`;
    case 'prob':
      return typeof v === 'number' && v >= 0 && v < 1 ? null : `${name} must be a probability in [0, 1), got ${show}`;
    case 'tokenId':
      return Number.isSafeInteger(v) && (v as number) >= 0
        ? null
        : `${name} must be a non-negative integer token id, got ${show}`;
    case 'tokenIdOrNull':
      return v === null || (Number.isSafeInteger(v) && (v as number) >= 0)
        ? null
        : `${name} must be a non-negative integer token id or null, got ${show}`;
    case 'bool':
      return typeof v === 'boolean' ? null : `${name} must be true or false, got ${show}`;
    case 'string':
      return typeof v === 'string' ? null : `${name} must be a string, got ${show}`;
  }
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
 * @throws {@link CalmError} `INVALID_CONFIG` when `problems` is not empty.
 * @example
 * {@includeCode ../test/config-validation.test.ts#throw-problems}
 * @category Config validation
 */
export function throwConfigProblems(problems: readonly string[], what: string, source?: string): void {
  if (problems.length === 0) return;
  throw new CalmError(
    'INVALID_CONFIG',
    `${what} has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n- ${problems.join('\n- ')}`,
    {
      ...(source === undefined ? {} : { source }),
      details: { problems: [...problems] },
    },
  );
}
