/**
 * Sends the configured requests to the provider: templates filled, authentication attached,
 * timeouts, retries with exponential back-off and jitter on 429, 5xx, timeouts and network errors
 * (honouring `Retry-After`), all within the invocation's deadline.
 *
 * Nothing here logs or throws a key, a header value, a rendered path or a response body: log lines
 * and errors name the operation, the method, the path *template* and the status.
 */
import { ConfigurationError, TargetRefusedError, TargetUnreachableError } from '../../core/errors.ts';
import { jsonDepthExcess } from '../../core/json-depth.ts';
import type { StepContext } from '../../core/target.ts';
import { type AuthTemplate, hasNonLatin1, type ResolvedConfig, type ResolvedRequest } from './config.ts';
import { MissingVariableError, render, renderJson, type TemplateVariables } from './template.ts';

/**
 * What the provider answered. `json` is the parsed body, `undefined` when it was empty or not JSON.
 *
 * @example
 * ```ts
 * const { status, json } = await provider.send(call);
 * ```
 */
export interface ProviderResponse {
  readonly status: number;
  readonly json: unknown;
}

/**
 * One request to send. `variables.key` is the key that authenticates it.
 *
 * @example
 * ```ts
 * const call: ProviderCall = { operation: 'test', request: config.test.request, variables: { key, versionId } };
 * ```
 */
export interface ProviderCall {
  /** Names the request in logs and errors, e.g. `mint` or `revoke`. */
  readonly operation: string;
  readonly request: ResolvedRequest;
  readonly variables: TemplateVariables;
  /** Headers added by the adapter itself (the idempotency key). */
  readonly extraHeaders?: Readonly<Record<string, string>>;
}

/**
 * The result of one attempt: an answer to act on, or a failure worth retrying.
 *
 * @example
 * ```ts
 * const outcome = await provider.attempt(call, 1);
 * if (outcome.kind === 'response') console.log(outcome.response.status);
 * ```
 */
export type AttemptOutcome =
  | { readonly kind: 'response'; readonly response: ProviderResponse }
  | {
      readonly kind: 'retryable';
      readonly reason: string;
      readonly failure: 'timeout' | 'network' | 'status';
      readonly status?: number;
      readonly retryAfterMs?: number;
    };

// Kept in reserve so that a step out of retries fails cleanly before Lambda's own timeout.
const DEADLINE_RESERVE_MS = 1_500;

/**
 * Sends requests for one step. Create one per step with the step's context.
 *
 * @example
 * ```ts
 * const provider = new ProviderClient(config, ctx);
 * const response = await provider.send({ operation: 'test', request: config.test.request, variables: { key, versionId } });
 * ```
 */
export class ProviderClient {
  readonly #config: ResolvedConfig;
  readonly #ctx: StepContext;

  constructor(config: ResolvedConfig, ctx: StepContext) {
    this.#config = config;
    this.#ctx = ctx;
  }

  /**
   * Milliseconds this step may still spend before it must give up.
   *
   * @example
   * ```ts
   * if (delayMs > provider.budgetMs()) throw new Error('out of time');
   * ```
   */
  budgetMs(): number {
    return this.#ctx.remainingTimeMs() - DEADLINE_RESERVE_MS;
  }

  /**
   * Sends one attempt, without retrying.
   *
   * @example
   * ```ts
   * const outcome = await provider.attempt(call, 1);
   * if (outcome.kind === 'retryable') console.log(outcome.reason);
   * ```
   */
  async attempt(call: ProviderCall, attemptNumber: number): Promise<AttemptOutcome> {
    const { request } = call;
    const url =
      this.#config.baseUrl + this.#fill(call, () => render(request.path, call.variables, encodeURIComponent));
    const headers = this.#headers(call);
    const body =
      request.body === undefined
        ? undefined
        : JSON.stringify(this.#fill(call, () => renderJson(request.body!, call.variables)));
    const timeoutMs = Math.min(this.#config.http.timeoutMs, this.budgetMs());
    if (timeoutMs <= 0) {
      return { kind: 'retryable', failure: 'timeout', reason: 'no time left in this invocation' };
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method: request.method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        return { kind: 'retryable', failure: 'timeout', reason: `no answer within ${timeoutMs} ms` };
      }
      return { kind: 'retryable', failure: 'network', reason: `network error ${networkCode(error)}` };
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      const name = (error as { name?: string }).name;
      const failure = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network';
      return { kind: 'retryable', failure, reason: `the answer was cut off (${failure})` };
    }
    const { status } = response;
    this.#ctx.logger.info('provider request', {
      operation: call.operation,
      method: request.method,
      path: request.path,
      status,
      attempt: attemptNumber,
    });
    if (status === 429 || status >= 500) {
      return {
        kind: 'retryable',
        failure: 'status',
        status,
        reason: `status ${status}`,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
      };
    }
    return { kind: 'response', response: { status, json: parseJson(text) } };
  }

  /**
   * Sends a request, retrying on 429, 5xx, timeouts and network errors up to `http.attempts`
   * times, and returns the first other answer (whatever its status).
   *
   * @example
   * ```ts
   * const { status } = await provider.send({ operation: 'revoke', request, variables });
   * ```
   */
  async send(call: ProviderCall): Promise<ProviderResponse> {
    for (let attemptNumber = 1; ; attemptNumber++) {
      const outcome = await this.attempt(call, attemptNumber);
      if (outcome.kind === 'response') return outcome.response;
      await this.backOff(call, outcome, attemptNumber);
    }
  }

  /**
   * Waits before the next attempt after a retryable failure, or throws when attempts or time are
   * used up. Exposed for callers that must do something between attempts (the orphan check).
   *
   * @example
   * ```ts
   * if (outcome.kind === 'retryable') await provider.backOff(call, outcome, attemptNumber);
   * ```
   */
  async backOff(
    call: ProviderCall,
    outcome: Extract<AttemptOutcome, { kind: 'retryable' }>,
    attemptNumber: number,
  ): Promise<void> {
    const { http } = this.#config;
    const what = `${call.operation} request ${call.request.method} ${call.request.path}`;
    const delayMs = Math.max(
      jitter(backoffDelay(attemptNumber, http.initialDelayMs, http.maxDelayMs)),
      outcome.retryAfterMs ?? 0,
    );
    const outOfTime = delayMs > this.budgetMs();
    if (attemptNumber >= http.attempts || outOfTime) {
      const tries = `${attemptNumber} attempt${attemptNumber === 1 ? '' : 's'}${outOfTime ? ', and no time left for another' : ''}`;
      if (outcome.failure === 'status') {
        throw new TargetRefusedError(
          'rejected',
          `${what} failed with ${outcome.reason} (${tries}); the provider is failing or throttling`,
        );
      }
      throw new TargetUnreachableError(outcome.failure, `${what} failed: ${outcome.reason} (${tries})`);
    }
    this.#ctx.logger.warn('retrying provider request', {
      operation: call.operation,
      method: call.request.method,
      path: call.request.path,
      reason: outcome.reason,
      attempt: attemptNumber,
      delayMs,
    });
    this.#ctx.metrics.count('ProviderRequestRetried');
    await sleep(delayMs);
  }

  #fill<T>(call: ProviderCall, fill: () => T): T {
    try {
      return fill();
    } catch (error) {
      if (error instanceof MissingVariableError) {
        throw new ConfigurationError(
          `${call.operation} request`,
          `uses {{${error.variable}}}, which has no value in this rotation (is the key id stored in the secret?)`,
        );
      }
      throw error;
    }
  }

  #headers(call: ProviderCall): Headers {
    const headers = new Headers({ accept: 'application/json' });
    const set = (name: string, value: string) => {
      if (/[\r\n\0]/.test(value)) {
        throw new ConfigurationError(
          `${call.operation} request header ${name}`,
          'would contain a line break once filled in',
        );
      }
      if (hasNonLatin1(value)) {
        // Values come from templates checked at start and from keys; a minted key may still carry one.
        throw new ConfigurationError(
          `${call.operation} request header ${name}`,
          'would contain a character above U+00FF once filled in, which an HTTP header cannot carry',
        );
      }
      headers.set(name, value);
    };
    for (const [name, template] of Object.entries({ ...this.#config.headers, ...call.request.headers })) {
      set(
        name,
        this.#fill(call, () => render(template, call.variables)),
      );
    }
    const auth: AuthTemplate = call.request.auth;
    if (auth.type === 'bearer') {
      set('authorization', `Bearer ${this.#fill(call, () => render('{{key}}', call.variables))}`);
    } else if (auth.type === 'basic') {
      const user = this.#fill(call, () => render(auth.username ?? '{{key}}', call.variables));
      const password = this.#fill(call, () => render(auth.password ?? '', call.variables));
      set('authorization', `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
    } else if (auth.type === 'header') {
      set(
        auth.name,
        this.#fill(call, () => render(auth.value ?? '{{key}}', call.variables)),
      );
    }
    for (const [name, value] of Object.entries(call.extraHeaders ?? {})) set(name, value);
    if (call.request.body !== undefined) headers.set('content-type', 'application/json');
    return headers;
  }
}

/**
 * The un-jittered exponential delay before attempt `attemptNumber + 1`.
 *
 * @example
 * ```ts
 * backoffDelay(3, 200, 5000); // 800
 * ```
 */
export function backoffDelay(attemptNumber: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, attemptNumber - 1));
}

/**
 * Spreads retries of many functions apart: a random delay between half and all of `delayMs`.
 *
 * @example
 * ```ts
 * jitter(1000); // somewhere from 500 to 1000
 * ```
 */
export function jitter(delayMs: number): number {
  return Math.round(delayMs / 2 + (Math.random() * delayMs) / 2);
}

/**
 * Milliseconds asked for by a `Retry-After` header (seconds, or an HTTP date), if any.
 *
 * @example
 * ```ts
 * parseRetryAfter('2'); // 2000
 * ```
 */
export function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @example
 * ```ts
 * await sleep(250);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseJson(text: string): unknown {
  // A hostile provider could nest its answer deep enough to overflow code that walks it.
  if (text.trim() === '' || jsonDepthExcess(text) !== undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function networkCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return '(unknown)';
}

/**
 * The error for an answer whose status the adapter did not expect, classified by status.
 *
 * @example
 * ```ts
 * throw refusal('mint', request, 403, 'the current key may not mint keys');
 * ```
 */
export function refusal(
  operation: string,
  request: ResolvedRequest,
  status: number,
  hint: string,
): TargetRefusedError {
  const failure = status === 401 ? 'authentication' : status === 403 ? 'permission' : 'rejected';
  return new TargetRefusedError(
    failure,
    `${operation} request ${request.method} ${request.path} answered ${status}: ${hint}`,
  );
}
