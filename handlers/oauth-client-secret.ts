import { oauthClientSecret } from '../src/adapters/oauth-client-secret/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * Rotates an OAuth client secret through the provider's admin API, configured by `OAUTH_CLIENT_SECRET_CONFIG` (docs/adapters/oauth-client-secret.md).
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/oauth-client-secret.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(oauthClientSecret());
