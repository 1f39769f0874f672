// The generator module of the no-tfjs check's installed-CLI run (scripts/notebooks.sh): a
// byte-level 3-gram fit on WikiText documents 10–19, imported from the packed @calm/brierlm that
// `pnpm deploy` put beside it (no @tensorflow package is installed there).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { byteTokenizer, NGramModel, parseJsonlTexts } from '@calm/brierlm';

export const tokenizer = byteTokenizer();
const path = join(process.env.CALM_DATA_DIR, 'wikitext-103-document-test.jsonl');
const docs = parseJsonlTexts(readFileSync(path, 'utf8'), path).slice(10, 20);
const lm = NGramModel.fit(
  docs.map((d) => tokenizer.encode(d)),
  { order: 3, vocabSize: tokenizer.vocabSize },
);

export default ({ seed }) => lm.asChunkSampler(4, { seed });
