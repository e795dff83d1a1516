import { redisAlternatingUsers } from '../src/adapters/redis/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * Redis 6+ or Valkey ACL users `name`/`name_clone`, the clone an exact copy of the original's ACL rules (docs/adapters/redis.md#alternating-users); `REDIS_PREPROVISIONED_PAIR=true` for a pair that already exists.
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/redis-alternating-users.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(redisAlternatingUsers());
