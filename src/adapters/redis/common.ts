/** What the Redis strategies share: parsing, endpoints, the pending-first check, testSecret, the master. */
import { ProtocolStateError, SecretShapeError, TargetRefusedError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { describeServer, parseMasterSecret, refuseMasterAmong, sameServer } from '../database/secret.ts';
import { credentialTargetParts, pendingAlreadyLogsIn, StrategySettings } from '../database/strategy.ts';
import { canLogIn, openRedis, type RedisEndpoint, type RedisLogin, type RedisSession } from './connect.ts';
import { DEFAULT_REDIS_PORT, parseRedisSecret, type RedisSecret, serializeRedisSecret } from './secret.ts';
import { type RedisSettings, readRedisSettings } from './settings.ts';

/**
 * `EXCLUDE_CHARACTERS` default for Redis: Redis takes any byte in a password, but clients often
 * put it in a `redis://user:password@host` URL, where these characters would need escaping.
 *
 * @example
 * ```ts
 * redisSingleUser().defaultExcludeCharacters === REDIS_EXCLUDE_CHARACTERS; // true
 * ```
 */
export const REDIS_EXCLUDE_CHARACTERS = ':/@"\'\\';

/**
 * The endpoint a secret value names.
 *
 * @example
 * ```ts
 * const endpoint = endpointOf(pending);
 * ```
 */
export function endpointOf(secret: RedisSecret): RedisEndpoint {
  return { host: secret.host, port: secret.port, ssl: secret.ssl };
}

/**
 * The login a secret value holds, under a label for logs.
 *
 * @example
 * ```ts
 * const login = loginOf(current, 'current');
 * ```
 */
export function loginOf(secret: RedisSecret, label: RedisLogin['label']): RedisLogin {
  return { username: secret.username, password: secret.password, label };
}

/** Settings read by `init`, or from the step's environment when a target is used without the engine. */
export class SettingsHolder extends StrategySettings<RedisSettings> {
  constructor(preProvisionedPair?: boolean) {
    super(readRedisSettings, { preProvisionedPair });
  }
}

/** The parts of `RotationTarget` that every strategy implements the same way. */
export function commonTargetParts(adapter: string) {
  return credentialTargetParts(adapter, REDIS_EXCLUDE_CHARACTERS, parseRedisSecret, serializeRedisSecret);
}

/**
 * setSecret's check that makes a re-run safe: when the pending credentials already log in, there
 * is nothing to do.
 *
 * @example
 * ```ts
 * if (await pendingAlreadyWorks(pending, settings, ctx)) return;
 * ```
 */
export async function pendingAlreadyWorks(
  pending: RedisSecret,
  settings: RedisSettings,
  ctx: StepContext,
): Promise<boolean> {
  return pendingAlreadyLogsIn(
    pending,
    () => canLogIn(endpointOf(pending), loginOf(pending, 'pending'), settings, ctx),
    ctx,
  );
}

/**
 * testSecret: log in with the pending credentials (`AUTH <user> <password>` answers OK only for
 * that user with that password, switched on).
 *
 * @example
 * ```ts
 * await verifyPending(pending, settings, ctx);
 * ```
 */
export async function verifyPending(
  pending: RedisSecret,
  settings: RedisSettings,
  ctx: StepContext,
): Promise<void> {
  const session = await openRedis(endpointOf(pending), loginOf(pending, 'pending'), settings, ctx);
  session.close();
  ctx.logger.info('pending credentials verified', { user: pending.username, tls: session.tls });
}

/**
 * Master credentials act only for a secret whose own credentials log in first: then the secret
 * proves it belongs to this server. Throws when they are refused.
 *
 * @example
 * ```ts
 * await guardWith(current, 'current', settings, ctx);
 * ```
 */
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
 * Reads the master credentials `masterarn` names and logs in with them. They are refused, before
 * anything is sent, unless the master secret's own `host` and `port` (default 6379) are the rotated
 * secret's server, and when they belong to one of the `rotated` users. No cloud API can vouch for
 * another server here (RDS hosts no Redis), so the master secret must say where it belongs.
 *
 * @example
 * ```ts
 * const session = await openMaster(pending, [pair.original, pair.clone], settings, ctx);
 * ```
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

/**
 * The error for a secret without `masterarn` where one is needed.
 *
 * @example
 * ```ts
 * throw missingMasterArn('alternating users');
 * ```
 */
export function missingMasterArn(needs: string): SecretShapeError {
  return new SecretShapeError(
    'masterarn',
    'is missing',
    `${needs} needs the ARN of a secret holding a Redis user allowed to run ACL SETUSER and ACL LIST (or use the pre-provisioned pair)`,
  );
}

/**
 * The error for an AWSPENDING version that names another user or server than the AWSCURRENT one.
 *
 * @example
 * ```ts
 * throw mismatch('single-user rotation', current, pending, 'the same user');
 * ```
 */
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
