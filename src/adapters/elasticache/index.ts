/**
 * ElastiCache (Valkey, Redis OSS) RBAC users: passwords change through the ElastiCache API, never
 * by ACL commands, with the old and new password held together until finishSecret
 * (docs/adapters/elasticache.md). Logins reuse the Redis adapter's connections (TLS, allowlist).
 *
 * @example
 * ```ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { elastiCacheUser } from 'secrets-rotator/adapters/elasticache';
 * export const handler = createRotationHandler(elastiCacheUser());
 * ```
 * @module
 */
export type { ElastiCacheSecret } from './secret.ts';
export { elastiCacheUser } from './user.ts';
