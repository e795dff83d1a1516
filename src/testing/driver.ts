// Plays the service's side of a rotation (docs/protocol.md#rotatesecret) against a function called
// in-process; shared by rotateSecret (through an SDK client) and the local endpoint's RotateSecret.
import { randomUUID } from 'node:crypto';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { processEnv, secretsManagerEndpoint } from '../core/config.ts';
import { ProtocolStateError, SecretsManagerCallError } from '../core/errors.ts';
import type { RotationEvent, RotationHandler } from '../core/event.ts';
import { AWSCURRENT, AWSPENDING } from '../core/stages.ts';
import { ROTATION_STEPS, type RotationStep } from '../core/target.ts';

export interface SecretVersionsState {
  readonly arn: string;
  readonly name: string;
  readonly versionIdsToStages: Readonly<Record<string, readonly string[]>>;
}

/** What the driver asks of "the service" around the four steps: the endpoint's store, or an SDK client. */
export interface RotationService {
  describe(secretId: string): Promise<SecretVersionsState>;
  registerPending(
    secretArn: string,
    versionId: string,
    options: { copyCurrentValue: boolean },
  ): Promise<void>;
  complete(secretArn: string, versionId: string, outcome: 'rotated' | 'tested'): Promise<void>;
}

interface RotationPlan {
  readonly secretArn: string;
  readonly secretName: string;
  readonly versionId: string;
  readonly resumed: boolean;
}

/**
 * An earlier rotation left AWSPENDING on a version other than AWSCURRENT, and this request does not
 * resume it; the service refuses RotateSecret in this state.
 */
export class RotationIncompleteError extends ProtocolStateError {
  readonly secretArn: string;
  /** The version that still holds AWSPENDING. */
  readonly pendingVersionId: string;

  constructor(secretArn: string, pendingVersionId: string) {
    super(
      `A previous rotation isn't complete: version ${pendingVersionId} of secret ${secretArn} still holds AWSPENDING. ` +
        'Resume it (driver option resume: true, or pass that version id; CLI --resume), or abandon it by removing the label: ' +
        `aws secretsmanager update-secret-version-stage --secret-id ${secretArn} --version-stage AWSPENDING --remove-from-version-id ${pendingVersionId}`,
    );
    this.secretArn = secretArn;
    this.pendingVersionId = pendingVersionId;
  }
}

/**
 * Picks the version a rotation runs with, as the service does: an unfinished rotation is resumed on
 * request and refused otherwise. A test-only run never resumes: it would discard the unfinished version.
 */
export function planRotation(
  state: SecretVersionsState,
  request: { versionId?: string | undefined; resume?: boolean | undefined; testOnly?: boolean | undefined },
): RotationPlan {
  const base = { secretArn: state.arn, secretName: state.name };
  const pending = Object.entries(state.versionIdsToStages).find(([, stages]) => stages.includes(AWSPENDING));
  if (pending) {
    const [pendingId, stages] = pending;
    const resumes = request.versionId === pendingId || (request.resume && request.versionId === undefined);
    if (resumes && !request.testOnly) return { ...base, versionId: pendingId, resumed: true };
    // AWSPENDING on AWSCURRENT (promoted, then failed before completing) does not block a new rotation.
    if (!stages.includes(AWSCURRENT)) throw new RotationIncompleteError(state.arn, pendingId);
  }
  const versionId = request.versionId ?? randomUUID();
  if (Object.hasOwn(state.versionIdsToStages, versionId)) {
    throw new ProtocolStateError(
      `Version ${versionId} of secret ${state.arn} already exists and holds no unfinished rotation; a new rotation needs a new version id.`,
    );
  }
  return { ...base, versionId, resumed: false };
}

/** The outcome of one step. */
export interface StepResult {
  readonly step: RotationStep;
  readonly ok: boolean;
  readonly durationMs: number;
  /** `Name: message` of what the step threw. */
  readonly error?: string;
}

/** The outcome of one rotation run. */
export interface RotationResult {
  readonly secretArn: string;
  readonly versionId: string;
  readonly ok: boolean;
  readonly resumed: boolean;
  /** false when only testSecret ran (RotateImmediately=false). */
  readonly rotateImmediately: boolean;
  readonly rotationToken?: string;
  /** The step that failed; absent when the steps passed but completing the rotation failed. */
  readonly failedStep?: RotationStep;
  readonly error?: string;
  readonly cause?: unknown;
  readonly steps: readonly StepResult[];
  readonly totalMs: number;
}

/** Live progress of a rotation, for displays such as the CLI's; `labels` is read only for an `onStep` listener. */
export type RotationProgress =
  | (RotationVersion & {
      readonly kind: 'rotation-started';
      readonly resumed: boolean;
      readonly steps: readonly RotationStep[];
    })
  | (RotationVersion & { readonly kind: 'step-started'; readonly step: RotationStep })
  | (RotationVersion &
      StepResult & {
        readonly kind: 'step-finished';
        readonly labels?: Readonly<Record<string, readonly string[]>>;
      })
  | { readonly kind: 'rotation-finished'; readonly result: RotationResult };

interface RotationVersion {
  readonly secretArn: string;
  readonly versionId: string;
}

interface ExecuteRotationOptions {
  readonly handler: RotationHandler;
  readonly rotateImmediately?: boolean;
  readonly rotationToken?: string | undefined;
  readonly onStep?: ((progress: RotationProgress) => void) | undefined;
  readonly context?: Partial<Context> | undefined;
}

/** Runs the planned steps up to the first failure, then completes as the service does; never throws for a step. */
export async function executeRotation(
  service: RotationService,
  plan: RotationPlan,
  options: ExecuteRotationOptions,
): Promise<RotationResult> {
  const rotateImmediately = options.rotateImmediately ?? true;
  const steps: readonly RotationStep[] = rotateImmediately ? ROTATION_STEPS : ['testSecret'];
  const { secretArn, versionId } = plan;
  const notify = (progress: RotationProgress) => {
    try {
      options.onStep?.(progress);
    } catch {
      // A display's failure must not change the rotation.
    }
  };
  const startedAt = performance.now();
  const results: StepResult[] = [];
  let failure: RotationFailure | undefined;

  notify({ kind: 'rotation-started', secretArn, versionId, resumed: plan.resumed, steps });
  for (const step of steps) {
    notify({ kind: 'step-started', secretArn, versionId, step });
    const event: RotationEvent = { Step: step, SecretId: secretArn, ClientRequestToken: versionId };
    if (options.rotationToken !== undefined) event.RotationToken = options.rotationToken;
    const stepStarted = performance.now();
    try {
      await options.handler(event, options.context);
    } catch (error) {
      failure = { step, error: describeError(error), cause: error };
    }
    const durationMs = performance.now() - stepStarted;
    const result: StepResult = failure
      ? { step, ok: false, durationMs, error: failure.error }
      : { step, ok: true, durationMs };
    results.push(result);
    if (options.onStep) {
      const labels = await service.describe(secretArn).then(
        (state) => state.versionIdsToStages,
        () => undefined,
      );
      notify({ kind: 'step-finished', secretArn, versionId, ...result, labels });
    }
    if (failure) break;
  }

  failure = await completeRotation(service, secretArn, versionId, rotateImmediately, failure);
  const result: RotationResult = {
    secretArn,
    versionId,
    ok: failure === undefined,
    resumed: plan.resumed,
    rotateImmediately,
    ...(options.rotationToken !== undefined ? { rotationToken: options.rotationToken } : {}),
    ...(failure ? { failedStep: failure.step, error: failure.error, cause: failure.cause } : {}),
    steps: results,
    totalMs: performance.now() - startedAt,
  };
  notify({ kind: 'rotation-finished', result });
  return result;
}

type RotationFailure = { readonly step?: RotationStep; readonly error: string; readonly cause: unknown };

/** Ends the rotation as the service does; the first failure met wins. */
async function completeRotation(
  service: RotationService,
  secretArn: string,
  versionId: string,
  rotateImmediately: boolean,
  failure: RotationFailure | undefined,
): Promise<RotationFailure | undefined> {
  try {
    // The service removes the test version whether testSecret passed or not.
    if (!rotateImmediately) await service.complete(secretArn, versionId, 'tested');
    if (!rotateImmediately || failure) return failure;
    const { versionIdsToStages: stages } = await service.describe(secretArn);
    if (Object.hasOwn(stages, versionId) && stages[versionId]!.includes(AWSCURRENT)) {
      await service.complete(secretArn, versionId, 'rotated');
      return undefined;
    }
    const error = `finishSecret returned without moving AWSCURRENT to version ${versionId}; AWSPENDING stays so the rotation can be resumed`;
    return { step: 'finishSecret', error, cause: new ProtocolStateError(error) };
  } catch (error) {
    return failure ?? { error: `completing the rotation failed: ${describeError(error)}`, cause: error };
  }
}

/** A rotation ended with a failed step and `throwOnFailure` was set. */
export class RotationFailedError extends Error {
  readonly result: RotationResult;

  constructor(result: RotationResult) {
    super(
      `Rotation of ${result.secretArn} (version ${result.versionId}) failed${result.failedStep ? ` at ${result.failedStep}` : ''}: ${result.error}`,
      { cause: result.cause },
    );
    this.name = 'RotationFailedError';
    this.result = result;
  }
}

/** Options of {@link rotateSecret}. */
export interface RotateSecretOptions {
  /** Usually `local.client()`; any client whose endpoint is the local one works. */
  readonly client: SecretsManagerClient;
  readonly secretId: string;
  readonly handler: RotationHandler;
  /** The new version's id, like RotateSecret's ClientRequestToken; naming an unfinished rotation's version resumes it. */
  readonly versionId?: string;
  /** Resume an unfinished rotation (reuse the AWSPENDING version) instead of refusing. */
  readonly resume?: boolean;
  /** false runs testSecret only, on a temporary copy of AWSCURRENT, as RotateImmediately=false does. */
  readonly rotateImmediately?: boolean;
  /** RotationToken for every event: default a random opaque token; null leaves it out. */
  readonly rotationToken?: string | null;
  /** Live progress: step started/finished, labels after each step. */
  readonly onStep?: (progress: RotationProgress) => void;
  /** Throw a {@link RotationFailedError} instead of returning `ok: false`. */
  readonly throwOnFailure?: boolean;
  readonly context?: Partial<Context>;
  /** Registers the AWSPENDING version. Default: the local endpoint's `LocalRegisterPendingVersion`. */
  readonly registerPending?: (
    secretId: string,
    versionId: string,
    options: { readonly copyCurrentValue: boolean },
  ) => Promise<void>;
  /** Ends the rotation as the service does. Default: the local endpoint's `LocalCompleteRotation`. */
  readonly completeRotation?: (
    secretId: string,
    versionId: string,
    outcome: 'rotated' | 'tested',
  ) => Promise<void>;
}

/**
 * Rotates a secret as Secrets Manager would, calling the function in-process for the four steps. A
 * step's failure is returned (`ok: false`) unless `throwOnFailure`; failures before the steps are thrown.
 *
 * @throws RotationIncompleteError when an earlier rotation is unfinished and `resume` is not set.
 * @example
 * ```ts
 * const local = await startLocalSecretsManager();
 * const client = local.client();
 * await client.send(new CreateSecretCommand({ Name: 'app/key', SecretString: 'old' }));
 * const result = await rotateSecret({ client, secretId: 'app/key', handler: myRotationHandler });
 * expect(result.ok).toBe(true);
 * ```
 */
export async function rotateSecret(options: RotateSecretOptions): Promise<RotationResult> {
  const service = clientRotationService(options);
  const state = await service.describe(options.secretId);
  const testOnly = options.rotateImmediately === false;
  const plan = planRotation(state, { versionId: options.versionId, resume: options.resume, testOnly });
  if (!plan.resumed)
    await service.registerPending(plan.secretArn, plan.versionId, { copyCurrentValue: testOnly });
  const rotationToken = options.rotationToken === null ? undefined : (options.rotationToken ?? randomUUID());
  const result = await executeRotation(service, plan, {
    handler: options.handler,
    rotateImmediately: options.rotateImmediately,
    rotationToken,
    onStep: options.onStep,
    context: options.context,
  });
  if (!result.ok && options.throwOnFailure) throw new RotationFailedError(result);
  return result;
}

/** The outcome of {@link retryUntilConverged}. */
export interface ConvergenceResult {
  readonly ok: boolean;
  readonly attempts: number;
  /** Each run's result, in order (a run that threw before its steps has `steps: []`). */
  readonly results: readonly RotationResult[];
  readonly last: RotationResult;
}

/**
 * Runs {@link rotateSecret} until it succeeds or `attempts` runs were made, resuming the same version,
 * as the service retries a failed rotation: for fault-injection tests.
 *
 * @example
 * ```ts
 * local.inject({ operation: 'PutSecretValue', error: { type: 'InternalServiceError', message: 'boom', status: 500 }, times: 2 });
 * const outcome = await retryUntilConverged({ client, secretId, handler, attempts: 5 });
 * expect(outcome.ok).toBe(true);
 * ```
 */
export async function retryUntilConverged(
  options: RotateSecretOptions & { readonly attempts?: number; readonly delayMs?: number },
): Promise<ConvergenceResult> {
  const attempts = options.attempts ?? 5;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new RangeError(
      `retryUntilConverged: attempts must be a whole number of at least 1, got ${attempts}`,
    );
  }
  const results: RotationResult[] = [];
  let versionId = options.versionId;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const result = await attemptRotation(options, versionId, attempt);
    results.push(result);
    if (result.versionId) versionId = result.versionId;
    if (result.ok) break;
    if (options.delayMs && attempt < attempts)
      await new Promise((resolve) => setTimeout(resolve, options.delayMs));
  }
  const last = results.at(-1)!;
  return { ok: last.ok, attempts: results.length, results, last };
}

async function attemptRotation(options: RotateSecretOptions, versionId: string | undefined, attempt: number) {
  try {
    return await rotateSecret({
      ...options,
      versionId,
      resume: attempt > 1 || options.resume,
      throwOnFailure: false,
    });
  } catch (error) {
    if (error instanceof RotationIncompleteError && attempt === 1) throw error;
    return {
      secretArn: options.secretId,
      versionId: versionId ?? '',
      ok: false,
      resumed: attempt > 1,
      rotateImmediately: options.rotateImmediately ?? true,
      error: describeError(error),
      cause: error,
      steps: [],
      totalMs: 0,
    } satisfies RotationResult;
  }
}

function clientRotationService(options: RotateSecretOptions): RotationService {
  const { client } = options;
  return {
    async describe(secretId) {
      const answer = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
      return {
        arn: answer.ARN ?? secretId,
        name: answer.Name ?? secretId,
        versionIdsToStages: answer.VersionIdsToStages ?? {},
      };
    },
    async registerPending(secretArn, versionId, { copyCurrentValue }) {
      if (options.registerPending) return options.registerPending(secretArn, versionId, { copyCurrentValue });
      await callLocalExtension(client, 'LocalRegisterPendingVersion', {
        SecretId: secretArn,
        ClientRequestToken: versionId,
        CopyCurrentValue: copyCurrentValue,
      });
    },
    async complete(secretArn, versionId, outcome) {
      if (options.completeRotation) return options.completeRotation(secretArn, versionId, outcome);
      await callLocalExtension(client, 'LocalCompleteRotation', {
        SecretId: secretArn,
        ClientRequestToken: versionId,
        Outcome: outcome,
      });
    },
  };
}

/** Calls one of the local endpoint's extension operations (not in the AWS API) at the client's endpoint. */
export async function callLocalExtension(
  client: SecretsManagerClient,
  operation: 'LocalRegisterPendingVersion' | 'LocalCompleteRotation' | 'LocalDescribeRotation',
  input: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const url = await clientEndpointUrl(client);
  if (!url) {
    throw new SecretsManagerCallError(
      operation,
      'NoLocalEndpoint',
      'the client has no endpoint override and AWS_ENDPOINT_URL_SECRETS_MANAGER is not set; the rotation driver needs the local endpoint ' +
        '(local.client(), a client with endpoint: local.endpoint, or AWS_ENDPOINT_URL_SECRETS_MANAGER=<its URL>) or the registerPending and completeRotation options',
    );
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `secretsmanager.${operation}`,
      },
      body: JSON.stringify(input),
    });
  } catch (error) {
    throw new SecretsManagerCallError(
      operation,
      'NetworkError',
      `could not reach ${url}: ${describeError(error)}`,
    );
  }
  // A body that is not JSON is reported with the status below.
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const type = typeof body.__type === 'string' ? body.__type : `HTTP${response.status}`;
    const message = typeof body.message === 'string' ? body.message : `status ${response.status}`;
    throw new SecretsManagerCallError(operation, type, message);
  }
  return body;
}

// The client's endpoint override, else the SDK's configured endpoint, else (an SDK without it, or
// a failing lookup) our own read of the variable.
async function clientEndpointUrl(client: SecretsManagerClient): Promise<string | undefined> {
  const endpoint = client.config.endpoint ? await client.config.endpoint() : undefined;
  if (endpoint) {
    const port = endpoint.port ? `:${endpoint.port}` : '';
    return `${endpoint.protocol}//${endpoint.hostname}${port}${endpoint.path || '/'}`;
  }
  const { serviceConfiguredEndpoint } = client.config as { serviceConfiguredEndpoint?: () => unknown };
  const configured: unknown = await (async () => serviceConfiguredEndpoint?.())().catch(() => undefined);
  const url = (typeof configured === 'string' && configured) || secretsManagerEndpoint(processEnv());
  if (!url) return undefined;
  return url.endsWith('/') ? url : `${url}/`;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
