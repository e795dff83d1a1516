/**
 * Redis 6+ and Valkey ACL users (self-managed): single user, overlapping passwords and alternating
 * users with an exact copy of the original's ACL rules or a pre-provisioned pair
 * (docs/adapters/redis.md). The adapter speaks RESP itself: no client library in the zip.
 *
 * @example
 * ```ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { redisAlternatingUsers, redisPasswordOverlap, redisSingleUser } from 'secrets-rotator/adapters/redis';
 * export const single = createRotationHandler(redisSingleUser());
 * export const overlap = createRotationHandler(redisPasswordOverlap());
 * export const alternating = createRotationHandler(redisAlternatingUsers());
 * ```
 * @module
 */
export { aclRules, splitRules } from './acl.ts';
export { type RedisAlternatingUsersOptions, redisAlternatingUsers } from './alternating-users.ts';
export { REDIS_EXCLUDE_CHARACTERS } from './common.ts';
export {
  canLogIn,
  openRedis,
  type RedisEndpoint,
  type RedisLogin,
  RedisSession,
  type RedisTlsOutcome,
  redisTlsMode,
  tryOpenRedis,
} from './connect.ts';
export { decodeReply, encodeCommand, RespError, type RespValue } from './resp.ts';
export {
  checkRedisUsername,
  DEFAULT_REDIS_PORT,
  MAX_REDIS_USERNAME_LENGTH,
  parseRedisSecret,
  REDIS_ENGINES,
  type RedisEngine,
  type RedisSecret,
} from './secret.ts';
export { REDIS_ENV, type RedisSettings, type RedisTlsMode, readRedisSettings } from './settings.ts';
export { redisPasswordOverlap, redisSingleUser } from './single-user.ts';
