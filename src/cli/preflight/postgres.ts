/**
 * `check`'s preflight for PostgreSQL secrets: reachability, the TLS mode the connection ends up
 * with, the current login, and the privilege the rotation needs (a user changing its own password;
 * or master credentials that can set the other user's password and create the clone). Read-only:
 * it logs in and reads catalogs, nothing else.
 */

import { effectiveTlsMode } from '../../adapters/database/tls.ts';
import { POSTGRES_EXCLUDE_CHARACTERS } from '../../adapters/postgres/common.ts';
import { connectPostgres, type PostgresSession } from '../../adapters/postgres/connect.ts';
import { redshiftPolicyProblems } from '../../adapters/postgres/redshift.ts';
import { alternatingPair } from '../../adapters/postgres/roles.ts';
import { DEFAULT_POSTGRES_PORT, type PostgresSecret } from '../../adapters/postgres/secret.ts';
import { readPostgresSettings } from '../../adapters/postgres/settings.ts';
import { TargetUnreachableError } from '../../core/errors.ts';
import { passwordPolicyFromEnv } from '../../core/password.ts';
import {
  connectionFix,
  type EngineFixes,
  failure,
  masterFinding,
  type Preflight,
  type PreflightFinding,
  tlsFinding,
} from './types.ts';

interface RoleFacts extends Record<string, unknown> {
  name: string;
  can_login: boolean;
  valid_until: Date | null;
  superuser: boolean;
  create_role: boolean;
  server_version: number;
}

const ROLE_FACTS = `SELECT r.rolname::text AS name, r.rolcanlogin AS can_login, r.rolvaliduntil AS valid_until,
  r.rolsuper AS superuser, r.rolcreaterole AS create_role,
  current_setting('server_version_num')::int AS server_version
  FROM pg_catalog.pg_roles r WHERE r.rolname = session_user`;
const ROLE_EXISTS = 'SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1';
const HAS_ADMIN = "SELECT pg_catalog.pg_has_role(session_user, $1, 'MEMBER WITH ADMIN OPTION') AS admin";

const POSTGRES_FIXES: EngineFixes = {
  caVariable: 'PG_CA_BUNDLE',
  serverNameVariable: 'PG_TLS_SERVERNAME',
  tlsModeVariable: 'PG_TLS_MODE',
  accessFix: 'grant the user CONNECT on the database named by "dbname", or fix "dbname"',
};

/**
 * The PostgreSQL preflight.
 *
 * @example
 * ```ts
 * const findings = await postgresPreflight(parsedSecret, { env, ctx, strategy: 'alternating-users' });
 * ```
 */
export const postgresPreflight: Preflight = async (value, input) => {
  const secret = value as PostgresSecret;
  const { ctx } = input;
  const findings: PreflightFinding[] = [];
  const settings = readPostgresSettings(input.env);
  const endpoint = { host: secret.host, port: secret.port, dbname: secret.dbname, ssl: secret.ssl };
  const where = `${secret.host}:${secret.port}`;
  if (secret.engine === 'redshift') findings.push(...redshiftFindings(input, settings));

  let session: PostgresSession;
  try {
    session = await connectPostgres(
      endpoint,
      { username: secret.username, password: secret.password, label: 'current' },
      settings,
      ctx,
    );
  } catch (error) {
    if (error instanceof TargetUnreachableError && error.failure !== 'tls') {
      findings.push(failure('database reachable', error, connectionFix(error, 'AWSCURRENT', POSTGRES_FIXES)));
    } else if (error instanceof TargetUnreachableError) {
      findings.push({ check: 'database reachable', status: 'ok', detail: `${where} answers` });
      findings.push(failure('TLS', error, connectionFix(error, 'AWSCURRENT', POSTGRES_FIXES)));
    } else {
      findings.push({ check: 'database reachable', status: 'ok', detail: `${where} answers` });
      findings.push(failure('current login', error, connectionFix(error, 'AWSCURRENT', POSTGRES_FIXES)));
    }
    return findings;
  }
  try {
    findings.push({
      check: 'database reachable',
      status: 'ok',
      detail: `${where}, database "${secret.dbname}"`,
    });
    findings.push(tlsFinding(session.tls, effectiveTlsMode(settings.tlsMode, secret.ssl), 'PG_TLS_MODE'));
    const [role] = await session.query<RoleFacts>(ROLE_FACTS, [], 'reading the role');
    findings.push({
      check: 'current login',
      status: 'ok',
      detail: `user "${secret.username}" logs in with the AWSCURRENT password`,
    });
    if (role?.valid_until && role.valid_until.getTime() < Date.now() + 7 * 86_400_000) {
      findings.push({
        check: 'password expiry',
        status: role.valid_until.getTime() < Date.now() ? 'fail' : 'warn',
        detail: `role "${secret.username}" has VALID UNTIL ${role.valid_until.toISOString()}; a rotation does not extend it`,
        fix: `ALTER ROLE ... VALID UNTIL 'infinity' (as an administrator), or a later date`,
      });
    }
    if (input.strategy !== 'alternating-users') {
      findings.push({
        check: 'privilege',
        status: 'ok',
        detail: `user "${secret.username}" may change its own password (every PostgreSQL role can); no master needed`,
      });
      if (settings.testQuery) {
        findings.push({
          check: 'PG_TEST_QUERY',
          status: 'skip',
          detail: 'not run by check (it may write); testSecret runs it with the new password',
        });
      }
      return findings;
    }
  } finally {
    await session.close();
  }
  findings.push(...(await alternatingFindings(secret, input, settings)));
  return findings;
};

async function alternatingFindings(
  secret: PostgresSecret,
  input: Parameters<Preflight>[1],
  settings: ReturnType<typeof readPostgresSettings>,
): Promise<PreflightFinding[]> {
  const findings: PreflightFinding[] = [];
  const pair = alternatingPair(secret.username);
  if (!secret.masterarn) {
    findings.push({
      check: 'master secret',
      status: settings.preProvisionedPair ? 'warn' : 'fail',
      detail: 'the secret has no "masterarn"',
      fix: settings.preProvisionedPair
        ? 'with a pre-provisioned pair the users change their own passwords once both have one; add "masterarn" for the first rotation of each'
        : 'set "masterarn" to the ARN of a secret holding credentials that may create roles and set passwords',
    });
    return findings;
  }
  const master = await masterFinding(input.ctx, secret.masterarn, findings, secret, DEFAULT_POSTGRES_PORT);
  if (!master) return findings;
  if (master.username === pair.original || master.username === pair.clone) {
    findings.push({
      check: 'master secret',
      status: 'fail',
      detail: `the master user "${master.username}" is one of the rotated users`,
      fix: 'point masterarn at a separate administrative user',
    });
    return findings;
  }
  let session: PostgresSession;
  try {
    session = await connectPostgres(
      { host: secret.host, port: secret.port, dbname: secret.dbname, ssl: secret.ssl },
      { username: master.username, password: master.password, label: 'master' },
      settings,
      input.ctx,
    );
  } catch (error) {
    findings.push(failure('master login', error, connectionFix(error, 'master', POSTGRES_FIXES)));
    return findings;
  }
  try {
    findings.push({
      check: 'master login',
      status: 'ok',
      detail: `user "${master.username}" logs in (TLS: ${session.tls})`,
    });
    const [role] = await session.query<RoleFacts>(ROLE_FACTS, [], 'reading the master role');
    const exists = async (name: string) =>
      (await session.query(ROLE_EXISTS, [name], `looking up role "${name}"`)).length > 0;
    const cloneExists = await exists(pair.clone);
    const originalExists = await exists(pair.original);
    if (settings.preProvisionedPair) {
      const missing = [...(originalExists ? [] : [pair.original]), ...(cloneExists ? [] : [pair.clone])];
      findings.push(
        missing.length === 0
          ? {
              check: 'user pair',
              status: 'ok',
              detail: `"${pair.original}" and "${pair.clone}" both exist (pre-provisioned pair)`,
            }
          : {
              check: 'user pair',
              status: 'fail',
              detail: `pre-provisioned pair: ${missing.map((name) => `"${name}"`).join(' and ')} missing`,
              fix: 'create both users, or unset PG_PREPROVISIONED_PAIR to let the rotator create the clone',
            },
      );
    } else {
      findings.push({
        check: 'user pair',
        status: 'ok',
        detail: cloneExists
          ? `"${pair.original}" and "${pair.clone}" exist`
          : `"${pair.clone}" does not exist yet; the first rotation creates it as a stand-in for "${pair.original}"`,
      });
    }
    findings.push(
      await masterPrivilege(session, role, pair.original, cloneExists || settings.preProvisionedPair),
    );
  } catch (error) {
    findings.push(failure('master privilege', error, 'let the master user read pg_roles'));
  } finally {
    await session.close();
  }
  return findings;
}

async function masterPrivilege(
  session: PostgresSession,
  role: RoleFacts | undefined,
  original: string,
  cloneExists: boolean,
): Promise<PreflightFinding> {
  const name = role?.name ?? 'master';
  if (role?.superuser) {
    return { check: 'master privilege', status: 'ok', detail: `"${name}" is a superuser` };
  }
  if (!role?.create_role) {
    return {
      check: 'master privilege',
      status: 'fail',
      detail: `"${name}" has neither SUPERUSER nor CREATEROLE: it cannot set passwords${cloneExists ? '' : ' or create the clone'}`,
      fix: `ALTER ROLE ${name} CREATEROLE (and, on PostgreSQL 16+, GRANT ${original} TO ${name} WITH ADMIN OPTION)`,
    };
  }
  if (role.server_version >= 160000) {
    const [admin] = await session.query<{ admin: boolean }>(
      HAS_ADMIN,
      [original],
      `checking ADMIN OPTION on "${original}"`,
    );
    if (!admin?.admin) {
      return {
        check: 'master privilege',
        status: 'fail',
        detail: `"${name}" has CREATEROLE but not ADMIN OPTION on "${original}", which PostgreSQL 16+ requires to change its password and grant it to the clone`,
        fix: `GRANT ${original} TO ${name} WITH ADMIN OPTION`,
      };
    }
  }
  return {
    check: 'master privilege',
    status: 'ok',
    detail: `"${name}" has CREATEROLE${role.server_version >= 160000 ? ` and ADMIN OPTION on "${original}"` : ''}`,
  };
}

/** What only a Redshift secret needs: a password policy within Redshift's rules, and no clone mode. */
function redshiftFindings(
  input: Parameters<Preflight>[1],
  settings: ReturnType<typeof readPostgresSettings>,
): PreflightFinding[] {
  const findings: PreflightFinding[] = [];
  const problems = redshiftPolicyProblems(passwordPolicyFromEnv(input.env, POSTGRES_EXCLUDE_CHARACTERS));
  findings.push(
    problems.length === 0
      ? {
          check: 'Redshift rules',
          status: 'ok',
          detail: `new passwords meet Redshift's rules; sent as ${settings.redshiftPasswordHash} hashes (PG_REDSHIFT_PASSWORD_HASH)`,
        }
      : {
          check: 'Redshift rules',
          status: 'fail',
          detail:
            'the password policy can make passwords Redshift refuses (the rotation would stop before changing anything)',
          fix: problems.join('; '),
        },
  );
  if (input.strategy === 'alternating-users' && !settings.preProvisionedPair) {
    findings.push({
      check: 'Redshift pair',
      status: 'fail',
      detail:
        'alternating users on Redshift works only with a pre-provisioned pair (Redshift has no role membership for a clone)',
      fix: 'create both users yourself and set PG_PREPROVISIONED_PAIR=true',
    });
  }
  return findings;
}
