import { randomSecret } from '../src/adapters/random-secret/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * Rotates a random string, or one field of a JSON secret (`RANDOM_SECRET_FIELD`), with no external system.
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/random-secret.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(randomSecret());
