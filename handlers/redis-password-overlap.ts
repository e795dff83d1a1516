import { redisPasswordOverlap } from '../src/adapters/redis/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * Redis 6+ or Valkey ACL user holding two passwords during a rotation: the new one added at setSecret, the old one removed after finishSecret (docs/adapters/redis.md#overlapping-passwords).
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/redis-password-overlap.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(redisPasswordOverlap());
