/**
 * MySQL/MariaDB connections through mysql2. Error messages come from codes and statement labels, never from
 * server text about a password-carrying statement (syntax errors quote it).
 */
import type mysql from 'mysql2/promise';
import type { TargetFailureCause } from '../../core/errors.ts';
import { type RotationError, TargetRefusedError, TargetUnreachableError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import {
  NETWORK_ERROR_CODES,
  scrubSecrets,
  unlessRefused,
  withinDeadline,
} from '../../database/connection.ts';
import { refuseUnlistedHost } from '../../database/hosts.ts';
import { mysqlTlsConnectionOptions, mysqlTlsOutcome } from '../../database/mysql-tls.ts';
import { quotedName } from '../../database/secret.ts';
import {
  effectiveTlsMode,
  serverWithoutTlsError,
  TLS_PLAINTEXT_FALLBACK_METRIC,
  type TlsEndpoint,
  type TlsMode,
  type TlsOutcome,
  warnIfSslFieldIgnored,
} from '../../database/tls.ts';
import { detectFlavour, type MysqlFlavour } from './flavour.ts';
import { MYSQL_ENV, type MysqlSettings } from './settings.ts';
import { type Account, type SqlMode, type Statement, sessionTimeoutStatements } from './sql.ts';

let mysql2: Promise<typeof mysql> | undefined;

/** Loaded on first connect: createSecret and finishSecret never connect, and mysql2 costs cold-start time. */
function loadMysql2(): Promise<typeof mysql> {
  mysql2 ??= import('mysql2/promise').then((loaded) => loaded.default);
  return mysql2;
}

export interface Endpoint extends TlsEndpoint {
  readonly database: string | undefined;
}

export interface Login {
  readonly username: string;
  readonly password: string;
  readonly source: string;
}

type SessionContext = Pick<StepContext, 'logger' | 'metrics' | 'remainingTimeMs'>;

type Row = Record<string, unknown>;

interface SessionParts {
  readonly connection: mysql.Connection;
  readonly flavour: MysqlFlavour;
  /** From CURRENT_USER(): its host is the real one. */
  readonly account: Account;
  readonly tls: TlsOutcome;
  readonly mode: SqlMode;
  readonly where: string;
  readonly answerWithinMs: () => number;
  readonly secrets: readonly string[];
}

export class MysqlSession {
  readonly flavour: MysqlFlavour;
  readonly account: Account;
  readonly tls: TlsOutcome;
  readonly mode: SqlMode;
  readonly #parts: SessionParts;

  constructor(parts: SessionParts) {
    this.#parts = parts;
    this.flavour = parts.flavour;
    this.account = parts.account;
    this.tls = parts.tls;
    this.mode = parts.mode;
  }

  /** The server's message is kept only for statements that carry no secret. */
  async run(statement: Statement): Promise<Row[]> {
    return this.#guard(statement, () => this.#parts.connection.query({ sql: statement.text }));
  }

  async lookup(label: string, sql: string, params: ReadonlyArray<string | number>): Promise<Row[]> {
    const statement: Statement = { label, text: sql, sensitive: false };
    return this.#guard(statement, () => this.#parts.connection.execute(sql, [...params]));
  }

  async #guard(statement: Statement, send: () => Promise<[unknown, unknown]>): Promise<Row[]> {
    try {
      return await answerWithin(this.#parts.connection, send, this.#parts.answerWithinMs());
    } catch (error) {
      throw sanitizeMysqlError(error, {
        action: `${statement.label} (${this.#parts.where})`,
        sensitive: statement.sensitive,
        secrets: this.#parts.secrets,
      });
    }
  }

  async close(): Promise<void> {
    try {
      await this.#parts.connection.end();
    } catch {
      this.#parts.connection.destroy();
    }
  }
}

/**
 * Plaintext under `prefer` only when the server has no TLS at all, never after a certificate or
 * authentication failure.
 */
export async function openSession(
  endpoint: Endpoint,
  login: Login,
  settings: MysqlSettings,
  ctx: SessionContext,
  secrets: readonly string[] = [login.password],
): Promise<MysqlSession> {
  refuseUnlistedHost(endpoint.host, settings.allowedHosts);
  const where = `${endpoint.host}:${endpoint.port} as ${quotedName(login.username)} with ${login.source}`;
  const mode = effectiveTlsMode(settings.tlsMode, endpoint.ssl);
  warnIfSslFieldIgnored(settings.tlsMode, endpoint, 'MYSQL_TLS_MODE', ctx.logger);
  const connection = await connectOnce(endpoint, login, settings, ctx, mode, where, secrets);
  const tls: TlsOutcome = mysqlTlsOutcome(
    (connection as unknown as { connection: { stream?: unknown } }).connection,
    mode,
  );
  const answerWithinMs = () => withinDeadline(settings.statementTimeoutMs + 1_000, ctx.remainingTimeMs());
  try {
    const rows = await answerWithin(
      connection,
      () =>
        connection.query(
          'SELECT VERSION() AS version, @@version_comment AS versionComment, CURRENT_USER() AS account, @@SESSION.sql_mode AS sqlMode',
        ),
      answerWithinMs(),
    );
    const row = rows[0] ?? {};
    const flavour = detectFlavour({
      version: rowText(row.version),
      versionComment: rowText(row.versionComment),
    });
    const account = splitAccount(rowText(row.account));
    if (account.user !== login.username) {
      throw new TargetRefusedError(
        'authentication',
        `${where}: the server authenticated the account "${account.user}"@"${account.host}" instead of user ${quotedName(login.username)} (an anonymous or wildcard account matched); drop that account or fix the user name`,
      );
    }
    const mode: SqlMode = { noBackslashEscapes: /NO_BACKSLASH_ESCAPES/i.test(rowText(row.sqlMode)) };
    const session = new MysqlSession({
      connection,
      flavour,
      account,
      tls,
      mode,
      where,
      answerWithinMs,
      secrets,
    });
    // The server gives a statement up itself before the invocation ends, so nothing holds locks after.
    const serverLimitMs = withinDeadline(settings.statementTimeoutMs, ctx.remainingTimeMs());
    for (const statement of sessionTimeoutStatements(flavour, serverLimitMs)) {
      await session.run(statement);
    }
    ctx.logger.info('connected to the database', {
      host: endpoint.host,
      port: endpoint.port,
      user: login.username,
      accountHost: account.host,
      credentials: login.source,
      server: flavour.label,
      tls,
    });
    return session;
  } catch (error) {
    connection.destroy();
    if (error instanceof TargetRefusedError || error instanceof TargetUnreachableError) throw error;
    throw sanitizeMysqlError(error, {
      action: `read the server version (${where})`,
      sensitive: false,
      secrets,
    });
  }
}

/** An authentication refusal answers undefined; any other failure still throws. */
export function tryOpenSession(
  endpoint: Endpoint,
  login: Login,
  settings: MysqlSettings,
  ctx: SessionContext,
  secrets?: readonly string[],
): Promise<MysqlSession | undefined> {
  return unlessRefused(openSession(endpoint, login, settings, ctx, secrets), () =>
    ctx.logger.info('credentials refused', { user: login.username, credentials: login.source }),
  );
}

async function connectOnce(
  endpoint: Endpoint,
  login: Login,
  settings: MysqlSettings,
  ctx: SessionContext,
  mode: TlsMode,
  where: string,
  secrets: readonly string[],
): Promise<mysql.Connection> {
  const connectTimeout = withinDeadline(settings.connectTimeoutMs, ctx.remainingTimeMs());
  const tlsOptions = mysqlTlsConnectionOptions(
    {
      mode,
      variable: MYSQL_ENV.tlsMode,
      ca: settings.caBundle,
      serverPublicKey: settings.serverPublicKey,
      onPlaintext: () => {
        ctx.logger.warn('server offers no TLS; connecting in plaintext (MYSQL_TLS_MODE=prefer)', {
          host: endpoint.host,
          port: endpoint.port,
          user: login.username,
          credentials: login.source,
          fix: 'enable TLS on the server and set MYSQL_TLS_MODE=verify-full',
        });
        ctx.metrics.count(TLS_PLAINTEXT_FALLBACK_METRIC);
      },
    },
    { host: endpoint.host, port: endpoint.port },
  );
  const options: mysql.ConnectionOptions = {
    // mysql2 checks the certificate against `host`: the TLS server name goes there, the socket to the host.
    host: mode !== 'disable' && settings.tlsServerName ? settings.tlsServerName : endpoint.host,
    port: endpoint.port,
    user: login.username,
    password: login.password,
    connectTimeout,
    charset: 'utf8mb4',
    // mysql2's default prepared-statement cache (16,000 entries) grew the handlers' RSS by about 12 MB.
    maxPreparedStatements: 16,
    ...(endpoint.database === undefined ? {} : { database: endpoint.database }),
    ...tlsOptions,
  };
  try {
    const connection = await (await loadMysql2()).createConnection(options);
    // A later server disconnect must not crash the process.
    connection.on('error', () => undefined);
    return connection;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'HANDSHAKE_NO_SSL_SUPPORT') {
      throw serverWithoutTlsError(`log in to ${where}`, MYSQL_ENV.tlsMode, mode);
    }
    throw sanitizeMysqlError(error, { action: `log in to ${where}`, sensitive: true, secrets });
  }
}

/** The connection is dropped on a timeout: its state is unknown once a statement is abandoned. */
async function answerWithin(
  connection: mysql.Connection,
  send: () => Promise<[unknown, unknown]>,
  timeoutMs: number,
): Promise<Row[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      connection.destroy();
      reject(
        Object.assign(
          new Error(
            "no answer within MYSQL_STATEMENT_TIMEOUT_MS (plus 1 s), or before the function's deadline",
          ),
          { code: 'STATEMENT_TIMEOUT' },
        ),
      );
    }, timeoutMs);
  });
  try {
    const [rows] = await Promise.race([send(), timeout]);
    return Array.isArray(rows) ? (rows as Row[]) : [];
  } finally {
    clearTimeout(timer);
  }
}

/** At the last `@`: host patterns never hold one. */
function splitAccount(value: string): Account {
  const at = value.lastIndexOf('@');
  if (at < 0) return { user: value, host: '' };
  return { user: value.slice(0, at), host: value.slice(at + 1) };
}

/** mysql2 returns BLOB and BINARY columns as Buffers. */
export function rowText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (value === null || value === undefined) return '';
  return String(value);
}

const AUTHENTICATION_ERRNOS = new Set([1045, 1698, 1862, 1820, 3118, 4151, 1131, 1275]);
const PERMISSION_ERRNOS = new Set([1044, 1130, 1142, 1143, 1211, 1227, 1370, 1410, 1132, 3530]);
const TIMEOUT_ERRNOS = new Set([1205, 1969, 3024, 1317]);
const TLS_ERRNOS = new Set([3159, 2026]);
const NETWORK_CODES = new Set([...NETWORK_ERROR_CODES, 'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'PROTOCOL_SEQUENCE_TIMEOUT', 'STATEMENT_TIMEOUT']);

const HINTS: Readonly<Record<number, string>> = {
  1045: 'the server refused the user name or password',
  1698: 'the server refused the login (no password or a socket-only account)',
  1862: 'the password has expired; reset it on the server',
  1820: 'the password has expired; reset it on the server',
  3118: 'the account is locked',
  4151: 'the account is locked',
  1130: 'the account may not connect from this address',
  1227: 'the user lacks a privilege this statement needs',
  1044: 'the user may not use this database',
  1142: 'the user lacks a table privilege this statement needs',
  1211: 'the user may not change other accounts',
  1132: 'the user may not change other accounts',
  1410: 'the user may not grant this privilege (it needs the privilege itself with GRANT OPTION)',
  1819: 'the new password does not satisfy the server password policy; adjust PASSWORD_LENGTH and the EXCLUDE_* settings',
  1290: 'the server is read-only (a replica, or read_only is on); connect to the writer',
  1396: 'the account does not exist or already exists',
  1064: 'the server could not parse the statement',
  3159: 'the server requires TLS for this account; set MYSQL_TLS_MODE=verify-full (or prefer)',
  1205: 'a lock wait timed out (another session holds the account tables)',
  1969: "the statement ran longer than MYSQL_STATEMENT_TIMEOUT_MS, or than the time left before the function's deadline",
  3024: "the statement ran longer than MYSQL_STATEMENT_TIMEOUT_MS, or than the time left before the function's deadline",
  1040: 'the server has too many connections',
};

/** Never attaches the original (mysql2 errors carry the SQL); server text only for safe statements, scrubbed. */
export function sanitizeMysqlError(
  error: unknown,
  context: { readonly action: string; readonly sensitive: boolean; readonly secrets: readonly string[] },
): RotationError {
  if (error instanceof TargetRefusedError || error instanceof TargetUnreachableError) return error;
  const details = errorDetails(error);
  const { errno, code, sqlState } = details;
  const failure =
    errno === undefined ? classifyDriverError(code, details.message) : classifyServerError(errno);
  const heading =
    errno === undefined
      ? code
      : `server error ${errno}${code ? ` ${code}` : ''}${sqlState ? ` (SQLSTATE ${sqlState})` : ''}`;
  const parts = [
    heading,
    errno === undefined ? undefined : HINTS[errno],
    ...explanation(details, failure, context),
  ];
  const message = `${context.action}: ${parts.filter(Boolean).join('; ') || 'failed'}`;
  return failure === 'network' || failure === 'timeout' || failure === 'tls'
    ? new TargetUnreachableError(failure, message)
    : new TargetRefusedError(failure, message);
}

function errorDetails(error: unknown) {
  const raw = (error ?? {}) as Record<'errno' | 'code' | 'sqlState' | 'sqlMessage' | 'message', unknown>;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    // Node's system errors carry a negative errno; only the server's count here.
    errno: typeof raw.errno === 'number' && raw.errno > 0 ? raw.errno : undefined,
    code: text(raw.code),
    sqlState: text(raw.sqlState),
    sqlMessage: text(raw.sqlMessage),
    message: text(raw.message),
  };
}

/** The TLS remedy, or the server's own text where it cannot quote a password. */
function explanation(
  { errno, code, sqlMessage, message }: ReturnType<typeof errorDetails>,
  failure: TargetFailureCause,
  context: { readonly sensitive: boolean; readonly secrets: readonly string[] },
): (string | undefined)[] {
  const scrub = (value: string | undefined, maxLength?: number) =>
    value === undefined ? undefined : scrubSecrets(value, context.secrets, maxLength);
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT') {
    return [
      'the server offers no TLS; enable TLS on the server, or for a local database without TLS set MYSQL_TLS_MODE=prefer (or disable)',
    ];
  }
  if (failure === 'tls') {
    return [
      scrub(message),
      'set MYSQL_CA_BUNDLE to the CA that signed the server certificate, or MYSQL_TLS_SERVERNAME to the name in it',
    ];
  }
  if (errno === undefined) return failure === 'rejected' ? [] : [scrub(message, 200)];
  if (context.sensitive) {
    return ["the server's message is withheld because it may quote the statement, which holds a password"];
  }
  return sqlMessage === undefined ? [] : [`server said: ${scrub(sqlMessage)}`];
}

function classifyServerError(errno: number): TargetFailureCause {
  if (AUTHENTICATION_ERRNOS.has(errno)) return 'authentication';
  if (PERMISSION_ERRNOS.has(errno)) return 'permission';
  if (TIMEOUT_ERRNOS.has(errno)) return 'timeout';
  if (TLS_ERRNOS.has(errno)) return 'tls';
  if (errno === 1053 || errno === 1152 || errno === 2013) return 'network';
  return 'rejected';
}

function classifyDriverError(code = '', message = ''): TargetFailureCause {
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (NETWORK_CODES.has(code)) return 'network';
  if (/^(HANDSHAKE_|ERR_TLS|ERR_SSL)|CERT|^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/.test(code)) return 'tls';
  if (/certificate|TLS|SSL/i.test(message)) return 'tls';
  return code.startsWith('E') ? 'network' : 'rejected';
}
