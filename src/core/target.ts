import type { Env } from './config.ts';
import type { PasswordPolicy } from './password.ts';

/** The four steps Secrets Manager invokes, in order (docs/protocol.md#rotatesecret). */
export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';

/** All steps, in the order the service runs them. */
export const ROTATION_STEPS: readonly RotationStep[] = [
  'createSecret',
  'setSecret',
  'testSecret',
  'finishSecret',
];

/**
 * Structured log methods handed to adapters. Every line already carries the secret ARN, step,
 * version id and adapter name; lines are scrubbed of every value registered with
 * {@link StepContext.redact}.
 *
 * @example
 * ```ts
 * ctx.logger.info('connected', { host: 'db.internal', tls: 'verified' });
 * ```
 */
export interface RotationLogger {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/**
 * Counts an adapter-specific event as an EMF metric with the adapter and step dimensions.
 *
 * @example
 * ```ts
 * ctx.metrics.count('TlsPlaintextFallback');
 * ```
 */
export interface RotationMetrics {
  count(name: string, value?: number): void;
}

/**
 * What the engine hands an adapter for one step. Adapters never call Secrets Manager for the secret
 * being rotated; they receive values and talk to their target.
 *
 * @example
 * ```ts
 * async verify(pending, ctx) {
 *   ctx.logger.info('testing pending credentials', { remainingMs: ctx.remainingTimeMs() });
 * }
 * ```
 */
export interface StepContext {
  /** ARN of the secret being rotated. */
  readonly secretArn: string;
  /** The version being rotated in (the event's ClientRequestToken). */
  readonly versionId: string;
  readonly step: RotationStep;
  readonly logger: RotationLogger;
  readonly metrics: RotationMetrics;
  /** The function's environment, for adapter settings; read it with the helpers of `core/config.ts`. */
  readonly env: Env;
  /** Registers values (passwords, keys) that must never appear in a log line or an error message. */
  redact(...values: Array<string | undefined>): void;
  /**
   * Reads the AWSCURRENT value of another secret, such as the master credentials of alternating
   * users. String fields whose names look secret (password, key, token, secret) are redacted.
   */
  readSecret(secretId: string): Promise<string>;
  /**
   * The tags of another secret (DescribeSecret), such as the `aws:rds:*` tags RDS puts on the master
   * secrets it manages. Keys map to values; an untagged secret gives an empty map.
   */
  readSecretTags(secretId: string): Promise<ReadonlyMap<string, string>>;
  /** Milliseconds left before the Lambda invocation times out; `Infinity` outside Lambda. */
  remainingTimeMs(): number;
}

/**
 * The context of createSecret: a {@link StepContext} that can also make passwords.
 *
 * @example
 * ```ts
 * async next(current, ctx) {
 *   return { ...current, password: await ctx.newPassword() };
 * }
 * ```
 */
export interface NextContext extends StepContext {
  /**
   * A new password under the configured policy (docs/protocol.md#password-policy), from GetRandomPassword or the local
   * generator per `PASSWORD_GENERATOR`. Already registered for redaction.
   */
  newPassword(overrides?: Partial<PasswordPolicy>): Promise<string>;
}

/**
 * The other versions of the secret, read only when an adapter asks (each read is a Secrets Manager
 * call, and most retries never need them).
 *
 * @example
 * ```ts
 * const current = await known.current();
 * const previous = await known.previous(); // undefined before the first rotation
 * ```
 */
export interface KnownVersions<Value> {
  /** The AWSCURRENT value, parsed. */
  current(): Promise<Value>;
  /** The AWSPREVIOUS value, parsed, or `undefined` when there is none. */
  previous(): Promise<Value | undefined>;
}

/** One result of a {@link RotationTarget.preflight} check; `fail` makes `check` exit 1. Never holds a secret. */
export interface PreflightFinding {
  readonly check: string;
  readonly status: 'ok' | 'warn' | 'fail' | 'skip';
  readonly detail: string;
  /** How to fix it, shown when the status is not `ok`. */
  readonly fix?: string;
}

/**
 * What an adapter implements: a target system whose credential a secret holds. The engine owns
 * every protocol and idempotency rule of docs/protocol.md#what-the-function-does-at-each-step; the adapter only builds values and talks to its
 * target. Hand one to `createRotationHandler`.
 *
 * @typeParam Value - the parsed secret value.
 * @example
 * ```ts
 * const target: RotationTarget<{ token: string }> = {
 *   name: 'my-service',
 *   parse: (raw) => JSON.parse(raw),
 *   serialize: (value) => JSON.stringify(value),
 *   secrets: (value) => [value.token],
 *   next: async (current, ctx) => ({ ...current, token: await ctx.newPassword() }),
 *   apply: async (pending) => myService.setToken(pending.token),
 *   verify: async (pending) => myService.check(pending.token),
 * };
 * export const handler = createRotationHandler(target);
 * ```
 */
export interface RotationTarget<Value> {
  /** Short name for logs and metrics, e.g. `postgres-single-user`. */
  readonly name: string;
  /**
   * The default of `EXCLUDE_CHARACTERS` for this target (AWS's templates: Postgres `:/@"'\`,
   * MySQL `/@"'\`). Empty when unset.
   */
  readonly defaultExcludeCharacters?: string;
  /**
   * Reads and validates the adapter's own settings when the handler is created, so that a bad
   * environment variable fails at start-up (throw a `ConfigurationError` naming it).
   */
  init?(env: Env): void;
  /**
   * True when `next()` asks `ctx.newPassword()` once without overrides: with
   * `PASSWORD_GENERATOR=service` the engine then asks for the password alongside its first reads
   * of createSecret instead of after them (one round trip less).
   */
  readonly generatesPassword?: boolean;
  /**
   * True when `apply()` reads `known.current()` in the common path: the engine then reads the
   * AWSCURRENT version alongside its first reads of setSecret instead of after them.
   */
  readonly appliesFromCurrent?: boolean;
  /** Validates a stored value; throws a `SecretShapeError` naming the field and the fix. */
  parse(raw: string): Value;
  /** Validates a SecretBinary value; without it, a binary secret is refused before anything changes. */
  parseBinary?(raw: Uint8Array): Value;
  /** What is stored: a string as SecretString, bytes as SecretBinary. Must keep every field it was given (as docs/protocol.md#the-database-secret asks of database secrets). */
  serialize(value: Value): string | Uint8Array;
  /** The secret strings inside a value (passwords, keys), registered for redaction. */
  secrets(value: Value): Array<string | undefined>;
  /**
   * createSecret: the pending value built from the current one. Must not change the target, except
   * to mint a new credential there (an API key); then it must be safe to repeat for the same
   * `ctx.versionId`.
   */
  next(current: Value, ctx: NextContext): Promise<Value>;
  /** setSecret: make the target accept `pending`. Must succeed when it already does. */
  apply(pending: Value, known: KnownVersions<Value>, ctx: StepContext): Promise<void>;
  /** testSecret: prove `pending` works against the target. */
  verify(pending: Value, ctx: StepContext): Promise<void>;
  /**
   * After finishSecret moved AWSCURRENT (for example, revoke an old API key). Must be idempotent:
   * when it fails, the service's retry of finishSecret finds the version current and the engine
   * runs this hook again.
   */
  afterPromotion?(promoted: Value, previous: Value | undefined, ctx: StepContext): Promise<void>;
  /**
   * Read-only checks for `secrets-rotator check` against the current value: what a rotation needs
   * from the target. Changes nothing. Without it, `check` runs `verify` on the current value.
   */
  preflight?(current: Value, ctx: StepContext): Promise<PreflightFinding[]>;
  /**
   * Invalidates the credential a value holds (used by `rotate --emergency` to kill the previous
   * user's password at once). Optional.
   */
  revoke?(value: Value, ctx: StepContext): Promise<void>;
}
