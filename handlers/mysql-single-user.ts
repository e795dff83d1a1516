import { mysqlSingleUser } from '../src/adapters/mysql/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * MySQL, Aurora MySQL or MariaDB, single user: the user changes its own password (docs/protocol.md#single-user).
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/mysql-single-user.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(mysqlSingleUser());
