import { ProtocolStateError, TargetRefusedError } from '../../core/errors.ts';
import type { RotationTarget, StepContext } from '../../core/target.ts';
import { sameServer } from '../../database/secret.ts';
import { StrategySettings } from '../database/strategy.ts';
import {
  changeOwnPasswordWith,
  checkPasswordForEngine,
  commonTargetParts,
  pendingAlreadyWorks,
  verifyPending,
} from './common.ts';
import { type PostgresSecret, withCredentials } from './secret.ts';
import { type PostgresSettings, readPostgresSettings } from './settings.ts';

/**
 * Options of {@link postgresSingleUser}. None yet: every setting comes from the environment (see
 * docs/adapters/postgres.md).
 *
 * @example
 * ```ts
 * postgresSingleUser({});
 * ```
 */
export type PostgresSingleUserOptions = Record<string, never>;

/**
 * Single-user rotation for PostgreSQL and Aurora PostgreSQL (docs/protocol.md#single-user): the user
 * sets its own password, sent only as a SCRAM-SHA-256 verifier.
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
  const settings = new StrategySettings(readPostgresSettings, {});
  return {
    ...commonTargetParts(name),
    init: (env) => settings.init(env),
    preflight: async (current, ctx) =>
      (await import('./preflight.ts')).postgresPreflight(current, ctx, 'single-user'),

    async next(current, ctx) {
      settings.get(ctx);
      const next = withCredentials(current, {
        username: current.username,
        password: await ctx.newPassword(),
      });
      checkPasswordForEngine(next);
      return next;
    },

    async apply(pending, known, ctx) {
      const config = settings.get(ctx);
      checkPasswordForEngine(pending);
      // Current first: no refused login in the common path (pending: a retry; previous: a half-done rotation).
      const current = await known.current();
      const currentFits = current.username === pending.username && sameServer(current, pending);
      if (currentFits && (await changeWith(current, 'current', pending, config, ctx))) return;
      if (await pendingAlreadyWorks(pending, config, ctx)) return;
      if (!currentFits) throw mismatch(current, pending);
      const previous = await known.previous();
      const previousFits = previous?.username === pending.username && sameServer(previous, pending);
      if (previousFits && (await changeWith(previous, 'previous', pending, config, ctx))) return;
      throw noVersionLogsIn(pending, previous, previousFits);
    },

    async verify(pending, ctx) {
      await verifyPending(pending, settings.get(ctx), ctx, { cloneMustActAsOriginal: false });
    },
  };
}

async function changeWith(
  value: PostgresSecret,
  label: 'current' | 'previous',
  pending: PostgresSecret,
  config: PostgresSettings,
  ctx: StepContext,
): Promise<boolean> {
  if (!(await changeOwnPasswordWith(value, label, pending, config, ctx))) return false;
  ctx.logger.info('set the pending password', { user: pending.username, loggedInWith: label });
  return true;
}

function noVersionLogsIn(
  pending: PostgresSecret,
  previous: PostgresSecret | undefined,
  previousTried: boolean,
): TargetRefusedError {
  const previousOutcome = previousTried
    ? 'authentication failed'
    : previous
      ? `names user "${previous.username}" at ${previous.host}:${previous.port}, not tried`
      : 'none stored';
  return new TargetRefusedError(
    'authentication',
    `user "${pending.username}" at ${pending.host}:${pending.port} could not log in with any stored version (pending: authentication failed; current: authentication failed; previous: ${previousOutcome}); someone changed the password outside rotation: put the working password in the AWSCURRENT version and rotate again`,
  );
}

function mismatch(current: PostgresSecret, pending: PostgresSecret): ProtocolStateError {
  return new ProtocolStateError(
    `single-user rotation: the AWSCURRENT version names user "${current.username}" at ${current.host}:${current.port}, the AWSPENDING version user "${pending.username}" at ${pending.host}:${pending.port}; they must be the same user and host (and port). Fix the AWSPENDING version (or remove its label) and rotate again`,
  );
}
