/**
 * `secrets-rotator/testing`: what tests (ours and users') use to exercise rotation functions without
 * AWS: a local Secrets Manager endpoint reached through the real SDK client, and a driver that plays
 * the service's side of a rotation.
 *
 * @example
 * ```ts
 * import { startLocalSecretsManager, rotateSecret } from 'secrets-rotator/testing';
 *
 * const local = await startLocalSecretsManager();
 * const client = local.client();
 * await client.send(new CreateSecretCommand({ Name: 'app/key', SecretString: 'v1' }));
 * const result = await rotateSecret({ client, secretId: 'app/key', handler });
 * await local.close();
 * ```
 */

export { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from '../core/stages.ts';
export {
  type ConvergenceResult,
  type RotateSecretOptions,
  RotationFailedError,
  RotationIncompleteError,
  type RotationResult,
  retryUntilConverged,
  rotateSecret,
  type StepResult,
} from './driver.ts';
export {
  type Fault,
  type LocalSecretsManager,
  type LocalSecretsManagerOptions,
  type RecordedCall,
  startLocalSecretsManager,
} from './server.ts';
