import { SecretShapeError } from '../../core/errors.ts';

/**
 * The `engine` values this adapter accepts (SPEC 3).
 *
 * @example
 * ```ts
 * POSTGRES_ENGINES.includes('aurora-postgresql'); // true
 * ```
 */
export const POSTGRES_ENGINES = ['postgres', 'aurora-postgresql'] as const;

/**
 * One of {@link POSTGRES_ENGINES}.
 *
 * @example
 * ```ts
 * const engine: PostgresEngine = 'postgres';
 * ```
 */
export type PostgresEngine = (typeof POSTGRES_ENGINES)[number];

/**
 * PostgreSQL's default port, used when the secret has no `port`.
 *
 * @example
 * ```ts
 * parsePostgresSecret(rawWithoutPort, 'postgres-single-user').port === DEFAULT_POSTGRES_PORT; // true
 * ```
 */
export const DEFAULT_POSTGRES_PORT = 5432;

/**
 * The database connected to when the secret has no `dbname`.
 *
 * @example
 * ```ts
 * DEFAULT_POSTGRES_DATABASE; // 'postgres'
 * ```
 */
export const DEFAULT_POSTGRES_DATABASE = 'postgres';

/**
 * The longest role name PostgreSQL keeps, in bytes (NAMEDATALEN - 1). Longer names are silently
 * truncated by the server, so a longer name would rotate a different role than the one named.
 *
 * @example
 * ```ts
 * identifierBytes(name) <= MAX_IDENTIFIER_BYTES;
 * ```
 */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * A database secret of SPEC 3, parsed and checked. `fields` is the JSON object exactly as stored,
 * so every field this adapter does not know is carried into the next version unchanged.
 *
 * @example
 * ```ts
 * const secret = parsePostgresSecret(raw, 'postgres-single-user');
 * console.log(secret.host, secret.port, secret.username, secret.dbname);
 * ```
 */
export interface PostgresSecret {
  readonly engine: PostgresEngine;
  readonly host: string;
  /** `port` as a number, {@link DEFAULT_POSTGRES_PORT} when absent. */
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** `dbname`, {@link DEFAULT_POSTGRES_DATABASE} when absent. */
  readonly dbname: string;
  /** `ssl`: `true` (TLS required), `false` (no TLS) or `undefined` (TLS preferred, see SPEC 6). */
  readonly ssl: boolean | undefined;
  /** ARN of the secret holding credentials that may manage users (alternating users). */
  readonly masterarn: string | undefined;
  /** The whole JSON object as stored, unknown fields included. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * The bytes a name takes in PostgreSQL's catalogs (UTF-8), which is what {@link MAX_IDENTIFIER_BYTES}
 * limits: a name of 32 non-ASCII characters can already be too long.
 *
 * @example
 * ```ts
 * identifierBytes('app'); // 3
 * identifierBytes('äpp'); // 4
 * ```
 */
export function identifierBytes(name: string): number {
  return Buffer.byteLength(name, 'utf8');
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
 * Parses and checks a stored PostgreSQL secret. Every problem is a {@link SecretShapeError} naming the
 * field and the fix; no message ever quotes the password or the raw JSON.
 *
 * @param adapter - the adapter's name, used in the message about an unsupported engine.
 * @example
 * ```ts
 * const secret = parsePostgresSecret(
 *   '{"engine":"postgres","host":"db.internal","username":"app","password":"…","port":"5432"}',
 *   'postgres-single-user',
 * );
 * secret.port; // 5432
 * ```
 */
export function parsePostgresSecret(raw: string, adapter: string): PostgresSecret {
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
  if (typeof engine !== 'string' || !(POSTGRES_ENGINES as readonly string[]).includes(engine)) {
    const shown = typeof engine === 'string' ? `"${engine.slice(0, 40)}"` : describeType(engine);
    throw new SecretShapeError(
      'engine',
      `is ${shown}, which the ${adapter} adapter does not rotate`,
      `accepted values are ${POSTGRES_ENGINES.join(', ')}; use the MySQL adapter for MySQL or MariaDB`,
    );
  }

  const host = requiredString(fields, 'host', 'set "host" to the database endpoint');
  const username = requiredString(fields, 'username', 'set "username" to the database user');
  checkRoleName(username, 'username');
  const password = requiredString(fields, 'password', 'set "password" to the user\'s current password');
  if (password.includes('\0')) {
    throw new SecretShapeError('password', 'contains a NUL character', 'PostgreSQL cannot accept it');
  }

  return {
    engine: engine as PostgresEngine,
    host,
    port: parsePort(fields.port),
    username,
    password,
    dbname: optionalString(fields, 'dbname') ?? DEFAULT_POSTGRES_DATABASE,
    ssl: parseSsl(fields.ssl),
    masterarn: optionalString(fields, 'masterarn'),
    fields,
  };
}

/**
 * Checks that a role name can be used as it is: non-empty, no NUL, at most
 * {@link MAX_IDENTIFIER_BYTES} bytes.
 *
 * @example
 * ```ts
 * checkRoleName('app', 'username'); // passes
 * checkRoleName('x'.repeat(64), 'username'); // throws SecretShapeError
 * ```
 */
export function checkRoleName(name: string, field: string): void {
  if (name.includes('\0')) {
    throw new SecretShapeError(field, 'contains a NUL character', 'PostgreSQL role names cannot hold one');
  }
  const bytes = identifierBytes(name);
  if (bytes > MAX_IDENTIFIER_BYTES) {
    throw new SecretShapeError(
      field,
      `is ${bytes} bytes long, longer than PostgreSQL's limit of ${MAX_IDENTIFIER_BYTES} bytes for role names`,
      'use the role name exactly as the server stores it',
    );
  }
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
  secret: PostgresSecret,
  credentials: { readonly username: string; readonly password: string },
): PostgresSecret {
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
 * serializePostgresSecret(withCredentials(current, { username: 'app', password })); // '{"engine":…}'
 * ```
 */
export function serializePostgresSecret(secret: PostgresSecret): string {
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
 * parseMasterSecret('{"username":"postgres","password":"…"}', 'arn:aws:secretsmanager:…:master');
 * ```
 */
export function parseMasterSecret(raw: string, arn: string): MasterCredentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new SecretShapeError(
      'masterarn',
      `names secret ${arn}, whose value is not valid JSON`,
      'point masterarn at a secret holding {"username", "password"}',
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretShapeError(
      'masterarn',
      `names secret ${arn}, whose value is not a JSON object`,
      'point masterarn at a secret holding {"username", "password"}',
    );
  }
  const fields = parsed as Record<string, unknown>;
  const pick = (name: 'username' | 'password') => {
    const value = fields[name];
    if (typeof value !== 'string' || value.length === 0) {
      throw new SecretShapeError(
        'masterarn',
        `names secret ${arn}, which has no non-empty string "${name}"`,
        'point masterarn at a secret holding {"username", "password"}',
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
  if (value === undefined || value === null) return DEFAULT_POSTGRES_PORT;
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
      'set "port" to a number (or numeric string) from 1 to 65535, or remove it for 5432',
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
