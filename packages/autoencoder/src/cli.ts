#!/usr/bin/env node
// The `calm-autoencoder` command: converts an autoencoder checkpoint (PyTorch `.bin`, read by the
// safe allow-listed unpickler, or safetensors) into the Hugging Face safetensors layout, and
// inspects checkpoints. Prints one JSON object on stdout; exits 1 on error.

import { isCalmError } from '@calm/core';
import { autoencoderConfigToJson } from './config.js';
import {
  convertAutoencoderCheckpoint,
  readAutoencoderCheckpoint,
  readAutoencoderConfigFile,
  type ConvertDtype,
  type ReadCheckpointOptions,
} from './node.js';

const USAGE = `Usage:
  calm-autoencoder convert <dir|file.bin|file.safetensors> <out-dir> [--dtype keep|f32|f16|bf16] [--config config.json]
      Writes <out-dir>/config.json and <out-dir>/model.safetensors (official names, no alias key).
      The config comes from --config, else config.json beside the weights, else the weights' shapes.
  calm-autoencoder inspect <dir|file>
      Checks a checkpoint and prints its config and tensors.
Output: one JSON object on stdout ({"ok": true, ...} or {"ok": false, "error": {...}}).`;

interface Parsed {
  command: string | undefined;
  positional: string[];
  flags: Map<string, string>;
}

function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') flags.set('help', 'true');
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else {
        const v = argv[i + 1];
        if (v === undefined) throw usageError(`${a} needs a value`);
        flags.set(a.slice(2), v);
        i++;
      }
    } else positional.push(a);
  }
  return { command: positional.shift(), positional, flags };
}

function usageError(message: string): Error & { usage: true } {
  return Object.assign(new Error(message), { usage: true as const });
}

function print(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj, null, 2)}\n`);
}

async function options(flags: Map<string, string>): Promise<ReadCheckpointOptions> {
  const cfg = flags.get('config');
  return cfg === undefined ? {} : { config: await readAutoencoderConfigFile(cfg) };
}

async function main(argv: string[]): Promise<number> {
  const { command, positional, flags } = parseArgs(argv);
  if (flags.has('help') || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !flags.has('help') ? 1 : 0;
  }
  for (const f of flags.keys()) if (!['dtype', 'config'].includes(f)) throw usageError(`unknown option --${f}`);
  if (command === 'convert') {
    if (positional.length !== 2) throw usageError('convert needs <source> and <out-dir>');
    const dtypeFlag = (flags.get('dtype') ?? 'keep').toUpperCase();
    const dtype = (dtypeFlag === 'KEEP' ? 'keep' : dtypeFlag) as ConvertDtype;
    if (!['keep', 'F32', 'F16', 'BF16'].includes(dtype))
      throw usageError(`--dtype must be keep, f32, f16 or bf16, got ${flags.get('dtype')}`);
    const report = await convertAutoencoderCheckpoint(positional[0]!, positional[1]!, {
      ...(await options(flags)),
      dtype,
    });
    print({ ok: true, command, ...report });
    return 0;
  }
  if (command === 'inspect') {
    if (positional.length !== 1) throw usageError('inspect needs one <source>');
    const { config, tensors, report } = await readAutoencoderCheckpoint(positional[0]!, await options(flags));
    const list = [...tensors].map(([name, a]) => ({ name, dtype: a.dtype, shape: a.shape }));
    const parameterCount = [...tensors.values()].reduce((n, a) => n + a.data.length, 0);
    print({ ok: true, command, ...report, parameterCount, config: autoencoderConfigToJson(config), tensors: list });
    return 0;
  }
  throw usageError(`unknown command "${command}"`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = e as Error & { usage?: boolean };
    const error = isCalmError(e)
      ? { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) }
      : { code: err.usage ? 'USAGE' : 'INTERNAL', message: err.message ?? String(e) };
    print({ ok: false, error, ...(err.usage ? { usage: USAGE } : {}) });
    process.exitCode = 1;
  },
);
