/**
 * TypeScript examples the docs mark `<!-- test: typecheck -->` are complete modules: each one
 * compiles, strict, against this checkout's public API (imported by the package's own name), so an
 * example cannot drift from the API it shows.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-lambdas.ts';
import { typecheckBlocks } from './support/markdown.ts';

const execFileAsync = promisify(execFile);
const DOCUMENTS = ['README.md', 'docs/testing.md', 'docs/client.md', 'docs/architecture.md'];

it('every example marked for type-checking compiles against the public API', {
  timeout: 120_000,
}, async () => {
  const blocks = [];
  for (const file of DOCUMENTS) {
    const text = await readFile(join(REPO_ROOT, file), 'utf8').catch(() => '');
    blocks.push(...typecheckBlocks(file, text));
  }
  expect(blocks.length, 'the README marks its custom rotator').toBeGreaterThan(0);

  // Inside the repository, so that `secrets-rotator` resolves to this package by its own name.
  const dir = join(REPO_ROOT, '.tmp', `docs-typecheck-${process.pid}`);
  await mkdir(dir, { recursive: true });
  try {
    const names = blocks.map((block, index) => {
      const name = `${block.file.replace(/[^\w]/g, '_')}_${block.line}_${index}.ts`;
      return { name, block };
    });
    for (const { name, block } of names) await writeFile(join(dir, name), `${block.code}\n`);
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: '../../tsconfig.json', include: ['*.ts'] }),
    );
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await execFileAsync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    // Name the document and line instead of the temporary file.
    let report = result;
    for (const { name, block } of names) report = report.replaceAll(name, `${block.file}:${block.line}`);
    expect(report).toBe('');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
