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
export { type RedisAlternatingUsersOptions, redisAlternatingUsers } from './alternating-users.ts';
export type { RedisSecret } from './secret.ts';
export { redisPasswordOverlap, redisSingleUser } from './single-user.ts';
