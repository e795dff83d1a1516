import {
  ConfigurationError,
  ProtocolStateError,
  SecretShapeError,
  TargetRefusedError,
} from '../../core/errors.ts';
import { nodeCrypto } from '../../core/node-crypto.ts';
import type { KnownVersions, RotationTarget, StepContext } from '../../core/target.ts';
import { readMasterSecret, refuseMasterAmong, sameServer } from '../../database/secret.ts';
import { masterReadInApply, StrategySettings } from '../database/strategy.ts';
import {
  changeOwnPasswordWith,
  checkPairFits,
  checkPasswordForEngine,
  commonTargetParts,
  driver,
  endpointOf,
  loginOf,
  passwordFormFor,
  pendingAlreadyWorks,
  verifyPending,
} from './common.ts';
import type { PostgresLogin, PostgresSession } from './connect.ts';
import { ensureClone, setPassword, userExists } from './roles.ts';
import {
  DEFAULT_POSTGRES_PORT,
  type MasterCredentials,
  type PostgresSecret,
  withCredentials,
} from './secret.ts';
import { type PostgresSettings, readPostgresSettings } from './settings.ts';
import { TERMINATE_SESSIONS } from './sql.ts';

/**
 * Options of {@link postgresAlternatingUsers}.
 *
 * @example
 * ```ts
 * postgresAlternatingUsers({ preProvisionedPair: true });
 * ```
 */
export interface PostgresAlternatingUsersOptions {
  /**
   * Both users exist already; only their passwords alternate, no role is created or altered. Default:
   * `PG_PREPROVISIONED_PAIR`, else false.
   */
  readonly preProvisionedPair?: boolean;
}

/**
 * Alternating-users rotation for PostgreSQL and Aurora PostgreSQL (docs/protocol.md#alternating-users):
 * `app` and `app_clone` take turns. Unless the pair is pre-provisioned, the master (`masterarn`) creates
 * the clone as a member acting as the original, so what either creates is owned by the original
 * (docs/protocol.md#shared-ownership-and-exact-grants).
 *
 * @example
 * ```ts
 * // handlers/postgres-alternating-users.ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { postgresAlternatingUsers } from 'secrets-rotator/adapters/postgres';
 * export const handler = createRotationHandler(postgresAlternatingUsers());
 * ```
 */
export function postgresAlternatingUsers(
  options: PostgresAlternatingUsersOptions = {},
): RotationTarget<PostgresSecret> {
  const name = 'postgres-alternating-users';
  const settings = new StrategySettings(readPostgresSettings, {
    preProvisionedPair: options.preProvisionedPair,
  });
  return {
    ...commonTargetParts(name),
    init: (env) => settings.init(env),
    preflight: async (current, ctx) =>
      (await import('./preflight.ts')).postgresPreflight(current, ctx, 'alternating-users'),

    async next(current, ctx) {
      const config = settings.get(ctx);
      const pair = checkPairFits(current.username);
      refuseRedshiftClone(current, config);
      if (!config.preProvisionedPair && current.masterarn === undefined) throw missingMasterArn();
      const next = withCredentials(current, { username: pair.other, password: await ctx.newPassword() });
      checkPasswordForEngine(next);
      return next;
    },

    // A pre-provisioned pair's user changes its own password: the master is only a fallback.
    readsInApply: (pending) => (settings.peek()?.preProvisionedPair ? [] : masterReadInApply(pending)),
    async apply(pending, known, ctx) {
      const config = settings.get(ctx);
      const pair = checkPairFits(pending.username);
      refuseRedshiftClone(pending, config);
      checkPasswordForEngine(pending);
      // Guard and master first: no refused login in the common path; pending only after a refusal.
      try {
        const current = await known.current();
        // The guard proves something only about the server the master is about to act on.
        if (current.username !== pair.other || !sameServer(current, pending)) {
          throw new ProtocolStateError(
            `alternating users: the AWSPENDING version names user "${pending.username}" at ${pending.host}:${pending.port}, the AWSCURRENT version user "${current.username}" at ${current.host}:${current.port}; pending must be the other user of the pair ("${pair.other}") on the same server (host and port). Fix the AWSPENDING version (or remove its label) and rotate again`,
          );
        }

        if (config.preProvisionedPair && (await changedOwnPassword(pending, known, config, ctx))) return;
        await guardCurrent(current, config, ctx);
        const master = await readMaster(pending, ctx, [pair.original, pair.clone]);
        await withMasterTransaction(pending, master, config, ctx, async (session) => {
          if (config.preProvisionedPair) {
            if (!(await userExists(session, pending.username))) {
              throw new TargetRefusedError(
                'rejected',
                `pre-provisioned pair: role "${pending.username}" does not exist on ${session.where} as a login user; create it with LOGIN (both users of the pair must exist), or unset PG_PREPROVISIONED_PAIR to let the rotator create the clone`,
              );
            }
          } else {
            await ensureClone(session, pair.original, pair.clone, ctx);
          }
          await setPassword(
            session,
            pending.username,
            pending.password,
            passwordFormFor(pending, config),
            ctx,
          );
        });
        ctx.logger.info('set the pending password', {
          user: pending.username,
          loggedInWith: 'master',
          mode: config.preProvisionedPair ? 'pre-provisioned pair' : 'clone',
        });
      } catch (error) {
        if (error instanceof TargetRefusedError && (await pendingAlreadyWorks(pending, config, ctx))) return;
        throw error;
      }
    },

    async verify(pending, ctx) {
      const config = settings.get(ctx);
      await verifyPending(pending, config, ctx, { cloneMustActAsOriginal: !config.preProvisionedPair });
    },

    async revoke(value, ctx) {
      const config = settings.get(ctx);
      if (value.masterarn === undefined) {
        throw new SecretShapeError(
          'masterarn',
          'is missing',
          'revoking a user of alternating users needs master credentials: set "masterarn"',
        );
      }
      // Only a server holding this user with this password is one whose user the master may lock out.
      const { connectPostgres, tryConnect } = await driver();
      const probe = await tryConnect(endpointOf(value), loginOf(value, 'previous'), config, ctx);
      if (!probe) {
        ctx.logger.info('the revoked password no longer logs in; nothing to do', { role: value.username });
        return;
      }
      await probe.close();
      const master = await readMaster(value, ctx, [value.username]);
      const session = await connectPostgres(endpointOf(value), masterLogin(master), config, ctx);
      try {
        if (!(await userExists(session, value.username))) {
          ctx.logger.warn('role to revoke does not exist; nothing to do', { role: value.username });
          return;
        }
        const unusable = nodeCrypto().randomBytes(32).toString('base64url');
        ctx.redact(unusable);
        await setPassword(session, value.username, unusable, passwordFormFor(value, config), ctx);
        try {
          const [row] = await session.query<{ ended: number }>(
            TERMINATE_SESSIONS,
            [value.username],
            `ending the sessions of "${value.username}"`,
          );
          ctx.logger.info('revoked the user', { role: value.username, sessionsEnded: row?.ended ?? 0 });
        } catch (error) {
          ctx.logger.warn('revoked the password but could not end open sessions', {
            role: value.username,
            reason: error instanceof Error ? error.message : 'unknown',
            fix: 'grant pg_signal_backend to the master user, or end them by hand',
          });
        }
      } finally {
        await session.close();
      }
    },
  };
}

/** Redshift has no role membership or per-role `role` setting to build a clone with. */
function refuseRedshiftClone(value: PostgresSecret, settings: PostgresSettings): void {
  if (value.engine === 'redshift' && !settings.preProvisionedPair) {
    throw new ConfigurationError(
      'PG_PREPROVISIONED_PAIR',
      'must be true for an "engine": "redshift" secret: Redshift has no role membership or per-user role setting for the rotator to build a clone with; create both users (e.g. "app" and "app_clone") with the same privileges yourself and set PG_PREPROVISIONED_PAIR=true (nothing was changed)',
    );
  }
}

function missingMasterArn(): SecretShapeError {
  return new SecretShapeError(
    'masterarn',
    'is missing',
    'alternating users needs the ARN of a secret holding credentials that may create roles and set passwords (or use the pre-provisioned pair)',
  );
}

/** Least privilege first: a stored previous password lets the user change its own without the master. */
async function changedOwnPassword(
  pending: PostgresSecret,
  known: KnownVersions<PostgresSecret>,
  config: PostgresSettings,
  ctx: StepContext,
): Promise<boolean> {
  const previous = await known.previous();
  const usable = previous?.username === pending.username && sameServer(previous, pending);
  if (usable && (await changeOwnPasswordWith(previous, 'previous', pending, config, ctx))) return true;
  if (pending.masterarn === undefined) {
    throw new TargetRefusedError(
      'authentication',
      `pre-provisioned pair: user "${pending.username}" could not log in with a stored previous password to change its own, and the secret has no "masterarn"; add "masterarn" (credentials allowed to set its password) or store its working password as the AWSPREVIOUS version`,
    );
  }
  return false;
}

/**
 * Before the master touches anything, the current credentials must log in
 * (docs/protocol.md#alternating-users).
 */
async function guardCurrent(current: PostgresSecret, settings: PostgresSettings, ctx: StepContext) {
  const { tryConnect } = await driver();
  const session = await tryConnect(endpointOf(current), loginOf(current, 'current'), settings, ctx);
  if (!session) {
    throw new TargetRefusedError(
      'authentication',
      `the current credentials of user "${current.username}" do not log in at ${current.host}:${current.port}, so the master credentials were not used (they act only for a secret whose current credentials prove it belongs to this server); put the working password in the AWSCURRENT version and rotate again`,
    );
  }
  await session.close();
}

async function readMaster(
  value: PostgresSecret,
  ctx: StepContext,
  rotated: readonly string[],
): Promise<MasterCredentials> {
  const arn = value.masterarn;
  if (arn === undefined) throw missingMasterArn();
  const master = await readMasterSecret(ctx, arn, value, DEFAULT_POSTGRES_PORT);
  refuseMasterAmong(master, arn, rotated);
  return master;
}

function masterLogin(master: MasterCredentials): PostgresLogin {
  return { username: master.username, password: master.password, label: 'master' };
}

async function withMasterTransaction(
  target: PostgresSecret,
  master: MasterCredentials,
  settings: PostgresSettings,
  ctx: StepContext,
  work: (session: PostgresSession) => Promise<void>,
): Promise<void> {
  const { connectPostgres } = await driver();
  const session = await connectPostgres(endpointOf(target), masterLogin(master), settings, ctx);
  try {
    // One transaction, so a failure part-way leaves nothing to repair.
    await session.query('BEGIN', [], 'starting a transaction');
    try {
      await work(session);
      await session.query('COMMIT', [], 'committing the role changes');
    } catch (error) {
      // A given-up session is rolled back by the server; a ROLLBACK would only wait out another timeout.
      if (session.usable) {
        await session.query('ROLLBACK', [], 'rolling back the role changes').catch(() => {});
      }
      throw error;
    }
  } finally {
    await session.close();
  }
}
