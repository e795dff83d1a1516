import { ProtocolStateError, TargetRefusedError } from '../../core/errors.ts';
import type { RotationTarget } from '../../core/target.ts';
import { sameServer } from '../database/secret.ts';
import {
  commonTargetParts,
  endpointOf,
  loginOf,
  pendingAlreadyWorks,
  SettingsHolder,
  verifyPending,
} from './common.ts';
import { tryConnect } from './connect.ts';
import { changeOwnPassword } from './roles.ts';
import { type PostgresSecret, withCredentials } from './secret.ts';

/**
 * Options of {@link postgresSingleUser}. None yet: every setting comes from the environment (see
 * the README's PostgreSQL section).
 *
 * @example
 * ```ts
 * postgresSingleUser({});
 * ```
 */
export type PostgresSingleUserOptions = Record<string, never>;

/**
 * Single-user rotation for PostgreSQL and Aurora PostgreSQL (docs/protocol.md#single-user): the user changes its own
 * password, logged in with the pending, else the current, else the previous credentials, each
 * checked to name the same user, host and port before connecting. The new password reaches the server
 * only as a SCRAM-SHA-256 verifier.
 *
 * @example
 * ```ts
 * // handlers/postgres-single-user.ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { postgresSingleUser } from 'secrets-rotator/adapters/postgres';
 * export const handler = createRotationHandler(postgresSingleUser());
 * ```
 */
export function postgresSingleUser(_options: PostgresSingleUserOptions = {}): RotationTarget<PostgresSecret> {
  const name = 'postgres-single-user';
  const settings = new SettingsHolder();
  return {
    name,
    ...commonTargetParts(name),
    init: (env) => settings.init(env),

    async next(current, ctx) {
      settings.get(ctx);
      return withCredentials(current, { username: current.username, password: await ctx.newPassword() });
    },

    async apply(pending, known, ctx) {
      const config = settings.get(ctx);
      if (await pendingAlreadyWorks(pending, config, ctx)) return;

      const tried: string[] = ['pending: authentication failed'];
      const candidates: Array<['current' | 'previous', () => Promise<PostgresSecret | undefined>]> = [
        ['current', () => known.current()],
        ['previous', () => known.previous()],
      ];
      for (const [label, read] of candidates) {
        const value = await read();
        if (!value) {
          tried.push(`${label}: none stored`);
          continue;
        }
        if (value.username !== pending.username || !sameServer(value, pending)) {
          // Checked before connecting: these credentials are for another user or server.
          if (label === 'current') throw mismatch(value, pending);
          tried.push(`previous: names user "${value.username}" at ${value.host}:${value.port}, not tried`);
          continue;
        }
        const session = await tryConnect(endpointOf(value), loginOf(value, label), config, ctx);
        if (!session) {
          tried.push(`${label}: authentication failed`);
          continue;
        }
        try {
          await changeOwnPassword(session, pending.username, pending.password, config.scramIterations, ctx);
        } finally {
          await session.close();
        }
        ctx.logger.info('set the pending password', { user: pending.username, loggedInWith: label });
        return;
      }
      throw new TargetRefusedError(
        'authentication',
        `user "${pending.username}" at ${pending.host}:${pending.port} could not log in with any stored version (${tried.join('; ')}); someone changed the password outside rotation: put the working password in the AWSCURRENT version and rotate again`,
      );
    },

    async verify(pending, ctx) {
      await verifyPending(pending, settings.get(ctx), ctx, { cloneMustActAsOriginal: false });
    },
  };
}

function mismatch(current: PostgresSecret, pending: PostgresSecret): ProtocolStateError {
  return new ProtocolStateError(
    `single-user rotation: the AWSCURRENT version names user "${current.username}" at ${current.host}:${current.port}, the AWSPENDING version user "${pending.username}" at ${pending.host}:${pending.port}; they must be the same user and host (and port). Fix the AWSPENDING version (or remove its label) and rotate again`,
  );
}
