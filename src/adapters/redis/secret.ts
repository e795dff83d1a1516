import { SecretShapeError } from '../../core/errors.ts';
import {
  type DatabaseSecretRules,
  type DatabaseSecretValue,
  parseDatabaseSecretValue,
  quotedName,
  serializeDatabaseSecretValue,
} from '../database/secret.ts';

/**
 * The `engine` values the Redis adapter rotates.
 *
 * @example
 * ```ts
 * REDIS_ENGINES.includes('valkey'); // true
 * ```
 */
export const REDIS_ENGINES = ['redis', 'valkey'] as const;

/** One of {@link REDIS_ENGINES}. */
export type RedisEngine = (typeof REDIS_ENGINES)[number];

/**
 * Redis's port when the secret has none.
 *
 * @example
 * ```ts
 * parseRedisSecret('{"engine":"redis","host":"cache","username":"app","password":"…"}', 'redis-single-user').port; // 6379
 * ```
 */
export const DEFAULT_REDIS_PORT = 6379;

/**
 * The longest user name accepted, in characters. Redis sets no limit of its own; a longer name is
 * a mistake, not a user.
 *
 * @example
 * ```ts
 * 'app'.length <= MAX_REDIS_USERNAME_LENGTH; // true
 * ```
 */
export const MAX_REDIS_USERNAME_LENGTH = 256;

/**
 * A Redis secret: the database secret of docs/protocol.md#the-database-secret with engine `redis`
 * or `valkey` (`dbname` is ignored; every other field is kept as stored).
 *
 * @example
 * ```ts
 * const secret: RedisSecret = parseRedisSecret(raw, 'redis-single-user');
 * ```
 */
export type RedisSecret = DatabaseSecretValue<RedisEngine>;

/**
 * Throws a {@link SecretShapeError} for a name Redis cannot hold as an ACL user: Redis refuses
 * spaces and NUL in user names; control characters and over-long names are refused here too.
 *
 * @example
 * ```ts
 * checkRedisUsername('app', 'username'); // passes
 * ```
 */
export function checkRedisUsername(name: string, field: string): void {
  const length = [...name].length;
  if (length > MAX_REDIS_USERNAME_LENGTH) {
    throw new SecretShapeError(
      field,
      `is ${length} characters long, more than the ${MAX_REDIS_USERNAME_LENGTH} allowed for a Redis ACL user`,
      'use the name of an existing ACL user',
    );
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\s\u0000-\u001f\u007f]/.test(name)) {
    throw new SecretShapeError(
      field,
      `is ${quotedName(name.replace(/[^\x21-\x7e]/g, '?'))}, which holds a space or control character; Redis ACL user names cannot`,
      'use the name of an existing ACL user',
    );
  }
}

const REDIS_RULES: DatabaseSecretRules<RedisEngine> = {
  engines: REDIS_ENGINES,
  otherEngines: 'use the PostgreSQL or MySQL adapter for those databases',
  defaultPort: DEFAULT_REDIS_PORT,
  server: 'Redis',
  checkUsername: checkRedisUsername,
};

/**
 * Parses and checks a stored Redis secret; every problem names the field and the fix, never a value.
 *
 * @example
 * ```ts
 * const secret = parseRedisSecret(raw, 'redis-alternating-users');
 * ```
 */
export function parseRedisSecret(raw: string, adapter: string): RedisSecret {
  return parseDatabaseSecretValue(raw, adapter, REDIS_RULES);
}

/**
 * The string stored in Secrets Manager (every stored field kept).
 *
 * @example
 * ```ts
 * serializeRedisSecret(secret); // '{"engine":"redis",…}'
 * ```
 */
export function serializeRedisSecret(secret: RedisSecret): string {
  return serializeDatabaseSecretValue(secret);
}
