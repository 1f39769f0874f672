// A Node module hook that makes any import of @tensorflow/* fail: scripts/notebooks.sh runs the
// framework-free examples (no-tfjs/package.json lists them) under it to prove they never load
// TensorFlow.js, in the repository and in the folder `--no-tfjs` deploys them to.
//   node --conditions=@calm/source --import tsx --import ./examples/notebooks/lib/no-tfjs.mjs examples/notebooks/01-brierlm.ts
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (/^@tensorflow\\//.test(specifier)) {
    throw new Error(\`\${specifier} was imported from \${context.parentURL}: this example must run without TensorFlow.js.\`);
  }
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
