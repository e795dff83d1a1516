/**
 * The ElastiCache API calls of a rotation: read a user (DescribeUsers), set its passwords
 * (ModifyUser), and wait for it to leave `modifying`. Errors name the user, never a password.
 */
import type { ElastiCacheClient, User } from '@aws-sdk/client-elasticache';
import { type Env, envInteger, envString } from '../../core/config.ts';
import {
  ConfigurationError,
  SecretShapeError,
  TargetRefusedError,
  TargetUnreachableError,
} from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { scrubSecrets, withinDeadline } from '../../database/connection.ts';

/** The IAM actions the adapter needs on the user's ARN; named in the error when one is denied. */
const ELASTICACHE_ACTIONS = ['elasticache:DescribeUsers', 'elasticache:ModifyUser'] as const;

/**
 * The names of this adapter's own environment variables (docs/environment.md lists their defaults);
 * connections follow the Redis adapter's `REDIS_*` variables and `DATABASE_ALLOWED_HOSTS`.
 */
const ELASTICACHE_ENV = {
  waitTimeoutMs: 'ELASTICACHE_WAIT_TIMEOUT_MS',
  pollIntervalMs: 'ELASTICACHE_POLL_INTERVAL_MS',
  endpoint: 'AWS_ENDPOINT_URL_ELASTICACHE',
  requestTimeoutMs: 'ELASTICACHE_REQUEST_TIMEOUT_MS',
} as const;

/** Where the API is, how long to wait for a user to become `active` again, and how often to ask. */
export interface ElastiCacheApiSettings {
  readonly waitTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** Limit for one API call (connecting included); the SDK tries each call up to twice. */
  readonly requestTimeoutMs: number;
  /** The API endpoint (a VPC endpoint without private DNS, a test's); `undefined`: the region's. */
  readonly endpoint: string | undefined;
}

/** Reads {@link ElastiCacheApiSettings} from the environment; a bad value throws naming the variable. */
export function readElastiCacheApiSettings(env: Env): ElastiCacheApiSettings {
  const endpoint = envString(env, ELASTICACHE_ENV.endpoint);
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(endpoint)) {
    throw new ConfigurationError(
      ELASTICACHE_ENV.endpoint,
      `must be an http:// or https:// URL, got "${endpoint.slice(0, 100)}"`,
    );
  }
  return {
    endpoint,
    requestTimeoutMs: envInteger(env, ELASTICACHE_ENV.requestTimeoutMs, {
      default: 10_000,
      min: 100,
      max: 300_000,
    }),
    waitTimeoutMs: envInteger(env, ELASTICACHE_ENV.waitTimeoutMs, {
      default: 240_000,
      min: 1_000,
      max: 900_000,
    }),
    pollIntervalMs: envInteger(env, ELASTICACHE_ENV.pollIntervalMs, { default: 3_000, min: 10, max: 60_000 }),
  };
}

const clients = new Map<string, ElastiCacheClient>();

// The region is the function's own (AWS_REGION, read by the SDK). The SDK loads with the first call,
// not at cold start: createSecret and testSecret never call the API.
async function elastiCache(api: ElastiCacheApiSettings) {
  const sdk = await import('@aws-sdk/client-elasticache');
  const key = `${api.endpoint ?? ''} ${api.requestTimeoutMs}`;
  let client = clients.get(key);
  if (!client) {
    client = new sdk.ElastiCacheClient({
      maxAttempts: 2,
      // Without throwOnRequestTimeout a stalled connection only logs a warning and waits on.
      requestHandler: {
        connectionTimeout: api.requestTimeoutMs,
        requestTimeout: api.requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
      ...(api.endpoint ? { endpoint: api.endpoint } : {}),
    });
    clients.set(key, client);
  }
  return { client, sdk };
}

/**
 * The user `userId` as DescribeUsers reports it, checked to be `username` with password
 * authentication, so that nothing is changed for a secret that names someone else.
 */
async function describeUser(api: ElastiCacheApiSettings, userId: string, username: string): Promise<User> {
  const answer = await call('DescribeUsers', userId, [], async () => {
    const { client, sdk } = await elastiCache(api);
    return client.send(new sdk.DescribeUsersCommand({ UserId: userId }));
  });
  const user = answer.Users?.find((candidate) => candidate.UserId === userId);
  if (!user) throw unknownUser(userId);
  if (user.UserName !== username) {
    throw new SecretShapeError(
      'username',
      `is "${username}", but ElastiCache user "${userId}" has the user name "${user.UserName ?? '(none)'}"`,
      'make "username" and "userId" name the same ElastiCache user',
    );
  }
  const type = user.Authentication?.Type;
  if (type !== 'password') {
    throw new TargetRefusedError(
      'rejected',
      `ElastiCache user "${userId}" authenticates with "${type ?? 'unknown'}", not passwords, so it has no password to rotate; switch it to password authentication first`,
    );
  }
  return user;
}

/** Sets the user's passwords to exactly `passwords` (ElastiCache holds two at most). */
export async function setPasswords(
  api: ElastiCacheApiSettings,
  userId: string,
  passwords: readonly string[],
): Promise<void> {
  await call('ModifyUser', userId, passwords, async () => {
    const { client, sdk } = await elastiCache(api);
    return client.send(
      new sdk.ModifyUserCommand({
        UserId: userId,
        AuthenticationMode: { Type: 'password', Passwords: [...passwords] },
      }),
    );
  });
}

/**
 * Polls DescribeUsers until the user is `active`, within `ELASTICACHE_WAIT_TIMEOUT_MS` and the
 * step's remaining time; returns the active user.
 *
 * @throws TargetUnreachableError (timeout) naming the user and its last status.
 */
export async function waitUntilActive(
  userId: string,
  username: string,
  api: ElastiCacheApiSettings,
  ctx: Pick<StepContext, 'logger' | 'remainingTimeMs'>,
): Promise<User> {
  const limitMs = withinDeadline(api.waitTimeoutMs, ctx.remainingTimeMs());
  const started = Date.now();
  for (;;) {
    const user = await describeUser(api, userId, username);
    const status = user.Status ?? 'unknown';
    if (status === 'active') return user;
    if (status === 'deleting') {
      throw new TargetRefusedError('rejected', `ElastiCache user "${userId}" is being deleted`);
    }
    const waited = Date.now() - started;
    if (waited + api.pollIntervalMs > limitMs) {
      throw new TargetUnreachableError(
        'timeout',
        `ElastiCache user "${userId}" is still "${status}" after ${waited} ms (limit ${limitMs} ms: ${ELASTICACHE_ENV.waitTimeoutMs} or the step's remaining time); Secrets Manager retries the step, which waits again`,
      );
    }
    ctx.logger.debug('waiting for the ElastiCache user to become active', { userId, status });
    await new Promise((resolve) => setTimeout(resolve, api.pollIntervalMs));
  }
}

function unknownUser(userId: string): SecretShapeError {
  return new SecretShapeError(
    'userId',
    `is "${userId}", which ElastiCache reports does not exist in this account and region`,
    'set "userId" to an existing ElastiCache user, and deploy the function in its region',
  );
}

async function call<T>(
  operation: string,
  userId: string,
  secrets: readonly string[],
  send: () => Promise<T>,
): Promise<T> {
  try {
    return await send();
  } catch (error) {
    const name = error instanceof Error ? error.name : 'unknown';
    // AWS's messages may quote a rejected parameter: only what no password is in goes on.
    const said = scrubSecrets(error instanceof Error ? error.message : '', secrets, 200);
    if (name === 'UserNotFoundFault') throw unknownUser(userId);
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (/^(AccessDenied|UnauthorizedOperation)/.test(name) || status === 403) {
      throw new TargetRefusedError(
        'permission',
        `ElastiCache ${operation} for user "${userId}" was denied (${name}); the function needs ${ELASTICACHE_ACTIONS.join(' and ')} on the user's ARN (deploy/ grants them)`,
      );
    }
    if (name === 'InvalidParameterValueException' || name === 'InvalidParameterCombinationException') {
      throw new TargetRefusedError(
        'rejected',
        `ElastiCache ${operation} for user "${userId}": ${name}: ${said}`,
      );
    }
    // InvalidUserStateFault (someone else is changing the user), throttling, network: worth a retry.
    throw new TargetUnreachableError(
      'network',
      `ElastiCache ${operation} for user "${userId}" failed (${name}${said ? `: ${said}` : ''}); Secrets Manager retries the step`,
    );
  }
}
