import { type Client, DatabaseError, type QueryConfig } from 'pg';
import {
  RotationError,
  type TargetFailureCause,
  TargetRefusedError,
  TargetUnreachableError,
} from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { NETWORK_ERROR_CODES, scrubSecrets, withinDeadline } from '../../database/connection.ts';
import { refuseUnlistedHost } from '../../database/hosts.ts';
import { pgClientFor, tlsOutcomeOf } from '../../database/postgres-tls.ts';
import {
  effectiveTlsMode,
  serverWithoutTlsError,
  TLS_PLAINTEXT_FALLBACK_METRIC,
  type TlsOutcome,
  warnIfSslFieldIgnored,
} from '../../database/tls.ts';
import { POSTGRES_ENV, type PostgresSettings } from './settings.ts';

export type { TlsOutcome } from '../../database/tls.ts';

/** Which credentials a connection uses, for log lines and error messages. */
export type CredentialLabel = 'pending' | 'current' | 'previous' | 'master';

/** Where to connect: the fields of the rotated secret that locate the server. */
export interface PostgresEndpoint {
  readonly host: string;
  readonly port: number;
  readonly dbname: string;
  /** The secret's `ssl`: `true` makes `PG_TLS_MODE` verify-full; `false` cannot loosen it. */
  readonly ssl: boolean | undefined;
}

/** Who logs in, and under which label the connection is reported. */
export interface PostgresLogin {
  readonly username: string;
  readonly password: string;
  readonly label: CredentialLabel;
}

/** The parts of a step's context a connection reports to. */
export type ConnectContext = Pick<StepContext, 'logger' | 'metrics' | 'remainingTimeMs'>;

// pg's own error for a server that answers 'N' to the SSLRequest when TLS is required.
const SERVER_WITHOUT_TLS = 'The server does not support SSL connections';

/**
 * One open connection. Every failure of {@link PostgresSession.query} is sanitised: the caller gets a
 * {@link TargetRefusedError} or {@link TargetUnreachableError} that never carries the driver's raw
 * error, the SQL text or a secret value.
 *
 * A statement that times out or loses the connection (a {@link TargetUnreachableError}) leaves the
 * connection in an unknown state: the statement may still run, or its answer may never come. The
 * session then gives the connection up at once (the server rolls back any open transaction when it
 * ends) and sends nothing more on it; {@link PostgresSession.usable} turns false, and callers skip
 * their `ROLLBACK`.
 */
export class PostgresSession {
  /** The TLS outcome this connection ended up with. */
  readonly tls: TlsOutcome;
  /** `"user" at host:port`, for messages. */
  readonly where: string;
  readonly #client: Client;
  readonly #scrub: readonly string[];
  readonly #answerWithinMs: (() => number) | undefined;
  #abandoned = false;

  constructor(
    client: Client,
    tls: TlsOutcome,
    where: string,
    scrub: readonly string[],
    answerWithinMs?: () => number,
  ) {
    this.#client = client;
    this.tls = tls;
    this.where = where;
    this.#scrub = scrub;
    this.#answerWithinMs = answerWithinMs;
  }

  /**
   * Whether the connection still takes statements: false once one timed out or the connection
   * failed, when it has been given up. A caller then rethrows its error instead of rolling back.
   */
  get usable(): boolean {
    return !this.#abandoned;
  }

  /**
   * Runs one statement. `purpose` says what it was for in an error message ("changing the password
   * of role "app""); `alsoSecret` lists strings of this statement that must not appear in one.
   * On a session that is no longer {@link PostgresSession.usable}, sends nothing and throws a
   * `network` {@link TargetUnreachableError} at once.
   */
  async query<Row extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values: readonly unknown[],
    purpose: string,
    alsoSecret: readonly string[] = [],
  ): Promise<Row[]> {
    if (this.#abandoned) {
      throw new TargetUnreachableError(
        'network',
        `${purpose} (${this.where}): not sent, because the connection was given up after an earlier timeout or network failure`,
      );
    }
    try {
      // pg reads `query_timeout` per query too; its types only declare it on the connection.
      const query = { text, values: values as unknown[], query_timeout: this.#answerWithinMs?.() };
      const result = await this.#client.query<Row>(query as QueryConfig);
      return result.rows;
    } catch (error) {
      const failure = sanitizePostgresError(error, `${purpose} (${this.where})`, [
        ...this.#scrub,
        ...alsoSecret,
      ]);
      if (failure instanceof TargetUnreachableError) this.#abandon();
      throw failure;
    }
  }

  /** Closes the connection; never throws (a connection that broke is already closed). */
  async close(): Promise<void> {
    if (this.#abandoned) return;
    try {
      await this.#client.end();
    } catch {
      // Nothing to do: the socket is gone either way.
    }
  }

  /**
   * Ends the connection without a goodbye. pg keeps a timed-out statement active and queues every
   * later one behind it, each waiting out its own timeout; a destroyed socket ends all of that, and
   * the server rolls back whatever the connection had open.
   */
  #abandon(): void {
    this.#abandoned = true;
    this.#client.connection.stream.destroy();
  }
}

/**
 * Opens a connection under `PG_TLS_MODE` (made verify-full by a secret with `"ssl": true`) and
 * logs the TLS outcome:
 * - `verify-full`: TLS verified against `PG_CA_BUNDLE` (or Node's trust store), else a `tls`
 *   failure before any credential is sent;
 * - `prefer`: verified TLS when the server offers it; plaintext when it offers none, with a warning
 *   line and the metric `TlsPlaintextFallback`. A certificate failure never leads to plaintext;
 * - `disable`: plaintext.
 * Without TLS, a request for a cleartext or MD5 password is refused (only SCRAM goes ahead).
 */
export async function connectPostgres(
  endpoint: PostgresEndpoint,
  login: PostgresLogin,
  settings: PostgresSettings,
  ctx: ConnectContext,
): Promise<PostgresSession> {
  refuseUnlistedHost(endpoint.host, settings.allowedHosts);
  const where = `user "${login.username}" at ${endpoint.host}:${endpoint.port}`;
  const doing = `logging in as ${where} with the ${login.label} credentials`;
  const scrub = [login.password];
  const mode = effectiveTlsMode(settings.tlsMode, endpoint.ssl);
  warnIfSslFieldIgnored(settings.tlsMode, endpoint, 'PG_TLS_MODE', ctx.logger);
  const connectTimeoutMs = withinDeadline(settings.connectTimeoutMs, ctx.remainingTimeMs());
  const TlsModeClient = pgClientFor({
    mode,
    variable: POSTGRES_ENV.tlsMode,
    ca: settings.caBundle,
    serverName: settings.tlsServerName,
    probeTimeoutMs: connectTimeoutMs,
    onPlaintext: () => {
      ctx.logger.warn('PostgreSQL server offers no TLS; connecting without encryption (PG_TLS_MODE=prefer)', {
        host: endpoint.host,
        port: endpoint.port,
        user: login.username,
        credentials: login.label,
        fix: 'enable TLS on the server and set PG_TLS_MODE=verify-full',
      });
      ctx.metrics.count(TLS_PLAINTEXT_FALLBACK_METRIC);
    },
  });
  const client: Client = new TlsModeClient({
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.dbname,
    user: login.username,
    password: login.password,
    connectionTimeoutMillis: connectTimeoutMs,
    // The server gives up a statement by itself, at the latest when the invocation is about to
    // end, so that nothing it started runs on (holding locks) after the function is gone.
    statement_timeout: withinDeadline(settings.statementTimeoutMs, ctx.remainingTimeMs()),
    application_name: 'secrets-rotator',
  });
  // A server that ends the session later emits 'error' on the client; without a listener Node
  // would crash the process. The next query reports the failure, sanitised.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    if (error instanceof Error && error.message === SERVER_WITHOUT_TLS) {
      throw serverWithoutTlsError(doing, POSTGRES_ENV.tlsMode, mode);
    }
    throw sanitizePostgresError(error, doing, scrub);
  }
  // The client's own limit, in case the server (or the network) never answers at all.
  const answerWithinMs = () => withinDeadline(settings.statementTimeoutMs + 5_000, ctx.remainingTimeMs());
  const tls: TlsOutcome = tlsOutcomeOf(client);
  const session = new PostgresSession(client, tls, where, scrub, answerWithinMs);
  ctx.logger.info('connected to PostgreSQL', {
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.dbname,
    user: login.username,
    credentials: login.label,
    tls: session.tls,
  });
  return session;
}

/**
 * Opens a connection only to find out whether the credentials log in. Authentication failures
 * answer `false`; every other failure (network, TLS, timeout) is thrown, because it says nothing
 * about the credentials.
 */
export async function canLogIn(
  endpoint: PostgresEndpoint,
  login: PostgresLogin,
  settings: PostgresSettings,
  ctx: ConnectContext,
): Promise<boolean> {
  const session = await tryConnect(endpoint, login, settings, ctx);
  if (!session) return false;
  await session.close();
  return true;
}

/**
 * Like {@link connectPostgres}, but an authentication failure answers `undefined` (logged at info)
 * instead of throwing.
 */
export async function tryConnect(
  endpoint: PostgresEndpoint,
  login: PostgresLogin,
  settings: PostgresSettings,
  ctx: ConnectContext,
): Promise<PostgresSession | undefined> {
  try {
    return await connectPostgres(endpoint, login, settings, ctx);
  } catch (error) {
    if (error instanceof TargetRefusedError && error.failure === 'authentication') {
      ctx.logger.info('credentials do not log in', {
        host: endpoint.host,
        port: endpoint.port,
        user: login.username,
        credentials: login.label,
        reason: error.message,
      });
      return undefined;
    }
    throw error;
  }
}

// SQLSTATEs that say the login itself was refused.
const AUTHENTICATION_STATES = new Set(['28P01', '28000']);
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
]);

/**
 * Turns any error of the driver into one of ours, with a cause an operator can act on (docs/protocol.md#security-rules):
 * `network`, `timeout`, `tls`, `authentication`, `permission` or `rejected`. The driver's own
 * message is used only when it comes from the server (which never sees a password: logins use
 * SCRAM and passwords travel as verifiers), and even then every string in `secrets` is blanked.
 */
export function sanitizePostgresError(
  error: unknown,
  doing: string,
  secrets: readonly string[] = [],
): RotationError {
  if (error instanceof RotationError) return error;
  const scrub = (text: string) => scrubSecrets(text, secrets);
  const refused = (failure: TargetFailureCause, reason: string) =>
    new TargetRefusedError(failure, `${doing}: ${reason}`);
  const unreachable = (failure: TargetFailureCause, reason: string) =>
    new TargetUnreachableError(failure, `${doing}: ${reason}`);

  if (error instanceof DatabaseError) {
    const state = error.code ?? 'unknown';
    const server = `${scrub(error.message)} (SQLSTATE ${state})`;
    if (AUTHENTICATION_STATES.has(state)) return refused('authentication', server);
    if (state === '42501') return refused('permission', server);
    if (state === '57014') {
      return unreachable(
        'timeout',
        `${server}; the statement ran longer than PG_STATEMENT_TIMEOUT_MS, or than the time left before the function's deadline`,
      );
    }
    if (state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03') {
      return unreachable('network', server);
    }
    if (state === '3D000') return refused('rejected', `${server}; check "dbname" in the secret`);
    return refused('rejected', server);
  }

  const err = error instanceof Error ? (error as NodeJS.ErrnoException) : undefined;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = err?.message ?? '';

  if (code && NETWORK_ERROR_CODES.has(code)) {
    const hint =
      code === 'ECONNREFUSED'
        ? 'nothing accepts connections there; check "host", "port" and security groups'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL'
          ? 'the host name does not resolve; check "host" and the function\'s DNS/VPC set-up'
          : 'check "host", "port", routes and security groups';
    return unreachable('network', `${code}: ${hint}`);
  }
  if (code && UNTRUSTED_CERTIFICATE_CODES.has(code)) {
    return unreachable(
      'tls',
      `${code}: the server's certificate is not trusted; set PG_CA_BUNDLE to the CA bundle that signed it (for RDS, the region's bundle)`,
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return unreachable(
      'tls',
      `${code}: the server's certificate does not name the host; connect by a name it holds, or set PG_TLS_SERVERNAME to it`,
    );
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return unreachable('tls', `${code}: the server's certificate is outside its validity period`);
  }
  if (
    (code && /^ERR_(SSL|TLS)_|CERT/.test(code)) ||
    message === 'There was an error establishing an SSL connection'
  ) {
    return unreachable('tls', `${code ?? 'TLS'}: the TLS handshake failed`);
  }
  if (message === SERVER_WITHOUT_TLS) {
    return unreachable('tls', 'the server does not offer TLS');
  }
  if (/timeout/i.test(message)) {
    return unreachable(
      'timeout',
      /query read timeout/i.test(message)
        ? "no answer within PG_STATEMENT_TIMEOUT_MS (plus 5 s), or before the function's deadline"
        : "no connection within PG_CONNECT_TIMEOUT_MS, or before the function's deadline",
    );
  }
  if (/^Connection terminated/.test(message)) {
    return unreachable('network', 'the server closed the connection');
  }
  if (/^SASL: /.test(message)) {
    // pg's own SCRAM checks (server signature, nonce): protocol text, never the password.
    return refused('authentication', scrub(message));
  }
  return unreachable(
    'network',
    `unexpected driver failure (${err?.name ?? typeof error}${code ? ` ${code}` : ''})`,
  );
}
