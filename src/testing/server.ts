// The local Secrets Manager endpoint (docs/protocol.md#the-local-endpoint): the service's JSON protocol
// on loopback, for the real SDK client. It never logs request bodies: they hold secret values.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { ProtocolStateError } from '../core/errors.ts';
import type { RotationHandler } from '../core/event.ts';
import {
  executeRotation,
  planRotation,
  RotationIncompleteError,
  type RotationResult,
  type RotationService,
} from './driver.ts';
import { INCOMPLETE_ROTATION_MESSAGE, InMemorySecretsManager } from './in-memory-secrets-manager.ts';
import { checkRateLimits, RateLimiter, type RateLimits, THROTTLING_MESSAGE } from './rate-limit.ts';
import { isLoopbackHost, MAX_REQUEST_BODY_BYTES, RequestGuard } from './request-guard.ts';
import { type Seed, seedRequests } from './seed.ts';
import { alreadyExists, invalidRequest, isObject, ServiceError, type WireInput } from './service-error.ts';

/** One request the endpoint received. `input` is the parsed body: it holds secret values, never print it. */
export interface RecordedCall {
  readonly operation: string;
  readonly input: WireInput;
  /** HTTP status answered; 0 when the connection was dropped by a fault. */
  status: number;
  /** The error code (`__type`) answered, if any; `ConnectionDropped` for a dropped connection. */
  error?: string;
  /** Whether an injected fault decided the answer. */
  injected?: boolean;
  /** `performance.now()` on arrival, before any latency or fault delay. */
  readonly receivedAt: number;
  /** When answered or dropped; undefined while in flight. */
  answeredAt?: number;
}

/**
 * A fault for matching requests: answer `error` instead, drop the connection, or only delay. `times`
 * limits how many requests it affects (default: all until {@link LocalSecretsManager.clearFaults}).
 *
 * @example
 * ```ts
 * local.inject({ operation: 'PutSecretValue', error: { type: 'ThrottlingException', message: 'Rate exceeded' }, times: 1 });
 * local.inject({ operation: '*', delayMs: 200 });
 * local.inject({ operation: 'UpdateSecretVersionStage', dropConnection: true, when: (input) => input.VersionStage === 'AWSCURRENT' });
 * ```
 */
export interface Fault {
  /** Operation name such as `PutSecretValue`, or `*` for every operation. */
  readonly operation: string;
  readonly error?: { readonly type: string; readonly message: string; readonly status?: number };
  readonly delayMs?: number;
  readonly dropConnection?: boolean;
  /** Run the operation (its effect is applied) but close the socket instead of answering: a lost answer. */
  readonly dropConnectionAfterApply?: boolean;
  readonly times?: number;
  /** Only requests whose parsed input satisfies this are affected. */
  readonly when?: (input: WireInput) => boolean;
}

/** Options of {@link startLocalSecretsManager}. */
export interface LocalSecretsManagerOptions {
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Interface to listen on; default 127.0.0.1. Another address warns through `onWarning`. */
  readonly host?: string;
  /** Origins whose web pages may call the endpoint; any other `Origin` is refused. Default: none. */
  readonly allowedOrigins?: readonly string[];
  /** Host names served besides loopback and `host`; any other `Host` is refused (DNS rebinding). */
  readonly allowedHosts?: readonly string[];
  /** Receives warnings (listening beyond loopback). Default: `process.emitWarning`. */
  readonly onWarning?: (message: string) => void;
  /** Region in ARNs and of `client()`; default us-east-1. */
  readonly region?: string;
  /** Account id in ARNs; default 123456789012. */
  readonly accountId?: string;
  /** Source of "now" for every date the endpoint records. */
  readonly clock?: () => Date;
  /** `background` (default, like the service; await {@link LocalSecretsManager.idle}) or `inline`: answer after the steps. */
  readonly rotation?: 'background' | 'inline';
  /** Receives one line per request: operation, status and error code, never a body. */
  readonly log?: (line: string) => void;
  /** Milliseconds added to every operation (default 0), to play the service's 10–30 ms round trip. */
  readonly latencyMs?: number;
  /** Requests per second per operation, e.g. `{ RotateSecret: 50 }`; beyond, `ThrottlingException`. */
  readonly rateLimits?: RateLimits;
  /** Secrets to start with: `{ 'app/key': 'v1' }` or CreateSecret inputs. A bad entry fails the start. */
  readonly seed?: Seed;
}

/** A running local Secrets Manager endpoint. */
export interface LocalSecretsManager {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  readonly region: string;
  readonly accountId: string;
  /** Every request received, in order. */
  readonly calls: RecordedCall[];
  /** Every rotation RotateSecret ran, once finished. */
  readonly rotations: RotationResult[];
  /** A real SDK client for this endpoint (dummy static credentials); `config` overrides, e.g. `{ maxAttempts: 1 }`. */
  client(config?: Partial<SecretsManagerClientConfig>): SecretsManagerClient;
  /** The calls of one operation. */
  callsTo(operation: string): RecordedCall[];
  /** Test set-up: registers the AWSPENDING placeholder (no value) for `versionId`, as RotateSecret does first. */
  registerPendingVersion(secretId: string, versionId: string): Promise<void>;
  /** Test set-up: sets RotationEnabled without running a rotation. */
  setRotationEnabled(secretId: string, enabled: boolean): Promise<void>;
  /** Test set-up: attaches a rotation function without rotating, as before a first scheduled rotation. */
  attachRotationFunction(
    secretId: string,
    rotationLambdaArn: string,
    rules?: { AutomaticallyAfterDays?: number; ScheduleExpression?: string },
  ): void;
  /** Test set-up: gives a version without a value (the AWSPENDING placeholder) a string value, labels unchanged. */
  fillPendingVersion(secretId: string, versionId: string, secretString: string): Promise<void>;
  /** Makes RotateSecret invoke `handler` for a RotationLambdaARN equal to, or naming the function of, `arnOrName`. */
  registerRotationFunction(arnOrName: string, handler: RotationHandler): void;
  inject(fault: Fault): void;
  clearFaults(): void;
  /** Resolves when every background rotation has settled. */
  idle(): Promise<void>;
  /** Waits for background rotations, then stops the server. */
  close(): Promise<void>;
}

/**
 * Starts a local Secrets Manager endpoint on loopback. Besides AWS operations it serves the
 * extensions `LocalRegisterPendingVersion`, `LocalCompleteRotation` and `LocalDescribeRotation`
 * (docs/testing.md), so the driver can play the service against an endpoint in another process.
 *
 * @example
 * ```ts
 * const local = await startLocalSecretsManager({ rotation: 'inline' });
 * local.registerRotationFunction('my-rotator', handler);
 * const client = local.client();
 * const { ARN } = await client.send(new CreateSecretCommand({ Name: 'app/key', SecretString: 'v1' }));
 * await client.send(new RotateSecretCommand({ SecretId: ARN, RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:my-rotator' }));
 * expect(local.rotations[0]?.ok).toBe(true);
 * await local.close();
 * ```
 */
export async function startLocalSecretsManager(
  options: LocalSecretsManagerOptions = {},
): Promise<LocalSecretsManager> {
  const host = options.host ?? '127.0.0.1';
  const endpoint = new LocalEndpoint(options);
  await endpoint.listen(options.port ?? 0, host);
  if (!isLoopbackHost(host)) {
    const warn =
      options.onWarning ?? ((message: string) => process.emitWarning(message, 'SecretsRotatorWarning'));
    warn(
      `the local Secrets Manager endpoint listens on ${host}, beyond this machine: anyone who can reach ${endpoint.endpoint} can read and change its secrets. Listen on 127.0.0.1 unless other machines must reach it`,
    );
  }
  return endpoint;
}

/** Creates the seed's secrets, before the endpoint listens; a refused entry is named with its reason. */
function seedStore(store: InMemorySecretsManager, seed: Seed): void {
  for (const request of seedRequests(seed)) {
    try {
      store.handle('CreateSecret', request);
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      throw new Error(`seed secret "${String(request.Name)}" refused: ${error.type}: ${error.message}`);
    }
  }
}

class LocalEndpoint implements LocalSecretsManager {
  readonly region: string;
  readonly accountId: string;
  endpoint = '';
  readonly calls: RecordedCall[] = [];
  readonly rotations: RotationResult[] = [];
  readonly #store: InMemorySecretsManager;
  readonly #server: Server;
  readonly #mode: 'background' | 'inline';
  readonly #log: ((line: string) => void) | undefined;
  readonly #handlers = new Map<string, RotationHandler>();
  readonly #faults: { readonly fault: Fault; remaining: number }[] = [];
  readonly #running = new Map<
    string,
    { readonly versionId: string; readonly done: Promise<RotationResult> }
  >();
  readonly #clients: SecretsManagerClient[] = [];
  readonly #storeService: RotationService;
  readonly #latencyMs: number;
  readonly #rateLimiter: RateLimiter | undefined;
  readonly #guard: RequestGuard;

  constructor(options: LocalSecretsManagerOptions) {
    this.#guard = new RequestGuard({ ...options, listenHost: options.host ?? '127.0.0.1' });
    this.#latencyMs = checkedLatency(options.latencyMs);
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    this.#mode = options.rotation ?? 'background';
    this.#log = options.log;
    this.#store = new InMemorySecretsManager({
      region: this.region,
      accountId: this.accountId,
      clock: options.clock ?? (() => new Date()),
    });
    const store = this.#store;
    if (options.rateLimits) {
      checkRateLimits(
        options.rateLimits,
        (operation) =>
          operation === 'RotateSecret' || (store.supports(operation) && !operation.startsWith('Local')),
      );
      this.#rateLimiter = new RateLimiter(options.rateLimits);
    }
    if (options.seed) seedStore(store, options.seed);
    this.#storeService = {
      describe: async (secretId) => store.rotationState(secretId),
      registerPending: async (secretArn, versionId, { copyCurrentValue }) =>
        void store.registerPending(secretArn, versionId, copyCurrentValue),
      complete: async (secretArn, versionId, outcome) =>
        store.completeRotation(secretArn, versionId, outcome),
    };
    this.#server = createServer((request, response) => {
      this.#onRequest(request, response).catch(() => {
        // #onRequest answers every error itself; this only guards against a socket already gone.
        if (!response.headersSent) response.destroy();
      });
    });
  }

  async listen(port: number, host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.endpoint = `http://${shownHost}:${address.port}`;
  }

  client(config: Partial<SecretsManagerClientConfig> = {}): SecretsManagerClient {
    const client = new SecretsManagerClient({
      region: this.region,
      endpoint: this.endpoint,
      credentials: { accessKeyId: 'AKIDLOCALENDPOINT', secretAccessKey: 'local-endpoint-ignores-signatures' },
      ...config,
    });
    this.#clients.push(client);
    return client;
  }

  callsTo(operation: string): RecordedCall[] {
    return this.calls.filter((call) => call.operation === operation);
  }

  async registerPendingVersion(secretId: string, versionId: string): Promise<void> {
    this.#store.registerPending(secretId, versionId);
  }

  async setRotationEnabled(secretId: string, enabled: boolean): Promise<void> {
    this.#store.setRotationEnabled(secretId, enabled);
  }

  attachRotationFunction(
    secretId: string,
    rotationLambdaArn: string,
    rules?: { AutomaticallyAfterDays?: number; ScheduleExpression?: string },
  ): void {
    const input = { SecretId: secretId, RotationLambdaARN: rotationLambdaArn, RotationRules: rules };
    this.#store.configureRotation(this.#store.parseRotateSecret(input));
  }

  async fillPendingVersion(secretId: string, versionId: string, secretString: string): Promise<void> {
    this.#store.fillVersion(secretId, versionId, secretString);
  }

  registerRotationFunction(arnOrName: string, handler: RotationHandler): void {
    if (typeof handler !== 'function') {
      throw new TypeError(
        'registerRotationFunction: handler must be a function (event, context?) => Promise<void>',
      );
    }
    this.#handlers.set(functionName(arnOrName), handler);
  }

  inject(fault: Fault): void {
    const outcomes = [fault.error, fault.dropConnection, fault.dropConnectionAfterApply].filter(
      Boolean,
    ).length;
    if (outcomes === 0 && fault.delayMs === undefined) {
      throw new TypeError('inject: a fault needs error, dropConnection, dropConnectionAfterApply or delayMs');
    }
    if (outcomes > 1) {
      throw new TypeError('inject: choose one of error, dropConnection and dropConnectionAfterApply');
    }
    this.#faults.push({ fault, remaining: fault.times ?? Number.POSITIVE_INFINITY });
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  async idle(): Promise<void> {
    while (this.#running.size > 0)
      await Promise.allSettled([...this.#running.values()].map((run) => run.done));
  }

  async close(): Promise<void> {
    await this.idle();
    for (const client of this.#clients) client.destroy();
    await new Promise<void>((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      this.#server.closeAllConnections();
    });
  }

  #record(operation: string, input: WireInput, receivedAt: number, response: ServerResponse): RecordedCall {
    const call: RecordedCall = { operation, input, status: 0, receivedAt };
    this.calls.push(call);
    response.once('close', () => {
      call.answeredAt = performance.now();
    });
    return call;
  }

  async #onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const receivedAt = performance.now();
    // Decided on the headers, before a byte of the body is read.
    const verdict = this.#guard.check(request.headers.host, headerValue(request, 'origin'));
    if (!verdict.ok) {
      this.#refuse(request, response, new ServiceError(verdict.type, verdict.message, verdict.status));
      return;
    }
    if (verdict.corsOrigin) {
      response.setHeader('access-control-allow-origin', verdict.corsOrigin);
      response.setHeader('vary', 'Origin');
      if (request.method === 'OPTIONS') {
        response.writeHead(204, {
          'access-control-allow-methods': 'POST, GET',
          'access-control-allow-headers': headerValue(request, 'access-control-request-headers') ?? '',
          'access-control-max-age': '600',
        });
        response.end();
        return;
      }
    }
    const body = await readBody(request);
    if (body === undefined) {
      this.#refuse(
        request,
        response,
        new ServiceError('RequestEntityTooLargeException', TOO_LARGE_MESSAGE, 413),
      );
      return;
    }
    if (request.method === 'GET' && (request.url === '/' || request.url === '/health')) {
      send(response, 200, { service: 'secrets-rotator local Secrets Manager endpoint', region: this.region });
      return;
    }
    const operation = /^secretsmanager\.([A-Za-z]+)$/.exec(headerValue(request, 'x-amz-target') ?? '')?.[1];
    if (request.method !== 'POST' || !operation) {
      this.#answerError(
        response,
        undefined,
        new ServiceError(
          'UnknownOperationException',
          'Send POST / with header X-Amz-Target: secretsmanager.<Operation> and a JSON body (application/x-amz-json-1.1).',
        ),
      );
      return;
    }
    const input = parseObject(body);
    const call = this.#record(operation, input ?? {}, receivedAt, response);
    try {
      if (!input) throw new ServiceError('SerializationException', 'The request body is not a JSON object.');
      await this.#serve(request, response, call, input);
    } catch (error) {
      this.#answerError(response, call, error);
    }
  }

  /** Runs one operation through the configured latency, rate limit and faults, and answers it. */
  async #serve(request: IncomingMessage, response: ServerResponse, call: RecordedCall, input: WireInput) {
    const { operation } = call;
    if (this.#latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#latencyMs));
    if (this.#rateLimiter?.take(operation) === false) {
      throw new ServiceError('ThrottlingException', THROTTLING_MESSAGE);
    }
    const fault = this.#takeFault(operation, input);
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.dropConnection) {
      this.#dropConnection(request, call, `${operation} dropped (injected fault)`);
      return;
    }
    if (fault?.error) {
      call.injected = true;
      throw new ServiceError(fault.error.type, fault.error.message, fault.error.status ?? 400);
    }
    const output =
      operation === 'RotateSecret'
        ? await this.#rotateSecret(input)
        : operation === 'LocalDescribeRotation'
          ? this.#describeRotation(input)
          : this.#store.handle(operation, input);
    if (fault?.dropConnectionAfterApply) {
      this.#dropConnection(request, call, `${operation} applied, answer dropped (injected fault)`);
      return;
    }
    call.status = 200;
    this.#log?.(`${operation} 200`);
    send(response, 200, output);
  }

  /** The `LocalDescribeRotation` extension: what only the service knows, a rotation's outcome. */
  #describeRotation(input: WireInput): Record<string, unknown> {
    const { ARN: arn } = this.#store.handle('DescribeSecret', { SecretId: input.SecretId }) as {
      ARN: string;
    };
    const running = this.#running.get(arn);
    const last = this.rotations.findLast((run) => run.secretArn === arn);
    return {
      ARN: arn,
      Running: running ? { VersionId: running.versionId } : null,
      Last: last
        ? {
            VersionId: last.versionId,
            Ok: last.ok,
            FailedStep: last.failedStep ?? null,
            Error: last.error ?? null,
          }
        : null,
    };
  }

  /** Answers a request the endpoint will not serve, then closes the connection without reading on. */
  #refuse(request: IncomingMessage, response: ServerResponse, error: ServiceError): void {
    this.#log?.(`(refused) ${error.status} ${error.type}`);
    response.shouldKeepAlive = false;
    sendError(response, error, { connection: 'close' });
    response.once('finish', () => request.socket.destroySoon());
  }

  #dropConnection(request: IncomingMessage, call: RecordedCall, logLine: string): void {
    call.error = 'ConnectionDropped';
    call.injected = true;
    this.#log?.(logLine);
    request.socket.destroy();
  }

  #answerError(response: ServerResponse, call: RecordedCall | undefined, thrown: unknown): void {
    const error =
      thrown instanceof ServiceError
        ? thrown
        : new ServiceError(
            'InternalServiceError',
            'The local endpoint failed while handling the request.',
            500,
          );
    if (call) {
      call.status = error.status;
      call.error = error.type;
    }
    this.#log?.(`${call?.operation ?? '(no operation)'} ${error.status} ${error.type}`);
    sendError(response, error);
  }

  #takeFault(operation: string, input: WireInput): Fault | undefined {
    const active = this.#faults.find(
      ({ fault, remaining }) =>
        remaining > 0 &&
        (fault.operation === '*' || fault.operation === operation) &&
        faultApplies(fault, input),
    );
    if (active) active.remaining -= 1;
    return active?.fault;
  }

  async #rotateSecret(input: WireInput): Promise<WireInput> {
    const request = this.#store.parseRotateSecret(input);
    const handler = this.#handlers.get(functionName(request.rotationLambdaArn));
    if (!handler) {
      throw invalidRequest(
        `No rotation function is registered with this local endpoint for ${request.rotationLambdaArn}: in code, call registerRotationFunction() with that ARN or function name first; from the command line, restart secrets-rotator local-endpoint with --rotation-function <name>=<handler>.`,
      );
    }
    const token = request.clientRequestToken;
    const answer = (versionId: string) => ({ ARN: request.arn, Name: request.name, VersionId: versionId });
    const running = this.#running.get(request.arn);
    if (running) {
      // The SDK retries a request whose answer was lost with the same ClientRequestToken.
      if (token !== undefined && token === running.versionId) return answer(token);
      throw invalidRequest(INCOMPLETE_ROTATION_MESSAGE);
    }
    if (
      token !== undefined &&
      this.rotations.some((run) => run.ok && run.secretArn === request.arn && run.versionId === token)
    ) {
      return answer(token);
    }
    let plan: ReturnType<typeof planRotation>;
    try {
      plan = planRotation(this.#store.rotationState(request.arn), {
        versionId: request.clientRequestToken,
        testOnly: !request.rotateImmediately,
      });
    } catch (error) {
      if (error instanceof RotationIncompleteError) throw invalidRequest(INCOMPLETE_ROTATION_MESSAGE);
      if (error instanceof ProtocolStateError) throw alreadyExists(error.message);
      throw error;
    }
    if (!plan.resumed) {
      this.#store.registerPending(plan.secretArn, plan.versionId, !request.rotateImmediately);
    }
    this.#store.configureRotation(request);

    const run = executeRotation(this.#storeService, plan, {
      handler,
      rotateImmediately: request.rotateImmediately,
      // The service passes an opaque RotationToken in every event of one rotation (docs/protocol.md#rotationtoken).
      rotationToken: randomUUID(),
      context: {
        functionName: functionName(request.rotationLambdaArn),
        invokedFunctionArn: request.rotationLambdaArn,
        awsRequestId: randomUUID(),
      },
    }).then((result) => {
      this.rotations.push(result);
      return result;
    });
    this.#running.set(plan.secretArn, { versionId: plan.versionId, done: run });
    const settled = run.finally(() => this.#running.delete(plan.secretArn));
    if (this.#mode === 'inline') await settled;
    else settled.catch(() => undefined);
    return answer(plan.versionId);
  }
}

/** A `when` that throws counts as not matching: a test's predicate must not break the endpoint. */
function faultApplies(fault: Fault, input: WireInput): boolean {
  try {
    return fault.when ? fault.when(input) : true;
  } catch {
    return false;
  }
}

function checkedLatency(latencyMs: number | undefined): number {
  if (latencyMs === undefined) return 0;
  if (!Number.isInteger(latencyMs) || latencyMs < 0 || latencyMs > 60_000) {
    throw new TypeError(
      `startLocalSecretsManager: latencyMs must be a whole number of milliseconds from 0 to 60000, got ${String(latencyMs)}`,
    );
  }
  return latencyMs;
}

/** `arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]` → `<name>`; a plain name is returned as is. */
function functionName(arnOrName: string): string {
  const match = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)/.exec(arnOrName);
  return match ? match[1]! : arnOrName;
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const TOO_LARGE_MESSAGE = `The request body is larger than ${MAX_REQUEST_BODY_BYTES} bytes, more than any request the service accepts (a SecretString holds at most 65536 bytes).`;

/** The body as a JSON object (an empty body is `{}`); `undefined` when it is not one. */
function parseObject(body: Buffer): WireInput | undefined {
  try {
    const parsed: unknown = body.length ? JSON.parse(body.toString('utf8')) : {};
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The body, or `undefined` when it is (or says it will be) over {@link MAX_REQUEST_BODY_BYTES}. */
function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_REQUEST_BODY_BYTES) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      // Stop reading (the socket stays open for the refusal) and drop what was kept.
      request.off('data', onData);
      request.pause();
      chunks.length = 0;
      resolve(undefined);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
  });
}

function sendError(
  response: ServerResponse,
  error: ServiceError,
  headers: Record<string, string> = {},
): void {
  const body = { __type: error.type, message: error.message };
  send(response, error.status, body, { 'x-amzn-errortype': error.type, ...headers });
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(toWire(body));
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  response.end(text);
}

/** Dates become epoch seconds, as awsJson1_1 carries timestamps; undefined members are dropped. */
function toWire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) {
      if (member !== undefined) result[key] = toWire(member);
    }
    return result;
  }
  return value;
}
