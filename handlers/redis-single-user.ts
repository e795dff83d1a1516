import { redisSingleUser } from '../src/adapters/redis/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * Redis 6+ or Valkey ACL user, single user: its only password replaced (docs/adapters/redis.md#single-user); with `masterarn` the master user changes it.
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/redis-single-user.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(redisSingleUser());
