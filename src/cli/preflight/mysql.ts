/**
 * `check`'s preflight for MySQL, Aurora MySQL and MariaDB secrets: reachability, the TLS mode, the
 * current login, and the privileges the rotation needs. Read-only: it logs in and reads
 * `information_schema`, nothing else.
 */

import { effectiveTlsMode } from '../../adapters/database/tls.ts';
import { type MysqlSession, openSession } from '../../adapters/mysql/connect.ts';
import { alternatingPair, DEFAULT_MYSQL_PORT, type MysqlSecret } from '../../adapters/mysql/secret.ts';
import { type MysqlSettings, readMysqlSettings } from '../../adapters/mysql/settings.ts';
import { TargetUnreachableError } from '../../core/errors.ts';
import {
  connectionFix,
  type EngineFixes,
  failure,
  masterFinding,
  type Preflight,
  type PreflightFinding,
  tlsFinding,
} from './types.ts';

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

/**
 * The MySQL / MariaDB preflight.
 *
 * @example
 * ```ts
 * const findings = await mysqlPreflight(parsedSecret, { env, ctx, strategy: 'single-user' });
 * ```
 */
export const mysqlPreflight: Preflight = async (value, input) => {
  const secret = value as MysqlSecret;
  const findings: PreflightFinding[] = [];
  const settings = readMysqlSettings(input.env);
  const endpoint = { host: secret.host, port: secret.port, database: secret.dbname, ssl: secret.ssl };
  const where = `${secret.host}:${secret.port}`;
  let session: MysqlSession;
  try {
    session = await openSession(
      endpoint,
      { username: secret.username, password: secret.password, source: 'the current version' },
      settings,
      input.ctx,
    );
  } catch (error) {
    if (error instanceof TargetUnreachableError && error.failure !== 'tls') {
      findings.push(failure('database reachable', error, connectionFix(error, 'AWSCURRENT', MYSQL_FIXES)));
    } else {
      findings.push({ check: 'database reachable', status: 'ok', detail: `${where} answers` });
      findings.push(
        failure(
          error instanceof TargetUnreachableError ? 'TLS' : 'current login',
          error,
          connectionFix(error, 'AWSCURRENT', MYSQL_FIXES),
        ),
      );
    }
    return findings;
  }
  try {
    findings.push({
      check: 'database reachable',
      status: 'ok',
      detail: `${where}, ${session.flavour.label}`,
    });
    findings.push(tlsFinding(session.tls, effectiveTlsMode(settings.tlsMode, secret.ssl), 'MYSQL_TLS_MODE'));
    findings.push({
      check: 'current login',
      status: 'ok',
      detail: `user "${secret.username}" logs in with the AWSCURRENT password (account "${session.account.user}"@"${session.account.host}")`,
    });
    if (input.strategy !== 'alternating-users') {
      findings.push(await singleUserPrivilege(session, settings, secret.username));
      return findings;
    }
  } finally {
    await session.close();
  }
  findings.push(...(await alternatingFindings(secret, input, settings)));
  return findings;
};

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
  input: Parameters<Preflight>[1],
  settings: MysqlSettings,
): Promise<PreflightFinding[]> {
  const findings: PreflightFinding[] = [];
  const pair = alternatingPair(secret.username);
  if (!secret.masterarn) {
    findings.push({
      check: 'master secret',
      status: 'fail',
      detail: 'the secret has no "masterarn"',
      fix: 'set "masterarn" to the ARN of a secret holding the master user name and password',
    });
    return findings;
  }
  const master = await masterFinding(input.ctx, secret.masterarn, findings, secret, DEFAULT_MYSQL_PORT);
  if (!master) return findings;
  let session: MysqlSession;
  try {
    session = await openSession(
      { host: secret.host, port: secret.port, database: secret.dbname, ssl: secret.ssl },
      { username: master.username, password: master.password, source: 'the master secret' },
      settings,
      input.ctx,
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
    const privileges = await ownPrivileges(session);
    const all = privileges.has('ALL PRIVILEGES');
    const missing: string[] = [];
    if (!all && !privileges.has('CREATE USER')) missing.push('CREATE USER');
    let cloneExists = false;
    try {
      const [row] = await session.lookup('look up the clone account', ACCOUNT_EXISTS, [pair.clone]);
      cloneExists = Number(row?.n ?? 0) > 0;
    } catch {
      missing.push('SELECT on the mysql schema');
    }
    const grantable = [...privileges.values()].some(Boolean);
    findings.push({
      check: 'user pair',
      status: settings.preProvisionedPair && !cloneExists ? 'fail' : 'ok',
      detail: cloneExists
        ? `"${pair.original}" and "${pair.clone}" exist`
        : settings.preProvisionedPair
          ? `pre-provisioned pair: "${pair.clone}" does not exist`
          : `"${pair.clone}" does not exist yet; the first rotation creates it with "${pair.original}"'s host, plugin and grants`,
      ...(settings.preProvisionedPair && !cloneExists
        ? { fix: 'create it, or unset MYSQL_PREPROVISIONED_PAIR to let the rotator create the clone' }
        : {}),
    });
    if (missing.length > 0) {
      findings.push({
        check: 'master privilege',
        status: 'fail',
        detail: `"${master.username}" lacks ${missing.join(' and ')}`,
        fix: `grant it: ${missing.map((p) => (p.startsWith('SELECT') ? 'GRANT SELECT ON mysql.* TO …' : `GRANT ${p} ON *.* TO …`)).join('; ')} (and every privilege it copies to the clone, WITH GRANT OPTION)`,
      });
    } else {
      findings.push({
        check: 'master privilege',
        status: grantable ? 'ok' : 'warn',
        detail: `"${master.username}" has CREATE USER and reads the mysql schema${grantable ? ', with GRANT OPTION' : ''}`,
        ...(grantable
          ? {}
          : {
              fix: "the master copies the original's grants to the clone: give it those privileges WITH GRANT OPTION",
            }),
      });
    }
  } catch (error) {
    findings.push(
      failure('master privilege', error, 'let the master read information_schema and the mysql schema'),
    );
  } finally {
    await session.close();
  }
  return findings;
}
