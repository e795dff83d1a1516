/**
 * secrets-rotator: the rotation engine and its contract. Adapters are imported from
 * `secrets-rotator/adapters/<name>`, testing tools from `secrets-rotator/testing`, the application
 * client from `secrets-rotator/client`.
 *
 * @example
 * ```ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { randomSecret } from 'secrets-rotator/adapters/random-secret';
 * export const handler = createRotationHandler(randomSecret());
 * ```
 * @module
 */
export { type Env, envBoolean, envChoice, envInteger, envList, envString } from './core/config.ts';
export { createRotationHandler, type RotationHandlerOptions } from './core/engine.ts';
export {
  ConfigurationError,
  EventError,
  ProtocolStateError,
  RotationError,
  type RotationErrorKind,
  SecretShapeError,
  SecretsManagerCallError,
  type TargetFailureCause,
  TargetRefusedError,
  TargetUnreachableError,
} from './core/errors.ts';
export {
  type ParsedRotationEvent,
  parseRotationEvent,
  type RotationEvent,
  type RotationHandler,
} from './core/event.ts';
export { REDACTED, Redactor, redactor, withRedactionScope } from './core/observability.ts';
export {
  CHARACTER_CLASSES,
  DEFAULT_PASSWORD_POLICY,
  generatePassword,
  type PasswordPolicy,
  type PasswordSource,
  passwordPolicyFromEnv,
} from './core/password.ts';
export { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from './core/stages.ts';
export {
  type KnownVersions,
  type NextContext,
  ROTATION_STEPS,
  type RotationLogger,
  type RotationMetrics,
  type RotationStep,
  type RotationTarget,
  type StepContext,
} from './core/target.ts';
