import { sshKeys } from '../src/adapters/ssh-keys/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/**
 * SSH key pairs: a new public key installed in authorized_keys on each host, the old one removed after finishSecret (docs/adapters/ssh-keys.md).
 *
 * @example
 * ```ts
 * // Deployed as dist/lambda/ssh-keys.zip with Handler: index.handler, runtime nodejs22.x.
 * await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export const handler = createRotationHandler(sshKeys());
