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

const POSTGRES_ENGINES = ['postgres', 'aurora-postgresql', 'redshift'] as const;

const DEFAULT_REDSHIFT_PORT = 5439;

type PostgresEngine = (typeof POSTGRES_ENGINES)[number];

export const DEFAULT_POSTGRES_PORT = 5432;

const DEFAULT_POSTGRES_DATABASE = 'postgres';

/** NAMEDATALEN - 1: the server silently truncates longer names, which would rotate another role. */
export const MAX_IDENTIFIER_BYTES = 63;

export interface PostgresSecret extends DatabaseSecretValue<PostgresEngine> {
  readonly dbname: string;
}

/** UTF-8 bytes: 32 non-ASCII characters can already be too long. */
export function identifierBytes(name: string): number {
  return Buffer.byteLength(name, 'utf8');
}

export function parsePostgresSecret(raw: string, adapter: string): PostgresSecret {
  const secret = parseDatabaseSecretValue(raw, adapter, POSTGRES_RULES);
  const port =
    secret.engine === 'redshift' && (secret.fields.port === undefined || secret.fields.port === null)
      ? DEFAULT_REDSHIFT_PORT
      : secret.port;
  return { ...secret, port, dbname: secret.dbname ?? DEFAULT_POSTGRES_DATABASE };
}

function checkRoleName(name: string, field: string): void {
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

export const serializePostgresSecret: (secret: PostgresSecret) => string = serializeDatabaseSecretValue;
