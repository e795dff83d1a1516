import { TargetRefusedError } from '../../core/errors.ts';
import type { KnownVersions, RotationTarget, StepContext } from '../../core/target.ts';
import { sameServer, withCredentials } from '../../database/secret.ts';
import { masterReadInApply } from '../database/strategy.ts';
import { addPassword, removePassword, replacePassword } from './acl.ts';
import {
  commonTargetParts,
  currentGuardPasses,
  endpointOf,
  guardWith,
  loginOf,
  mismatch,
  openMaster,
  pendingAlreadyWorks,
  redisSettings,
  verifyPending,
} from './common.ts';
import { type RedisSession, tryOpenRedis } from './connect.ts';
import { redisPreflight } from './preflight.ts';
import type { RedisSecret } from './secret.ts';
import type { RedisSettings } from './settings.ts';

/**
 * Single-user rotation for Redis 6+ and Valkey ACL users: the user's only password is replaced
 * (`ACL SETUSER <user> resetpass >new`). With `masterarn`, the master user changes it once the
 * current credentials log in; without, the user itself, which needs `+acl|setuser` and so could
 * give itself every permission: prefer `masterarn` (docs/adapters/redis.md).
 *
 * @example
 * ```ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { redisSingleUser } from 'secrets-rotator/adapters/redis';
 * export const handler = createRotationHandler(redisSingleUser());
 * ```
 */
export function redisSingleUser(): RotationTarget<RedisSecret> {
  return singleUserTarget('redis-single-user', 'replace');
}

/**
 * Overlapping passwords for one Redis 6+ or Valkey ACL user: setSecret adds the new password, and
 * the old one is removed only after finishSecret, so clients holding it keep working until then.
 * Who changes the passwords: as for {@link redisSingleUser}.
 *
 * @example
 * ```ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { redisPasswordOverlap } from 'secrets-rotator/adapters/redis';
 * export const handler = createRotationHandler(redisPasswordOverlap());
 * ```
 */
export function redisPasswordOverlap(): RotationTarget<RedisSecret> {
  return singleUserTarget('redis-password-overlap', 'overlap');
}

type Mode = 'replace' | 'overlap';

function singleUserTarget(name: string, mode: Mode): RotationTarget<RedisSecret> {
  const settings = redisSettings();
  const target: RotationTarget<RedisSecret> = {
    ...commonTargetParts(name),
    init: (env) => settings.init(env),
    preflight: (current, ctx) => redisPreflight(current, ctx, 'single-user'),
    verify: (pending, ctx) => verifyPending(pending, settings.get(ctx), ctx),

    async next(current, ctx) {
      settings.get(ctx);
      return withCredentials(current, { username: current.username, password: await ctx.newPassword() });
    },

    appliesFromPrevious: mode === 'overlap',
    readsInApply: masterReadInApply,
    async apply(pending, known, ctx) {
      const config = settings.get(ctx);
      const current = await known.current();
      if (!sameUser(current, pending)) {
        const strategy = mode === 'replace' ? 'single-user rotation' : 'overlapping passwords';
        throw mismatch(strategy, current, pending, 'the same user');
      }
      // Read before anything changes: a step that fails must leave the server as it found it.
      const previous = mode === 'overlap' ? await known.previous() : undefined;
      const session = await changer(pending, current, known, config, ctx);
      if (!session) return;
      try {
        if (mode === 'replace') await replacePassword(session, pending.username, pending.password);
        else await addPending(session, pending, current, previous, ctx);
      } finally {
        session.close();
      }
      ctx.logger.info(mode === 'replace' ? 'set the pending password' : 'added the pending password', {
        user: pending.username,
        loggedInWith: session.username === pending.username ? 'the user itself' : 'master',
      });
    },
  };
  if (mode === 'overlap') {
    target.afterPromotion = async (promoted, previous, ctx) => {
      if (!previous || previous.password === promoted.password || !sameUser(previous, promoted)) {
        ctx.logger.info('no earlier password of this user to remove', { user: promoted.username });
        return;
      }
      const session = await sessionFor(promoted, settings.get(ctx), ctx);
      try {
        const removed = await removePassword(session, promoted.username, previous.password);
        const message = removed
          ? 'removed the previous password'
          : 'the previous password was already removed';
        ctx.logger.info(message, { user: promoted.username });
      } finally {
        session.close();
      }
    };
  }
  return target;
}

function sameUser(one: RedisSecret, other: RedisSecret): boolean {
  return one.username === other.username && sameServer(one, other);
}

async function addPending(
  session: RedisSession,
  pending: RedisSecret,
  current: RedisSecret,
  previous: RedisSecret | undefined,
  ctx: StepContext,
): Promise<void> {
  await addPassword(session, pending.username, pending.password);
  // A password older than the current one should have gone at the last finishSecret; if that step
  // never completed, it goes now, so the user holds at most two.
  if (
    previous &&
    sameUser(previous, pending) &&
    previous.password !== current.password &&
    previous.password !== pending.password &&
    (await removePassword(session, pending.username, previous.password))
  ) {
    ctx.logger.warn('removed a password older than the current one, left by an unfinished rotation', {
      user: pending.username,
    });
  }
}

/** `undefined` when the pending password already works (a retry after the change went through). */
async function changer(
  pending: RedisSecret,
  current: RedisSecret,
  known: KnownVersions<RedisSecret>,
  config: RedisSettings,
  ctx: StepContext,
): Promise<RedisSession | undefined> {
  if (pending.masterarn !== undefined) {
    if (!(await currentGuardPasses(current, pending, config, ctx))) return undefined;
    return openMaster(pending, [pending.username], config, ctx);
  }
  // The current version first: it works in the common path, so a rotation makes no refused login.
  const tried: string[] = [];
  const withCurrent = await tryOpenRedis(endpointOf(current), loginOf(current, 'current'), config, ctx);
  if (withCurrent) return withCurrent;
  tried.push('current: refused');
  if (await pendingAlreadyWorks(pending, config, ctx)) return undefined;
  tried.push('pending: refused');
  const previous = await known.previous();
  if (!previous) {
    tried.push('previous: none stored');
  } else if (!sameUser(previous, pending)) {
    tried.push(`previous: names user "${previous.username}" at ${previous.host}:${previous.port}, not tried`);
  } else {
    const withPrevious = await tryOpenRedis(endpointOf(previous), loginOf(previous, 'previous'), config, ctx);
    if (withPrevious) return withPrevious;
    tried.push('previous: refused');
  }
  throw new TargetRefusedError(
    'authentication',
    `user "${pending.username}" at ${pending.host}:${pending.port} could not log in with any stored version (${tried.join('; ')}); someone changed the password outside rotation: put the working password in the AWSCURRENT version and rotate again`,
  );
}

/** finishSecret's session: the master after the promoted credentials log in, else the user itself. */
async function sessionFor(
  promoted: RedisSecret,
  config: RedisSettings,
  ctx: StepContext,
): Promise<RedisSession> {
  if (promoted.masterarn !== undefined) {
    await guardWith(promoted, 'current', config, ctx);
    return openMaster(promoted, [promoted.username], config, ctx);
  }
  const session = await tryOpenRedis(endpointOf(promoted), loginOf(promoted, 'current'), config, ctx);
  if (session) return session;
  throw new TargetRefusedError(
    'authentication',
    `user "${promoted.username}" could not log in at ${promoted.host}:${promoted.port} with the promoted (AWSCURRENT) credentials, so its previous password was not removed; put the working password in the AWSCURRENT version and rotate again`,
  );
}
