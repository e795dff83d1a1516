import { httpApiKey } from '../src/adapters/http-api-key/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * Rotates an API key kept in a secret, configured by its `"rotation"` block or `HTTP_API_KEY_CONFIG` (README, "HTTP API keys").
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/http-api-key.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(httpApiKey());
