import { SecretShapeError } from '../../core/errors.ts';

/**
 * The `engine` values this adapter accepts (SPEC 3).
 *
 * @example
 * ```ts
 * MYSQL_ENGINES.includes('mariadb'); // true
 * ```
 */
export const MYSQL_ENGINES = ['mysql', 'aurora-mysql', 'mariadb'] as const;

/**
 * One of {@link MYSQL_ENGINES}.
 *
 * @example
 * ```ts
 * const engine: MysqlEngine = 'aurora-mysql';
 * ```
 */
export type MysqlEngine = (typeof MYSQL_ENGINES)[number];

/**
 * MySQL's and MariaDB's default port, used when the secret has no `port`.
 *
 * @example
 * ```ts
 * parseMysqlSecret(rawWithoutPort, 'mysql-single-user').port === DEFAULT_MYSQL_PORT; // true
 * ```
 */
export const DEFAULT_MYSQL_PORT = 3306;

/**
 * The suffix that names the second user of an alternating pair (AWS's convention).
 *
 * @example
 * ```ts
 * `app${CLONE_SUFFIX}`; // 'app_clone'
 * ```
 */
export const CLONE_SUFFIX = '_clone';

/**
 * A MySQL or MariaDB database secret of SPEC 3, parsed and checked. `fields` is the JSON object
 * exactly as stored, so every field this adapter does not know is carried into the next version
 * unchanged.
 *
 * @example
 * ```ts
 * const secret = parseMysqlSecret(raw, 'mysql-single-user');
 * console.log(secret.host, secret.port, secret.username);
 * ```
 */
export interface MysqlSecret {
  readonly engine: MysqlEngine;
  readonly host: string;
  /** `port` as a number, {@link DEFAULT_MYSQL_PORT} when absent. */
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** `dbname`; MySQL needs none, so `undefined` when absent. */
  readonly dbname: string | undefined;
  /** `ssl`: `true` (TLS required), `false` (no TLS) or `undefined` (TLS preferred, SPEC 6). */
  readonly ssl: boolean | undefined;
  /** ARN of the secret holding credentials that may manage users (alternating users). */
  readonly masterarn: string | undefined;
  /** The whole JSON object as stored, unknown fields included. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * Compares two host names as SPEC 3 asks: case-insensitively and ignoring one trailing dot.
 *
 * @example
 * ```ts
 * sameHost('DB.example.com.', 'db.example.com'); // true
 * ```
 */
export function sameHost(a: string, b: string): boolean {
  const normal = (host: string) => host.trim().toLowerCase().replace(/\.$/, '');
  return normal(a) === normal(b);
}

/**
 * Parses and checks a stored MySQL/MariaDB secret. Every problem is a {@link SecretShapeError}
 * naming the field and the fix; no message quotes the password or the raw JSON.
 *
 * @param adapter - the adapter's name, used in the message about an unsupported engine.
 * @example
 * ```ts
 * const secret = parseMysqlSecret(
 *   '{"engine":"mariadb","host":"db.internal","username":"app","password":"…","port":"3306"}',
 *   'mysql-single-user',
 * );
 * secret.port; // 3306
 * ```
 */
export function parseMysqlSecret(raw: string, adapter: string): MysqlSecret {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new SecretShapeError(
      '(value)',
      'is not valid JSON',
      'store a JSON object with engine, host, username and password',
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretShapeError(
      '(value)',
      'is not a JSON object',
      'store a JSON object with engine, host, username and password',
    );
  }
  const fields = parsed as Record<string, unknown>;

  const engine = fields.engine;
  if (typeof engine !== 'string' || !(MYSQL_ENGINES as readonly string[]).includes(engine)) {
    const shown = typeof engine === 'string' ? `"${engine.slice(0, 40)}"` : describeType(engine);
    throw new SecretShapeError(
      'engine',
      `is ${shown}, which the ${adapter} adapter does not rotate`,
      `accepted values are ${MYSQL_ENGINES.join(', ')}; use the PostgreSQL adapter for postgres or aurora-postgresql`,
    );
  }

  const host = requiredString(fields, 'host', 'set "host" to the database endpoint');
  const username = requiredString(fields, 'username', 'set "username" to the database user');
  checkAccountName(username, 'username');
  const password = requiredString(fields, 'password', 'set "password" to the user\'s current password');
  if (password.includes('\0')) {
    throw new SecretShapeError('password', 'contains a NUL character', 'MySQL and MariaDB cannot accept it');
  }

  return {
    engine: engine as MysqlEngine,
    host,
    port: parsePort(fields.port),
    username,
    password,
    dbname: optionalString(fields, 'dbname'),
    ssl: parseSsl(fields.ssl),
    masterarn: optionalString(fields, 'masterarn'),
    fields,
  };
}

/**
 * Checks that a user name can be stored by MySQL and MariaDB at all: no NUL, and only characters of
 * the Basic Multilingual Plane (account names are kept in 3-byte UTF-8 columns). Length limits
 * depend on the server and are checked by the adapter before anything changes.
 *
 * @example
 * ```ts
 * checkAccountName('äpp; "x"', 'username'); // passes
 * checkAccountName('app🙂', 'username'); // throws SecretShapeError
 * ```
 */
export function checkAccountName(name: string, field: string): void {
  if (name.includes('\0')) {
    throw new SecretShapeError(
      field,
      'contains a NUL character',
      'MySQL and MariaDB user names cannot hold one',
    );
  }
  if ([...name].some((char) => (char.codePointAt(0) ?? 0) > 0xffff)) {
    throw new SecretShapeError(
      field,
      'contains a character outside the Basic Multilingual Plane (such as an emoji)',
      'MySQL and MariaDB store user names in 3-byte UTF-8; choose a name without such characters',
    );
  }
}

/**
 * A name's length as MySQL and MariaDB count it: in characters, not bytes or UTF-16 units.
 *
 * @example
 * ```ts
 * accountNameLength('äpp'); // 3
 * ```
 */
export function accountNameLength(name: string): number {
  return [...name].length;
}

/**
 * The two users of an alternating pair, from either of them: `name` and `name_clone`.
 *
 * @example
 * ```ts
 * alternatingPair('app'); // { original: 'app', clone: 'app_clone' }
 * alternatingPair('app_clone'); // { original: 'app', clone: 'app_clone' }
 * ```
 */
export function alternatingPair(username: string): { readonly original: string; readonly clone: string } {
  if (username.endsWith(CLONE_SUFFIX) && username.length > CLONE_SUFFIX.length) {
    return { original: username.slice(0, -CLONE_SUFFIX.length), clone: username };
  }
  return { original: username, clone: `${username}${CLONE_SUFFIX}` };
}

/**
 * The user of an alternating pair that the given one is not.
 *
 * @example
 * ```ts
 * otherUser('app'); // 'app_clone'
 * otherUser('app_clone'); // 'app'
 * ```
 */
export function otherUser(username: string): string {
  const pair = alternatingPair(username);
  return username === pair.original ? pair.clone : pair.original;
}

/**
 * The next version's value: every stored field kept, with new credentials.
 *
 * @example
 * ```ts
 * const pending = withCredentials(current, { username: current.username, password: newPassword });
 * ```
 */
export function withCredentials(
  secret: MysqlSecret,
  credentials: { readonly username: string; readonly password: string },
): MysqlSecret {
  return {
    ...secret,
    username: credentials.username,
    password: credentials.password,
    fields: { ...secret.fields, username: credentials.username, password: credentials.password },
  };
}

/**
 * The string stored in Secrets Manager: the stored object with its fields in their original form
 * (a `port` stored as a string stays a string).
 *
 * @example
 * ```ts
 * serializeMysqlSecret(withCredentials(current, { username: 'app', password })); // '{"engine":…}'
 * ```
 */
export function serializeMysqlSecret(secret: MysqlSecret): string {
  return JSON.stringify(secret.fields);
}

/**
 * The master credentials named by `masterarn`. Only `username` and `password` are required: an
 * RDS-managed master secret holds nothing else. The connection always goes to the rotated
 * secret's host, which the current-login guard has just checked (SPEC 4.2).
 *
 * @example
 * ```ts
 * const master = parseMasterSecret(await ctx.readSecret(secret.masterarn!), secret.masterarn!);
 * ```
 */
export interface MasterCredentials {
  readonly username: string;
  readonly password: string;
  /** The master secret's own `host`, when it has one (only compared, never connected to). */
  readonly host: string | undefined;
}

/**
 * Parses the master secret. Errors name the master secret's ARN and the field, never a value.
 *
 * @example
 * ```ts
 * parseMasterSecret('{"username":"admin","password":"…"}', 'arn:aws:secretsmanager:…:master');
 * ```
 */
export function parseMasterSecret(raw: string, arn: string): MasterCredentials {
  const fix = 'point masterarn at a secret holding {"username", "password"}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new SecretShapeError('masterarn', `names secret ${arn}, whose value is not valid JSON`, fix);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretShapeError('masterarn', `names secret ${arn}, whose value is not a JSON object`, fix);
  }
  const fields = parsed as Record<string, unknown>;
  const pick = (name: 'username' | 'password') => {
    const value = fields[name];
    if (typeof value !== 'string' || value.length === 0) {
      throw new SecretShapeError(
        'masterarn',
        `names secret ${arn}, which has no non-empty string "${name}"`,
        fix,
      );
    }
    return value;
  };
  const host = fields.host;
  return {
    username: pick('username'),
    password: pick('password'),
    host: typeof host === 'string' && host.length > 0 ? host : undefined,
  };
}

function describeType(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return `a ${Array.isArray(value) ? 'list' : typeof value}`;
}

function requiredString(fields: Record<string, unknown>, name: string, fix: string): string {
  const value = fields[name];
  if (typeof value !== 'string') {
    throw new SecretShapeError(name, `is ${describeType(value)}, expected a string`, fix);
  }
  if (value.length === 0) throw new SecretShapeError(name, 'is empty', fix);
  return value;
}

function optionalString(fields: Record<string, unknown>, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new SecretShapeError(
      name,
      `is ${typeof value === 'string' ? 'empty' : describeType(value)}, expected a non-empty string`,
      `set "${name}" to a string or remove it`,
    );
  }
  return value;
}

function parsePort(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_MYSQL_PORT;
  const port =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d{1,5}\s*$/.test(value)
        ? Number(value)
        : Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SecretShapeError(
      'port',
      `is ${typeof value === 'string' ? `"${value.slice(0, 20)}"` : describeType(value)}, not a port number`,
      `set "port" to a number (or numeric string) from 1 to 65535, or remove it for ${DEFAULT_MYSQL_PORT}`,
    );
  }
  return port;
}

function parseSsl(value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (word === 'true') return true;
    if (word === 'false') return false;
  }
  throw new SecretShapeError(
    'ssl',
    `is ${typeof value === 'string' ? `"${value.slice(0, 20)}"` : describeType(value)}`,
    'use true or "true" (TLS required), false or "false" (no TLS), or remove it (TLS when the server offers it)',
  );
}
