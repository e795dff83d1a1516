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
  callLocalExtension,
  type ExecuteRotationOptions,
  executeRotation,
  planRotation,
  type RotateSecretOptions,
  RotationFailedError,
  RotationIncompleteError,
  type RotationPlan,
  type RotationProgress,
  type RotationResult,
  type RotationService,
  retryUntilConverged,
  rotateSecret,
  type SecretVersionsState,
  type StepResult,
} from './driver.ts';
export { INCOMPLETE_ROTATION_MESSAGE } from './in-memory-secrets-manager.ts';
export { parseRateLimits, type RateLimits } from './rate-limit.ts';
export { sequentialRounds } from './rounds.ts';
export { readSeedFile, type Seed, type SeedSecret } from './seed.ts';
export { type CliOutput, runLocalSecretsManagerCli } from './serve.ts';
export {
  type Fault,
  type LocalSecretsManager,
  type LocalSecretsManagerOptions,
  type RecordedCall,
  startLocalSecretsManager,
} from './server.ts';
export { ServiceError } from './service-error.ts';
