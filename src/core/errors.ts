// One class per kind of failure, so the CLI, logs and metrics group failures by cause. Messages
// carry field names, ids and fixes, never secret values.

/** What kind of problem a {@link RotationError} reports. */
export type RotationErrorKind =
  | 'configuration'
  | 'event'
  | 'secret-shape'
  | 'protocol-state'
  | 'target-unreachable'
  | 'target-refused'
  | 'secrets-manager';

/**
 * Base class of every error the library throws on purpose.
 *
 * @example
 * ```ts
 * try {
 *   await handler(event);
 * } catch (error) {
 *   if (error instanceof RotationError) console.error(error.kind, error.message);
 * }
 * ```
 */
export class RotationError extends Error {
  readonly kind: RotationErrorKind;

  constructor(kind: RotationErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** An environment variable, handler option or CLI flag has a value the library cannot use. */
export class ConfigurationError extends RotationError {
  /** The variable, option or flag at fault. */
  readonly setting: string;

  constructor(setting: string, problem: string) {
    super('configuration', `${setting} ${problem}`);
    this.setting = setting;
  }
}

/** The rotation event is not of the shape Secrets Manager sends. */
export class EventError extends RotationError {
  /** The event field at fault. */
  readonly field: string;

  constructor(field: string, problem: string) {
    super('event', `Rotation event field ${field} ${problem}`);
    this.field = field;
  }
}

/** A stored secret value is not valid for the adapter that reads it. */
export class SecretShapeError extends RotationError {
  /** The JSON field at fault, or `(value)` for the value as a whole. */
  readonly field: string;
  /** What is wrong, without the field name. */
  readonly problem: string;
  readonly fix: string | undefined;

  constructor(field: string, problem: string, fix?: string) {
    super('secret-shape', `Secret field "${field}" ${problem}${fix ? `: ${fix}` : ''}`);
    this.field = field;
    this.problem = problem;
    this.fix = fix;
  }
}

/**
 * The secret's versions and labels do not allow the requested step (docs/protocol.md#checks-before-every-step), or a stored
 * version contradicts the rotation in progress.
 */
export class ProtocolStateError extends RotationError {
  constructor(message: string) {
    super('protocol-state', message);
  }
}

/** Why a target could not be reached or refused a credential. */
export type TargetFailureCause = 'network' | 'timeout' | 'tls' | 'authentication' | 'permission' | 'rejected';

/** The rotation's target (database, API) could not be reached: network, timeout or TLS. */
export class TargetUnreachableError extends RotationError {
  /** The sanitised cause. */
  readonly failure: TargetFailureCause;

  constructor(failure: TargetFailureCause, message: string) {
    super('target-unreachable', `${failure} failure: ${message}`);
    this.failure = failure;
  }
}

/** The target answered but refused: wrong credentials, missing privilege, a rejected statement. */
export class TargetRefusedError extends RotationError {
  /** The sanitised cause. */
  readonly failure: TargetFailureCause;

  constructor(failure: TargetFailureCause, message: string) {
    super('target-refused', `${failure} failure: ${message}`);
    this.failure = failure;
  }
}

/** A Secrets Manager call failed for a reason other than the protocol checks. */
export class SecretsManagerCallError extends RotationError {
  readonly operation: string;
  readonly code: string;

  constructor(operation: string, code: string, message: string) {
    super('secrets-manager', `Secrets Manager ${operation} failed with ${code}: ${message}`);
    this.operation = operation;
    this.code = code;
  }
}
