import { postgresAlternatingUsers } from '../src/adapters/postgres/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * PostgreSQL, alternating users `name`/`name_clone` (docs/protocol.md#alternating-users); `PG_PREPROVISIONED_PAIR=true` for a pair that already exists.
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/postgres-alternating-users.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(postgresAlternatingUsers());
