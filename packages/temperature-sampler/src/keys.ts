// How outcomes are compared: both algorithms only ask "is this draw the same outcome as that one?",
// answered by exact equality of a key (for chunks: all K token ids equal).
import { chunkKey } from '@calm/core';
import { fail } from './internal/errors.js';

/**
 * A value that identifies an outcome; two outcomes are the same when their keys are `===`
 * (`Map` semantics, so `NaN` equals `NaN`).
 * @see {@link defaultOutcomeKey}
 * @category Outcomes
 */
export type OutcomeKey = string | number | bigint | boolean;

/**
 * Maps an outcome to its {@link OutcomeKey}.
 * @typeParam X - The outcome type (a chunk, a token id, a string, …).
 * @see {@link defaultOutcomeKey}
 * @category Outcomes
 */
export type OutcomeKeyFn<X> = (outcome: X) => OutcomeKey;

/**
 * The key used when none is given: primitives are their own key; arrays and typed arrays of
 * numbers (chunks of token ids) are keyed by all their entries, so chunks compare by exact
 * equality of every id.
 *
 * @param outcome - A primitive, or an array / typed array of numbers.
 * @returns The outcome itself for primitives; the comma-joined ids for arrays.
 * @throws {@link @calm/core!CalmError | CalmError} `INVALID_ARGUMENT` for any other value (pass a key function instead).
 * @example
 * {@includeCode ../test/examples.test.ts#outcome-key}
 * @category Outcomes
 */
export function defaultOutcomeKey(outcome: unknown): OutcomeKey {
  switch (typeof outcome) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return outcome;
    default:
      if (Array.isArray(outcome) || (ArrayBuffer.isView(outcome) && !(outcome instanceof DataView))) {
        return chunkKey(outcome as unknown as ArrayLike<number>);
      }
      return fail(
        'INVALID_ARGUMENT',
        `cannot compare outcomes of type ${outcome === null ? 'null' : typeof outcome} by default; ` +
          'pass a `key` function that maps each outcome to a string or number (equal outcomes, equal keys).',
      );
  }
}
