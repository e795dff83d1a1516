/**
 * ElastiCache (Valkey, Redis OSS) RBAC users: passwords change through the ElastiCache API, never
 * by ACL commands, with the old and new password held together until finishSecret
 * (docs/adapters/elasticache.md). Logins reuse the Redis adapter's connections (TLS, allowlist).
 * @module
 */
export type { ElastiCacheSecret } from './secret.ts';
export { elastiCacheUser } from './user.ts';
