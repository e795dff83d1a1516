import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type Env, envString, processEnv } from './config.ts';

/** What replaces a redacted value in logs and error messages. */
export const REDACTED = '[REDACTED]';

/** Replaces each of `ordered` (longest first) in `text`. */
function replaceAll(text: string, ordered: readonly string[]): string {
  let result = text;
  for (const value of ordered) {
    if (result.includes(value)) result = result.split(value).join(REDACTED);
  }
  return result;
}

/**
 * A set of strings that must never be printed. Every non-empty value is redacted, however short:
 * a credential of one character is still a credential (a short one blanks more of the text around
 * it, which is the lesser harm).
 */
export class Redactor {
  readonly #values = new Set<string>();
  #ordered: readonly string[] = [];

  /** Registers values; empty ones and non-strings are ignored. */
  add(...values: Array<string | undefined | null>): void {
    let changed = false;
    for (const value of values) {
      if (typeof value === 'string' && value.length > 0 && !this.#values.has(value)) {
        this.#values.add(value);
        changed = true;
      }
    }
    // Longest first, so a value that contains another is replaced whole.
    if (changed) this.#ordered = [...this.#values].sort((a, b) => b.length - a.length);
  }

  /** How many values a scrub scans: what each log line costs. */
  get size(): number {
    return this.ordered().length;
  }

  /** The values, longest first (what {@link scrub} replaces, in that order). @internal */
  ordered(): readonly string[] {
    return this.#ordered;
  }

  /** Replaces every registered value in `text`. */
  scrub(text: string): string {
    return replaceAll(text, this.ordered());
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

/** The redaction scope of the invocation running now (see {@link withRedactionScope}). */
const invocationScope = new AsyncLocalStorage<Redactor>();

/**
 * The redactor of whatever runs now: inside {@link withRedactionScope} (every invocation of a
 * rotation handler) values go to that invocation's own set and are dropped with it; outside any
 * scope (a CLI command, one short process) they go to a set of the process's own.
 */
class ScopedRedactor extends Redactor {
  readonly #outside = new Redactor();

  override add(...values: Array<string | undefined | null>): void {
    (invocationScope.getStore() ?? this.#outside).add(...values);
  }

  override ordered(): readonly string[] {
    const scope = invocationScope.getStore();
    const outside = this.#outside.ordered();
    if (!scope) return outside;
    const inside = scope.ordered();
    if (outside.length === 0) return inside;
    return [...outside, ...inside].sort((a, b) => b.length - a.length);
  }
}

/**
 * The redactor every logger built by {@link createLogger}, the engine and the CLI consult. Within
 * an invocation of a rotation handler it holds that invocation's values only: a credential is
 * redacted for as long as it can appear in output (the invocation that read it), is not kept in
 * memory after it, and the cost of a log line does not grow with the rotations a container ran.
 */
export const redactor: Redactor = new ScopedRedactor();

/**
 * Runs `work` in a redaction scope of its own: values {@link redactor} is given while it runs
 * (awaits included) are redacted in everything it prints, and forgotten when it is done. The engine
 * runs every invocation in one; concurrent scopes do not see each other's values.
 */
export function withRedactionScope<T>(work: () => T): T {
  return invocationScope.run(new Redactor(), work);
}

/** A Powertools Logger (JSON lines) whose every string value passes through {@link redactor}. */
export function createLogger(env: Env): Logger {
  // Passed explicitly so that `env` is honoured and any case works (silent, SILENT); Powertools
  // itself reads only process.env, and only upper case.
  const logLevel = envString(env, 'POWERTOOLS_LOG_LEVEL') ?? envString(processEnv(), 'POWERTOOLS_LOG_LEVEL');
  return new Logger({
    serviceName: envString(env, 'POWERTOOLS_SERVICE_NAME') ?? 'secrets-rotator',
    ...(logLevel ? { logLevel: logLevel.toUpperCase() as LogLevel } : {}),
    jsonReplacerFn: (_key: string, value: unknown) =>
      typeof value === 'string' ? redactor.scrub(value) : value,
  });
}

/**
 * Powertools Metrics in EMF, namespace `SecretsRotator` unless `POWERTOOLS_METRICS_NAMESPACE` says
 * otherwise.
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
