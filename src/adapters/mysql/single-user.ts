import { ConfigurationError, SecretShapeError, TargetRefusedError } from '../../core/errors.ts';
import type { KnownVersions, RotationTarget, StepContext } from '../../core/target.ts';
import { sameServer } from '../../database/secret.ts';
import { StrategySettings } from '../database/strategy.ts';
import {
  commonTargetParts,
  firstText,
  logsIn,
  pendingAlreadyWorks,
  tryLogin,
  verifyPending,
} from './common.ts';
import type { MysqlSession } from './connect.ts';
import { mysqlPreflight } from './preflight.ts';
import { type MysqlSecret, withCredentials } from './secret.ts';
import { MYSQL_ENV, type MysqlSettings, readMysqlSettings } from './settings.ts';
import {
  discardOldPasswordStatement,
  mariaDbAuthPlugin,
  nativePasswordHash,
  selfPasswordStatements,
  showCreateUserStatement,
} from './sql.ts';

/**
 * Options of {@link mysqlSingleUser}.
 *
 * @example
 * ```ts
 * mysqlSingleUser({ dualPassword: true });
 * ```
 */
export interface MysqlSingleUserOptions {
  /**
   * MySQL 8.0.14+: keep the previous password as the secondary one until the next rotation (zero downtime
   * with one user; needs APPLICATION_PASSWORD_ADMIN). Default: `MYSQL_DUAL_PASSWORD`, else false.
   */
  readonly dualPassword?: boolean;
}

/**
 * Single-user rotation (docs/protocol.md#single-user): the user changes its own password; MariaDB gets
 * only the password's hash, MySQL 8 can keep the old one as a secondary password.
 *
 * @example
 * ```ts
 * // handlers/mysql-single-user.ts
 * export const handler = createRotationHandler(mysqlSingleUser());
 * ```
 */
export function mysqlSingleUser(options: MysqlSingleUserOptions = {}): RotationTarget<MysqlSecret> {
  const name = 'mysql-single-user';
  const settings = new StrategySettings(readMysqlSettings, { dualPassword: options.dualPassword });
  return {
    ...commonTargetParts(name),
    init: (env) => settings.init(env),
    verify: (pending, ctx) => verifyPending(pending, settings.get(ctx), ctx),
    preflight: (current, ctx) => mysqlPreflight(current, ctx, 'single-user'),
    async next(current, ctx) {
      const password = await ctx.newPassword();
      return withCredentials(current, { username: current.username, password });
    },
    async apply(pending, known, ctx) {
      const config = settings.get(ctx);
      const current = await known.current();
      requireSameAccount(pending, current, 'AWSCURRENT');
      const login = await logInToChange(pending, current, known, config, ctx);
      if (!login) return;
      const { session, loggedInWith } = login;
      try {
        const { flavour } = session;
        if (config.dualPassword && !flavour.dualPasswords) {
          throw new ConfigurationError(
            MYSQL_ENV.dualPassword,
            `is on, but the server is ${flavour.label}, which has no dual passwords (MySQL 8.0.14 or later); turn it off`,
          );
        }
        const plugin =
          flavour.kind === 'mariadb'
            ? mariaDbAuthPlugin(firstText(await session.run(showCreateUserStatement(undefined))))
            : '';
        ctx.redact(nativePasswordHash(pending.password));
        const statements = selfPasswordStatements(flavour, {
          password: pending.password,
          plugin,
          mode: session.mode,
          replacing: loggedInWith === 'current' ? current.password : undefined,
          retainCurrent: config.dualPassword,
        });
        for (const statement of statements) await session.run(statement);
        ctx.logger.info('changed the password of the logged-in user', {
          user: pending.username,
          accountHost: session.account.host,
          server: flavour.label,
          loggedInWith,
          dualPassword: config.dualPassword,
        });
      } finally {
        await session.close();
      }
    },
    async revoke(value, ctx) {
      const config = settings.get(ctx);
      const session = await tryLogin(value, 'revoked', config, ctx);
      if (!session) {
        ctx.logger.info('the revoked password no longer logs in; nothing to do', { user: value.username });
        return;
      }
      try {
        if (!session.flavour.dualPasswords) {
          throw new TargetRefusedError(
            'rejected',
            `the password to revoke is still the only password of "${value.username}"; rotate the secret instead`,
          );
        }
        await session.run(discardOldPasswordStatement());
      } finally {
        await session.close();
      }
      if (await logsIn(value, 'revoked', config, ctx)) {
        throw new TargetRefusedError(
          'rejected',
          `the password to revoke is the primary password of "${value.username}"; rotate the secret instead`,
        );
      }
      ctx.logger.info('discarded the secondary password', { user: value.username });
    },
  };
}

/** Current first (no refused login); with dual passwords pending first, else it would retain the wrong one. */
async function logInToChange(
  pending: MysqlSecret,
  current: MysqlSecret,
  known: KnownVersions<MysqlSecret>,
  config: MysqlSettings,
  ctx: StepContext,
): Promise<{ session: MysqlSession; loggedInWith: 'current' | 'previous' } | undefined> {
  const secrets = [pending.password, current.password];
  if (config.dualPassword && (await pendingAlreadyWorks(pending, config, ctx, secrets))) return undefined;
  const session = await tryLogin(current, 'current', config, ctx, secrets);
  if (session) return { session, loggedInWith: 'current' };
  if (!config.dualPassword && (await pendingAlreadyWorks(pending, config, ctx, secrets))) return undefined;
  const previous = await known.previous();
  if (previous) {
    requireSameAccount(pending, previous, 'AWSPREVIOUS');
    secrets.push(previous.password);
    const fallback = await tryLogin(previous, 'previous', config, ctx, secrets);
    if (fallback) return { session: fallback, loggedInWith: 'previous' };
  }
  throw new TargetRefusedError(
    'authentication',
    `user "${pending.username}" could not log in to ${pending.host}:${pending.port} with the pending, current or previous version; reset the password on the server to the AWSCURRENT value, then rotate again`,
  );
}

function requireSameAccount(pending: MysqlSecret, other: MysqlSecret, label: string): void {
  if (pending.username !== other.username) {
    throw new SecretShapeError(
      'username',
      `of the pending version is "${pending.username}", but the ${label} version names "${other.username}"; single-user rotation keeps one user`,
      'make both versions name the same user, or clear AWSPENDING and rotate again',
    );
  }
  if (!sameServer(pending, other)) {
    throw new SecretShapeError(
      'host',
      `of the pending version (${pending.host}:${pending.port}) differs from the ${label} version (${other.host}:${other.port})`,
      'make both versions point at the same server, or clear AWSPENDING and rotate again',
    );
  }
}
