#!/usr/bin/env node
// Executable entry of the `brierlm` command (package.json "bin"); all logic lives in cli.ts.
import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2));
