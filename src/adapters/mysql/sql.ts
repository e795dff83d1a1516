/**
 * Every statement the MySQL adapter sends. Account statements take no bind parameters (not even server-side
 * prepared), so names are backtick-quoted, strings escaped for the session's sql_mode, and native-plugin
 * passwords sent only as their hash.
 */
import { nodeCrypto } from '../../core/node-crypto.ts';
import type { MysqlFlavour } from './flavour.ts';
import { isWord, tokenize } from './tokens.ts';

/** `sensitive`: carries a password or hash, so a server error (which quotes it) is never passed on. */
export interface Statement {
  readonly label: string;
  readonly text: string;
  readonly sensitive: boolean;
}

export interface Account {
  readonly user: string;
  readonly host: string;
}

export interface SqlMode {
  readonly noBackslashEscapes: boolean;
}

const NATIVE_PASSWORD_PLUGIN = 'mysql_native_password';

/** Backtick quoting means the same under every sql_mode (ANSI_QUOTES included). */
export function quoteIdentifier(name: string): string {
  if (name.includes('\0')) throw new TypeError('an identifier cannot contain a NUL character');
  return `\`${name.replaceAll('`', '``')}\``;
}

export function quoteAccount(account: Account): string {
  return `${quoteIdentifier(account.user)}@${quoteIdentifier(account.host)}`;
}

/** Backslashes doubled only when the session treats them as escapes (no NO_BACKSLASH_ESCAPES). */
export function stringLiteral(value: string, mode: SqlMode): string {
  if (value.includes('\0')) throw new TypeError('a string literal cannot contain a NUL character here');
  const escaped = mode.noBackslashEscapes ? value : value.replaceAll('\\', '\\\\');
  return `'${escaped.replaceAll("'", "''")}'`;
}

/** `PASSWORD()`'s hash; not enough to log in, but still treated as secret. */
export function nativePasswordHash(password: string): string {
  const { createHash } = nodeCrypto();
  const stage1 = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(stage1).digest('hex').toUpperCase()}`;
}

/** `''` is what old grant tables store for the native plugin. */
function isNativePlugin(plugin: string): boolean {
  return plugin === '' || plugin === NATIVE_PASSWORD_PLUGIN;
}

/**
 * The plugin from MariaDB's SHOW CREATE USER; several plugins (`… OR unix_socket`) give `multiple`, set
 * through PASSWORD() so each keeps working.
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
  if (tokens.slice(at + 3).some((token) => isWord(token, 'OR'))) return 'multiple';
  return plugin.value.toLowerCase();
}

/**
 * MariaDB refuses ALTER USER CURRENT_USER() without CREATE USER, hence SET PASSWORD; MySQL 8 sends REPLACE
 * for servers with password_require_current.
 */
export function selfPasswordStatements(
  flavour: MysqlFlavour,
  options: {
    readonly password: string;
    readonly plugin: string;
    readonly mode: SqlMode;
    readonly replacing?: string | undefined;
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
      const statements = options.retainCurrent ? [discardOldPasswordStatement()] : [];
      let text = `ALTER USER CURRENT_USER() IDENTIFIED BY ${stringLiteral(password, mode)}`;
      if (options.replacing !== undefined) text += ` REPLACE ${stringLiteral(options.replacing, mode)}`;
      if (options.retainCurrent) text += ' RETAIN CURRENT PASSWORD';
      statements.push({ label, text, sensitive: true });
      return statements;
    }
  }
}

/**
 * Keeps the account's plugin; caching_sha2_password hashes are salted by the server, so those get the
 * password.
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
  return { label, text: `ALTER USER ${target} ${mysqlIdentified(plugin, password, mode)}`, sensitive: true };
}

export function createUserStatement(
  flavour: MysqlFlavour,
  account: Account,
  options: { readonly password: string; readonly plugin: string; readonly mode: SqlMode },
): Statement {
  const label = `create the user ${account.user}`;
  const target = quoteAccount(account);
  const { password, plugin, mode } = options;
  const identified =
    flavour.kind !== 'mariadb'
      ? mysqlIdentified(plugin, password, mode)
      : isNativePlugin(plugin) || plugin === 'multiple'
        ? `IDENTIFIED BY PASSWORD ${stringLiteral(nativePasswordHash(password), mode)}`
        : `IDENTIFIED VIA ${quoteIdentifier(plugin)} USING PASSWORD(${stringLiteral(password, mode)})`;
  return { label, text: `CREATE USER IF NOT EXISTS ${target} ${identified}`, sensitive: true };
}

/** MySQL's IDENTIFIED clause keeping the account's plugin: a native one gets only the hash. */
function mysqlIdentified(plugin: string, password: string, mode: SqlMode): string {
  return isNativePlugin(plugin)
    ? `IDENTIFIED WITH ${NATIVE_PASSWORD_PLUGIN} AS ${stringLiteral(nativePasswordHash(password), mode)}`
    : `IDENTIFIED WITH ${quoteIdentifier(plugin)} BY ${stringLiteral(password, mode)}`;
}

export interface AccountRequirements {
  readonly sslType: string;
  readonly sslCipher: string;
  readonly x509Issuer: string;
  readonly x509Subject: string;
  readonly limits: Readonly<Record<string, number>>;
}

export const LIMIT_COLUMNS = {
  max_questions: 'MAX_QUERIES_PER_HOUR',
  max_updates: 'MAX_UPDATES_PER_HOUR',
  max_connections: 'MAX_CONNECTIONS_PER_HOUR',
  max_user_connections: 'MAX_USER_CONNECTIONS',
} as const;

export const MARIADB_LIMIT_COLUMNS = { ...LIMIT_COLUMNS, max_statement_time: 'MAX_STATEMENT_TIME' } as const;

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

/** lock_wait_timeout too: account statements could otherwise wait forever on a metadata lock. */
export function sessionTimeoutStatements(flavour: MysqlFlavour, statementTimeoutMs: number): Statement[] {
  const seconds = Math.max(1, Math.ceil(statementTimeoutMs / 1000));
  const timeout =
    flavour.kind === 'mariadb'
      ? `max_statement_time = ${(statementTimeoutMs / 1000).toFixed(3)}`
      : `max_execution_time = ${Math.round(statementTimeoutMs)}`;
  return [
    {
      label: 'set the lock wait timeout',
      text: `SET SESSION lock_wait_timeout = ${seconds}`,
      sensitive: false,
    },
    { label: 'set the statement timeout', text: `SET SESSION ${timeout}`, sensitive: false },
  ];
}

export function showGrantsStatement(account: Account): Statement {
  return {
    label: `read the grants of ${account.user}`,
    text: `SHOW GRANTS FOR ${quoteAccount(account)}`,
    sensitive: false,
  };
}

/** Its answer holds the password hash, hence sensitive. */
export function showCreateUserStatement(account: Account | undefined): Statement {
  return {
    label: `read the definition of ${account ? account.user : 'the logged-in user'}`,
    text: `SHOW CREATE USER ${account ? quoteAccount(account) : 'CURRENT_USER()'}`,
    sensitive: true,
  };
}

/** Ends the secondary password kept by RETAIN CURRENT PASSWORD. */
export function discardOldPasswordStatement(): Statement {
  return {
    label: 'discard the secondary password of the logged-in user',
    text: 'ALTER USER CURRENT_USER() DISCARD OLD PASSWORD',
    sensitive: false,
  };
}

/** Sent as server-side prepared statements with real bind parameters. */
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
