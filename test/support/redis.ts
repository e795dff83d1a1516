/**
 * A private Redis server for one test file: the machine's `redis-server` (7.x) on a free loopback
 * port, nothing persisted, users from an ACL file written at start (the `default` user switched
 * off, an `admin` user with every permission and a random password stored only as its SHA-256),
 * optionally TLS only. Stopped, and its directory deleted, by `stop()` or when the test process ends.
 *
 * The helpers here talk RESP over their own sockets with the adapter's codec; what they check is
 * what the server answers.
 */
import { createHash } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { decodeReply, encodeCommand, RespError, type RespValue } from '../../src/adapters/redis/resp.ts';
import {
  makeInstanceDir,
  randomPassword,
  readPem,
  removeInstanceDir,
  requireExecutables,
  type ServerProcess,
  serviceAccount,
  startOnFreePort,
  startServerProcess,
  writePrivateFile,
} from './server-process.ts';

const REDIS_SERVER = '/usr/bin/redis-server';

/**
 * A user name and password.
 *
 * @example
 * ```ts
 * const admin: RedisCredentials = redis.admin;
 * ```
 */
export interface RedisCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Options of {@link startRedis}.
 *
 * @example
 * ```ts
 * const redis = await startRedis({ tls: { cert: certs.certPath, key: certs.keyPath } });
 * ```
 */
export interface StartRedisOptions {
  /** Serve TLS only (`tls-port`, no plaintext port), with this certificate and key (paths or PEM). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/**
 * A running private server.
 *
 * @example
 * ```ts
 * const redis = await startRedis();
 * await redis.command(['ACL', 'SETUSER', 'app', 'on', '>pw', '~app:*', '+get']);
 * expect(await redis.canLogin('app', 'pw')).toBe(true);
 * await redis.stop();
 * ```
 */
export interface RedisInstance {
  readonly host: string;
  readonly port: number;
  readonly version: string;
  /** The user with every permission (the tests' master). */
  readonly admin: RedisCredentials;
  readonly tls: boolean;
  /** Runs one command as `as` (default the admin); error replies come back as `RespError`. */
  command(args: readonly string[], as?: RedisCredentials): Promise<RespValue>;
  /** Whether `AUTH username password` answers OK. */
  canLogin(username: string, password: string): Promise<boolean>;
  /** The rules `ACL LIST` prints for a user, without passwords; `undefined` for none. */
  rulesOf(username: string): Promise<string | undefined>;
  /** How many passwords a user holds (`ACL GETUSER`). */
  passwordCount(username: string): Promise<number>;
  readLog(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts a private Redis server; see the module comment.
 *
 * @throws Error naming what to install when `redis-server` is missing, or with the log's tail when it fails to start.
 * @example
 * ```ts
 * const redis = await startRedis();
 * ```
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisInstance> {
  await requireExecutables([REDIS_SERVER], 'apt-get install redis-server');
  const account = await serviceAccount(['redis', 'nobody']);
  const dir = await makeInstanceDir('sr-redis-', account);
  try {
    const admin: RedisCredentials = { username: 'admin', password: randomPassword() };
    const aclPath = join(dir, 'users.acl');
    const sha = createHash('sha256').update(admin.password).digest('hex');
    await writePrivateFile(
      aclPath,
      `user default off resetpass -@all\nuser ${admin.username} on #${sha} ~* &* +@all\n`,
      account,
    );
    const tlsArgs: string[] = [];
    if (options.tls) {
      const certFile = join(dir, 'server.crt');
      const keyFile = join(dir, 'server.key');
      await writePrivateFile(certFile, await readPem(options.tls.cert), account);
      await writePrivateFile(keyFile, await readPem(options.tls.key), account);
      tlsArgs.push('--tls-cert-file', certFile, '--tls-key-file', keyFile, '--tls-auth-clients', 'no');
    }
    const logPath = join(dir, 'server.log');
    const { server, port } = await startOnFreePort({
      name: 'startRedis',
      logPath,
      readyText: 'Ready to accept connections',
      portTaken: /Address already in use/,
      start: (port) =>
        startServerProcess({
          command: REDIS_SERVER,
          args: [
            '--bind',
            '127.0.0.1',
            ...(options.tls ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)]),
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            dir,
            '--aclfile',
            aclPath,
            '--protected-mode',
            'no',
            ...tlsArgs,
          ],
          account,
          logPath,
          instanceDir: dir,
          stopSignal: 'SIGTERM',
        }),
    });
    return await makeInstance({ dir, port, admin, server, logPath, tls: Boolean(options.tls) });
  } catch (error) {
    await removeInstanceDir(dir);
    throw error;
  }
}

async function makeInstance(parts: {
  dir: string;
  port: number;
  admin: RedisCredentials;
  server: ServerProcess;
  logPath: string;
  tls: boolean;
}): Promise<RedisInstance> {
  const { dir, port, admin, server, tls } = parts;
  const host = '127.0.0.1';
  let stopped: Promise<void> | undefined;

  const exchange = (commands: ReadonlyArray<readonly string[]>): Promise<RespValue[]> =>
    new Promise((resolve, reject) => {
      const socket = tls ? tlsConnect({ host, port, rejectUnauthorized: false }) : tcpConnect({ host, port });
      let buffer = Buffer.alloc(0);
      const replies: RespValue[] = [];
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        socket.write(Buffer.concat(commands.map((args) => encodeCommand(args))));
      });
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const decoded = decodeReply(buffer, 0);
          if (!decoded) return;
          buffer = buffer.subarray(decoded.end);
          replies.push(decoded.value);
          if (replies.length === commands.length) {
            socket.destroy();
            resolve(replies);
            return;
          }
        }
      });
      socket.on('error', reject);
      socket.setTimeout(10_000, () => socket.destroy(new Error('redis harness: no answer within 10 s')));
    });

  const command = async (args: readonly string[], as: RedisCredentials = admin): Promise<RespValue> => {
    const [auth, reply] = await exchange([['AUTH', as.username, as.password], args]);
    if (auth instanceof RespError) throw new Error(`redis harness: AUTH as "${as.username}" refused`);
    return reply ?? null;
  };

  const info = await command(['INFO', 'server']);
  const version = /redis_version:(\S+)/.exec(String(info))?.[1] ?? 'unknown';

  return {
    host,
    port,
    version,
    admin,
    tls,
    command,
    async canLogin(username, password) {
      const [reply] = await exchange([['AUTH', username, password]]);
      if (reply === 'OK') return true;
      if (reply instanceof RespError && reply.code === 'WRONGPASS') return false;
      throw new Error(`redis harness: unexpected AUTH reply ${JSON.stringify(reply)}`);
    },
    async rulesOf(username) {
      const list = (await command(['ACL', 'LIST'])) as string[];
      const line = list.find((entry) => entry.startsWith(`user ${username} `));
      return line
        ?.slice(`user ${username} `.length)
        .split(' ')
        .filter((rule) => rule !== 'nopass' && !/^#[0-9a-f]{64}$/.test(rule))
        .join(' ');
    },
    async passwordCount(username) {
      const reply = (await command(['ACL', 'GETUSER', username])) as RespValue[] | null;
      if (!reply) return 0;
      const index = reply.indexOf('passwords');
      return (reply[index + 1] as string[]).length;
    },
    readLog: async () => (await import('node:fs/promises')).readFile(parts.logPath, 'utf8'),
    stop() {
      stopped ??= (async () => {
        await server.stop();
        await removeInstanceDir(dir);
      })();
      return stopped;
    },
  };
}
