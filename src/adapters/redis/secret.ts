import { SecretShapeError } from '../../core/errors.ts';
import {
  type DatabaseSecretRules,
  type DatabaseSecretValue,
  parseDatabaseSecretValue,
  quotedName,
  serializeDatabaseSecretValue,
} from '../../database/secret.ts';

const REDIS_ENGINES = ['redis', 'valkey'] as const;
export type RedisEngine = (typeof REDIS_ENGINES)[number];
export const DEFAULT_REDIS_PORT = 6379;
/** Redis sets no limit of its own; a longer name is a mistake, not a user. */
const MAX_REDIS_USERNAME_LENGTH = 256;

/** The database secret (docs/protocol.md#the-database-secret) with engine `redis` or `valkey`; `dbname` is ignored. */
export type RedisSecret = DatabaseSecretValue<RedisEngine>;

/** Redis refuses spaces and NUL in user names; control characters and over-long names are refused here too. */
function checkRedisUsername(name: string, field: string): void {
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

export const REDIS_RULES: DatabaseSecretRules<RedisEngine> = {
  engines: REDIS_ENGINES,
  otherEngines: 'use the PostgreSQL or MySQL adapter for those databases',
  defaultPort: DEFAULT_REDIS_PORT,
  server: 'Redis',
  checkUsername: checkRedisUsername,
};

export function parseRedisSecret(raw: string, adapter: string): RedisSecret {
  return parseDatabaseSecretValue(raw, adapter, REDIS_RULES);
}

export function serializeRedisSecret(secret: RedisSecret): string {
  return serializeDatabaseSecretValue(secret);
}
