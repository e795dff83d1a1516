import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { type Env, envString, processEnv } from './config.ts';

/** What replaces a redacted value in logs and error messages. */
export const REDACTED = '[REDACTED]';

function replaceAll(text: string, ordered: readonly string[]): string {
  let result = text;
  for (const value of ordered) {
    if (result.includes(value)) result = result.split(value).join(REDACTED);
  }
  return result;
}

/** Strings never to be printed; however short, a credential is a credential (over-blanking is the lesser harm). */
export class Redactor {
  readonly #values = new Set<string>();
  #ordered: readonly string[] = [];

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

  ordered(): readonly string[] {
    return this.#ordered;
  }

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

const invocationScope = new AsyncLocalStorage<Redactor>();

// Inside withRedactionScope values go to the invocation's own set; outside (the CLI) to the process's.
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
 * The redactor loggers, the engine and the CLI consult. Per invocation, so credentials are not kept
 * after it and a log line's cost does not grow with the rotations a container ran.
 */
export const redactor: Redactor = new ScopedRedactor();

/** Runs `work` in a redaction scope of its own: values given to {@link redactor} are forgotten after it. */
export function withRedactionScope<T>(work: () => T): T {
  return invocationScope.run(new Redactor(), work);
}

/**
 * A Powertools Logger (JSON lines) whose every string value passes through {@link redactor}. Powertools
 * loads here, not at cold start: its logger alone brings node:crypto.
 */
export async function createLogger(env: Env): Promise<Logger> {
  const { Logger } = await import('@aws-lambda-powertools/logger');
  // Powertools reads only process.env and only upper case; this honours `env` and any case.
  const logLevel = envString(env, 'POWERTOOLS_LOG_LEVEL') ?? envString(processEnv(), 'POWERTOOLS_LOG_LEVEL');
  return new Logger({
    serviceName: envString(env, 'POWERTOOLS_SERVICE_NAME') ?? 'secrets-rotator',
    ...(logLevel ? { logLevel: logLevel.toUpperCase() as LogLevel } : {}),
    jsonReplacerFn: (_key: string, value: unknown) =>
      typeof value === 'string' ? redactor.scrub(value) : value,
  });
}

export async function createMetrics(env: Env): Promise<Metrics> {
  const { Metrics } = await import('@aws-lambda-powertools/metrics');
  return new Metrics({
    namespace: envString(env, 'POWERTOOLS_METRICS_NAMESPACE') ?? 'SecretsRotator',
    serviceName: envString(env, 'POWERTOOLS_SERVICE_NAME') ?? 'secrets-rotator',
  });
}

const SECRET_FIELD = /pass|secret|key|token|credential/i;

/** Registers a JSON secret's raw text and its secret-looking fields: for secrets an adapter does not parse. */
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
