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
export type { Env } from './core/config.ts';
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
export type { RotationEvent, RotationHandler } from './core/event.ts';
export type { PasswordPolicy } from './core/password.ts';
export type {
  KnownVersions,
  NextContext,
  PreflightFinding,
  RotationLogger,
  RotationMetrics,
  RotationStep,
  RotationTarget,
  StepContext,
} from './core/target.ts';
