import { SecretShapeError, TargetRefusedError } from '../../core/errors.ts';
import { nodeCrypto } from '../../core/node-crypto.ts';
import type { KnownVersions, RotationTarget, StepContext } from '../../core/target.ts';
import { readMasterSecret, refuseMasterAmong, sameServer } from '../../database/secret.ts';
import { masterReadInApply, StrategySettings } from '../database/strategy.ts';
import {
  commonTargetParts,
  endpointOf,
  firstText,
  logsIn,
  masterLogin,
  pendingAlreadyWorks,
  tryLogin,
  verifyPending,
} from './common.ts';
import { type MysqlSession, openSession, rowText } from './connect.ts';
import { userNameLimitForEngine } from './flavour.ts';
import { type GrantParseError, type GrantSet, parseGrants, planGrantSync } from './grants.ts';
import { mysqlPreflight } from './preflight.ts';
import {
  alternatingPair,
  checkAccountName,
  checkPairLength,
  DEFAULT_MYSQL_PORT,
  type MysqlSecret,
  otherUser,
  withCredentials,
} from './secret.ts';
import { MYSQL_ENV, type MysqlSettings, readMysqlSettings } from './settings.ts';
import {
  type Account,
  type AccountRequirements,
  adminPasswordStatement,
  createUserStatement,
  LIMIT_COLUMNS,
  LOOKUPS,
  MARIADB_LIMIT_COLUMNS,
  mariaDbAuthPlugin,
  nativePasswordHash,
  quoteAccount,
  requirementsStatement,
  showCreateUserStatement,
  showGrantsStatement,
} from './sql.ts';

/**
 * Options of {@link mysqlAlternatingUsers}.
 *
 * @example
 * ```ts
 * mysqlAlternatingUsers({ preProvisionedPair: true });
 * ```
 */
export interface MysqlAlternatingUsersOptions {
  /**
   * Both users already exist: only their passwords alternate; no user is created, no grant copied. Default:
   * `MYSQL_PREPROVISIONED_PAIR`, else false.
   */
  readonly preProvisionedPair?: boolean;
}

/**
 * Alternating-users rotation (docs/protocol.md#alternating-users): the master (`masterarn`) sets the
 * password of whichever of `name` and `name_clone` is not current; the clone's grants, roles, TLS
 * requirements and limits are re-synced to the original's (docs/protocol.md#shared-ownership-and-exact-grants).
 *
 * @example
 * ```ts
 * // handlers/mysql-alternating-users.ts
 * export const handler = createRotationHandler(mysqlAlternatingUsers());
 * ```
 */
export function mysqlAlternatingUsers(
  options: MysqlAlternatingUsersOptions = {},
): RotationTarget<MysqlSecret> {
  const name = 'mysql-alternating-users';
  const settings = new StrategySettings(readMysqlSettings, {
    preProvisionedPair: options.preProvisionedPair,
  });
  const common = commonTargetParts(name);
  return {
    ...common,
    verify: (pending, ctx) => verifyPending(pending, settings.get(ctx), ctx),
    parse(raw) {
      const secret = common.parse(raw);
      if (secret.masterarn === undefined) {
        throw new SecretShapeError(
          'masterarn',
          'is missing, and alternating users need the master credentials to change the other user',
          'set "masterarn" to the ARN of the secret holding the master user name and password',
        );
      }
      return secret;
    },
    init: (env) => settings.init(env),
    preflight: (current, ctx) => mysqlPreflight(current, ctx, 'alternating-users'),
    async next(current, ctx) {
      const username = otherUser(current.username);
      checkAccountName(username, 'username');
      checkPairLength(current.username, userNameLimitForEngine(current.engine), `engine "${current.engine}"`);
      const password = await ctx.newPassword();
      return withCredentials(current, { username, password });
    },
    readsInApply: masterReadInApply,
    apply: (pending, known, ctx) => applyAlternating(pending, known, ctx, settings.get(ctx)),
    revoke: (value, ctx) => revokeAlternating(value, ctx, settings.get(ctx)),
  };
}

async function applyAlternating(
  pending: MysqlSecret,
  known: KnownVersions<MysqlSecret>,
  ctx: StepContext,
  config: MysqlSettings,
): Promise<void> {
  const current = await known.current();
  if (!sameServer(pending, current)) {
    throw new SecretShapeError(
      'host',
      `of the pending version (${pending.host}:${pending.port}) differs from the current one (${current.host}:${current.port})`,
      'both versions must point at the same server; clear AWSPENDING and rotate again',
    );
  }
  if (pending.username !== otherUser(current.username)) {
    throw new SecretShapeError(
      'username',
      `of the pending version is "${pending.username}", but the current version's user is "${current.username}", whose partner is "${otherUser(current.username)}"`,
      'clear AWSPENDING and rotate again',
    );
  }
  const masterarn = pending.masterarn ?? current.masterarn;
  if (masterarn === undefined) throw missingMasterArn();
  const secrets = [pending.password, current.password];
  // Guard and master first: no refused login in the common path; pending only after a refusal.
  try {
    await setWithMaster(pending, current, masterarn, secrets, ctx, config);
  } catch (error) {
    if (error instanceof TargetRefusedError && (await pendingAlreadyWorks(pending, config, ctx, secrets)))
      return;
    throw error;
  }
}

async function setWithMaster(
  pending: MysqlSecret,
  current: MysqlSecret,
  masterarn: string,
  secrets: string[],
  ctx: StepContext,
  config: MysqlSettings,
): Promise<void> {
  // The master acts only once the current credentials proved themselves.
  const guard = await tryLogin(current, 'current', config, ctx, secrets);
  if (!guard) {
    throw new TargetRefusedError(
      'authentication',
      `the current version's user "${current.username}" cannot log in to ${current.host}:${current.port}, so the master credentials are not used; fix the current version first`,
    );
  }
  const accountHost = guard.account.host;
  await guard.close();

  const pair = alternatingPair(current.username);
  const master = await readMasterSecret(ctx, masterarn, current, DEFAULT_MYSQL_PORT);
  secrets.push(master.password);
  refuseMasterAmong(master, masterarn, [pair.original, pair.clone]);

  const session = await openSession(endpointOf(current), masterLogin(master), config, ctx, secrets);
  try {
    const { flavour } = session;
    checkPairLength(current.username, flavour.maxUserNameLength, flavour.label);
    const original: Account = { user: pair.original, host: accountHost };
    if (!(await accountExists(session, original))) {
      throw new TargetRefusedError(
        'rejected',
        `the original user "${original.user}"@"${original.host}" does not exist on ${flavour.label}; create it or fix the secret's username`,
      );
    }
    let pendingAccount: Account = { user: pending.username, host: accountHost };
    if (config.preProvisionedPair) {
      pendingAccount = await preProvisionedAccount(session, pendingAccount);
    } else {
      const clone: Account = { user: pair.clone, host: accountHost };
      await ensureClone(session, original, clone, ctx, secrets);
      await syncRequirements(session, original, clone);
      await syncGrants(session, original, clone, ctx);
    }

    ctx.redact(nativePasswordHash(pending.password));
    await setAccountPassword(session, pendingAccount, pending.password);
    ctx.logger.info('set the password of the alternate user', {
      user: pendingAccount.user,
      accountHost: pendingAccount.host,
      server: flavour.label,
      preProvisionedPair: config.preProvisionedPair,
    });
  } finally {
    await session.close();
  }
}

async function revokeAlternating(value: MysqlSecret, ctx: StepContext, config: MysqlSettings): Promise<void> {
  const probe = await tryLogin(value, 'revoked', config, ctx);
  if (!probe) {
    ctx.logger.info('the revoked password no longer logs in; nothing to do', { user: value.username });
    return;
  }
  const account = probe.account;
  await probe.close();
  if (value.masterarn === undefined) throw missingMasterArn();
  const master = await readMasterSecret(ctx, value.masterarn, value, DEFAULT_MYSQL_PORT);
  const unusable = nodeCrypto().randomBytes(32).toString('base64url');
  ctx.redact(unusable, nativePasswordHash(unusable));
  const secrets = [value.password, master.password, unusable];
  const session = await openSession(endpointOf(value), masterLogin(master), config, ctx, secrets);
  try {
    await setAccountPassword(
      session,
      account,
      unusable,
      `replace the password of ${account.user} with an unusable random one`,
    );
  } finally {
    await session.close();
  }
  if (await logsIn(value, 'revoked', config, ctx)) {
    throw new TargetRefusedError('rejected', `the revoked password of "${value.username}" still logs in`);
  }
  ctx.logger.warn('revoked the password of a user', { user: account.user, accountHost: account.host });
}

async function setAccountPassword(
  session: MysqlSession,
  account: Account,
  password: string,
  label?: string,
): Promise<void> {
  const plugin = await accountPlugin(session, account);
  await session.run(
    adminPasswordStatement(session.flavour, account, { password, plugin, mode: session.mode, label }),
  );
}

async function ensureClone(
  session: MysqlSession,
  original: Account,
  clone: Account,
  ctx: StepContext,
  secrets: string[],
): Promise<void> {
  if (await accountExists(session, clone)) return;
  const plugin = await accountPlugin(session, original);
  // Unusable until the pending password is set last: a working pending login proves the set-up finished.
  const throwaway = nodeCrypto().randomBytes(32).toString('base64url');
  ctx.redact(throwaway, nativePasswordHash(throwaway));
  secrets.push(throwaway);
  await session.run(
    createUserStatement(session.flavour, clone, { password: throwaway, plugin, mode: session.mode }),
  );
  ctx.logger.info('created the clone user', { user: clone.user, accountHost: clone.host, plugin });
}

async function syncRequirements(session: MysqlSession, original: Account, clone: Account): Promise<void> {
  const wanted = await requirementsOf(session, original);
  const held = await requirementsOf(session, clone);
  if (JSON.stringify(wanted) === JSON.stringify(held)) return;
  await session.run(requirementsStatement(clone, wanted, session.mode));
}

async function syncGrants(
  session: MysqlSession,
  original: Account,
  clone: Account,
  ctx: StepContext,
): Promise<void> {
  const { flavour } = session;
  const originalGrants = await grantsOf(session, original);
  const cloneGrants = await grantsOf(session, clone);
  let defaultRoles: { original: string[]; clone: string[] } | undefined;
  if (flavour.kind === 'mysql8') {
    defaultRoles = {
      original: await mysqlDefaultRoles(session, original),
      clone: await mysqlDefaultRoles(session, clone),
    };
  }
  const statements = planGrantSync(flavour, originalGrants, cloneGrants, clone, defaultRoles);
  for (const statement of statements) await session.run(statement);
  ctx.logger.info('re-synced the clone grants', { user: clone.user, statements: statements.length });
}

async function grantsOf(session: MysqlSession, account: Account): Promise<GrantSet> {
  const rows = await session.run(showGrantsStatement(account));
  const lines = rows.map((row) => rowText(Object.values(row)[0]));
  try {
    return parseGrants(lines, account, session.mode);
  } catch (error) {
    throw new TargetRefusedError(
      'rejected',
      `could not read the grants of "${account.user}": ${(error as GrantParseError).message}; nothing was changed for them`,
    );
  }
}

async function mysqlDefaultRoles(session: MysqlSession, account: Account): Promise<string[]> {
  const rows = await lookupAccount(session, 'read the default roles of', LOOKUPS.mysqlDefaultRoles, account);
  return rows.map((row) => quoteAccount({ user: rowText(row.user), host: rowText(row.host) }));
}

async function requirementsOf(session: MysqlSession, account: Account): Promise<AccountRequirements> {
  const mariadb = session.flavour.kind === 'mariadb';
  const sql = mariadb ? LOOKUPS.mariaDbRequirements : LOOKUPS.requirements;
  const rows = await lookupAccount(session, 'read the TLS requirements of', sql, account);
  const row = rows[0];
  if (!row) {
    throw new TargetRefusedError('rejected', `the user "${account.user}"@"${account.host}" does not exist`);
  }
  const columns = Object.entries(mariadb ? MARIADB_LIMIT_COLUMNS : LIMIT_COLUMNS);
  const limits = Object.fromEntries(
    columns.map(([column, keyword]) => [keyword, Number(rowText(row[column]) || '0')]),
  );
  return {
    sslType: rowText(row.ssl_type),
    sslCipher: rowText(row.ssl_cipher),
    x509Issuer: rowText(row.x509_issuer),
    x509Subject: rowText(row.x509_subject),
    limits,
  };
}

async function accountExists(session: MysqlSession, account: Account): Promise<boolean> {
  const rows = await session.lookup(`check that ${account.user} exists`, LOOKUPS.accountExists, [
    account.user,
    account.host,
  ]);
  return Number(rows[0]?.n ?? 0) > 0;
}

function lookupAccount(session: MysqlSession, doing: string, sql: string, account: Account) {
  return session.lookup(`${doing} ${account.user}`, sql, [account.user, account.host]);
}

async function accountPlugin(session: MysqlSession, account: Account): Promise<string> {
  if (session.flavour.kind === 'mariadb') {
    return mariaDbAuthPlugin(firstText(await session.run(showCreateUserStatement(account))));
  }
  const rows = await lookupAccount(session, 'read the plugin of', LOOKUPS.accountPlugin, account);
  return rowText(rows[0]?.plugin);
}

async function preProvisionedAccount(session: MysqlSession, wanted: Account): Promise<Account> {
  if (await accountExists(session, wanted)) return wanted;
  const rows = await session.lookup(`find the hosts of ${wanted.user}`, LOOKUPS.accountHosts, [wanted.user]);
  if (rows.length === 1) return { user: wanted.user, host: rowText(rows[0]!.host) };
  throw new TargetRefusedError(
    'rejected',
    rows.length === 0
      ? `${MYSQL_ENV.preProvisionedPair} is on, but the user "${wanted.user}" does not exist; create it with the same grants as "${otherUser(wanted.user)}" or turn the setting off`
      : `${MYSQL_ENV.preProvisionedPair} is on, and the user "${wanted.user}" exists on several hosts but not "${wanted.host}"; keep one account per pair on the same host`,
  );
}

function missingMasterArn(): SecretShapeError {
  return new SecretShapeError('masterarn', 'is missing', 'set "masterarn" to the ARN of the master secret');
}
