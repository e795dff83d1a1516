#!/usr/bin/env node
// The `secrets-rotator` command. The CLI lives in src/cli (TypeScript, run by Node 22's type
// stripping); this launcher only hands it the arguments and sets the exit code it returns.
import { runCli } from '../src/cli/main.ts';

process.exitCode = await runCli(process.argv.slice(2));
