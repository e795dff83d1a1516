#!/usr/bin/env node
// The `secrets-rotator` command: hands the arguments to the CLI and sets the exit code it returns.
// Installed from npm, it runs the compiled JavaScript of dist/lib (Node never strips TypeScript
// types under node_modules); in a checkout, it runs src/ directly (Node 22 strips the types), so
// no build step is needed while developing.
import { existsSync, realpathSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = realpathSync(fileURLToPath(import.meta.url));
const installed = here.split(sep).includes('node_modules');
const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/lib/cli/main.js', import.meta.url);
const entry = !installed && existsSync(source) ? source : compiled;
if (!existsSync(entry)) {
  console.error(
    `secrets-rotator: ${fileURLToPath(entry)} is missing.\n` +
      'fix: in a checkout, run it with Node 22 or later; an installed package is incomplete: reinstall it',
  );
  process.exit(2);
}
// A reader that stops early (`| head`) closes the pipe: the output ends there, the command goes on to
// its own end and exit code (a rotation is not abandoned because nobody reads the rest).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
