import { SecretShapeError } from '../../core/errors.ts';
import { type DatabaseSecretValue, describeType, parseDatabaseSecretValue } from '../../database/secret.ts';
import { REDIS_RULES, type RedisEngine } from '../redis/secret.ts';

/**
 * An ElastiCache RBAC user's secret: the Redis secret (docs/protocol.md#the-database-secret, `host`
 * the cluster's or replication group's endpoint) plus `userId`, the ElastiCache user the API changes.
 *
 * @example
 * ```ts
 * const describe = (secret: ElastiCacheSecret) => `${secret.userId} (${secret.username}) at ${secret.host}`;
 * ```
 */
export interface ElastiCacheSecret extends DatabaseSecretValue<RedisEngine> {
  readonly userId: string;
}

// ElastiCache's own rules, besides printable ASCII only.
export const ELASTICACHE_PASSWORD_RULES = { minLength: 16, maxLength: 128, forbidden: ',"/@' } as const;

// The API's pattern for a user id; 128 is a sanity cap, not ElastiCache's.
const USER_ID = /^[a-zA-Z][a-zA-Z0-9-]{0,127}$/;

export function parseElastiCacheSecret(raw: string): ElastiCacheSecret {
  const secret = parseDatabaseSecretValue(raw, 'elasticache-user', { ...REDIS_RULES, server: 'ElastiCache' });
  const userId = secret.fields.userId;
  if (typeof userId !== 'string' || !USER_ID.test(userId)) {
    throw new SecretShapeError(
      'userId',
      typeof userId === 'string' ? 'is not an ElastiCache user id' : `is ${describeType(userId)}`,
      'set "userId" to the ElastiCache user id (a letter, then letters, digits and hyphens), as `aws elasticache describe-users` lists it',
    );
  }
  return { ...secret, userId };
}

/** What is wrong with a password ElastiCache would refuse; never quotes the password. */
export function elastiCachePasswordProblem(password: string): string | undefined {
  const { minLength, maxLength, forbidden } = ELASTICACHE_PASSWORD_RULES;
  if (password.length < minLength || password.length > maxLength) {
    return `is ${password.length} characters long; ElastiCache takes ${minLength} to ${maxLength}`;
  }
  if (!/^[\x21-\x7e]+$/.test(password)) return 'holds a space or a character outside printable ASCII';
  const found = [...forbidden].filter((character) => password.includes(character));
  if (found.length > 0) return `holds ${found.join(' ')}, which ElastiCache refuses in passwords`;
  return undefined;
}
