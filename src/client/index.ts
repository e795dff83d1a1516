/**
 * `secrets-rotator/client`: for the applications whose credentials rotate. A secret cache (TTL,
 * version-aware, stale-while-revalidate, bounded, one fetch for concurrent callers), a generic
 * retry with a fresher version after an authentication failure, and ready pools for pg and mysql2
 * that take their credentials from the cache and ride through rotations.
 *
 * @example
 * ```ts
 * import { SecretCache, createPgPool } from 'secrets-rotator/client';
 *
 * const cache = new SecretCache({ ttlMs: 60_000 });
 * const pool = createPgPool({ cache, secretId: 'prod/app/db' });
 * const { rows } = await pool.query('SELECT now()');
 * ```
 * @module
 */

export type { StagingLabel } from '../core/stages.ts';
export {
  type CachedSecret,
  type GetSecretOptions,
  SecretCache,
  type SecretCacheOptions,
  type SecretParser,
} from './cache.ts';
export { type DatabaseSecret, parseDatabaseSecret } from './database-secret.ts';
export {
  type SecretRefusal,
  type WithFreshSecretOptions,
  withFreshSecret,
} from './fresh-secret.ts';
export {
  createMysqlPool,
  isMysqlAuthError,
  type MysqlPoolConfig,
  type MysqlPoolOptions,
  RotatingMysqlPool,
} from './mysql.ts';
export type { ClientLogger, DatabaseTlsOptions, RotatingPoolStats } from './pool-core.ts';
export {
  createPgPool,
  isPgAuthError,
  type PgPoolConfig,
  type PgPoolOptions,
  RotatingPgPool,
} from './postgres.ts';
