import { httpApiKey } from '../src/adapters/http-api-key/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * Lambda handler rotating an API key kept in a secret, configured by the secret's `"rotation"` block
 * or the `HTTP_API_KEY_CONFIG` environment variable (README, "HTTP API keys").
 *
 * @example
 * ```ts
 * // SAM: Handler: handlers/http-api-key.handler
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(httpApiKey());
