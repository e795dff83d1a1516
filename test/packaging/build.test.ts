/**
 * The build: one zip per handler holding `index.mjs` and its chunks, byte-identical across builds, within
 * its size budget, described by manifest.json, with the source map beside it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuildResult,
  buildLambdas,
  listHandlers,
  REPO_ROOT,
  readBudgets,
} from '../../scripts/build-lambdas.ts';

const execFileAsync = promisify(execFile);

let workDir: string;
let first: BuildResult;
let second: BuildResult;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'lambda-build-'));
  first = await buildLambdas({ outDir: join(workDir, 'a'), enforceBudgets: false });
  second = await buildLambdas({ outDir: join(workDir, 'b'), enforceBudgets: false });
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Every file of a zip, one after the other. */
async function zippedCode(zipPath: string): Promise<string> {
  const { stdout } = await execFileAsync('unzip', ['-p', zipPath], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

describe('npm run build', () => {
  it('makes one zip per file of handlers/', async () => {
    const handlers = await listHandlers();
    expect(handlers.length).toBeGreaterThan(0);
    expect(first.lambdas.map((lambda) => lambda.name)).toEqual(handlers);
    expect(first.lambdas.map((lambda) => basename(lambda.zipPath))).toEqual(
      handlers.map((name) => `${name}.zip`),
    );
  });

  it('gives the same sha256 for every zip when built twice into different folders', async () => {
    for (const lambda of first.lambdas) {
      const twin = second.lambdas.find((other) => other.name === lambda.name)!;
      expect(twin.zipPath).not.toBe(lambda.zipPath);
      expect(await sha256(twin.zipPath), lambda.name).toBe(await sha256(lambda.zipPath));
    }
    expect(await readFile(second.manifestPath, 'utf8')).toBe(await readFile(first.manifestPath, 'utf8'));
  });

  it('writes a manifest with each zip size and sha256, as the files are', async () => {
    const manifest = JSON.parse(await readFile(first.manifestPath, 'utf8')) as {
      runtime: string;
      handler: string;
      lambdas: Record<string, { zip: string; bytes: number; sha256: string }>;
    };
    expect(manifest.runtime).toBe('nodejs22.x');
    expect(manifest.handler).toBe('index.handler');
    expect(Object.keys(manifest.lambdas)).toEqual(first.lambdas.map((lambda) => lambda.name));
    for (const [name, entry] of Object.entries(manifest.lambdas)) {
      const path = join(first.outDir, entry.zip);
      expect((await stat(path)).size, name).toBe(entry.bytes);
      expect(await sha256(path), name).toBe(entry.sha256);
    }
  });

  it('zips index.mjs and the chunks it loads, each with a fixed date and rw-r--r--; the source maps stay outside', async () => {
    const inOutDir = await readdir(first.outDir);
    expect(inOutDir.filter((entry) => entry.endsWith('.map'))).toEqual([]);
    for (const lambda of first.lambdas) {
      const { stdout } = await execFileAsync('zipinfo', ['-l', lambda.zipPath]);
      const entries = stdout.split('\n').filter((line) => /^[-d]r/.test(line));
      expect(
        entries.map((entry) => entry.split(' ').at(-1)),
        lambda.name,
      ).toEqual(lambda.files);
      expect(lambda.files[0]).toBe('index.mjs');
      for (const entry of entries) expect(entry).toMatch(/^-rw-r--r-- .* 00-Jan-01 00:00 [\w-]+\.mjs$/);
      const code = await zippedCode(lambda.zipPath);
      expect(code).not.toMatch(/sourceMappingURL/);
      // Nothing of the build machine in the code: no absolute path of the checkout.
      expect(code.includes(REPO_ROOT), `${lambda.name} holds the path ${REPO_ROOT}`).toBe(false);
      const map = JSON.parse(await readFile(lambda.sourceMapPath, 'utf8')) as { sources: string[] };
      expect(map.sources.some((source) => source.endsWith('src/core/engine.ts'))).toBe(true);
      // Beside the deployed folder, never in it, in a folder whose name says not to upload it.
      expect(dirname(lambda.sourceMapPath)).toBe(join(workDir, 'a-source-maps-do-not-upload'));
      for (const file of lambda.files) {
        await expect(
          stat(join(dirname(lambda.sourceMapPath), `${lambda.name}.${file}.map`)),
        ).resolves.toBeTruthy();
      }
    }
  });

  it('zips every chunk the code imports and no chunk it does not', async () => {
    let chunks = 0;
    for (const lambda of first.lambdas) {
      const imported = new Set<string>();
      for (const file of lambda.files) {
        const { stdout: code } = await execFileAsync('unzip', ['-p', lambda.zipPath, file], {
          maxBuffer: 64 * 1024 * 1024,
        });
        for (const [, chunk] of code.matchAll(/(?:from|import\()\s*"\.\/([\w-]+\.mjs)"/g))
          imported.add(chunk!);
      }
      expect([...imported].sort(), lambda.name).toEqual(lambda.files.slice(1).sort());
      chunks += imported.size;
    }
    expect(chunks).toBeGreaterThan(0);
  });

  it('keeps class names in the minified code, so errors are reported as TargetRefusedError, not `_e`', async () => {
    for (const lambda of first.lambdas) {
      const code = await zippedCode(lambda.zipPath);
      const names = ['ConfigurationError', 'EventError', 'SecretShapeError', 'ProtocolStateError'];
      if (lambda.name !== 'random-secret') names.push('TargetRefusedError', 'TargetUnreachableError');
      const missing = names.filter((name) => !code.includes(`"${name}"`));
      expect(missing, `${lambda.name}: class names minified away`).toEqual([]);
    }
  });

  it('refuses a source-map folder inside the deployed folder', async () => {
    await expect(
      buildLambdas({
        outDir: join(workDir, 'c'),
        sourceMapDir: join(workDir, 'c', 'maps'),
        only: ['random-secret'],
      }),
    ).rejects.toThrow(/must stay out of the folder that is deployed/);
  });

  it('keeps every zip within its size budget; every exception to the default says why', async () => {
    const budgets = await readBudgets();
    for (const [name, exception] of Object.entries(budgets.handlers)) {
      expect(exception.why.length, name).toBeGreaterThan(20);
    }
    const over = first.lambdas.filter((lambda) => lambda.zipBytes > lambda.budgetBytes);
    expect(over.map((lambda) => `${lambda.name}: ${lambda.zipBytes} > ${lambda.budgetBytes}`)).toEqual([]);
  });

  it('makes no zip larger than before names were kept (bench/zip-baseline.json)', async () => {
    const baseline = JSON.parse(await readFile(join(REPO_ROOT, 'bench', 'zip-baseline.json'), 'utf8')) as {
      kb: Record<string, number>;
    };
    const compared = first.lambdas.filter((lambda) => baseline.kb[lambda.name] !== undefined);
    expect(compared.map((lambda) => lambda.name)).toEqual(Object.keys(baseline.kb).sort());
    const larger = compared
      .filter((lambda) => lambda.zipBytes > baseline.kb[lambda.name]! * 1024)
      .map(
        (lambda) =>
          `${lambda.name}: ${(lambda.zipBytes / 1024).toFixed(1)} KB > ${baseline.kb[lambda.name]} KB`,
      );
    expect(larger, 'find what grew with the "largest parts" column of `npm run build`').toEqual([]);
  });

  it('refuses to build a handler that does not export `handler`', async () => {
    const dir = join(workDir, 'bad-handlers');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'no-export.ts'), 'export const rotate = async () => {};\n');
    await expect(buildLambdas({ outDir: join(workDir, 'bad'), handlersDir: dir })).rejects.toThrow(
      /handlers\/no-export: the bundle exports rotate, not "handler"/,
    );
  });
});
