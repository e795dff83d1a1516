import { elastiCacheUser } from '../src/adapters/elasticache/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * ElastiCache (Valkey, Redis OSS) RBAC user: passwords changed through the ElastiCache API, old and new held together until finishSecret (docs/adapters/elasticache.md).
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/elasticache-user.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(elastiCacheUser());
