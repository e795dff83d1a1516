/**
 * Redis 6+ and Valkey ACL users (self-managed): single user, overlapping passwords and alternating
 * users (docs/adapters/redis.md). The adapter speaks RESP itself: no client library in the zip.
 * @module
 */
export { type RedisAlternatingUsersOptions, redisAlternatingUsers } from './alternating-users.ts';
export type { RedisSecret } from './secret.ts';
export { redisPasswordOverlap, redisSingleUser } from './single-user.ts';
