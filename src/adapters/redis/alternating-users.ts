import { TargetRefusedError } from '../../core/errors.ts';
import { nodeCrypto } from '../../core/node-crypto.ts';
import type { RotationTarget, StepContext } from '../../core/target.ts';
import { alternatingPair, sameServer, withCredentials } from '../../database/secret.ts';
import { masterReadInApply } from '../database/strategy.ts';
import { copyUser, replacePassword, userExists } from './acl.ts';
import {
  commonTargetParts,
  currentGuardPasses,
  endpointOf,
  loginOf,
  mismatch,
  missingMasterArn,
  openMaster,
  redisSettings,
  verifyPending,
} from './common.ts';
import { type RedisSession, tryOpenRedis } from './connect.ts';
import { redisPreflight } from './preflight.ts';
import type { RedisSecret } from './secret.ts';
import type { RedisSettings } from './settings.ts';

/**
 * Options of {@link redisAlternatingUsers}.
 *
 * @example
 * ```ts
 * redisAlternatingUsers({ preProvisionedPair: true });
 * ```
 */
export interface RedisAlternatingUsersOptions {
  /** Both ACL users exist already, with rules you chose. Default: `REDIS_PREPROVISIONED_PAIR`, else `false`. */
  readonly preProvisionedPair?: boolean;
}

/**
 * Alternating-users rotation for Redis 6+ and Valkey ACL users `app` and `app_clone`: each rotation
 * gives a new password to the one that is not current. The master user (`masterarn`, allowed
 * `ACL SETUSER` and `ACL LIST`) acts only after the current credentials log in; unless
 * `preProvisionedPair`, the clone is made an exact copy of the original's rules each time it
 * is rotated in.
 *
 * @example
 * ```ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { redisAlternatingUsers } from 'secrets-rotator/adapters/redis';
 * export const handler = createRotationHandler(redisAlternatingUsers());
 * ```
 */
export function redisAlternatingUsers(
  options: RedisAlternatingUsersOptions = {},
): RotationTarget<RedisSecret> {
  const settings = redisSettings(options.preProvisionedPair);
  return {
    ...commonTargetParts('redis-alternating-users'),
    init: (env) => settings.init(env),
    preflight: (current, ctx) => redisPreflight(current, ctx, 'alternating-users'),
    verify: (pending, ctx) => verifyPending(pending, settings.get(ctx), ctx),

    async next(current, ctx) {
      settings.get(ctx);
      if (current.masterarn === undefined) throw missingMasterArn('alternating users');
      const { other } = alternatingPair(current.username);
      return withCredentials(current, { username: other, password: await ctx.newPassword() });
    },

    readsInApply: masterReadInApply,
    async apply(pending, known, ctx) {
      const config = settings.get(ctx);
      const { other } = alternatingPair(pending.username);
      const current = await known.current();
      if (current.username !== other || !sameServer(current, pending)) {
        throw mismatch('alternating users', current, pending, `the other user of the pair ("${other}")`);
      }
      if (pending.masterarn === undefined) throw missingMasterArn('alternating users');
      if (!(await currentGuardPasses(current, pending, config, ctx))) return;
      await withMaster(pending, config, ctx, (session) => setPending(session, pending, config, ctx));
    },

    async revoke(value, ctx) {
      const config = settings.get(ctx);
      if (value.masterarn === undefined) throw missingMasterArn('revoking a user of alternating users');
      // Only a server holding this user with this password is one whose user the master may lock out.
      const probe = await tryOpenRedis(endpointOf(value), loginOf(value, 'previous'), config, ctx);
      if (!probe) {
        ctx.logger.info('the revoked password no longer logs in; nothing to do', { user: value.username });
        return;
      }
      probe.close();
      await withMaster(value, config, ctx, (session) => lockOut(session, value.username, ctx));
    },
  };
}

async function withMaster(
  value: RedisSecret,
  config: RedisSettings,
  ctx: StepContext,
  work: (session: RedisSession) => Promise<void>,
): Promise<void> {
  const pair = alternatingPair(value.username);
  const session = await openMaster(value, [pair.original, pair.clone], config, ctx);
  try {
    await work(session);
  } finally {
    session.close();
  }
}

async function setPending(
  session: RedisSession,
  pending: RedisSecret,
  config: RedisSettings,
  ctx: StepContext,
): Promise<void> {
  const pair = alternatingPair(pending.username);
  if (pending.username === pair.clone && !config.preProvisionedPair) {
    const rules = await copyUser(session, pair.original, pair.clone, pending.password);
    ctx.logger.info('copied the ACL rules of the original to the clone and set its password', {
      original: pair.original,
      clone: pair.clone,
      rules: rules.length,
    });
    return;
  }
  if (!(await userExists(session, pending.username))) {
    const fix = config.preProvisionedPair
      ? 'create it (both users of a pre-provisioned pair must exist), or unset REDIS_PREPROVISIONED_PAIR to let the rotator copy the clone'
      : 'create it: it is the user the secret was made for';
    throw new TargetRefusedError(
      'rejected',
      `ACL user "${pending.username}" does not exist on ${session.where}; ${fix}`,
    );
  }
  await replacePassword(session, pending.username, pending.password);
  ctx.logger.info('set the pending password', { user: pending.username, loggedInWith: 'master' });
}

/** A random password nobody stores: the old one stops working at once; open connections are ended. */
async function lockOut(session: RedisSession, username: string, ctx: StepContext): Promise<void> {
  const unusable = nodeCrypto().randomBytes(32).toString('base64url');
  ctx.redact(unusable);
  await replacePassword(session, username, unusable);
  try {
    const ended = await session.call(
      ['CLIENT', 'KILL', 'USER', username],
      `ending the connections of "${username}"`,
    );
    ctx.logger.info('revoked the user', { user: username, connectionsEnded: ended });
  } catch (error) {
    ctx.logger.warn('revoked the password but could not end open connections', {
      user: username,
      reason: error instanceof Error ? error.message : 'unknown',
      fix: 'give the master +client|kill, or end them by hand',
    });
  }
}
