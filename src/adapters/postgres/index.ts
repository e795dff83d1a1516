/**
 * PostgreSQL and Aurora PostgreSQL rotation: single user (docs/protocol.md#single-user) and alternating users with a
 * clone or a pre-provisioned pair (docs/protocol.md#alternating-users and docs/protocol.md#shared-ownership-and-exact-grants).
 *
 * @example
 * ```ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { postgresAlternatingUsers, postgresSingleUser } from 'secrets-rotator/adapters/postgres';
 * export const single = createRotationHandler(postgresSingleUser());
 * export const alternating = createRotationHandler(postgresAlternatingUsers());
 * ```
 * @module
 */
export { type PostgresAlternatingUsersOptions, postgresAlternatingUsers } from './alternating-users.ts';
export type { PostgresSecret } from './secret.ts';
export { type PostgresSingleUserOptions, postgresSingleUser } from './single-user.ts';
