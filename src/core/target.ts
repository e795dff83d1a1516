import type { Env } from './config.ts';
import type { PasswordPolicy } from './password.ts';

/** The four steps Secrets Manager invokes, in order (docs/protocol.md#rotatesecret). */
export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';

export const ROTATION_STEPS: readonly RotationStep[] = [
  'createSecret',
  'setSecret',
  'testSecret',
  'finishSecret',
];

/**
 * Structured log methods for adapters; lines carry the secret ARN, step and version, and are
 * scrubbed of every value registered with {@link StepContext.redact}.
 */
export interface RotationLogger {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/** Counts an adapter-specific event as an EMF metric with the adapter and step dimensions. */
export interface RotationMetrics {
  count(name: string, value?: number): void;
}

/**
 * What the engine hands an adapter for one step. Adapters never call Secrets Manager for the secret
 * being rotated; they receive values and talk to their target.
 */
export interface StepContext {
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
  /** The AWSCURRENT value of another secret (a master's credentials); secret-looking fields are redacted. */
  readSecret(secretId: string): Promise<string>;
  /** The tags of another secret, such as the `aws:rds:*` tags of an RDS-managed master secret. */
  readSecretTags(secretId: string): Promise<ReadonlyMap<string, string>>;
  /** Milliseconds left before the Lambda invocation times out; `Infinity` outside Lambda. */
  remainingTimeMs(): number;
}

/** The context of createSecret: a {@link StepContext} that can also make passwords. */
export interface NextContext extends StepContext {
  /** A new password under the configured policy (docs/protocol.md#password-policy), already redacted. */
  newPassword(overrides?: Partial<PasswordPolicy>): Promise<string>;
}

/** The other versions of the secret, read only when asked: most retries never need them. */
export interface KnownVersions<Value> {
  current(): Promise<Value>;
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
 * What an adapter implements: the system whose credential a secret holds. The engine owns every
 * protocol and idempotency rule; the adapter builds values and talks to its target.
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
  /** The default of `EXCLUDE_CHARACTERS` for this target (Postgres `:/@"'\`, MySQL `/@"'\`). */
  readonly defaultExcludeCharacters?: string;
  /** Validates the adapter's settings at start-up; throw a `ConfigurationError` naming the variable. */
  init?(env: Env): void;
  /** True when `next()` calls `ctx.newPassword()` once without overrides: the engine fetches it early. */
  readonly generatesPassword?: boolean;
  /** True when `apply()` reads `known.current()`: the engine reads it early. */
  readonly appliesFromCurrent?: boolean;
  /**
   * The secrets `apply(pending)` will read with `ctx.readSecret` (a master secret). When the same
   * warm function ran createSecret, setSecret reads them together with its own values.
   */
  readsInApply?(pending: Value): readonly string[];
  /** True when `apply()` reads `known.previous()`: the engine reads it early. */
  readonly appliesFromPrevious?: boolean;
  /**
   * Loads what the synchronous members (`parse`, `serialize`) need, such as a key parser, so that
   * starting the handler does not; the engine awaits it alongside a step's first round trip.
   */
  prepare?(): Promise<void>;
  /** Validates a stored value; throws a `SecretShapeError` naming the field and the fix. */
  parse(raw: string): Value;
  /** Validates a SecretBinary value; without it, a binary secret is refused before anything changes. */
  parseBinary?(raw: Uint8Array): Value;
  /** A string is stored as SecretString, bytes as SecretBinary. Must keep every field it was given. */
  serialize(value: Value): string | Uint8Array;
  /** The secret strings inside a value (passwords, keys), registered for redaction. */
  secrets(value: Value): Array<string | undefined>;
  /** createSecret: the pending value. Changes the target only to mint a credential, repeatably per `ctx.versionId`. */
  next(current: Value, ctx: NextContext): Promise<Value>;
  /** setSecret: make the target accept `pending`. Must succeed when it already does. */
  apply(pending: Value, known: KnownVersions<Value>, ctx: StepContext): Promise<void>;
  /** testSecret: prove `pending` works against the target. */
  verify(pending: Value, ctx: StepContext): Promise<void>;
  /** After finishSecret moved AWSCURRENT (revoke an old key). Idempotent: a retried finishSecret runs it again. */
  afterPromotion?(promoted: Value, previous: Value | undefined, ctx: StepContext): Promise<void>;
  /** Read-only checks for `secrets-rotator check`; without it, `check` runs `verify` on the current value. */
  preflight?(current: Value, ctx: StepContext): Promise<PreflightFinding[]>;
  /** Invalidates the credential a value holds (`rotate --emergency`). */
  revoke?(value: Value, ctx: StepContext): Promise<void>;
}
