/** What the Redis strategies share: parsing, endpoints, the pending-first check, testSecret, the master. */
import { ProtocolStateError, SecretShapeError, TargetRefusedError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { describeServer, parseMasterSecret, refuseMasterAmong, sameServer } from '../../database/secret.ts';
import type { TlsEndpoint } from '../../database/tls.ts';
import { credentialTargetParts, pendingAlreadyLogsIn, StrategySettings } from '../database/strategy.ts';
import { canLogIn, openRedis, type RedisLogin, type RedisSession, tryOpenRedis } from './connect.ts';
import { DEFAULT_REDIS_PORT, parseRedisSecret, type RedisSecret, serializeRedisSecret } from './secret.ts';
import { type RedisSettings, readRedisSettings } from './settings.ts';

/**
 * `EXCLUDE_CHARACTERS` default: Redis takes any byte in a password, but clients often put it in a
 * `redis://user:password@host` URL, where these would need escaping.
 */
export const REDIS_EXCLUDE_CHARACTERS = ':/@"\'\\';

export function endpointOf(secret: RedisSecret): TlsEndpoint {
  return { host: secret.host, port: secret.port, ssl: secret.ssl };
}

export function loginOf(secret: RedisSecret, label: RedisLogin['label']): RedisLogin {
  return { username: secret.username, password: secret.password, label };
}

export function redisSettings(preProvisionedPair?: boolean) {
  return new StrategySettings(readRedisSettings, { preProvisionedPair });
}

/** The `RotationTarget` parts every strategy shares, and the ones each overrides. */
export function commonTargetParts(adapter: string) {
  return credentialTargetParts(adapter, REDIS_EXCLUDE_CHARACTERS, parseRedisSecret, serializeRedisSecret);
}

export async function pendingAlreadyWorks(
  pending: RedisSecret,
  settings: RedisSettings,
  ctx: StepContext,
): Promise<boolean> {
  return pendingAlreadyLogsIn(
    pending,
    () => tryOpenRedis(endpointOf(pending), loginOf(pending, 'pending'), settings, ctx),
    ctx,
  );
}

/** testSecret: `AUTH <user> <password>` answers OK only for that user with that password, switched on. */
export async function verifyPending(
  pending: RedisSecret,
  settings: RedisSettings,
  ctx: StepContext,
): Promise<void> {
  const session = await openRedis(endpointOf(pending), loginOf(pending, 'pending'), settings, ctx);
  session.close();
  ctx.logger.info('pending credentials verified', { user: pending.username, tls: session.tls });
}

/** Master credentials act only for a secret whose own credentials log in first, proving it belongs to this server. */
export async function guardWith(
  value: RedisSecret,
  label: 'current' | 'pending',
  settings: RedisSettings,
  ctx: StepContext,
): Promise<void> {
  if (await canLogIn(endpointOf(value), loginOf(value, label), settings, ctx)) return;
  throw new TargetRefusedError(
    'authentication',
    `the ${label} credentials of user "${value.username}" do not log in at ${value.host}:${value.port}, so the master credentials were not used (they act only for a secret whose own credentials prove it belongs to this server); put the working password in the AWSCURRENT version and rotate again`,
  );
}

/**
 * The guard before the master acts; false when the current credentials are refused because the
 * pending ones already log in (a retry after the change went through): nothing is left to do.
 */
export async function currentGuardPasses(
  current: RedisSecret,
  pending: RedisSecret,
  settings: RedisSettings,
  ctx: StepContext,
): Promise<boolean> {
  try {
    await guardWith(current, 'current', settings, ctx);
    return true;
  } catch (error) {
    if (error instanceof TargetRefusedError && (await pendingAlreadyWorks(pending, settings, ctx)))
      return false;
    throw error;
  }
}

/**
 * Logs in with the master credentials `masterarn` names, only when the master secret's own `host`
 * and `port` are the rotated secret's server (no cloud API can vouch for a Redis server) and its
 * user is none of the `rotated` ones.
 */
export async function openMaster(
  value: RedisSecret,
  rotated: readonly string[],
  settings: RedisSettings,
  ctx: StepContext,
): Promise<RedisSession> {
  const arn = value.masterarn;
  if (arn === undefined) throw missingMasterArn('this step');
  const master = parseMasterSecret(await ctx.readSecret(arn), arn);
  ctx.redact(master.password);
  const own =
    master.host === undefined ? undefined : { host: master.host, port: master.port ?? DEFAULT_REDIS_PORT };
  if (!own || !sameServer(own, value)) {
    throw new SecretShapeError(
      own ? 'host' : 'masterarn',
      own
        ? `is ${describeServer(value)}, but the master credentials (masterarn ${arn}) belong to ${describeServer(own)}, so the master credentials were not sent`
        : `names secret ${arn}, which has no "host", so nothing says which server its credentials belong to; they were not sent to ${describeServer(value)}`,
      own
        ? `point the secret at ${describeServer(own)}, or use a master secret for ${describeServer(value)}`
        : 'store "host" and "port" (the Redis server the master user belongs to) in the master secret',
    );
  }
  refuseMasterAmong(master, arn, rotated);
  return openRedis(
    endpointOf(value),
    { username: master.username, password: master.password, label: 'master' },
    settings,
    ctx,
  );
}

export function missingMasterArn(needs: string): SecretShapeError {
  return new SecretShapeError(
    'masterarn',
    'is missing',
    `${needs} needs the ARN of a secret holding a Redis user allowed to run ACL SETUSER and ACL LIST (or use the pre-provisioned pair)`,
  );
}

/** The AWSPENDING version names another user or server than expected from the AWSCURRENT one. */
export function mismatch(
  strategy: string,
  current: RedisSecret,
  pending: RedisSecret,
  expected: string,
): ProtocolStateError {
  return new ProtocolStateError(
    `${strategy}: the AWSCURRENT version names user "${current.username}" at ${current.host}:${current.port}, the AWSPENDING version user "${pending.username}" at ${pending.host}:${pending.port}; pending must be ${expected} on the same server (host and port). Fix the AWSPENDING version (or remove its label) and rotate again`,
  );
}
