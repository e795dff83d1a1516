/**
 * Connections to Redis: host allowlist and TLS before anything is sent, then AUTH and commands with
 * a time limit each. Errors are scrubbed of every password: Redis quotes `ACL SETUSER` arguments.
 */
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { type TargetFailureCause, TargetRefusedError, TargetUnreachableError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import {
  certificateNaming,
  NETWORK_ERROR_CODES,
  scrubSecrets,
  withinDeadline,
} from '../../database/connection.ts';
import { describeServer, refuseUnlistedHost } from '../../database/hosts.ts';
import {
  allowPlaintextHint,
  effectiveTlsMode,
  serverWithoutTlsError,
  TLS_PLAINTEXT_FALLBACK_METRIC,
  type TlsEndpoint,
  type TlsMode,
  type TlsOutcome,
  warnIfSslFieldIgnored,
} from '../../database/tls.ts';
import { decodeReply, encodeCommand, MAX_REPLY_BYTES, RespError, type RespValue } from './resp.ts';
import { REDIS_ENV, type RedisSettings } from './settings.ts';

export interface RedisLogin {
  readonly username: string;
  readonly password: string;
  readonly label: 'pending' | 'current' | 'previous' | 'master';
}

type RedisConnectContext = Pick<StepContext, 'logger' | 'metrics' | 'remainingTimeMs'>;

/** One authenticated connection; after a timeout or a broken connection every later command fails. */
export class RedisSession {
  /** `host:port` for messages. */
  readonly where: string;
  readonly username: string;
  readonly tls: TlsOutcome;
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
    tls: TlsOutcome;
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

  /** Returns error replies as {@link RespError}; password arguments (`>…`, `<…`) are blanked in any message. */
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
      const settled =
        <T>(settle: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          settle(value);
        };
      this.#waiting.push({ resolve: settled(resolve), reject: settled(reject) });
      this.#socket.write(encodeCommand(args));
    });
  }

  async call(args: readonly string[], doing: string): Promise<RespValue> {
    const reply = await this.send(args, doing);
    if (reply instanceof RespError) throw this.refusal(reply, doing);
    return reply;
  }

  refusal(reply: RespError, doing: string): TargetRefusedError {
    const failure: TargetFailureCause =
      reply.code === 'NOPERM' ? 'permission' : reply.code === 'WRONGPASS' ? 'authentication' : 'rejected';
    return new TargetRefusedError(
      failure,
      `${doing} on ${this.where} as "${this.username}": the server answered "${this.scrub(reply.text)}"`,
    );
  }

  scrub(text: string): string {
    return scrubSecrets(text, this.#secrets);
  }

  /** No QUIT needed: Redis drops the client's state with the socket. */
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

/** The longest argument Redis 7 reads before AUTH (`ERR Protocol error: unauthenticated bulk length`). */
const MAX_UNAUTHENTICATED_BULK = 16 * 1024;

/** `undefined` when the server answers WRONGPASS (wrong password, no such user, or user off); other failures throw. */
export async function tryOpenRedis(
  endpoint: TlsEndpoint,
  login: RedisLogin,
  settings: RedisSettings,
  ctx: RedisConnectContext,
): Promise<RedisSession | undefined> {
  refuseUnlistedHost(endpoint.host, settings.allowedHosts);
  const where = describeServer(endpoint);
  const about = { host: endpoint.host, port: endpoint.port, user: login.username, with: login.label };
  if (
    Buffer.byteLength(login.password) > MAX_UNAUTHENTICATED_BULK ||
    Buffer.byteLength(login.username) > MAX_UNAUTHENTICATED_BULK
  ) {
    // Redis 7 drops a client that sends a longer argument before AUTH: such a password can never log in.
    const user = login.username.slice(0, 64);
    ctx.logger.info('login refused without trying: longer than Redis reads before AUTH', { ...about, user });
    return undefined;
  }
  const mode = effectiveTlsMode(settings.tlsMode, endpoint.ssl);
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
      ctx.logger.info('login refused', about);
      return undefined;
    }
    throw session.refusal(reply, `logging in with the ${login.label} credentials`);
  }
  ctx.logger.info('connected to Redis', { ...about, tls });
  limitMs = settings.commandTimeoutMs;
  return session;
}

export async function openRedis(
  endpoint: TlsEndpoint,
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

export async function canLogIn(
  endpoint: TlsEndpoint,
  login: RedisLogin,
  settings: RedisSettings,
  ctx: RedisConnectContext,
): Promise<boolean> {
  const session = await tryOpenRedis(endpoint, login, settings, ctx);
  session?.close();
  return session !== undefined;
}

async function openSocket(
  endpoint: TlsEndpoint,
  mode: TlsMode,
  settings: RedisSettings,
  ctx: RedisConnectContext,
): Promise<{ socket: Socket; tls: TlsOutcome }> {
  const where = describeServer(endpoint);
  const timeoutMs = withinDeadline(settings.connectTimeoutMs, ctx.remainingTimeMs());
  if (mode === 'disable') return { socket: await plainSocket(endpoint, timeoutMs, where), tls: 'disabled' };
  // A port speaks TLS or not, and a plaintext server waits silently through a TLS handshake: an
  // inline PING (no secret in it) tells them apart, as only a plaintext server answers it.
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
function speaksPlaintext(endpoint: TlsEndpoint, timeoutMs: number): Promise<boolean> {
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

function plainSocket(endpoint: TlsEndpoint, timeoutMs: number, where: string): Promise<Socket> {
  return settle(tcpConnect({ host: endpoint.host, port: endpoint.port }), 'connect', timeoutMs, where);
}

async function tlsSocket(
  endpoint: TlsEndpoint,
  settings: RedisSettings,
  timeoutMs: number,
  where: string,
): Promise<Socket> {
  const name = settings.tlsServerName ?? endpoint.host;
  // Loaded by the first TLS connection: node:tls costs cold-start time a plaintext set-up never needs.
  const tls = await import('node:tls');
  const socket = tls.connect({
    host: endpoint.host,
    port: endpoint.port,
    rejectUnauthorized: true,
    ...(settings.caBundle ? { ca: settings.caBundle } : {}),
    ...(isIP(name) === 0 ? { servername: name } : {}),
    ...(settings.tlsServerName ? certificateNaming(settings.tlsServerName) : {}),
  });
  return settle(socket, 'secureConnect', timeoutMs, where, true);
}

/** Waits for `ready`, or destroys the socket and fails with a sanitised error. */
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
