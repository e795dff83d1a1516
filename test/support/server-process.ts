/**
 * Shared plumbing for the database harnesses: private instance directories, running server
 * binaries under an unprivileged account when the tests run as root, waiting for readiness, and
 * making sure no server or directory outlives the test process that made it.
 *
 * Cleanup has three layers. A normal `stop()` signals the server, waits for it and deletes its
 * directory. A synchronous `exit` handler signals every server still running and deletes the
 * directories that have none. And every instance directory gets, from the moment it is created,
 * a small detached watcher shell that notices when the test process is gone (even after SIGKILL),
 * stops the server recorded in the directory's `harness-server.pid`, and deletes the directory.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, rmSync, writeFileSync } from 'node:fs';
import { access, chmod, chown, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

/**
 * The operating-system account a server runs as. Only used when the tests run as root, because
 * PostgreSQL refuses to run as root and MariaDB should not.
 *
 * @example
 * ```ts
 * const account = await serviceAccount(['postgres', 'nobody']);
 * if (account) console.log(`server runs as ${account.name}`);
 * ```
 */
export interface ServiceAccount {
  /** Login name, e.g. `postgres`. */
  readonly name: string;
  /** Numeric user id. */
  readonly uid: number;
  /** Numeric primary group id. */
  readonly gid: number;
}

/**
 * Finds the account a server should run as: the first of `candidates` that exists, when this
 * process is root; `undefined` (run as ourselves) otherwise.
 *
 * @param candidates account names in order of preference.
 * @throws Error when running as root and none of the accounts exists.
 * @example
 * ```ts
 * const account = await serviceAccount(['mysql', 'nobody']);
 * ```
 */
export async function serviceAccount(candidates: readonly string[]): Promise<ServiceAccount | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of candidates) {
    const ids = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]).catch(() => undefined);
    if (ids) return { name, uid: Number.parseInt(ids[0], 10), gid: Number.parseInt(ids[1], 10) };
  }
  throw new Error(
    `The tests run as root, and the database server must run as an unprivileged account, but none of ` +
      `${candidates.join(', ')} exists. Create one (for example \`useradd --system ${candidates[0]}\`).`,
  );
}

const MEMORY_FILESYSTEM = '/dev/shm';
const MEMORY_FILESYSTEM_MIN_FREE = 1024 ** 3;
let instanceParentPromise: Promise<string> | undefined;

/**
 * Where instance directories go: `/dev/shm` when it is a writable file system with at least 1 GiB
 * free (creating a cluster there is about three times quicker than on a disk under load), else
 * the system temporary directory. Docker's default 64 MB `/dev/shm` is too small and is skipped.
 *
 * @example
 * ```ts
 * const parent = await instanceParentDir(); // '/dev/shm' or os.tmpdir()
 * ```
 */
export async function instanceParentDir(): Promise<string> {
  instanceParentPromise ??= (async () => {
    try {
      await access(MEMORY_FILESYSTEM, constants.W_OK);
      const stats = await statfs(MEMORY_FILESYSTEM);
      if (stats.bavail * stats.bsize >= MEMORY_FILESYSTEM_MIN_FREE) return MEMORY_FILESYSTEM;
    } catch {
      // No usable /dev/shm: fall through to the temporary directory.
    }
    return tmpdir();
  })();
  return instanceParentPromise;
}

/**
 * Creates a fresh, private directory for one server instance (under {@link instanceParentDir}),
 * owned by `account` when given, with mode 0700.
 *
 * @param prefix short name prefix; keep it short, Unix socket paths are limited to ~100 bytes.
 * @example
 * ```ts
 * const dir = await makeInstanceDir('sr-pg-', account);
 * ```
 */
export async function makeInstanceDir(prefix: string, account: ServiceAccount | undefined): Promise<string> {
  const dir = await mkdtemp(join(await instanceParentDir(), prefix));
  watchInstanceDir(dir);
  await chmod(dir, 0o700);
  if (account) await chown(dir, account.uid, account.gid);
  return dir;
}

/**
 * Writes a file that only `account` (or this process, without an account) can read: mode 0600.
 *
 * @example
 * ```ts
 * await writePrivateFile(join(dir, 'server.key'), keyPem, account);
 * ```
 */
export async function writePrivateFile(
  path: string,
  content: string,
  account: ServiceAccount | undefined,
): Promise<void> {
  await writeFile(path, content, { mode: 0o600 });
  await chmod(path, 0o600);
  if (account) await chown(path, account.uid, account.gid);
}

/**
 * Reads a PEM value given either as the PEM text itself or as the path of a file holding it.
 *
 * @example
 * ```ts
 * const pem = await readPem(options.tls.key);
 * ```
 */
export async function readPem(pathOrPem: string): Promise<string> {
  return pathOrPem.includes('-----BEGIN') ? pathOrPem : readFile(pathOrPem, 'utf8');
}

/**
 * Checks that server binaries exist and are executable, failing with an error that says what to
 * install instead of a bare ENOENT from spawn.
 *
 * @param install what to install when something is missing, e.g. `apt-get install postgresql-15`.
 * @example
 * ```ts
 * await requireExecutables(['/usr/sbin/mariadbd'], 'apt-get install mariadb-server');
 * ```
 */
export async function requireExecutables(paths: readonly string[], install: string): Promise<void> {
  for (const path of paths) {
    try {
      await access(path, constants.X_OK);
    } catch {
      throw new Error(`${path} is missing or not executable; ${install}.`);
    }
  }
}

/**
 * A small, fixed environment for server processes: nothing of the test's own environment (AWS
 * credentials, tokens) leaks into them, and messages are in the C locale so log lines can be
 * matched.
 *
 * @example
 * ```ts
 * await run(initdb, args, { env: serverEnvironment() });
 * ```
 */
export function serverEnvironment(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' };
}

/**
 * Runs a command to completion and returns its standard output.
 *
 * @throws Error carrying the command's combined output when it fails.
 * @example
 * ```ts
 * await run('initdb', ['-D', dataDir], { account });
 * ```
 */
export async function run(
  command: string,
  args: readonly string[],
  options: { account?: ServiceAccount | undefined; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
        ...(options.account ? { uid: options.account.uid, gid: options.account.gid } : {}),
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command} failed (${error.message.split('\n')[0]}):\n${stdout}${stderr}`));
        } else {
          resolve(stdout.trim());
        }
      },
    );
  });
}

/**
 * How a managed server process ended.
 *
 * @example
 * ```ts
 * const { code, signal } = await server.exited;
 * ```
 */
export interface ServerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A server process started by {@link startServerProcess}: its standard output and error go to a
 * log file, and it is stopped when the test process exits, whichever way that happens.
 *
 * @example
 * ```ts
 * const server = startServerProcess({ command, args, logPath, instanceDir: dir, stopSignal: 'SIGINT' });
 * await server.stop();
 * ```
 */
export interface ServerProcess {
  /** The child process. */
  readonly child: ChildProcess;
  /** Settles when the process has exited. */
  readonly exited: Promise<ServerExit>;
  /** Whether the process is still running. */
  isRunning(): boolean;
  /**
   * Sends the stop signal, waits for the process to exit (SIGKILL after `graceMs`), and forgets
   * its pid. Does not delete the instance directory: {@link removeInstanceDir} does.
   */
  stop(graceMs?: number): Promise<void>;
}

/** What this process knows about one instance directory, for crash cleanup. */
interface WatchedDir {
  readonly watcher: ChildProcess;
  server: { pid: number; signal: NodeJS.Signals } | undefined;
}

const watchedDirs = new Map<string, WatchedDir>();
const SERVER_PID_FILE = 'harness-server.pid';

// The watcher polls for the test process; once it is gone, it stops the server recorded in the
// pid file (escalating to SIGKILL) and deletes the directory. Arguments: test pid, directory.
const WATCHER_SCRIPT = [
  'while kill -0 "$1" 2>/dev/null; do sleep 1; done',
  `if [ -f "$2/${SERVER_PID_FILE}" ]; then`,
  `  read -r pid sig < "$2/${SERVER_PID_FILE}"`,
  '  kill -s "$sig" "$pid" 2>/dev/null',
  '  i=0',
  '  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.25; i=$((i+1)); done',
  '  kill -s KILL "$pid" 2>/dev/null',
  'fi',
  'rm -rf -- "$2"',
].join('\n');

function watchInstanceDir(dir: string): void {
  installExitHandler();
  const watcher = spawn('/bin/sh', ['-c', WATCHER_SCRIPT, 'db-watcher', String(process.pid), dir], {
    detached: true,
    stdio: 'ignore',
  });
  watcher.on('error', () => undefined);
  watcher.unref();
  watchedDirs.set(dir, { watcher, server: undefined });
}

let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  // Runs synchronously as the process exits. Servers get their stop signal (the watcher deletes
  // their directory once the server is gone); directories without a server go at once.
  process.on('exit', () => {
    for (const [dir, watched] of watchedDirs) {
      if (watched.server) {
        try {
          process.kill(watched.server.pid, watched.server.signal);
        } catch {
          // Already gone.
        }
      } else {
        try {
          rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
        } catch {
          // The watcher tries again once this process is gone.
        }
      }
    }
  });
}

/**
 * Starts a long-running server binary with its output appended to `logPath`, running as
 * `account` when given, and records it for the crash cleanup of its instance directory.
 *
 * @param options.stopSignal the signal that asks this server for a quick, clean shutdown
 *   (`SIGINT` for PostgreSQL's fast shutdown, `SIGTERM` for MariaDB).
 * @param options.instanceDir a directory from {@link makeInstanceDir}; the server's pid is
 *   recorded there for its crash watcher.
 * @example
 * ```ts
 * const server = startServerProcess({
 *   command: '/usr/sbin/mariadbd', args: ['--no-defaults', `--datadir=${dataDir}`],
 *   account, logPath, instanceDir: dir, stopSignal: 'SIGTERM',
 * });
 * ```
 */
export function startServerProcess(options: {
  command: string;
  args: readonly string[];
  account: ServiceAccount | undefined;
  logPath: string;
  instanceDir: string;
  stopSignal: NodeJS.Signals;
}): ServerProcess {
  const logFd = openSync(options.logPath, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      env: serverEnvironment(),
      stdio: ['ignore', logFd, logFd],
      ...(options.account ? { uid: options.account.uid, gid: options.account.gid } : {}),
    });
  } finally {
    closeSync(logFd);
  }
  // A forgotten instance must not keep the test process alive; the exit handler and the watcher
  // stop it when the process ends.
  child.unref();
  let exitState: ServerExit | undefined;
  const exited = new Promise<ServerExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exitState = { code, signal };
      resolve(exitState);
    });
    child.once('error', () => {
      exitState = { code: null, signal: null };
      resolve(exitState);
    });
  });
  const watched = watchedDirs.get(options.instanceDir);
  const pidFile = join(options.instanceDir, SERVER_PID_FILE);
  if (child.pid !== undefined) {
    const server = { pid: child.pid, signal: options.stopSignal };
    if (watched) watched.server = server;
    writeFileSync(pidFile, `${server.pid} ${server.signal.replace(/^SIG/, '')}\n`, { mode: 0o600 });
  }
  const forget = () => {
    if (watched && watched.server?.pid === child.pid) watched.server = undefined;
    rmSync(pidFile, { force: true });
  };
  void exited.then(forget);

  return {
    child,
    exited,
    isRunning: () => exitState === undefined,
    async stop(graceMs = 15_000) {
      if (exitState === undefined) {
        child.kill(options.stopSignal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      forget();
    },
  };
}

/**
 * Polls `check` until it returns a value other than `undefined`, failing early when the server
 * exits and after `timeoutMs`.
 *
 * @param describe called to explain a failure (e.g. the tail of the server log).
 * @example
 * ```ts
 * await waitUntil(async () => ((await readLog()).includes('ready') ? true : undefined), server, 30_000, tail);
 * ```
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined>,
  server: ServerProcess,
  timeoutMs: number,
  describe: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (!server.isRunning()) {
      throw new Error(`the server exited during start-up.\n${await describe()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`the server was not ready after ${timeoutMs} ms.\n${await describe()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts a server on a free loopback port and waits until its log says it is ready. Another
 * process can take the port between {@link freePort} and the server's bind, so when the log shows
 * the port was taken the server is started again on a new one (up to `attempts` times).
 *
 * @param options.name the harness function, prefixed to every error (e.g. `startPostgres`).
 * @param options.start starts the server on `port` (with {@link startServerProcess}, output to `logPath`).
 * @param options.readyText the log line that says the server accepts connections.
 * @param options.portTaken matches the log when the server failed because the port was taken.
 * @throws Error naming `name`, with the tail of the log, when the server fails to start otherwise,
 *   or when every attempt found its port taken.
 * @example
 * ```ts
 * const { server, port } = await startOnFreePort({
 *   name: 'startMariaDb', logPath, readyText: 'ready for connections', portTaken: /Address already in use/,
 *   start: (port) => startServerProcess({ command, args: [`--port=${port}`], account, logPath, instanceDir, stopSignal: 'SIGTERM' }),
 * });
 * ```
 */
export async function startOnFreePort(options: {
  name: string;
  start(port: number): ServerProcess;
  logPath: string;
  readyText: string;
  portTaken: RegExp;
  attempts?: number;
}): Promise<{ server: ServerProcess; port: number }> {
  const { name, logPath, attempts = 3 } = options;
  const readLog = () => readFile(logPath, 'utf8').catch(() => '');
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const port = await freePort();
    const server = options.start(port);
    try {
      await waitUntil(
        async () => ((await readLog()).includes(options.readyText) ? true : undefined),
        server,
        60_000,
        () => logTail(logPath),
      );
      return { server, port };
    } catch (error) {
      lastError = error;
      await server.stop();
      if (options.portTaken.test(await readLog())) continue;
      throw new Error(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`${name}: no free port after ${attempts} attempts: ${(lastError as Error).message}`);
}

/**
 * The last lines of a log file, for start-up error messages. Returns a note instead of throwing
 * when the file cannot be read.
 *
 * @example
 * ```ts
 * throw new Error(`start failed:\n${await logTail(logPath)}`);
 * ```
 */
export async function logTail(path: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return `--- last lines of ${path} ---\n${text.split('\n').slice(-lines).join('\n')}`;
  } catch {
    return `(no log at ${path})`;
  }
}

/**
 * Deletes an instance directory, retrying briefly while a dying server still holds files.
 *
 * @example
 * ```ts
 * await removeInstanceDir(dir);
 * ```
 */
export async function removeInstanceDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  const watched = watchedDirs.get(dir);
  watchedDirs.delete(dir);
  const watcherPid = watched?.watcher.pid;
  if (watcherPid !== undefined && watched?.watcher.exitCode === null) {
    try {
      process.kill(watcherPid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * A fresh random password for a harness account: 32 URL-safe base64 characters, safe inside any
 * SQL string literal or connection URL.
 *
 * @example
 * ```ts
 * const password = randomPassword();
 * ```
 */
export function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}
