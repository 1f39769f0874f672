// Id validation shared by the tokenizer implementations (js-tiktoken silently skips unknown ids
// when decoding; we refuse them instead).
import { fail } from './errors.js';

/** Returns `ids` as a plain array after checking every id is an integer in [0, vocabSize). */
export function checkIds(ids: ArrayLike<number>, vocabSize: number, name: string): number[] {
  const out = Array.from(ids);
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= vocabSize) {
      fail(
        'INVALID_ARGUMENT',
        `${name}.decode: ids[${i}] = ${v} is outside [0, ${vocabSize}); pass ids produced by this tokenizer.`,
      );
    }
  }
  return out;
}
