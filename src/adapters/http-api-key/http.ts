/**
 * Sends the configured requests to the provider, with retries, within the invocation's deadline.
 * Log lines and errors name the operation, method, path *template* and status: never a key, a
 * header value, a rendered path or a response body.
 */
import type { LookupAddress } from 'node:dns';
import type { IncomingMessage } from 'node:http';
import type { LookupFunction } from 'node:net';
import {
  ConfigurationError,
  SecretShapeError,
  TargetRefusedError,
  TargetUnreachableError,
} from '../../core/errors.ts';
import { jsonDepthExcess } from '../../core/json-depth.ts';
import { sleep } from '../../core/sleep.ts';
import type { StepContext } from '../../core/target.ts';
import { hasNonLatin1, type ResolvedConfig, type ResolvedRequest, requestUses } from './config.ts';
import { checkedDestination, type Destination, type DestinationPolicy } from './destination.ts';
import { MissingVariableError, render, renderJson, type TemplateVariables } from './template.ts';

/** What the provider answered. `json` is the parsed body, `undefined` when it was empty or not JSON. */
interface ProviderResponse {
  readonly status: number;
  readonly json: unknown;
}

/** One request to send. `variables.key` is the key that authenticates it. */
export interface ProviderCall {
  /** Names the request in logs and errors, e.g. `mint` or `revoke`. */
  readonly operation: string;
  readonly request: ResolvedRequest;
  readonly variables: TemplateVariables;
  /** Headers added by the adapter itself (the idempotency key). */
  readonly extraHeaders?: Readonly<Record<string, string>>;
  /** Form fields (templates) sent instead of the JSON body, as OAuth token endpoints take them. */
  readonly formBody?: Readonly<Record<string, string>>;
}

/** An attempt's failure worth retrying. */
interface Retryable {
  readonly reason: string;
  readonly failure: 'timeout' | 'network' | 'status';
  readonly retryAfterMs?: number;
}

// Kept in reserve so that a step out of retries fails cleanly before Lambda's own timeout.
const DEADLINE_RESERVE_MS = 1_500;

/** Sends requests for one step. Create one per step with the step's context. */
export class ProviderClient {
  readonly #config: ResolvedConfig;
  readonly #ctx: StepContext;
  readonly #policy: DestinationPolicy;
  #destination: Promise<Destination> | undefined;

  constructor(config: ResolvedConfig, ctx: StepContext, policy: DestinationPolicy) {
    this.#config = config;
    this.#ctx = ctx;
    this.#policy = policy;
  }

  budgetMs(): number {
    return this.#ctx.remainingTimeMs() - DEADLINE_RESERVE_MS;
  }

  async #attempt(call: ProviderCall, attemptNumber: number): Promise<ProviderResponse | Retryable> {
    const filledIn = this.#filledIn(call);
    const timeoutMs = Math.min(this.#config.http.timeoutMs, this.budgetMs());
    if (timeoutMs <= 0) {
      return { failure: 'timeout', reason: 'no time left in this invocation' };
    }
    // Cleared when the attempt ends: AbortSignal.timeout would keep a timer (and its closure) alive
    // for the whole timeout after the answer came, one per request, in a warm container.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      return await this.#exchange(call, filledIn, attemptNumber, timeoutMs, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async #exchange(
    call: ProviderCall,
    { url, headers, body }: FilledInRequest,
    attemptNumber: number,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<ProviderResponse | Retryable> {
    const { request } = call;
    let response: IncomingMessage;
    let text: string;
    try {
      const destination = await this.#checkedDestination();
      response = await sendRequest(url, destination, request.method, headers, body, signal);
    } catch (error) {
      if (error instanceof ConfigurationError) throw error;
      const name = (error as { name?: string }).name;
      if (name === 'TimeoutError' || name === 'AbortError' || signal.aborted) {
        return { failure: 'timeout', reason: `no answer within ${timeoutMs} ms` };
      }
      return { failure: 'network', reason: `network error ${networkCode(error)}` };
    }
    const status = response.statusCode ?? 0;
    try {
      text = await readCapped(response, signal);
    } catch (error) {
      if (error instanceof ResponseTooLargeError) {
        throw new TargetRefusedError(
          'rejected',
          `${call.operation} request ${request.method} ${request.path} answered ${status} with a body over ${MAX_RESPONSE_BYTES} bytes (1 MiB), the most this adapter reads; an API-key endpoint never needs that much, so the answer was dropped`,
        );
      }
      const failure = signal.aborted ? 'timeout' : 'network';
      return { failure, reason: `the answer was cut off (${failure})` };
    }
    this.#ctx.logger.info('provider request', {
      operation: call.operation,
      method: request.method,
      path: request.path,
      status,
      attempt: attemptNumber,
    });
    if (status === 429 || status >= 500) {
      return {
        failure: 'status',
        reason: `status ${status}`,
        retryAfterMs: parseRetryAfter(response.headers['retry-after']),
      };
    }
    return { status, json: parseJson(text) };
  }

  /** Checked once, before anything is sent; refusals are configuration errors, never retried. */
  #checkedDestination(): Promise<Destination> {
    this.#destination ??= checkedDestination(new URL(this.#config.baseUrl), this.#policy).catch(
      (error: unknown) => {
        this.#destination = undefined;
        if (error instanceof ConfigurationError) this.#ctx.metrics.count('ProviderHostRefused');
        throw error;
      },
    );
    return this.#destination;
  }

  #body(call: ProviderCall): string | undefined {
    const { formBody, request } = call;
    if (formBody) {
      const form = new URLSearchParams();
      for (const [name, template] of Object.entries(formBody)) {
        form.append(name, render(template, call.variables));
      }
      return form.toString();
    }
    return request.body === undefined ? undefined : JSON.stringify(renderJson(request.body, call.variables));
  }

  /**
   * The first answer that is not 429, 5xx, a timeout or a network error, within `http.attempts`;
   * `beforeEach` runs before every attempt (the orphan check).
   */
  async send(call: ProviderCall, beforeEach?: () => Promise<void>): Promise<ProviderResponse> {
    const { http } = this.#config;
    const what = `${call.operation} request ${call.request.method} ${call.request.path}`;
    for (let attemptNumber = 1; ; attemptNumber++) {
      await beforeEach?.();
      const outcome = await this.#attempt(call, attemptNumber);
      if (!('failure' in outcome)) return outcome;
      const delayMs = Math.max(
        backoffDelay(attemptNumber, http.initialDelayMs, http.maxDelayMs),
        outcome.retryAfterMs ?? 0,
      );
      const outOfTime = delayMs > this.budgetMs();
      if (attemptNumber >= http.attempts || outOfTime) throw gaveUp(what, outcome, attemptNumber, outOfTime);
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
  }

  /** The call's URL, headers and body, their templates filled in. */
  #filledIn(call: ProviderCall): FilledInRequest {
    try {
      return {
        url: new URL(this.#config.baseUrl + render(call.request.path, call.variables, encodeURIComponent)),
        headers: this.#headers(call),
        body: this.#body(call),
      };
    } catch (error) {
      if (!(error instanceof MissingVariableError)) throw error;
      throw new ConfigurationError(
        `${call.operation} request`,
        `uses {{${error.variable}}}, which has no value in this rotation (is the key id stored in the secret?)`,
      );
    }
  }

  #headers(call: ProviderCall): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const fill = (template: string) => render(template, call.variables);
    const set = (name: string, value: string) => {
      // Values come from templates checked at start and from keys; a minted key may still carry one.
      const problem = /[\r\n\0]/.test(value)
        ? 'would contain a line break once filled in'
        : hasNonLatin1(value)
          ? 'would contain a character above U+00FF once filled in, which an HTTP header cannot carry'
          : undefined;
      if (problem) throw new ConfigurationError(`${call.operation} request header ${name}`, problem);
      headers[name.toLowerCase()] = value;
    };
    for (const [name, template] of Object.entries({ ...this.#config.headers, ...call.request.headers })) {
      set(name, fill(template));
    }
    const { auth } = call.request;
    if (auth.type === 'bearer') {
      set('authorization', `Bearer ${fill('{{key}}')}`);
    } else if (auth.type === 'basic') {
      const user = fill(auth.username ?? '{{key}}');
      const password = fill(auth.password ?? '');
      set('authorization', `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
    } else if (auth.type === 'header') {
      set(auth.name, fill(auth.value ?? '{{key}}'));
    }
    for (const [name, value] of Object.entries(call.extraHeaders ?? {})) set(name, value);
    if (call.formBody) headers['content-type'] = 'application/x-www-form-urlencoded';
    else if (call.request.body !== undefined) headers['content-type'] = 'application/json';
    return headers;
  }
}

/**
 * testSecret's wait while the provider propagates a new key: `check` is repeated with back-off while
 * its status is in `test.waitOnStatus`, for up to `test.maxWaitMs` and within the deadline, until
 * it is in `test.successStatus`. Answers the number of checks made.
 */
export async function untilAccepted(
  provider: ProviderClient,
  test: ResolvedConfig['test'],
  ctx: StepContext,
  wait: {
    readonly what: string;
    readonly keyId: string | undefined;
    /** Names the checks in the error, as {@link ProviderCall.operation}. */
    readonly operation: string;
    check(): Promise<number>;
    hint(checks: number, waitedMs: number, waiting: boolean): string;
  },
): Promise<number> {
  const started = Date.now();
  for (let check = 1; ; check++) {
    const status = await wait.check();
    if (test.successStatus.includes(status)) return check;
    const waiting = test.waitOnStatus.includes(status);
    const delayMs = backoffDelay(check, test.initialDelayMs, test.maxDelayMs);
    const waitedMs = Date.now() - started;
    if (!waiting || waitedMs + delayMs > test.maxWaitMs || delayMs > provider.budgetMs()) {
      throw refusal(wait.operation, test.request, status, wait.hint(check, waitedMs, waiting));
    }
    ctx.metrics.count('PropagationWait');
    ctx.logger.info(`${wait.what} not accepted yet; waiting for the provider to propagate it`, {
      keyId: wait.keyId,
      status,
      check,
      delayMs,
    });
    await sleep(delayMs);
  }
}

/** The error for a request out of attempts or out of time; names the last failure. */
function gaveUp(what: string, outcome: Retryable, attempts: number, outOfTime: boolean): Error {
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}${outOfTime ? ', and no time left for another' : ''}`;
  if (outcome.failure === 'status') {
    return new TargetRefusedError(
      'rejected',
      `${what} failed with ${outcome.reason} (${tries}); the provider is failing or throttling`,
    );
  }
  return new TargetUnreachableError(outcome.failure, `${what} failed: ${outcome.reason} (${tries})`);
}

/** The exponential delay before attempt `attemptNumber + 1`, jittered so many functions' retries spread apart. */
function backoffDelay(attemptNumber: number, initialMs: number, maxMs: number): number {
  const delayMs = Math.min(maxMs, initialMs * 2 ** Math.max(0, attemptNumber - 1));
  return Math.round(delayMs / 2 + (Math.random() * delayMs) / 2);
}

/** Milliseconds asked for by a `Retry-After` header (seconds, or an HTTP date), if any. */
function parseRetryAfter(header: unknown): number | undefined {
  if (typeof header !== 'string') return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Key endpoints answer a few hundred bytes; a hostile server could otherwise fill the memory. */
const MAX_RESPONSE_BYTES = 1_048_576;

interface FilledInRequest {
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

class ResponseTooLargeError extends Error {}

/** Sends one request to the checked address (never to a fresh DNS answer) and waits for the status. */
async function sendRequest(
  url: URL,
  destination: Destination,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, [
        { address: destination.address, family: destination.family },
      ]);
    } else {
      callback(null, destination.address, destination.family);
    }
  };
  // Loaded with the first request, not at cold start (node:https brings node:tls). `default`: the
  // Lambda bundle loads these two through require (lambda-zip.ts), which gives a default export only.
  const send =
    url.protocol === 'https:'
      ? (await import('node:https')).default.request
      : (await import('node:http')).default.request;
  return new Promise((resolve, reject) => {
    const outgoing = send(url, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      lookup: pinned,
      // No shared agent: a pooled socket could have been opened to another address.
      agent: false,
      signal,
    });
    outgoing.once('response', resolve);
    outgoing.once('error', reject);
    outgoing.end(body);
  });
}

/** Reads the whole answer, refusing more than {@link MAX_RESPONSE_BYTES}. */
async function readCapped(response: IncomingMessage, signal: AbortSignal): Promise<string> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_RESPONSE_BYTES) {
    response.destroy();
    throw new ResponseTooLargeError();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const abort = () => response.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
  signal.addEventListener('abort', abort, { once: true });
  try {
    for await (const chunk of response) {
      size += (chunk as Buffer).length;
      if (size > MAX_RESPONSE_BYTES) {
        response.destroy();
        throw new ResponseTooLargeError();
      }
      chunks.push(chunk as Buffer);
    }
  } finally {
    signal.removeEventListener('abort', abort);
  }
  return Buffer.concat(chunks).toString('utf8');
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

export function describeKey(keyId: string | undefined): string {
  return keyId === undefined ? '(no id)' : `"${keyId}"`;
}

/** Revokes one key; "already gone" statuses count as revoked, so a retried step succeeds. */
export async function revokeKey(
  provider: ProviderClient,
  config: ResolvedConfig,
  ctx: StepContext,
  target: {
    authKey: string;
    revokedKeyId: string | undefined;
    revokedKey?: string;
    reason: string;
    noun?: string;
  },
): Promise<void> {
  const { revoke } = config;
  const request = revoke.request;
  if (!request) throw new Error('unreachable: validated configuration has a revoke request');
  if (target.revokedKeyId === undefined && requestUses(request, 'revokedKeyId')) {
    throw new SecretShapeError(
      config.keyIdField,
      'is missing from the previous version, so its key cannot be revoked by id',
      `revoke that key at the provider by hand; versions written by this adapter always carry "${config.keyIdField}"`,
    );
  }
  const response = await provider.send({
    operation: 'revoke',
    request,
    variables: {
      key: target.authKey,
      revokedKeyId: target.revokedKeyId,
      revokedKey: target.revokedKey,
      versionId: ctx.versionId,
    },
  });
  const keyId = target.revokedKeyId;
  const noun = target.noun ?? 'key';
  const { status } = response;
  const revoked = revoke.successStatus.includes(status);
  // With authWith "revoked", a 401 proves the key being revoked no longer works.
  const done = revoked
    ? `revoked old ${noun}`
    : revoke.goneStatus.includes(status)
      ? `old ${noun} was already revoked`
      : revoke.authWith === 'revoked' && status === 401
        ? `old ${noun} is refused by the provider: already revoked`
        : undefined;
  if (done === undefined) {
    throw refusal(
      'revoke',
      request,
      status,
      `${noun} ${describeKey(keyId)} was not revoked (${target.reason})`,
    );
  }
  if (revoked) ctx.metrics.count('ApiKeyRevoked');
  ctx.logger.info(done, { keyId, reason: target.reason, status });
}

/** The error for an answer whose status the adapter did not expect, classified by status. */
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
