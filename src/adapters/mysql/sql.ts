/**
 * Every statement the MySQL adapter sends, per server flavour, in one place.
 *
 * Neither MySQL nor MariaDB accepts a bind parameter for a password or an account name in account
 * statements (`ALTER USER … IDENTIFIED BY ?` and `GRANT … TO ?@?` are syntax errors even as
 * server-side prepared statements), and mysql2's `?` placeholders are only client-side escaping.
 * So this module quotes everything itself: account names as backtick identifiers (immune to
 * `ANSI_QUOTES` and `NO_BACKSLASH_ESCAPES`), strings as literals escaped for the session's actual
 * `sql_mode`, and, wherever the account uses `mysql_native_password`, the password is replaced by
 * its hash computed here, so the plaintext never appears in statement text the server could log.
 */
import { createHash } from 'node:crypto';
import type { MysqlFlavour } from './flavour.ts';
import { isWord, tokenize } from './tokens.ts';

/**
 * One statement with a label for messages. `sensitive` statements carry a password or a password
 * hash: a server error about them is never passed on, because the server quotes the statement.
 */
export interface Statement {
  readonly label: string;
  readonly text: string;
  readonly sensitive: boolean;
}

/** A MySQL account: user name and host pattern, as stored in `mysql.user`. */
export interface Account {
  readonly user: string;
  readonly host: string;
}

/**
 * How the session parses string literals: with `NO_BACKSLASH_ESCAPES` a backslash is an ordinary
 * character, otherwise it escapes the next one.
 */
export interface SqlMode {
  readonly noBackslashEscapes: boolean;
}

/** The plugin name of MySQL's and MariaDB's classic password hash. */
export const NATIVE_PASSWORD_PLUGIN = 'mysql_native_password';

/**
 * Quotes an identifier (database, table, column, role, user or host part) with backticks,
 * doubling any backtick inside. Backtick quoting means the same under every `sql_mode`.
 */
export function quoteIdentifier(name: string): string {
  if (name.includes('\0')) throw new TypeError('an identifier cannot contain a NUL character');
  return `\`${name.replaceAll('`', '``')}\``;
}

/** Quotes an account name as `` `user`@`host` ``. */
export function quoteAccount(account: Account): string {
  return `${quoteIdentifier(account.user)}@${quoteIdentifier(account.host)}`;
}

/**
 * A string literal for the session's `sql_mode`: quotes doubled always, backslashes doubled unless
 * `NO_BACKSLASH_ESCAPES` is on.
 */
export function stringLiteral(value: string, mode: SqlMode): string {
  if (value.includes('\0')) throw new TypeError('a string literal cannot contain a NUL character here');
  const escaped = mode.noBackslashEscapes ? value : value.replaceAll('\\', '\\\\');
  return `'${escaped.replaceAll("'", "''")}'`;
}

/**
 * The `mysql_native_password` hash of a password: `*` and the upper-case hex of
 * SHA1(SHA1(password)), as `PASSWORD()` computes it. Knowing it is not enough to log in with the
 * native protocol, but it is still treated as secret.
 */
export function nativePasswordHash(password: string): string {
  const stage1 = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(stage1).digest('hex').toUpperCase()}`;
}

/** Whether a plugin name means the classic hash (`''` is what old grant tables store for it). */
export function isNativePlugin(plugin: string): boolean {
  return plugin === '' || plugin === NATIVE_PASSWORD_PLUGIN;
}

/**
 * The authentication plugin of an account, read from MariaDB's `SHOW CREATE USER` text.
 * `IDENTIFIED BY PASSWORD '…'` and no IDENTIFIED clause are the native plugin; an account with
 * several plugins (`… OR unix_socket`) reports `multiple`, and is changed through `PASSWORD()` so
 * that every plugin keeps working.
 */
export function mariaDbAuthPlugin(createUser: string): string {
  const tokens = tokenize(createUser);
  const at = tokens.findIndex((token) => isWord(token, 'IDENTIFIED'));
  if (at < 0) return NATIVE_PASSWORD_PLUGIN;
  const how = tokens[at + 1];
  if (isWord(how, 'BY')) return NATIVE_PASSWORD_PLUGIN;
  const plugin = tokens[at + 2];
  if (!(isWord(how, 'VIA') || isWord(how, 'WITH')) || !plugin || plugin.type === 'punct') {
    throw new SyntaxError('unexpected IDENTIFIED clause in SHOW CREATE USER');
  }
  // Several plugins are joined by OR; strings and identifiers never count as the keyword.
  if (tokens.slice(at + 3).some((token) => isWord(token, 'OR'))) return 'multiple';
  return plugin.value.toLowerCase();
}

/**
 * The statements that make a logged-in user change its own password (single user, docs/protocol.md#single-user):
 * - MariaDB: `SET PASSWORD = '<native hash>'` (MariaDB refuses `ALTER USER CURRENT_USER()` to
 *   users without the CREATE USER privilege), or `SET PASSWORD = PASSWORD('…')` for other plugins;
 * - MySQL 5.7: `ALTER USER USER() IDENTIFIED BY '…'`, the only self-service form it has;
 * - MySQL 8: `ALTER USER CURRENT_USER() IDENTIFIED BY '…'`, with `REPLACE '<current>'` when the
 *   current password is known (servers with `password_require_current` demand it) and, for dual
 *   passwords, `DISCARD OLD PASSWORD` then `RETAIN CURRENT PASSWORD`.
 */
export function selfPasswordStatements(
  flavour: MysqlFlavour,
  options: {
    readonly password: string;
    /** The account's plugin (MariaDB only; MySQL keeps the account's plugin by itself). */
    readonly plugin: string;
    readonly mode: SqlMode;
    /** MySQL 8: the password this session logged in with, sent as `REPLACE`. */
    readonly replacing?: string | undefined;
    /** MySQL 8.0.14+: keep the current password as the secondary one. */
    readonly retainCurrent?: boolean;
  },
): Statement[] {
  const label = 'change the password of the logged-in user';
  const { password, mode } = options;
  switch (flavour.kind) {
    case 'mariadb': {
      const value = isNativePlugin(options.plugin)
        ? stringLiteral(nativePasswordHash(password), mode)
        : `PASSWORD(${stringLiteral(password, mode)})`;
      return [{ label, text: `SET PASSWORD = ${value}`, sensitive: true }];
    }
    case 'mysql57':
      return [
        { label, text: `ALTER USER USER() IDENTIFIED BY ${stringLiteral(password, mode)}`, sensitive: true },
      ];
    case 'mysql8': {
      const statements: Statement[] = [];
      if (options.retainCurrent) {
        statements.push({
          label: 'discard the secondary password of the logged-in user',
          text: 'ALTER USER CURRENT_USER() DISCARD OLD PASSWORD',
          sensitive: false,
        });
      }
      let text = `ALTER USER CURRENT_USER() IDENTIFIED BY ${stringLiteral(password, mode)}`;
      if (options.replacing !== undefined) text += ` REPLACE ${stringLiteral(options.replacing, mode)}`;
      if (options.retainCurrent) text += ' RETAIN CURRENT PASSWORD';
      statements.push({ label, text, sensitive: true });
      return statements;
    }
  }
}

/**
 * The statement a privileged user runs to set another account's password, keeping its plugin:
 * - MariaDB: `ALTER USER acct IDENTIFIED BY PASSWORD '<native hash>'`, or
 *   `SET PASSWORD FOR acct = PASSWORD('…')` for other or several plugins;
 * - MySQL 5.7 and 8: `ALTER USER acct IDENTIFIED WITH mysql_native_password AS '<hash>'`, or
 *   `ALTER USER acct IDENTIFIED WITH <plugin> BY '…'` for other plugins (caching_sha2_password
 *   hashes are salted by the server).
 */
export function adminPasswordStatement(
  flavour: MysqlFlavour,
  account: Account,
  options: {
    readonly password: string;
    readonly plugin: string;
    readonly mode: SqlMode;
    readonly label?: string;
  },
): Statement {
  const label = options.label ?? `set the password of ${account.user}`;
  const target = quoteAccount(account);
  const { password, plugin, mode } = options;
  if (flavour.kind === 'mariadb') {
    const text = isNativePlugin(plugin)
      ? `ALTER USER ${target} IDENTIFIED BY PASSWORD ${stringLiteral(nativePasswordHash(password), mode)}`
      : `SET PASSWORD FOR ${target} = PASSWORD(${stringLiteral(password, mode)})`;
    return { label, text, sensitive: true };
  }
  const text = isNativePlugin(plugin)
    ? `ALTER USER ${target} IDENTIFIED WITH ${NATIVE_PASSWORD_PLUGIN} AS ${stringLiteral(nativePasswordHash(password), mode)}`
    : `ALTER USER ${target} IDENTIFIED WITH ${quoteIdentifier(plugin)} BY ${stringLiteral(password, mode)}`;
  return { label, text, sensitive: true };
}

/**
 * Creates the clone of an alternating pair with a throw-away password (its real one is set last,
 * so a login with the pending password proves the whole set-up finished) and the original's
 * plugin.
 */
export function createUserStatement(
  flavour: MysqlFlavour,
  account: Account,
  options: { readonly password: string; readonly plugin: string; readonly mode: SqlMode },
): Statement {
  const label = `create the user ${account.user}`;
  const target = quoteAccount(account);
  const { password, plugin, mode } = options;
  let identified: string;
  if (flavour.kind === 'mariadb') {
    identified =
      isNativePlugin(plugin) || plugin === 'multiple'
        ? `IDENTIFIED BY PASSWORD ${stringLiteral(nativePasswordHash(password), mode)}`
        : `IDENTIFIED VIA ${quoteIdentifier(plugin)} USING PASSWORD(${stringLiteral(password, mode)})`;
  } else {
    identified = isNativePlugin(plugin)
      ? `IDENTIFIED WITH ${NATIVE_PASSWORD_PLUGIN} AS ${stringLiteral(nativePasswordHash(password), mode)}`
      : `IDENTIFIED WITH ${quoteIdentifier(plugin)} BY ${stringLiteral(password, mode)}`;
  }
  return { label, text: `CREATE USER IF NOT EXISTS ${target} ${identified}`, sensitive: true };
}

/** An account's TLS requirements and resource limits, as `mysql.user` stores them. */
export interface AccountRequirements {
  /** `''` (none), `ANY` (REQUIRE SSL), `X509`, or `SPECIFIED` (issuer / subject / cipher). */
  readonly sslType: string;
  readonly sslCipher: string;
  readonly x509Issuer: string;
  readonly x509Subject: string;
  /** Resource limits by their `WITH` keyword, e.g. `MAX_USER_CONNECTIONS: 10`. */
  readonly limits: Readonly<Record<string, number>>;
}

/** The resource-limit columns of `mysql.user` and their `WITH` keywords. */
export const LIMIT_COLUMNS = {
  max_questions: 'MAX_QUERIES_PER_HOUR',
  max_updates: 'MAX_UPDATES_PER_HOUR',
  max_connections: 'MAX_CONNECTIONS_PER_HOUR',
  max_user_connections: 'MAX_USER_CONNECTIONS',
} as const;

/** The limit columns of MariaDB, which adds `max_statement_time`. */
export const MARIADB_LIMIT_COLUMNS = { ...LIMIT_COLUMNS, max_statement_time: 'MAX_STATEMENT_TIME' } as const;

/** The `REQUIRE …` clause for a set of requirements. */
export function requireClause(requirements: AccountRequirements, mode: SqlMode): string {
  switch (requirements.sslType.toUpperCase()) {
    case '':
      return 'REQUIRE NONE';
    case 'ANY':
      return 'REQUIRE SSL';
    case 'X509':
      return 'REQUIRE X509';
    case 'SPECIFIED': {
      const parts: string[] = [];
      if (requirements.x509Issuer) parts.push(`ISSUER ${stringLiteral(requirements.x509Issuer, mode)}`);
      if (requirements.x509Subject) parts.push(`SUBJECT ${stringLiteral(requirements.x509Subject, mode)}`);
      if (requirements.sslCipher) parts.push(`CIPHER ${stringLiteral(requirements.sslCipher, mode)}`);
      return parts.length > 0 ? `REQUIRE ${parts.join(' AND ')}` : 'REQUIRE X509';
    }
    default:
      throw new TypeError(`unknown ssl_type "${requirements.sslType.slice(0, 20)}"`);
  }
}

/**
 * Copies TLS requirements and resource limits onto an account:
 * `ALTER USER acct REQUIRE … WITH MAX_… n …`.
 */
export function requirementsStatement(
  account: Account,
  requirements: AccountRequirements,
  mode: SqlMode,
): Statement {
  let text = `ALTER USER ${quoteAccount(account)} ${requireClause(requirements, mode)}`;
  const limits = Object.entries(requirements.limits).filter(([keyword, value]) => {
    if (!/^MAX_[A-Z_]+$/.test(keyword) || !Number.isFinite(value)) {
      throw new TypeError(`unusable resource limit ${keyword.slice(0, 40)}`);
    }
    return true;
  });
  if (limits.length > 0) text += ` WITH ${limits.map(([keyword, value]) => `${keyword} ${value}`).join(' ')}`;
  return { label: `copy TLS requirements and limits to ${account.user}`, text, sensitive: false };
}

/**
 * Statements that bound every later statement of a session: MariaDB's `max_statement_time`
 * (seconds), and on both families `lock_wait_timeout` so that account statements cannot wait
 * forever on a metadata lock.
 */
export function sessionTimeoutStatements(flavour: MysqlFlavour, statementTimeoutMs: number): Statement[] {
  const seconds = Math.max(1, Math.ceil(statementTimeoutMs / 1000));
  const statements: Statement[] = [
    {
      label: 'set the lock wait timeout',
      text: `SET SESSION lock_wait_timeout = ${seconds}`,
      sensitive: false,
    },
  ];
  if (flavour.kind === 'mariadb') {
    statements.push({
      label: 'set the statement timeout',
      text: `SET SESSION max_statement_time = ${(statementTimeoutMs / 1000).toFixed(3)}`,
      sensitive: false,
    });
  } else {
    statements.push({
      label: 'set the statement timeout',
      text: `SET SESSION max_execution_time = ${Math.round(statementTimeoutMs)}`,
      sensitive: false,
    });
  }
  return statements;
}

/** `SHOW GRANTS FOR acct`. */
export function showGrantsStatement(account: Account): Statement {
  return {
    label: `read the grants of ${account.user}`,
    text: `SHOW GRANTS FOR ${quoteAccount(account)}`,
    sensitive: false,
  };
}

/**
 * `SHOW CREATE USER acct`, or `SHOW CREATE USER CURRENT_USER()` for the logged-in user. The
 * answer holds the password hash, so it is treated as sensitive.
 */
export function showCreateUserStatement(account: Account | undefined): Statement {
  return {
    label: `read the definition of ${account ? account.user : 'the logged-in user'}`,
    text: `SHOW CREATE USER ${account ? quoteAccount(account) : 'CURRENT_USER()'}`,
    sensitive: true,
  };
}

/**
 * MySQL 8.0.14+: `ALTER USER CURRENT_USER() DISCARD OLD PASSWORD`, which ends the secondary
 * password kept by `RETAIN CURRENT PASSWORD`.
 */
export function discardOldPasswordStatement(): Statement {
  return {
    label: 'discard the secondary password of the logged-in user',
    text: 'ALTER USER CURRENT_USER() DISCARD OLD PASSWORD',
    sensitive: false,
  };
}

/** Look-ups sent as server-side prepared statements with real bind parameters (no secret in them). */
export const LOOKUPS = {
  accountExists: 'SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host = ?',
  accountHosts: 'SELECT Host AS host FROM mysql.user WHERE User = ?',
  accountPlugin: 'SELECT plugin FROM mysql.user WHERE User = ? AND Host = ?',
  requirements:
    'SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, max_connections, max_user_connections FROM mysql.user WHERE User = ? AND Host = ?',
  mariaDbRequirements:
    'SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, max_connections, max_user_connections, max_statement_time FROM mysql.user WHERE User = ? AND Host = ?',
  mysqlDefaultRoles:
    'SELECT DEFAULT_ROLE_USER AS user, DEFAULT_ROLE_HOST AS host FROM mysql.default_roles WHERE USER = ? AND HOST = ? ORDER BY DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST',
} as const;
