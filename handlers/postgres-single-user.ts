import { postgresSingleUser } from '../src/adapters/postgres/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * PostgreSQL, single user: the user changes its own password (docs/protocol.md#single-user).
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/postgres-single-user.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(postgresSingleUser());
