/**
 * Connections to Redis: TLS per `REDIS_TLS_MODE` (a secret's `"ssl": true` only tightens it), the
 * host checked against `DATABASE_ALLOWED_HOSTS` before anything is sent, `AUTH <user> <password>`,
 * then commands with a time limit each. Error replies and socket errors become the library's
 * errors with every password blanked out (Redis quotes `ACL SETUSER` arguments in its errors).
 */
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type TargetFailureCause, TargetRefusedError, TargetUnreachableError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { describeServer, refuseUnlistedHost } from '../../database/hosts.ts';
import {
  certificateNaming,
  NETWORK_ERROR_CODES,
  scrubSecrets,
  withinDeadline,
} from '../database/connection.ts';
import {
  allowPlaintextHint,
  effectiveTlsMode,
  serverWithoutTlsError,
  TLS_PLAINTEXT_FALLBACK_METRIC,
  type TlsOutcome,
  warnIfSslFieldIgnored,
} from '../database/tls.ts';
import { decodeReply, encodeCommand, MAX_REPLY_BYTES, RespError, type RespValue } from './resp.ts';
import { REDIS_ENV, type RedisSettings, type RedisTlsMode } from './settings.ts';

/**
 * Where to connect: the fields of the rotated secret that locate the server.
 *
 * @example
 * ```ts
 * const endpoint: RedisEndpoint = { host: 'cache.internal', port: 6379, ssl: undefined };
 * ```
 */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  /** `true` makes the connection `verify-full` whatever `REDIS_TLS_MODE` says; `false` changes nothing. */
  readonly ssl: boolean | undefined;
}

/**
 * Who logs in, and under which label the connection is reported.
 *
 * @example
 * ```ts
 * const login: RedisLogin = { username: 'app', password, label: 'pending' };
 * ```
 */
export interface RedisLogin {
  readonly username: string;
  readonly password: string;
  readonly label: 'pending' | 'current' | 'previous' | 'master';
}

/**
 * How one connection is protected: `verified` TLS, `plaintext` because the server spoke no TLS
 * under `prefer`, or `disabled` (`REDIS_TLS_MODE=disable`).
 *
 * @example
 * ```ts
 * ctx.logger.info('connected', { tls: session.tls satisfies RedisTlsOutcome });
 * ```
 */
export type RedisTlsOutcome = TlsOutcome;

/** The parts of a step's context a connection reports to. */
export type RedisConnectContext = Pick<StepContext, 'logger' | 'metrics' | 'remainingTimeMs'>;

/**
 * One authenticated connection. Commands run one at a time, each within the command timeout;
 * after a timeout or a broken connection the session is unusable and every later command fails.
 *
 * @example
 * ```ts
 * const session = await openRedis(endpoint, login, settings, ctx);
 * try {
 *   await session.call(['ACL', 'SETUSER', 'app', `>${password}`], 'adding the pending password');
 * } finally {
 *   session.close();
 * }
 * ```
 */
export class RedisSession {
  /** `host:port` for messages. */
  readonly where: string;
  /** The user this session logged in as. */
  readonly username: string;
  readonly tls: RedisTlsOutcome;
  readonly #socket: Socket;
  readonly #secrets: string[];
  readonly #commandTimeoutMs: () => number;
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: Array<{ resolve(value: RespValue): void; reject(error: Error): void }> = [];
  #broken: Error | undefined;

  constructor(parts: {
    socket: Socket;
    where: string;
    username: string;
    tls: RedisTlsOutcome;
    secrets: string[];
    commandTimeoutMs: () => number;
  }) {
    this.#socket = parts.socket;
    this.where = parts.where;
    this.username = parts.username;
    this.tls = parts.tls;
    this.#secrets = parts.secrets;
    this.#commandTimeoutMs = parts.commandTimeoutMs;
    this.#socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    this.#socket.on('error', (error: NodeJS.ErrnoException) => this.#fail(networkError(error, this.where)));
    this.#socket.on('close', () =>
      this.#fail(new TargetUnreachableError('network', `${this.where}: the server closed the connection`)),
    );
  }

  /**
   * Sends one command and returns the reply, error replies included (as {@link RespError}).
   * Arguments of `ACL SETUSER` that carry a password (`>…`, `<…`) are blanked in any message.
   */
  send(args: readonly string[], doing: string): Promise<RespValue> {
    for (const arg of args) if (/^[<>]/.test(arg) && arg.length > 1) this.#secrets.push(arg.slice(1));
    if (this.#broken) return Promise.reject(this.#broken);
    return new Promise<RespValue>((resolve, reject) => {
      const limit = this.#commandTimeoutMs();
      const timer = setTimeout(() => {
        this.#fail(
          new TargetUnreachableError(
            'timeout',
            `${doing} on ${this.where}: no answer within ${limit} ms (${REDIS_ENV.commandTimeoutMs})`,
          ),
        );
      }, limit);
      this.#waiting.push({
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#socket.write(encodeCommand(args));
    });
  }

  /** Like {@link send}, but an error reply throws a `TargetRefusedError` naming what was being done. */
  async call(args: readonly string[], doing: string): Promise<RespValue> {
    const reply = await this.send(args, doing);
    if (reply instanceof RespError) throw this.refusal(reply, doing);
    return reply;
  }

  /** The error for an error reply: `NOPERM` is a permission failure, the text scrubbed of passwords. */
  refusal(reply: RespError, doing: string): TargetRefusedError {
    const failure: TargetFailureCause =
      reply.code === 'NOPERM' ? 'permission' : reply.code === 'WRONGPASS' ? 'authentication' : 'rejected';
    return new TargetRefusedError(
      failure,
      `${doing} on ${this.where} as "${this.username}": the server answered "${this.scrub(reply.text)}"`,
    );
  }

  /** `text` with every password this session has seen replaced by `[REDACTED]`. */
  scrub(text: string): string {
    return scrubSecrets(text, this.#secrets);
  }

  /** Ends the connection (QUIT is not needed: Redis drops the client's state with the socket). */
  close(): void {
    this.#broken ??= new TargetUnreachableError('network', `${this.where}: the connection was closed`);
    this.#socket.destroy();
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#buffer.length > MAX_REPLY_BYTES + 1024) {
      this.#fail(new TargetRefusedError('rejected', `${this.where}: a reply over ${MAX_REPLY_BYTES} bytes`));
      return;
    }
    try {
      for (;;) {
        const decoded = decodeReply(this.#buffer, 0);
        if (!decoded) return;
        this.#buffer = this.#buffer.subarray(decoded.end);
        const waiter = this.#waiting.shift();
        if (!waiter) {
          this.#fail(new TargetRefusedError('rejected', `${this.where}: a reply to no command`));
          return;
        }
        waiter.resolve(decoded.value);
      }
    } catch (error) {
      this.#fail(
        new TargetRefusedError(
          'rejected',
          `${this.where} answered with ${(error as Error).message}; is it a Redis server on that port?`,
        ),
      );
    }
  }

  #fail(error: Error): void {
    this.#broken ??= error;
    this.#socket.destroy();
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const waiter of waiting) waiter.reject(this.#broken);
  }
}

/**
 * The TLS mode one connection follows: `REDIS_TLS_MODE`, made `verify-full` by a secret's
 * `"ssl": true` (the databases' rule, `effectiveTlsMode`).
 *
 * @example
 * ```ts
 * redisTlsMode('prefer', true); // 'verify-full'
 * redisTlsMode('verify-full', false); // 'verify-full'
 * ```
 */
export function redisTlsMode(configured: RedisTlsMode, ssl: boolean | undefined): RedisTlsMode {
  return effectiveTlsMode(configured, ssl);
}

/** The longest argument Redis 7 reads from a client that has not logged in (`ERR Protocol error: unauthenticated bulk length`). */
const MAX_UNAUTHENTICATED_BULK = 16 * 1024;

/**
 * Opens a connection and logs in; `undefined` when the server refuses the credentials
 * (`WRONGPASS`: wrong password, no such user, or user disabled). Every other failure throws.
 *
 * @throws SecretShapeError for a host `DATABASE_ALLOWED_HOSTS` does not list (nothing sent).
 * @throws TargetUnreachableError for network, timeout and TLS failures.
 * @example
 * ```ts
 * const session = await tryOpenRedis(endpoint, { username: 'app', password, label: 'current' }, settings, ctx);
 * if (!session) console.log('refused');
 * ```
 */
export async function tryOpenRedis(
  endpoint: RedisEndpoint,
  login: RedisLogin,
  settings: RedisSettings,
  ctx: RedisConnectContext,
): Promise<RedisSession | undefined> {
  refuseUnlistedHost(endpoint.host, settings.allowedHosts);
  const where = describeServer(endpoint);
  if (
    Buffer.byteLength(login.password) > MAX_UNAUTHENTICATED_BULK ||
    Buffer.byteLength(login.username) > MAX_UNAUTHENTICATED_BULK
  ) {
    // Redis 7 drops a client that sends a longer argument before AUTH: such a password can never log in.
    ctx.logger.info('login refused without trying: longer than Redis reads before AUTH', {
      host: endpoint.host,
      port: endpoint.port,
      user: login.username.slice(0, 64),
      with: login.label,
    });
    return undefined;
  }
  const mode = redisTlsMode(settings.tlsMode, endpoint.ssl);
  warnIfSslFieldIgnored(settings.tlsMode, endpoint, REDIS_ENV.tlsMode, ctx.logger);
  const { socket, tls } = await openSocket(endpoint, mode, settings, ctx);
  // AUTH is part of connecting; later commands get the command timeout.
  let limitMs = settings.connectTimeoutMs;
  const session = new RedisSession({
    socket,
    where,
    username: login.username,
    tls,
    secrets: [login.password],
    commandTimeoutMs: () => withinDeadline(limitMs, ctx.remainingTimeMs()),
  });
  let reply: RespValue;
  try {
    reply = await session.send(['AUTH', login.username, login.password], `logging in as "${login.username}"`);
  } catch (error) {
    session.close();
    throw error;
  }
  if (reply instanceof RespError) {
    session.close();
    if (reply.code === 'WRONGPASS') {
      ctx.logger.info('login refused', {
        host: endpoint.host,
        port: endpoint.port,
        user: login.username,
        with: login.label,
      });
      return undefined;
    }
    throw session.refusal(reply, `logging in with the ${login.label} credentials`);
  }
  ctx.logger.info('connected to Redis', {
    host: endpoint.host,
    port: endpoint.port,
    user: login.username,
    with: login.label,
    tls,
  });
  limitMs = settings.commandTimeoutMs;
  return session;
}

/**
 * Like {@link tryOpenRedis}, but refused credentials throw a `TargetRefusedError` (authentication).
 *
 * @example
 * ```ts
 * const session = await openRedis(endpoint, { username: 'app', password, label: 'pending' }, settings, ctx);
 * ```
 */
export async function openRedis(
  endpoint: RedisEndpoint,
  login: RedisLogin,
  settings: RedisSettings,
  ctx: RedisConnectContext,
): Promise<RedisSession> {
  const session = await tryOpenRedis(endpoint, login, settings, ctx);
  if (session) return session;
  throw new TargetRefusedError(
    'authentication',
    `user "${login.username}" could not log in at ${describeServer(endpoint)} with the ${login.label} credentials (WRONGPASS: wrong password, no such user, or the user is off)`,
  );
}

/**
 * Whether `login` is accepted; the connection is closed again.
 *
 * @example
 * ```ts
 * if (await canLogIn(endpoint, { username, password, label: 'pending' }, settings, ctx)) return;
 * ```
 */
export async function canLogIn(
  endpoint: RedisEndpoint,
  login: RedisLogin,
  settings: RedisSettings,
  ctx: RedisConnectContext,
): Promise<boolean> {
  const session = await tryOpenRedis(endpoint, login, settings, ctx);
  session?.close();
  return session !== undefined;
}

async function openSocket(
  endpoint: RedisEndpoint,
  mode: RedisTlsMode,
  settings: RedisSettings,
  ctx: RedisConnectContext,
): Promise<{ socket: Socket; tls: RedisTlsOutcome }> {
  const where = describeServer(endpoint);
  const timeoutMs = withinDeadline(settings.connectTimeoutMs, ctx.remainingTimeMs());
  if (mode === 'disable') return { socket: await plainSocket(endpoint, timeoutMs, where), tls: 'disabled' };
  // Redis has no in-protocol TLS upgrade: a port speaks TLS or not, and a plaintext server waits
  // silently for the end of a line that a TLS handshake never sends. An inline PING (no secret in
  // it) tells them apart at once: only a plaintext server answers it in RESP.
  if (mode === 'prefer' && (await speaksPlaintext(endpoint, timeoutMs))) {
    ctx.logger.warn('the server speaks no TLS; going on in plaintext (REDIS_TLS_MODE=prefer)', {
      host: endpoint.host,
      port: endpoint.port,
    });
    ctx.metrics.count(TLS_PLAINTEXT_FALLBACK_METRIC);
    return { socket: await plainSocket(endpoint, timeoutMs, where), tls: 'plaintext' };
  }
  try {
    return { socket: await tlsSocket(endpoint, settings, timeoutMs, where), tls: 'verified' };
  } catch (error) {
    if (
      error instanceof TargetUnreachableError &&
      error.failure === 'timeout' &&
      (await speaksPlaintext(endpoint, timeoutMs))
    ) {
      throw serverWithoutTlsError(`connecting to ${where}`, REDIS_ENV.tlsMode);
    }
    throw error;
  }
}

/** Whether the server answers an inline `PING` in plaintext RESP (`+PONG` or `-NOAUTH …`). */
function speaksPlaintext(endpoint: RedisEndpoint, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: endpoint.host, port: endpoint.port });
    let answer = '';
    const done = (result: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), Math.min(timeoutMs, 2_000));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(/^[+-][ -~]*\r\n/.test(answer));
      else if (answer.length > 512) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

function plainSocket(endpoint: RedisEndpoint, timeoutMs: number, where: string): Promise<Socket> {
  return settle(tcpConnect({ host: endpoint.host, port: endpoint.port }), 'connect', timeoutMs, where);
}

function tlsSocket(
  endpoint: RedisEndpoint,
  settings: RedisSettings,
  timeoutMs: number,
  where: string,
): Promise<Socket> {
  const name = settings.tlsServerName ?? endpoint.host;
  const socket = tlsConnect({
    host: endpoint.host,
    port: endpoint.port,
    rejectUnauthorized: true,
    ...(settings.caBundle ? { ca: settings.caBundle } : {}),
    ...(isIP(name) === 0 ? { servername: name } : {}),
    ...(settings.tlsServerName ? certificateNaming(settings.tlsServerName) : {}),
  });
  return settle(socket, 'secureConnect', timeoutMs, where, true);
}

/** Waits for a socket's `ready` event, or fails with a sanitised error; the socket is destroyed then. */
function settle(
  socket: Socket,
  ready: string,
  timeoutMs: number,
  where: string,
  tls = false,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new TargetUnreachableError(
          'timeout',
          `connecting to ${where}: no ${tls ? 'TLS handshake' : 'connection'} within ${timeoutMs} ms (${REDIS_ENV.connectTimeoutMs})`,
        ),
      );
    }, timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(tls ? tlsError(error, where) : networkError(error, where));
    });
  });
}

function networkError(error: NodeJS.ErrnoException, where: string): TargetUnreachableError {
  const code = error.code ?? 'unknown';
  return new TargetUnreachableError(
    'network',
    `connecting to ${where}: ${NETWORK_ERROR_CODES.has(code) ? code : `connection failed (${code})`}`,
  );
}

function tlsError(error: NodeJS.ErrnoException, where: string): TargetUnreachableError {
  const code = error.code ?? 'unknown';
  if (NETWORK_ERROR_CODES.has(code) && code !== 'ECONNRESET') return networkError(error, where);
  const certificate = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|HOSTNAME/.test(code);
  return new TargetUnreachableError(
    'tls',
    certificate
      ? `connecting to ${where}: the server's certificate was not accepted (${code}); trust its CA with ${REDIS_ENV.caBundle}, or name the host its certificate holds with ${REDIS_ENV.tlsServerName}`
      : `connecting to ${where}: no TLS handshake (${code}); enable TLS on the server, or ${allowPlaintextHint(REDIS_ENV.tlsMode)}`,
  );
}
