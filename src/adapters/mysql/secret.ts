import { SecretShapeError } from '../../core/errors.ts';
import {
  alternatingPair,
  CLONE_SUFFIX,
  type DatabaseSecretRules,
  type DatabaseSecretValue,
  parseDatabaseSecretValue,
  quotedName,
  serializeDatabaseSecretValue,
} from '../../database/secret.ts';
import { userNameLimitForEngine } from './flavour.ts';

export {
  alternatingPair,
  CLONE_SUFFIX,
  type MasterCredentials,
  otherUser,
  parseMasterSecret,
  sameHost,
  withCredentials,
} from '../../database/secret.ts';

/** The `engine` values this adapter accepts (docs/protocol.md#the-database-secret). */
export const MYSQL_ENGINES = ['mysql', 'aurora-mysql', 'mariadb'] as const;

/** One of {@link MYSQL_ENGINES}. */
export type MysqlEngine = (typeof MYSQL_ENGINES)[number];

/** MySQL's and MariaDB's default port, used when the secret has no `port`. */
export const DEFAULT_MYSQL_PORT = 3306;

/**
 * A MySQL or MariaDB database secret of docs/protocol.md#the-database-secret, parsed and checked. `fields` is the JSON object
 * exactly as stored, so every field this adapter does not know is carried into the next version
 * unchanged.
 */
export type MysqlSecret = DatabaseSecretValue<MysqlEngine>;

/**
 * Parses and checks a stored MySQL/MariaDB secret. Every problem is a {@link SecretShapeError}
 * naming the field and the fix; no message quotes the password or the raw JSON. A user name longer
 * than its `engine` allows (MySQL and Aurora MySQL 32 characters, MariaDB 80) is refused here, so
 * that no pending version is made for a user the server cannot have.
 */
export function parseMysqlSecret(raw: string, adapter: string): MysqlSecret {
  const secret = parseDatabaseSecretValue(raw, adapter, MYSQL_RULES);
  checkAccountNameLength(
    secret.username,
    userNameLimitForEngine(secret.engine),
    `engine "${secret.engine}"`,
    'username',
  );
  return secret;
}

/**
 * Refuses a user name longer than `limit` characters (as {@link accountNameLength} counts them),
 * with a message that names the field and the limit and never quotes the name.
 */
export function checkAccountNameLength(name: string, limit: number, where: string, field: string): void {
  const length = accountNameLength(name);
  if (length <= limit) return;
  throw new SecretShapeError(
    field,
    `is ${length} characters long, more than the ${limit} allowed for ${where}`,
    `use the name exactly as the server stores it: MySQL and Aurora MySQL keep user names of up to 32 characters, MariaDB up to 80 (set "engine" to "mariadb" for a MariaDB server)`,
  );
}

/**
 * Checks that a user name can be stored by MySQL and MariaDB at all: no NUL, and only characters of
 * the Basic Multilingual Plane (account names are kept in 3-byte UTF-8 columns). Length limits
 * depend on the engine and the server: see {@link checkAccountNameLength}.
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

/** A name's length as MySQL and MariaDB count it: in characters, not bytes or UTF-16 units. */
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
 */
export function serializeMysqlSecret(secret: MysqlSecret): string {
  return serializeDatabaseSecretValue(secret);
}

/**
 * Checks that both users of an alternating pair fit the server's user-name limit, before anything
 * changes: the given name itself, and, when it is the original, its clone (`name_clone`). Messages
 * name the field and the limit and quote a name only up to 64 characters.
 */
export function checkPairLength(username: string, limit: number, where: string): void {
  const shorten = `shorten the user name to at most ${limit - CLONE_SUFFIX.length} characters (the clone adds "${CLONE_SUFFIX}", ${CLONE_SUFFIX.length} more), or use single-user rotation`;
  const length = accountNameLength(username);
  if (length > limit) {
    throw new SecretShapeError(
      'username',
      `is ${length} characters long, more than the ${limit} allowed for ${where}`,
      shorten,
    );
  }
  // The original is the clone's name without its suffix, so only a clone can be too long here.
  const { clone } = alternatingPair(username);
  const cloneLength = accountNameLength(clone);
  if (cloneLength > limit) {
    throw new SecretShapeError(
      'username',
      `is ${quotedName(username)}, whose alternating partner ${quotedName(clone)} would be ${cloneLength} characters long, more than the ${limit} allowed for ${where}`,
      shorten,
    );
  }
}
