import type { Env } from '../../core/config.ts';
import { ConfigurationError, ProtocolStateError, SecretShapeError } from '../../core/errors.ts';
import type { RotationTarget, StepContext } from '../../core/target.ts';
import { sameServer, withCredentials } from '../../database/secret.ts';
import { credentialTargetParts, StrategySettings } from '../database/strategy.ts';
import {
  endpointOf,
  loginOf,
  pendingAlreadyWorks,
  REDIS_EXCLUDE_CHARACTERS,
  verifyPending,
} from '../redis/common.ts';
import { canLogIn } from '../redis/connect.ts';
import { serializeRedisSecret } from '../redis/secret.ts';
import { type RedisSettings, readRedisSettings } from '../redis/settings.ts';
import {
  type ElastiCacheApiSettings,
  readElastiCacheApiSettings,
  setPasswords,
  waitUntilActive,
} from './api.ts';
import {
  ELASTICACHE_PASSWORD_RULES,
  type ElastiCacheSecret,
  elastiCachePasswordProblem,
  parseElastiCacheSecret,
} from './secret.ts';

type Settings = RedisSettings & ElastiCacheApiSettings;

const readSettings = (env: Env): Settings => ({
  ...readRedisSettings(env),
  ...readElastiCacheApiSettings(env),
});

/**
 * An ElastiCache (Valkey or Redis OSS) RBAC user, whose password only the ElastiCache API can
 * change: setSecret sets the user's passwords to the current and the new one (ModifyUser), waits
 * for the user to be `active` again, and testSecret logs in with the new one (AUTH, TLS
 * verify-full by default). After finishSecret moved AWSCURRENT, the old password is removed.
 * Clients holding the old password keep working until then (docs/adapters/elasticache.md).
 *
 * @example
 * ```ts
 * // handlers/elasticache-user.ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { elastiCacheUser } from 'secrets-rotator/adapters/elasticache';
 * export const handler = createRotationHandler(elastiCacheUser());
 * ```
 */
export function elastiCacheUser(): RotationTarget<ElastiCacheSecret> {
  const name = 'elasticache-user';
  const settings = new StrategySettings<Settings>(readSettings);
  return {
    ...credentialTargetParts(
      name,
      // The Redis URL characters, and the comma ElastiCache refuses besides.
      `${REDIS_EXCLUDE_CHARACTERS},`,
      parseElastiCacheSecret,
      serializeRedisSecret,
    ),
    init: (env) => settings.init(env),

    async next(current, ctx) {
      settings.get(ctx);
      const password = await ctx.newPassword();
      const problem = elastiCachePasswordProblem(password);
      if (problem) {
        const { minLength, maxLength, forbidden } = ELASTICACHE_PASSWORD_RULES;
        throw new ConfigurationError(
          /long/.test(problem) ? 'PASSWORD_LENGTH' : 'EXCLUDE_CHARACTERS',
          `makes passwords ElastiCache refuses (the new one ${problem}); PASSWORD_LENGTH must be ${minLength} to ${maxLength}, EXCLUDE_CHARACTERS must hold ${forbidden}, INCLUDE_SPACE must be off`,
        );
      }
      return withCredentials(current, { username: current.username, password });
    },

    async apply(pending, known, ctx) {
      const config = settings.get(ctx);
      const current = await known.current();
      if (
        current.userId !== pending.userId ||
        current.username !== pending.username ||
        !sameServer(current, pending)
      ) {
        throw new ProtocolStateError(
          `elasticache-user: the AWSCURRENT version names user "${current.userId}" ("${current.username}") at ${current.host}:${current.port}, the AWSPENDING version user "${pending.userId}" ("${pending.username}") at ${pending.host}:${pending.port}; pending must be the same user on the same endpoint. Fix the AWSPENDING version (or remove its label) and rotate again`,
        );
      }
      // Checked before anything changes: ModifyUser would refuse either, after the wait.
      for (const [label, value, fix] of [
        ['AWSCURRENT', current, "put the user's working password in the AWSCURRENT version and rotate again"],
        ['AWSPENDING', pending, 'remove the AWSPENDING label and rotate again'],
      ] as const) {
        const problem = elastiCachePasswordProblem(value.password);
        if (problem) throw new SecretShapeError('password', `(${label}) ${problem}`, fix);
      }
      // A change still under way (an earlier try that timed out) must end before the next one.
      await waitUntilActive(pending.userId, pending.username, config, ctx);
      if (await pendingAlreadyWorks(pending, config, ctx)) return;
      const passwords =
        current.password === pending.password ? [pending.password] : [current.password, pending.password];
      await setPasswords(config, pending.userId, passwords);
      ctx.logger.info('set the current and pending passwords through the ElastiCache API', {
        userId: pending.userId,
      });
      await waitUntilActive(pending.userId, pending.username, config, ctx);
    },

    async verify(pending, ctx) {
      const config = settings.get(ctx);
      await waitUntilActive(pending.userId, pending.username, config, ctx);
      await verifyPending(pending, config, ctx);
    },

    async afterPromotion(promoted, previous, ctx) {
      if (
        !previous ||
        previous.password === promoted.password ||
        previous.userId !== promoted.userId ||
        previous.username !== promoted.username
      ) {
        ctx.logger.info('no earlier password of this user to remove', { userId: promoted.userId });
        return;
      }
      const config = settings.get(ctx);
      const user = await waitUntilActive(promoted.userId, promoted.username, config, ctx);
      if (user.Authentication?.PasswordCount === 1 && (await promotedLogsIn(promoted, config, ctx))) {
        ctx.logger.info('the previous password was already removed', { userId: promoted.userId });
        return;
      }
      await setPasswords(config, promoted.userId, [promoted.password]);
      await waitUntilActive(promoted.userId, promoted.username, config, ctx);
      ctx.logger.info('removed the previous password', { userId: promoted.userId });
    },
  };
}

function promotedLogsIn(promoted: ElastiCacheSecret, config: Settings, ctx: StepContext): Promise<boolean> {
  return canLogIn(endpointOf(promoted), loginOf(promoted, 'current'), config, ctx);
}
