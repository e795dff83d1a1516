import { randomBytes } from 'node:crypto';
import { TargetRefusedError } from '../../core/errors.ts';
import type { RotationTarget } from '../../core/target.ts';
import { alternatingPair, sameServer, withCredentials } from '../database/secret.ts';
import { copyUser, replacePassword, userExists } from './acl.ts';
import {
  commonTargetParts,
  endpointOf,
  guardWith,
  loginOf,
  mismatch,
  missingMasterArn,
  openMaster,
  pendingAlreadyWorks,
  SettingsHolder,
  verifyPending,
} from './common.ts';
import { tryOpenRedis } from './connect.ts';
import type { RedisSecret } from './secret.ts';

/**
 * Options of {@link redisAlternatingUsers}.
 *
 * @example
 * ```ts
 * redisAlternatingUsers({ preProvisionedPair: true });
 * ```
 */
export interface RedisAlternatingUsersOptions {
  /**
   * Both ACL users (`app` and `app_clone`) exist already, with rules you chose; only their
   * passwords alternate. Default: `REDIS_PREPROVISIONED_PAIR` from the environment, else `false`.
   */
  readonly preProvisionedPair?: boolean;
}

/**
 * Alternating-users rotation for Redis 6+ and Valkey ACL users: two users, `app` and `app_clone`;
 * each rotation gives a new password to the one that is not current, so the previous user keeps
 * working until clients move on.
 *
 * The master user (`masterarn`; it needs `ACL SETUSER` and `ACL LIST`) acts only after the current
 * credentials log in. By default, each time the clone is rotated in, it becomes an exact copy of
 * the original's rules (read with `ACL LIST`, set with one `ACL SETUSER app_clone reset …`, and
 * compared afterwards); the original keeps its rules and only its password changes. With
 * `preProvisionedPair`, both users exist already and only their passwords change.
 *
 * @example
 * ```ts
 * // handlers/redis-alternating-users.ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { redisAlternatingUsers } from 'secrets-rotator/adapters/redis';
 * export const handler = createRotationHandler(redisAlternatingUsers());
 * ```
 */
export function redisAlternatingUsers(
  options: RedisAlternatingUsersOptions = {},
): RotationTarget<RedisSecret> {
  const name = 'redis-alternating-users';
  const settings = new SettingsHolder(options.preProvisionedPair);
  return {
    name,
    ...commonTargetParts(name),
    generatesPassword: true,
    appliesFromCurrent: true,
    init: (env) => settings.init(env),

    async next(current, ctx) {
      settings.get(ctx);
      if (current.masterarn === undefined) throw missingMasterArn('alternating users');
      const pair = alternatingPair(current.username);
      return withCredentials(current, { username: pair.other, password: await ctx.newPassword() });
    },

    async apply(pending, known, ctx) {
      const config = settings.get(ctx);
      const pair = alternatingPair(pending.username);
      const current = await known.current();
      if (current.username !== pair.other || !sameServer(current, pending)) {
        throw mismatch('alternating users', current, pending, `the other user of the pair ("${pair.other}")`);
      }
      if (pending.masterarn === undefined) throw missingMasterArn('alternating users');
      try {
        await guardWith(current, 'current', config, ctx);
      } catch (error) {
        if (error instanceof TargetRefusedError && (await pendingAlreadyWorks(pending, config, ctx))) return;
        throw error;
      }
      const session = await openMaster(pending, [pair.original, pair.clone], config, ctx);
      try {
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
          throw new TargetRefusedError(
            'rejected',
            `ACL user "${pending.username}" does not exist on ${session.where}; ${
              config.preProvisionedPair
                ? 'create it (both users of a pre-provisioned pair must exist), or unset REDIS_PREPROVISIONED_PAIR to let the rotator copy the clone'
                : 'create it: it is the user the secret was made for'
            }`,
          );
        }
        await replacePassword(session, pending.username, pending.password);
        ctx.logger.info('set the pending password', { user: pending.username, loggedInWith: 'master' });
      } finally {
        session.close();
      }
    },

    async verify(pending, ctx) {
      await verifyPending(pending, settings.get(ctx), ctx);
    },

    async revoke(value, ctx) {
      const config = settings.get(ctx);
      if (value.masterarn === undefined) throw missingMasterArn('revoking a user of alternating users');
      // The revoked credentials log in first: only a server that holds this user with this
      // password is one whose user the master may lock out.
      const probe = await tryOpenRedis(endpointOf(value), loginOf(value, 'previous'), config, ctx);
      if (!probe) {
        ctx.logger.info('the revoked password no longer logs in; nothing to do', { user: value.username });
        return;
      }
      probe.close();
      const pair = alternatingPair(value.username);
      const session = await openMaster(value, [pair.original, pair.clone], config, ctx);
      try {
        // A random password nobody stores: the old one stops working at once.
        const unusable = randomBytes(32).toString('base64url');
        ctx.redact(unusable);
        await replacePassword(session, value.username, unusable);
        try {
          const ended = await session.call(
            ['CLIENT', 'KILL', 'USER', value.username],
            `ending the connections of "${value.username}"`,
          );
          ctx.logger.info('revoked the user', { user: value.username, connectionsEnded: ended });
        } catch (error) {
          ctx.logger.warn('revoked the password but could not end open connections', {
            user: value.username,
            reason: error instanceof Error ? error.message : 'unknown',
            fix: 'give the master +client|kill, or end them by hand',
          });
        }
      } finally {
        session.close();
      }
    },
  };
}
