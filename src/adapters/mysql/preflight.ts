// `check` for MySQL, Aurora MySQL and MariaDB secrets: reachability, TLS, the current login and the
// privileges the rotation needs. Read-only: it logs in and reads information_schema.
import type { PreflightFinding, StepContext } from '../../core/target.ts';
import { databasePreflight, type Strategy } from '../database/preflight.ts';
import { endpointOf } from './common.ts';
import { type MysqlSession, openSession } from './connect.ts';
import { alternatingPair, DEFAULT_MYSQL_PORT, type MysqlSecret } from './secret.ts';
import { MYSQL_ENV, type MysqlSettings, readMysqlSettings } from './settings.ts';

// USER_PRIVILEGES lists the logged-in account's own global privileges to any user.
const OWN_GLOBAL_PRIVILEGES =
  "SELECT PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', ?, '''@''', ?, '''')";
const ACCOUNT_EXISTS = 'SELECT COUNT(*) AS n FROM mysql.user WHERE User = ?';

async function ownPrivileges(session: MysqlSession): Promise<Map<string, boolean>> {
  const rows = await session.lookup("read the account's global privileges", OWN_GLOBAL_PRIVILEGES, [
    session.account.user,
    session.account.host,
  ]);
  return new Map(
    rows.map((row) => [String(row.privilege).toUpperCase(), String(row.grantable).toUpperCase() === 'YES']),
  );
}

export function mysqlPreflight(
  secret: MysqlSecret,
  ctx: StepContext,
  strategy: Strategy,
): Promise<PreflightFinding[]> {
  const settings = readMysqlSettings(ctx.env);
  return databasePreflight<MysqlSession>(secret, ctx, {
    env: MYSQL_ENV,
    tlsMode: settings.tlsMode,
    defaultPort: DEFAULT_MYSQL_PORT,
    accessFix: 'grant the account access to the database named by "dbname", or fix "dbname"',
    connect: (login, who) =>
      openSession(
        endpointOf(secret),
        { ...login, source: who === 'master' ? 'the master secret' : 'the current version' },
        settings,
        ctx,
      ),
    reachable: (session) => `${secret.host}:${secret.port}, ${session.flavour.label}`,
    current: async (session) => [
      {
        check: 'current login',
        status: 'ok',
        detail: `user "${secret.username}" logs in with the AWSCURRENT password (account "${session.account.user}"@"${session.account.host}")`,
      },
      ...(strategy === 'alternating-users'
        ? []
        : [await singleUserPrivilege(session, settings, secret.username)]),
    ],
    master:
      strategy === 'alternating-users'
        ? {
            missing: {
              status: 'fail',
              fix: 'set "masterarn" to the ARN of a secret holding the master user name and password',
            },
            privileges: {
              read: (session, master) =>
                masterSessionFindings(session, master.username, secret.username, settings),
              fix: 'let the master read information_schema and the mysql schema',
            },
          }
        : undefined,
  });
}

async function singleUserPrivilege(
  session: MysqlSession,
  settings: MysqlSettings,
  user: string,
): Promise<PreflightFinding> {
  if (settings.dualPassword) {
    const privileges = await ownPrivileges(session);
    if (!privileges.has('APPLICATION_PASSWORD_ADMIN') && !privileges.has('CREATE USER')) {
      return {
        check: 'privilege',
        status: 'fail',
        detail: `MYSQL_DUAL_PASSWORD is set, but "${user}" lacks APPLICATION_PASSWORD_ADMIN (needed to keep a secondary password)`,
        fix: `GRANT APPLICATION_PASSWORD_ADMIN ON *.* TO the account, or unset MYSQL_DUAL_PASSWORD`,
      };
    }
  }
  return {
    check: 'privilege',
    status: 'ok',
    detail: `user "${user}" may change its own password (${session.flavour.label}); no master needed`,
  };
}

async function masterSessionFindings(
  session: MysqlSession,
  masterUser: string,
  username: string,
  settings: MysqlSettings,
): Promise<PreflightFinding[]> {
  const pair = alternatingPair(username);
  const privileges = await ownPrivileges(session);
  const missing: string[] = [];
  if (!privileges.has('ALL PRIVILEGES') && !privileges.has('CREATE USER')) missing.push('CREATE USER');
  let cloneExists = false;
  try {
    const [row] = await session.lookup('look up the clone account', ACCOUNT_EXISTS, [pair.clone]);
    cloneExists = Number(row?.n ?? 0) > 0;
  } catch {
    missing.push('SELECT on the mysql schema');
  }
  const pairMissing = settings.preProvisionedPair && !cloneExists;
  const pairFinding: PreflightFinding = {
    check: 'user pair',
    status: pairMissing ? 'fail' : 'ok',
    detail: cloneExists
      ? `"${pair.original}" and "${pair.clone}" exist`
      : settings.preProvisionedPair
        ? `pre-provisioned pair: "${pair.clone}" does not exist`
        : `"${pair.clone}" does not exist yet; the first rotation creates it with "${pair.original}"'s host, plugin and grants`,
    ...(pairMissing
      ? { fix: 'create it, or unset MYSQL_PREPROVISIONED_PAIR to let the rotator create the clone' }
      : {}),
  };
  return [pairFinding, masterPrivilege(masterUser, missing, [...privileges.values()].some(Boolean))];
}

function masterPrivilege(masterUser: string, missing: string[], grantable: boolean): PreflightFinding {
  if (missing.length > 0) {
    const grants = missing.map((p) =>
      p.startsWith('SELECT') ? 'GRANT SELECT ON mysql.* TO …' : `GRANT ${p} ON *.* TO …`,
    );
    return {
      check: 'master privilege',
      status: 'fail',
      detail: `"${masterUser}" lacks ${missing.join(' and ')}`,
      fix: `grant it: ${grants.join('; ')} (and every privilege it copies to the clone, WITH GRANT OPTION)`,
    };
  }
  return {
    check: 'master privilege',
    status: grantable ? 'ok' : 'warn',
    detail: `"${masterUser}" has CREATE USER and reads the mysql schema${grantable ? ', with GRANT OPTION' : ''}`,
    ...(grantable
      ? {}
      : {
          fix: "the master copies the original's grants to the clone: give it those privileges WITH GRANT OPTION",
        }),
  };
}
