import { mysqlAlternatingUsers } from '../src/adapters/mysql/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * MySQL, Aurora MySQL or MariaDB, alternating users with exact grant re-sync (docs/protocol.md#alternating-users and docs/protocol.md#shared-ownership-and-exact-grants); `MYSQL_PREPROVISIONED_PAIR=true` for a pair that already exists.
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/mysql-alternating-users.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(mysqlAlternatingUsers());
