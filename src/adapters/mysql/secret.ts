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

const MYSQL_ENGINES = ['mysql', 'aurora-mysql', 'mariadb'] as const;

type MysqlEngine = (typeof MYSQL_ENGINES)[number];

export const DEFAULT_MYSQL_PORT = 3306;

export type MysqlSecret = DatabaseSecretValue<MysqlEngine>;

/**
 * Names too long for the engine are refused here, so no pending version is made for a user the server cannot
 * have.
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

function checkAccountNameLength(name: string, limit: number, where: string, field: string): void {
  const length = accountNameLength(name);
  if (length <= limit) return;
  throw new SecretShapeError(
    field,
    `is ${length} characters long, more than the ${limit} allowed for ${where}`,
    `use the name exactly as the server stores it: MySQL and Aurora MySQL keep user names of up to 32 characters, MariaDB up to 80 (set "engine" to "mariadb" for a MariaDB server)`,
  );
}

/** Account names live in 3-byte UTF-8 columns: only Basic Multilingual Plane characters. */
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

/** In characters, not bytes or UTF-16 units. */
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

export const serializeMysqlSecret: (secret: MysqlSecret) => string = serializeDatabaseSecretValue;

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
