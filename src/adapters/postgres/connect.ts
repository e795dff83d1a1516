import { type Client, DatabaseError, type QueryConfig } from 'pg';
import {
  RotationError,
  type TargetFailureCause,
  TargetRefusedError,
  TargetUnreachableError,
} from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import {
  NETWORK_ERROR_CODES,
  scrubSecrets,
  unlessRefused,
  withinDeadline,
} from '../../database/connection.ts';
import { refuseUnlistedHost } from '../../database/hosts.ts';
import {
  INJECTED_AFTER_TLS_ANSWER,
  pgClientFor,
  SERVER_WITHOUT_TLS,
  tlsOutcomeOf,
} from '../../database/postgres-tls.ts';
import {
  effectiveTlsMode,
  serverWithoutTlsError,
  TLS_PLAINTEXT_FALLBACK_METRIC,
  type TlsEndpoint,
  type TlsOutcome,
  warnIfSslFieldIgnored,
} from '../../database/tls.ts';
import { POSTGRES_ENV, type PostgresSettings } from './settings.ts';

export type CredentialLabel = 'pending' | 'current' | 'previous' | 'master';

export interface PostgresEndpoint extends TlsEndpoint {
  readonly dbname: string;
}

export interface PostgresLogin {
  readonly username: string;
  readonly password: string;
  readonly label: CredentialLabel;
}

type ConnectContext = Pick<StepContext, 'logger' | 'metrics' | 'remainingTimeMs'>;

/**
 * Failures never carry the driver's raw error, the SQL or a secret. After a timeout or a lost connection the
 * state is unknown, so the session gives the connection up (the server rolls back) and turns `usable` false.
 */
export class PostgresSession {
  readonly tls: TlsOutcome;
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

  get usable(): boolean {
    return !this.#abandoned;
  }

  /** `alsoSecret`: strings of this statement that must not appear in an error. */
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

  /**
   * Sends Terminate and returns without waiting for the server to close the socket: every answer is
   * in by now, and the server ending its backend process takes a few ms a login that prove nothing.
   */
  async close(): Promise<void> {
    if (this.#abandoned) return;
    this.#client.end().catch(() => {});
  }

  /** pg queues every later statement behind a timed-out one; destroying the socket ends all of that. */
  #abandon(): void {
    this.#abandoned = true;
    this.#client.connection.stream.destroy();
  }
}

/** A certificate failure never leads to plaintext; without TLS only SCRAM authentication goes ahead. */
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
    // The server gives a statement up itself before the invocation ends, so nothing holds locks after.
    statement_timeout: withinDeadline(settings.statementTimeoutMs, ctx.remainingTimeMs()),
    application_name: 'secrets-rotator',
  });
  // Without an 'error' listener a later server disconnect would crash the process.
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

/** `undefined` only when the server refuses the credentials; other failures say nothing about them. */
export function tryConnect(
  endpoint: PostgresEndpoint,
  login: PostgresLogin,
  settings: PostgresSettings,
  ctx: ConnectContext,
): Promise<PostgresSession | undefined> {
  return unlessRefused(connectPostgres(endpoint, login, settings, ctx), (error) =>
    ctx.logger.info('credentials do not log in', {
      host: endpoint.host,
      port: endpoint.port,
      user: login.username,
      credentials: login.label,
      reason: error.message,
    }),
  );
}

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
 * Server messages are passed on (the server never sees a password: SCRAM logins, verifiers), with every
 * secret blanked.
 */
export function sanitizePostgresError(
  error: unknown,
  doing: string,
  secrets: readonly string[] = [],
): RotationError {
  if (error instanceof RotationError) return error;
  const scrub = (text: string) => scrubSecrets(text, secrets);
  const [failure, reason] =
    error instanceof DatabaseError ? serverFailure(error, scrub) : driverFailure(error, scrub);
  const message = `${doing}: ${reason}`;
  return failure === 'authentication' || failure === 'permission' || failure === 'rejected'
    ? new TargetRefusedError(failure, message)
    : new TargetUnreachableError(failure, message);
}

type Failure = readonly [TargetFailureCause, string];

function serverFailure(error: DatabaseError, scrub: (text: string) => string): Failure {
  const state = error.code ?? 'unknown';
  const server = `${scrub(error.message)} (SQLSTATE ${state})`;
  if (AUTHENTICATION_STATES.has(state)) return ['authentication', server];
  if (state === '42501') return ['permission', server];
  if (state === '57014') {
    return [
      'timeout',
      `${server}; the statement ran longer than PG_STATEMENT_TIMEOUT_MS, or than the time left before the function's deadline`,
    ];
  }
  if (state.startsWith('08') || /^57P0[123]$/.test(state)) return ['network', server];
  return ['rejected', state === '3D000' ? `${server}; check "dbname" in the secret` : server];
}

const UNRESOLVED_HOST = 'the host name does not resolve; check "host" and the function\'s DNS/VPC set-up';
const NETWORK_HINTS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'nothing accepts connections there; check "host", "port" and security groups',
  ENOTFOUND: UNRESOLVED_HOST,
  EAI_AGAIN: UNRESOLVED_HOST,
  EAI_FAIL: UNRESOLVED_HOST,
};

function driverFailure(error: unknown, scrub: (text: string) => string): Failure {
  const err = error instanceof Error ? (error as NodeJS.ErrnoException) : undefined;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = err?.message ?? '';
  if (code && NETWORK_ERROR_CODES.has(code)) {
    return [
      'network',
      `${code}: ${NETWORK_HINTS[code] ?? 'check "host", "port", routes and security groups'}`,
    ];
  }
  const tls = tlsFailure(code, message);
  if (tls) return ['tls', tls];
  if (/timeout/i.test(message)) {
    return [
      'timeout',
      /query read timeout/i.test(message)
        ? "no answer within PG_STATEMENT_TIMEOUT_MS (plus 5 s), or before the function's deadline"
        : "no connection within PG_CONNECT_TIMEOUT_MS, or before the function's deadline",
    ];
  }
  if (/^Connection terminated/.test(message)) return ['network', 'the server closed the connection'];
  // pg's own SCRAM checks (server signature, nonce): protocol text, never the password.
  if (/^SASL: /.test(message)) return ['authentication', scrub(message)];
  return ['network', `unexpected driver failure (${err?.name ?? typeof error}${code ? ` ${code}` : ''})`];
}

function tlsFailure(code: string | undefined, message: string): string | undefined {
  if (code && UNTRUSTED_CERTIFICATE_CODES.has(code)) {
    return `${code}: the server's certificate is not trusted; set PG_CA_BUNDLE to the CA bundle that signed it (for RDS, the region's bundle)`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return `${code}: the server's certificate does not name the host; connect by a name it holds, or set PG_TLS_SERVERNAME to it`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `${code}: the server's certificate is outside its validity period`;
  }
  if (
    (code && /^ERR_(SSL|TLS)_|CERT/.test(code)) ||
    message === 'There was an error establishing an SSL connection'
  ) {
    return `${code ?? 'TLS'}: the TLS handshake failed`;
  }
  if (message === INJECTED_AFTER_TLS_ANSWER) {
    return 'the answer to the TLS request came with more data, sent before any TLS (someone on the path may be injecting it); no credentials were sent';
  }
  return message === SERVER_WITHOUT_TLS ? 'the server does not offer TLS' : undefined;
}
