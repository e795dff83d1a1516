// `check` for MySQL, Aurora MySQL and MariaDB secrets: reachability, TLS, the current login and the
// privileges the rotation needs. Read-only: it logs in and reads information_schema.
import type { PreflightFinding, StepContext } from '../../core/target.ts';
import { effectiveTlsMode } from '../../database/tls.ts';
import {
  connectFailure,
  connectionFix,
  type EngineFixes,
  failure,
  masterFinding,
  type Strategy,
  tlsFinding,
} from '../database/preflight.ts';
import { endpointOf } from './common.ts';
import { type MysqlSession, openSession } from './connect.ts';
import { alternatingPair, DEFAULT_MYSQL_PORT, type MysqlSecret } from './secret.ts';
import { type MysqlSettings, readMysqlSettings } from './settings.ts';

// USER_PRIVILEGES lists the logged-in account's own global privileges to any user.
const OWN_GLOBAL_PRIVILEGES =
  "SELECT PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', ?, '''@''', ?, '''')";
const ACCOUNT_EXISTS = 'SELECT COUNT(*) AS n FROM mysql.user WHERE User = ?';

const MYSQL_FIXES: EngineFixes = {
  caVariable: 'MYSQL_CA_BUNDLE',
  serverNameVariable: 'MYSQL_TLS_SERVERNAME',
  tlsModeVariable: 'MYSQL_TLS_MODE',
  accessFix: 'grant the account access to the database named by "dbname", or fix "dbname"',
};

async function ownPrivileges(session: MysqlSession): Promise<Map<string, boolean>> {
  const rows = await session.lookup("read the account's global privileges", OWN_GLOBAL_PRIVILEGES, [
    session.account.user,
    session.account.host,
  ]);
  return new Map(
    rows.map((row) => [String(row.privilege).toUpperCase(), String(row.grantable).toUpperCase() === 'YES']),
  );
}

export async function mysqlPreflight(
  secret: MysqlSecret,
  ctx: StepContext,
  strategy: Strategy,
): Promise<PreflightFinding[]> {
  const settings = readMysqlSettings(ctx.env);
  let session: MysqlSession;
  try {
    session = await openSession(
      endpointOf(secret),
      { username: secret.username, password: secret.password, source: 'the current version' },
      settings,
      ctx,
    );
  } catch (error) {
    return connectFailure(error, `${secret.host}:${secret.port}`, MYSQL_FIXES);
  }
  const findings: PreflightFinding[] = [];
  try {
    findings.push(
      {
        check: 'database reachable',
        status: 'ok',
        detail: `${secret.host}:${secret.port}, ${session.flavour.label}`,
      },
      tlsFinding(session.tls, effectiveTlsMode(settings.tlsMode, secret.ssl), 'MYSQL_TLS_MODE'),
      {
        check: 'current login',
        status: 'ok',
        detail: `user "${secret.username}" logs in with the AWSCURRENT password (account "${session.account.user}"@"${session.account.host}")`,
      },
    );
    if (strategy !== 'alternating-users') {
      findings.push(await singleUserPrivilege(session, settings, secret.username));
      return findings;
    }
  } finally {
    await session.close();
  }
  findings.push(...(await alternatingFindings(secret, ctx, settings)));
  return findings;
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

async function alternatingFindings(
  secret: MysqlSecret,
  ctx: StepContext,
  settings: MysqlSettings,
): Promise<PreflightFinding[]> {
  if (!secret.masterarn) {
    return [
      {
        check: 'master secret',
        status: 'fail',
        detail: 'the secret has no "masterarn"',
        fix: 'set "masterarn" to the ARN of a secret holding the master user name and password',
      },
    ];
  }
  const findings: PreflightFinding[] = [];
  const master = await masterFinding(ctx, secret.masterarn, findings, secret, DEFAULT_MYSQL_PORT);
  if (!master) return findings;
  let session: MysqlSession;
  try {
    session = await openSession(
      endpointOf(secret),
      { username: master.username, password: master.password, source: 'the master secret' },
      settings,
      ctx,
      [master.password],
    );
  } catch (error) {
    findings.push(failure('master login', error, connectionFix(error, 'master', MYSQL_FIXES)));
    return findings;
  }
  try {
    findings.push({
      check: 'master login',
      status: 'ok',
      detail: `user "${master.username}" logs in (TLS: ${session.tls})`,
    });
    findings.push(...(await masterSessionFindings(session, master.username, secret.username, settings)));
  } catch (error) {
    findings.push(
      failure('master privilege', error, 'let the master read information_schema and the mysql schema'),
    );
  } finally {
    await session.close();
  }
  return findings;
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
