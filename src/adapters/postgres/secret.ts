import { SecretShapeError } from '../../core/errors.ts';
import {
  type DatabaseSecretRules,
  type DatabaseSecretValue,
  parseDatabaseSecretValue,
  serializeDatabaseSecretValue,
} from '../../database/secret.ts';

export {
  type MasterCredentials,
  parseMasterSecret,
  sameHost,
  withCredentials,
} from '../../database/secret.ts';

/** The `engine` values this adapter accepts (docs/protocol.md#the-database-secret). */
export const POSTGRES_ENGINES = ['postgres', 'aurora-postgresql', 'redshift'] as const;

/** Amazon Redshift's default port, used for an `"engine": "redshift"` secret without `port`. */
export const DEFAULT_REDSHIFT_PORT = 5439;

/** One of {@link POSTGRES_ENGINES}. */
export type PostgresEngine = (typeof POSTGRES_ENGINES)[number];

/** PostgreSQL's default port, used when the secret has no `port`. */
export const DEFAULT_POSTGRES_PORT = 5432;

/** The database connected to when the secret has no `dbname`. */
export const DEFAULT_POSTGRES_DATABASE = 'postgres';

/**
 * The longest role name PostgreSQL keeps, in bytes (NAMEDATALEN - 1). Longer names are silently
 * truncated by the server, so a longer name would rotate a different role than the one named.
 */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * A database secret of docs/protocol.md#the-database-secret, parsed and checked. `fields` is the JSON object exactly as stored,
 * so every field this adapter does not know is carried into the next version unchanged.
 */
export interface PostgresSecret extends DatabaseSecretValue<PostgresEngine> {
  /** `dbname`, {@link DEFAULT_POSTGRES_DATABASE} when absent. */
  readonly dbname: string;
}

/**
 * The bytes a name takes in PostgreSQL's catalogs (UTF-8), which is what {@link MAX_IDENTIFIER_BYTES}
 * limits: a name of 32 non-ASCII characters can already be too long.
 */
export function identifierBytes(name: string): number {
  return Buffer.byteLength(name, 'utf8');
}

/**
 * Parses and checks a stored PostgreSQL secret. Every problem is a {@link SecretShapeError} naming the
 * field and the fix; no message ever quotes the password or the raw JSON.
 */
export function parsePostgresSecret(raw: string, adapter: string): PostgresSecret {
  const secret = parseDatabaseSecretValue(raw, adapter, POSTGRES_RULES);
  const port =
    secret.engine === 'redshift' && (secret.fields.port === undefined || secret.fields.port === null)
      ? DEFAULT_REDSHIFT_PORT
      : secret.port;
  return { ...secret, port, dbname: secret.dbname ?? DEFAULT_POSTGRES_DATABASE };
}

/**
 * Checks that a role name can be used as it is: non-empty, no NUL, at most
 * {@link MAX_IDENTIFIER_BYTES} bytes.
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

const POSTGRES_RULES: DatabaseSecretRules<PostgresEngine> = {
  engines: POSTGRES_ENGINES,
  otherEngines: 'use the MySQL adapter for MySQL or MariaDB',
  defaultPort: DEFAULT_POSTGRES_PORT,
  server: 'PostgreSQL',
  checkUsername: checkRoleName,
};

/**
 * The string stored in Secrets Manager: the stored object with its fields in their original form
 * (a `port` stored as a string stays a string).
 */
export function serializePostgresSecret(secret: PostgresSecret): string {
  return serializeDatabaseSecretValue(secret);
}
