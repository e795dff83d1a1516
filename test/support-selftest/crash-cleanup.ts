/**
 * Helpers for the self-tests that prove a server does not outlive a test process that dies
 * without calling `stop()`.
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/start-and-wait.ts', import.meta.url));

/**
 * Where the abandoned server ran.
 *
 * @example
 * ```ts
 * const { port, dir } = await abandonServer('mariadb', 'exit');
 * ```
 */
export interface AbandonedServer {
  readonly port: number;
  readonly dir: string;
}

/**
 * Starts a server in a separate Node process, then ends that process without stopping the
 * server: `kill` sends SIGKILL (no handler runs), `exit` calls `process.exit()`.
 *
 * @example
 * ```ts
 * const abandoned = await abandonServer('postgres18', 'kill');
 * await waitForCleanup(abandoned);
 * ```
 */
export async function abandonServer(
  kind: 'postgres18' | 'postgres15' | 'mariadb',
  ending: 'kill' | 'exit',
): Promise<AbandonedServer> {
  const child = spawn(process.execPath, ['--no-warnings', FIXTURE, kind, ending], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const newline = stdout.indexOf('\n');
      if (newline >= 0) resolve(stdout.slice(0, newline));
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => reject(new Error(`fixture exited (${code}) before reporting:\n${stderr}`)));
  });
  if (ending === 'kill') child.kill('SIGKILL');
  await exited;
  return JSON.parse(line) as AbandonedServer;
}

/**
 * Whether something accepts TCP connections on 127.0.0.1:port.
 *
 * @example
 * ```ts
 * expect(await isListening(db.port)).toBe(false);
 * ```
 */
export async function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Waits until the abandoned server stopped listening and its directory is gone; returns what
 * was still left when the deadline passed (empty when all is clean).
 *
 * @example
 * ```ts
 * expect(await waitForCleanup(abandoned)).toEqual([]);
 * ```
 */
export async function waitForCleanup(server: AbandonedServer, deadlineMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const left: string[] = [];
    if (await isListening(server.port)) left.push(`a server still listens on port ${server.port}`);
    if (await exists(server.dir)) left.push(`the instance directory ${server.dir} still exists`);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
