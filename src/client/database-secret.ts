import { createHash } from 'node:crypto';
import { SecretShapeError } from '../core/errors.ts';
import {
  databaseSecretFields,
  normalHost,
  optionalStringField,
  portField,
  requiredStringField,
  sslField,
} from '../database/secret.ts';

/**
 * The connection fields of a database secret (docs/protocol.md#the-database-secret); others are ignored.
 *
 * @example
 * ```ts
 * const db: DatabaseSecret = parseDatabaseSecret(secretString);
 * console.log(`${db.username}@${db.host}:${db.port ?? 'default port'}`);
 * ```
 */
export interface DatabaseSecret {
  /** `postgres`, `aurora-postgresql`, `redshift`, `mysql`, `aurora-mysql`, `mariadb`; absent if the secret has none. */
  readonly engine: string | undefined;
  readonly host: string;
  /** The port, or `undefined` for the engine's default (5432 / 5439 / 3306). */
  readonly port: number | undefined;
  /** With alternating users it changes between versions (`app` / `app_clone`). */
  readonly username: string;
  readonly password: string;
  readonly dbname: string | undefined;
  /** docs/protocol.md#tls-to-databases: `true` TLS required, `false` no TLS, `undefined` TLS unless the server offers none. */
  readonly ssl: boolean | undefined;
}

/**
 * Reads a database secret's JSON; errors name the field at fault and never quote the secret. Pass it
 * as `parse` to {@link SecretCache.get}, which runs it once per version.
 *
 * @example
 * ```ts
 * const { parsed } = await cache.get('prod/app/db', { parse: parseDatabaseSecret });
 * const client = new pg.Client({ host: parsed.host, user: parsed.username, password: parsed.password });
 * ```
 */
export function parseDatabaseSecret(value: string): DatabaseSecret {
  const fields = databaseSecretFields(
    value,
    'store the secret as a JSON object (docs/protocol.md#the-database-secret)',
  );
  // Other tools' secrets sometimes hold "" for a field they leave unset: read it as absent.
  for (const name of ['engine', 'port', 'dbname']) if (fields[name] === '') delete fields[name];
  return {
    engine: optionalStringField(fields, 'engine'),
    host: requiredStringField(fields, 'host'),
    port: portField(fields.port, undefined),
    username: requiredStringField(fields, 'username'),
    password: requiredStringField(fields, 'password'),
    dbname: optionalStringField(fields, 'dbname'),
    ssl: sslField(fields.ssl),
  };
}

export function requireEngine(secret: DatabaseSecret, engines: readonly string[], user: string): void {
  if (secret.engine !== undefined && !engines.includes(secret.engine)) {
    throw new SecretShapeError(
      'engine',
      `is "${secret.engine}", which ${user} does not connect to`,
      `use a secret whose engine is one of ${engines.join(', ')}`,
    );
  }
}

/** Where and as whom a secret logs in: versions with one key can share a pool that reads passwords per connection. */
export function loginKey(secret: DatabaseSecret): string {
  return JSON.stringify([
    normalHost(secret.host),
    secret.port ?? null,
    secret.dbname ?? null,
    secret.username,
    secret.ssl ?? null,
  ]);
}

/** Like {@link loginKey}, also telling passwords apart through a digest that never reveals one. */
export function credentialKey(secret: DatabaseSecret): string {
  const digest = createHash('sha256').update(secret.password).digest('base64url');
  return `${loginKey(secret)}#${digest}`;
}
