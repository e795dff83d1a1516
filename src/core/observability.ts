import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type Env, envString } from './config.ts';

/** What replaces a redacted value in logs and error messages. */
export const REDACTED = '[REDACTED]';

// Values shorter than this are not redacted: they would blank out ordinary words, and no policy
// this library accepts makes credentials that short.
const MIN_REDACTED_LENGTH = 4;

/**
 * The set of strings that must never be printed. Process-wide on purpose: a Lambda container runs
 * one invocation at a time, and a value seen once stays secret for the life of the process.
 *
 * @example
 * ```ts
 * const redactor = new Redactor();
 * redactor.add('hunter2-hunter2');
 * redactor.scrub('password hunter2-hunter2 refused'); // 'password [REDACTED] refused'
 * ```
 */
export class Redactor {
  readonly #values = new Set<string>();
  #ordered: string[] = [];

  /** Registers values; empty and very short ones are ignored. */
  add(...values: Array<string | undefined | null>): void {
    let changed = false;
    for (const value of values) {
      if (typeof value === 'string' && value.length >= MIN_REDACTED_LENGTH && !this.#values.has(value)) {
        this.#values.add(value);
        changed = true;
      }
    }
    // Longest first, so a value that contains another is replaced whole.
    if (changed) this.#ordered = [...this.#values].sort((a, b) => b.length - a.length);
  }

  /** Replaces every registered value in `text`. */
  scrub(text: string): string {
    let result = text;
    for (const value of this.#ordered) {
      if (result.includes(value)) result = result.split(value).join(REDACTED);
    }
    return result;
  }

  /** Scrubs an error's message and stack in place and returns it. */
  scrubError<E>(error: E): E {
    if (error instanceof Error) {
      error.message = this.scrub(error.message);
      if (error.stack) error.stack = this.scrub(error.stack);
      if (error.cause instanceof Error) this.scrubError(error.cause);
    }
    return error;
  }
}

/**
 * The process-wide redactor every logger built by {@link createLogger} consults.
 *
 * @example
 * ```ts
 * redactor.add(secret.password);
 * ```
 */
export const redactor = new Redactor();

/**
 * A Powertools Logger (JSON lines) whose every string value passes through {@link redactor}.
 *
 * @example
 * ```ts
 * const logger = createLogger();
 * logger.appendKeys({ adapter: 'postgres-single-user' });
 * logger.info('step finished', { durationMs: 12 });
 * ```
 */
export function createLogger(env: Env): Logger {
  return new Logger({
    serviceName: envString(env, 'POWERTOOLS_SERVICE_NAME') ?? 'secrets-rotator',
    jsonReplacerFn: (_key: string, value: unknown) =>
      typeof value === 'string' ? redactor.scrub(value) : value,
  });
}

/**
 * Powertools Metrics in EMF, namespace `SecretsRotator` unless `POWERTOOLS_METRICS_NAMESPACE` says
 * otherwise.
 *
 * @example
 * ```ts
 * const metrics = createMetrics(process.env);
 * metrics.addMetric('RotationStepSucceeded', MetricUnit.Count, 1);
 * metrics.publishStoredMetrics();
 * ```
 */
export function createMetrics(env: Env): Metrics {
  return new Metrics({
    namespace: envString(env, 'POWERTOOLS_METRICS_NAMESPACE') ?? 'SecretsRotator',
    serviceName: envString(env, 'POWERTOOLS_SERVICE_NAME') ?? 'secrets-rotator',
  });
}

const SECRET_FIELD = /pass|secret|key|token|credential/i;

/**
 * Registers the string fields of a JSON secret whose names look secret (password, apiKey, token…)
 * and the raw text itself. Used for secrets an adapter reads but does not parse itself.
 *
 * @example
 * ```ts
 * redactJsonSecret(redactor, '{"username":"admin","password":"s3cr3t-pass"}');
 * ```
 */
export function redactJsonSecret(target: Redactor, raw: string): void {
  target.add(raw);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return;
  }
  const visit = (value: unknown, key: string): void => {
    if (typeof value === 'string') {
      if (SECRET_FIELD.test(key)) target.add(value);
    } else if (value && typeof value === 'object') {
      for (const [childKey, child] of Object.entries(value)) visit(child, childKey);
    }
  };
  visit(parsed, '');
}
