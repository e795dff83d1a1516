import { SecretShapeError } from '../../core/errors.ts';
import {
  type DatabaseSecretRules,
  type DatabaseSecretValue,
  parseDatabaseSecretValue,
  serializeDatabaseSecretValue,
} from '../database/secret.ts';

export {
  alternatingPair,
  CLONE_SUFFIX,
  type MasterCredentials,
  otherUser,
  parseMasterSecret,
  sameHost,
  withCredentials,
} from '../database/secret.ts';

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
export type MysqlSecret = DatabaseSecretValue<MysqlEngine>;

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
  return parseDatabaseSecretValue(raw, adapter, MYSQL_RULES);
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

const MYSQL_RULES: DatabaseSecretRules<MysqlEngine> = {
  engines: MYSQL_ENGINES,
  otherEngines: 'use the PostgreSQL adapter for postgres or aurora-postgresql',
  defaultPort: DEFAULT_MYSQL_PORT,
  server: 'MySQL and MariaDB',
  checkUsername: checkAccountName,
};

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
  return serializeDatabaseSecretValue(secret);
}
