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
export {
  type PostgresAlternatingUsersOptions,
  postgresAlternatingUsers,
} from './alternating-users.ts';
export { POSTGRES_EXCLUDE_CHARACTERS } from './common.ts';
export {
  type CredentialLabel,
  type PostgresEndpoint,
  type PostgresLogin,
  sanitizePostgresError,
  type TlsOutcome,
} from './connect.ts';
export {
  checkRedshiftPassword,
  REDSHIFT_EXCLUDED_CHARACTERS,
  REDSHIFT_PASSWORD_HASHES,
  REDSHIFT_PASSWORD_LENGTH,
  type RedshiftPasswordHash,
  type RedshiftSha256Options,
  redshiftMd5Hash,
  redshiftPasswordProblems,
  redshiftSha256Hash,
} from './redshift.ts';
export { alternatingPair, CLONE_SUFFIX } from './roles.ts';
export { DEFAULT_SCRAM_ITERATIONS, type ScramOptions, scramSha256Verifier } from './scram.ts';
export {
  DEFAULT_POSTGRES_DATABASE,
  DEFAULT_POSTGRES_PORT,
  DEFAULT_REDSHIFT_PORT,
  MAX_IDENTIFIER_BYTES,
  POSTGRES_ENGINES,
  type PostgresEngine,
  type PostgresSecret,
  parsePostgresSecret,
} from './secret.ts';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  POSTGRES_ENV,
  type PostgresSettings,
  readPostgresSettings,
} from './settings.ts';
export { type PostgresSingleUserOptions, postgresSingleUser } from './single-user.ts';
