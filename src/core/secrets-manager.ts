import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type Env, envInteger, secretsManagerEndpoint } from './config.ts';
import { SecretShapeError, SecretsManagerCallError } from './errors.ts';
import type { PasswordPolicy } from './password.ts';
import { AWSCURRENT, AWSPENDING, type SecretDescription, stagesOfVersion } from './stages.ts';

/** A stored value: SecretString as text, SecretBinary as bytes. */
export type StoredValue = string | Uint8Array;

export interface StoredVersion {
  readonly versionId: string;
  readonly value: StoredValue;
}

interface SecretsManagerGatewayOptions {
  /** Attempts per call, including the first (retryable errors only). Default 5. */
  readonly maxAttempts?: number;
  /** Milliseconds left in the invocation; retries stop when a back-off would not fit. */
  readonly remainingTimeMs?: () => number;
  readonly onRetry?: (operation: string, code: string, attempt: number, delayMs: number) => void;
}

const RETRYABLE_CODES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
]);

// Kept in reserve so a step out of retries fails cleanly before Lambda's timeout kills it mid-call.
const DEADLINE_RESERVE_MS = 1_500;

/** The code of an AWS SDK error or a Node network error; `UnknownError` when there is none. */
export function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const candidate = error as { name?: unknown; code?: unknown; Code?: unknown };
    for (const value of [candidate.Code, candidate.code, candidate.name]) {
      if (typeof value === 'string' && value !== 'Error') return value;
    }
  }
  return 'UnknownError';
}

type SecretsManagerSdk = typeof import('./secrets-manager-sdk.ts');

// Loaded on the first call, not when the function starts: the SDK is most of a bundle's cold start.
let sdk: Promise<SecretsManagerSdk> | undefined;
function loadSdk(): Promise<SecretsManagerSdk> {
  sdk ??= import('./secrets-manager-sdk.ts');
  return sdk;
}

function isRetryable(error: unknown): boolean {
  const code = errorCode(error);
  if (RETRYABLE_CODES.has(code)) return true;
  const meta = (error as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown } | null) ?? {};
  if (meta.$retryable) return true;
  const status = meta.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 500;
}

function isNotFound(error: unknown): boolean {
  return errorCode(error) === 'ResourceNotFoundException';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The engine's Secrets Manager calls, retried on transient errors within the invocation's remaining time. */
export class SecretsManagerGateway {
  readonly client: SecretsManagerClient;
  readonly #options: SecretsManagerGatewayOptions;

  constructor(client: SecretsManagerClient, options: SecretsManagerGatewayOptions = {}) {
    this.client = client;
    this.#options = options;
  }

  describe(secretId: string): Promise<SecretDescription> {
    return this.#call('DescribeSecret', (aws) =>
      this.client.send(new aws.DescribeSecretCommand({ SecretId: secretId })),
    );
  }

  /** Names both id and label so a manual edit mid-rotation is detected (docs/protocol.md#reading-the-pending-version). */
  async readPending(secretId: string, token: string): Promise<StoredValue | undefined> {
    const version = await this.#get(secretId, { VersionId: token, VersionStage: AWSPENDING });
    return version?.value;
  }

  readStage(secretId: string, stage: string): Promise<StoredVersion | undefined> {
    return this.#get(secretId, { VersionStage: stage });
  }

  readVersion(secretId: string, versionId: string, stage: string): Promise<StoredVersion | undefined> {
    return this.#get(secretId, { VersionId: versionId, VersionStage: stage });
  }

  async putPending(
    secretId: string,
    token: string,
    value: StoredValue,
    rotationToken: string | undefined,
  ): Promise<void> {
    await this.#call('PutSecretValue', (aws) =>
      this.client.send(
        new aws.PutSecretValueCommand({
          SecretId: secretId,
          ClientRequestToken: token,
          ...(typeof value === 'string' ? { SecretString: value } : { SecretBinary: value }),
          VersionStages: [AWSPENDING],
          ...(rotationToken === undefined ? {} : { RotationToken: rotationToken }),
        }),
      ),
    );
  }

  /** A failed call whose effect DescribeSecret then shows is an earlier attempt that went through: success. */
  async promote(secretId: string, token: string, fromVersionId: string | undefined): Promise<void> {
    try {
      await this.#call('UpdateSecretVersionStage', (aws) =>
        this.client.send(
          new aws.UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: AWSCURRENT,
            MoveToVersionId: token,
            ...(fromVersionId === undefined ? {} : { RemoveFromVersionId: fromVersionId }),
          }),
        ),
      );
    } catch (error) {
      const after = await this.describe(secretId);
      if (stagesOfVersion(after, token)?.includes(AWSCURRENT)) return;
      throw error;
    }
  }

  async randomPassword(policy: PasswordPolicy): Promise<string> {
    const answer = await this.#call('GetRandomPassword', (aws) =>
      this.client.send(
        new aws.GetRandomPasswordCommand({
          PasswordLength: policy.length,
          ...(policy.excludeCharacters ? { ExcludeCharacters: policy.excludeCharacters } : {}),
          ExcludeNumbers: policy.excludeNumbers,
          ExcludePunctuation: policy.excludePunctuation,
          ExcludeUppercase: policy.excludeUppercase,
          ExcludeLowercase: policy.excludeLowercase,
          IncludeSpace: policy.includeSpace,
          RequireEachIncludedType: policy.requireEachIncludedType,
        }),
      ),
    );
    if (!answer.RandomPassword) {
      throw new SecretsManagerCallError(
        'GetRandomPassword',
        'EmptyAnswer',
        'the service returned no password',
      );
    }
    return answer.RandomPassword;
  }

  async #get(
    secretId: string,
    selector: { VersionId?: string; VersionStage?: string },
  ): Promise<StoredVersion | undefined> {
    try {
      const answer = await this.#call(
        'GetSecretValue',
        (aws) => this.client.send(new aws.GetSecretValueCommand({ SecretId: secretId, ...selector })),
        isNotFound,
      );
      const value = answer.SecretString ?? answer.SecretBinary;
      if (value === undefined)
        throw new SecretShapeError('(value)', `of version ${answer.VersionId ?? '?'} is empty`);
      return { versionId: answer.VersionId ?? '', value };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async #call<T>(
    operation: string,
    send: (aws: SecretsManagerSdk) => Promise<T>,
    passThrough?: (error: unknown) => boolean,
  ): Promise<T> {
    const maxAttempts = this.#options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return await send(await loadSdk());
      } catch (error) {
        if (passThrough?.(error)) throw error;
        const code = errorCode(error);
        const delayMs = Math.min(2_000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
        const remaining = this.#options.remainingTimeMs?.() ?? Number.POSITIVE_INFINITY;
        const canRetry =
          isRetryable(error) && attempt < maxAttempts && remaining - delayMs > DEADLINE_RESERVE_MS;
        if (!canRetry) throw finalCallError(operation, error, attempt, maxAttempts);
        this.#options.onRetry?.(operation, code, attempt, Math.round(delayMs));
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }
}

function finalCallError(operation: string, error: unknown, attempt: number, maxAttempts: number) {
  if (error instanceof SecretsManagerCallError) return error;
  const reason = isRetryable(error) && attempt >= maxAttempts ? ` (after ${attempt} attempts)` : '';
  return new SecretsManagerCallError(operation, errorCode(error), `${messageOf(error)}${reason}`);
}

const sharedClients = new Map<string, SecretsManagerClient>();

/** One client per container and endpoint; retries are the gateway's, so they respect the deadline. */
export async function sharedSecretsManagerClient(env: Env): Promise<SecretsManagerClient> {
  const endpoint = secretsManagerEndpoint(env);
  const timeouts = sharedClientTimeouts(env);
  const key = `${endpoint ?? '(default)'} ${timeouts.connectionTimeout} ${timeouts.requestTimeout}`;
  let client = sharedClients.get(key);
  if (!client) {
    client = new (await loadSdk()).SecretsManagerClient({
      maxAttempts: 1,
      // Resolve each command's middleware once, not per call: nothing here changes the stack later.
      cacheMiddleware: true,
      // The SDK sets no timeouts: a half-open connection would hang the step past any retry.
      requestHandler: { ...timeouts, throwOnRequestTimeout: true },
      ...(endpoint ? { endpoint } : {}),
    });
    sharedClients.set(key, client);
  }
  return client;
}

export function sharedClientTimeouts(env: Env): { connectionTimeout: number; requestTimeout: number } {
  return {
    connectionTimeout: envInteger(env, 'SECRETS_MANAGER_CONNECT_TIMEOUT_MS', {
      default: 3_000,
      min: 100,
      max: 60_000,
    }),
    requestTimeout: envInteger(env, 'SECRETS_MANAGER_REQUEST_TIMEOUT_MS', {
      default: 10_000,
      min: 100,
      max: 300_000,
    }),
  };
}

export function maxAttemptsFromEnv(env: Env): number {
  return envInteger(env, 'SECRETS_MANAGER_MAX_ATTEMPTS', { default: 5, min: 1, max: 20 });
}
