/**
 * A checkout inside a directory only its owner may enter (mode 700, like /root/app in a container).
 * As root, PostgreSQL runs as the `postgres` account, which cannot reach binaries in there: the
 * demo and the test suite's database harness must still work, and when a database cannot start
 * the demo must say why and what to do, without a stack trace.
 *
 * The checkout is a hard-linked copy of this one (same files, new path) under a mode-700 folder.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-lambdas.ts';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
/** Not copied: version control, build output and other runs' scratch space. */
const SKIPPED = new Set(['.git', '.tmp', 'dist', 'reports', 'coverage']);

let privateDir: string;
let checkout: string;

beforeAll(async () => {
  await mkdir(join(REPO_ROOT, '.tmp'), { recursive: true });
  privateDir = await mkdtemp(join(REPO_ROOT, '.tmp', 'private-'));
  await chmod(privateDir, 0o700);
  checkout = join(privateDir, 'app');
  await mkdir(checkout);
  const entries = (await readdir(REPO_ROOT)).filter((entry) => !SKIPPED.has(entry));
  await run('cp', ['-al', ...entries.map((entry) => join(REPO_ROOT, entry)), checkout]);
}, 120_000);

afterAll(async () => {
  if (privateDir) await rm(privateDir, { recursive: true, force: true });
});

function runIn(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, args, {
    cwd: checkout,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 150_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code ?? -1,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

describe('a checkout in a mode-700 directory', () => {
  it('is private: other accounts cannot enter it', async () => {
    expect((await stat(privateDir)).mode & 0o077).toBe(0);
  });

  it('runs the demo to the end (as root, PostgreSQL runs as postgres from a reachable copy of the binaries)', {
    timeout: 180_000,
  }, async () => {
    const demo = await runIn(['bin/secrets-rotator.mjs', 'demo']);
    expect(demo.stderr).not.toMatch(/EACCES|\n\s+at /);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toContain('Demo passed');
  });

  it("runs the test suite's PostgreSQL harness from there", { timeout: 180_000 }, async () => {
    const script = [
      "import { startPostgres } from './test/support/postgres.ts';",
      'const db = await startPostgres();',
      'try { console.log(await db.canLogin(db.superuser.username, db.superuser.password)); } finally { await db.stop(); }',
    ].join('\n');
    const harness = await runIn(['--input-type=module', '-e', script]);
    expect(harness.stderr).not.toMatch(/EACCES/);
    expect(harness.stdout.trim()).toBe('true');
  });

  it.skipIf(!asRoot)(
    'when PostgreSQL cannot start, the demo says why and what to do, exits 1, no stack trace (root only: TMPDIR private too)',
    { timeout: 180_000 },
    async () => {
      // A TMPDIR the postgres account cannot enter either: nowhere to put a reachable copy.
      const privateTmp = join(privateDir, 'tmp');
      await mkdir(privateTmp, { recursive: true, mode: 0o700 });
      const demo = await runIn(['bin/secrets-rotator.mjs', 'demo'], { TMPDIR: privateTmp });
      expect(demo.code).toBe(1);
      expect(demo.stderr).toContain('PostgreSQL could not start');
      expect(demo.stderr).toMatch(/TMPDIR/);
      expect(demo.stderr).not.toMatch(/\n\s+at |Error:/);
    },
  );
});
