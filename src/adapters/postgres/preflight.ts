// `check` for PostgreSQL secrets: reachability, TLS, the current login and the privilege the
// rotation needs. Read-only: it logs in and reads catalogs.
import { passwordPolicyFromEnv } from '../../core/password.ts';
import type { PreflightFinding, StepContext } from '../../core/target.ts';
import { databasePreflight, type Strategy } from '../database/preflight.ts';
import { endpointOf, POSTGRES_EXCLUDE_CHARACTERS } from './common.ts';
import { connectPostgres, type PostgresSession } from './connect.ts';
import { redshiftPolicyProblems } from './redshift.ts';
import { alternatingPair } from './roles.ts';
import { DEFAULT_POSTGRES_PORT, type PostgresSecret } from './secret.ts';
import { POSTGRES_ENV, type PostgresSettings, readPostgresSettings } from './settings.ts';

interface RoleFacts extends Record<string, unknown> {
  name: string;
  valid_until: Date | null;
  superuser: boolean;
  create_role: boolean;
  server_version: number;
}

const ROLE_FACTS = `SELECT r.rolname::text AS name, r.rolvaliduntil AS valid_until,
  r.rolsuper AS superuser, r.rolcreaterole AS create_role,
  current_setting('server_version_num')::int AS server_version
  FROM pg_catalog.pg_roles r WHERE r.rolname = session_user`;
const ROLE_EXISTS = 'SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1';
const HAS_ADMIN = "SELECT pg_catalog.pg_has_role(session_user, $1, 'MEMBER WITH ADMIN OPTION') AS admin";
const WEEK_MS = 7 * 86_400_000;

export function postgresPreflight(
  secret: PostgresSecret,
  ctx: StepContext,
  strategy: Strategy,
): Promise<PreflightFinding[]> {
  const settings = readPostgresSettings(ctx.env);
  const pair = alternatingPair(secret.username);
  const preProvisioned = settings.preProvisionedPair;
  return databasePreflight(secret, ctx, {
    env: POSTGRES_ENV,
    tlsMode: settings.tlsMode,
    defaultPort: DEFAULT_POSTGRES_PORT,
    accessFix: 'grant the user CONNECT on the database named by "dbname", or fix "dbname"',
    before: secret.engine === 'redshift' ? redshiftFindings(ctx, strategy, settings) : [],
    connect: (login, who) => connectPostgres(endpointOf(secret), { ...login, label: who }, settings, ctx),
    reachable: () => `${secret.host}:${secret.port}, database "${secret.dbname}"`,
    current: async (session) => [
      ...(await currentUserFindings(session, secret)),
      ...(strategy === 'alternating-users' ? [] : singleUserFindings(secret, settings)),
    ],
    master:
      strategy === 'alternating-users'
        ? {
            missing: {
              status: preProvisioned ? 'warn' : 'fail',
              fix: preProvisioned
                ? 'with a pre-provisioned pair the users change their own passwords once both have one; add "masterarn" for the first rotation of each'
                : 'set "masterarn" to the ARN of a secret holding credentials that may create roles and set passwords',
            },
            rotated: [pair.original, pair.clone],
            privileges: {
              read: (session) => masterSessionFindings(session, pair, settings),
              fix: 'let the master user read pg_roles',
            },
          }
        : undefined,
  });
}

async function currentUserFindings(
  session: PostgresSession,
  secret: PostgresSecret,
): Promise<PreflightFinding[]> {
  const [role] = await session.query<RoleFacts>(ROLE_FACTS, [], 'reading the role');
  const login: PreflightFinding = {
    check: 'current login',
    status: 'ok',
    detail: `user "${secret.username}" logs in with the AWSCURRENT password`,
  };
  const validUntil = role?.valid_until;
  if (!validUntil || validUntil.getTime() >= Date.now() + WEEK_MS) return [login];
  return [
    login,
    {
      check: 'password expiry',
      status: validUntil.getTime() < Date.now() ? 'fail' : 'warn',
      detail: `role "${secret.username}" has VALID UNTIL ${validUntil.toISOString()}; a rotation does not extend it`,
      fix: `ALTER ROLE ... VALID UNTIL 'infinity' (as an administrator), or a later date`,
    },
  ];
}

function singleUserFindings(secret: PostgresSecret, settings: PostgresSettings): PreflightFinding[] {
  const privilege: PreflightFinding = {
    check: 'privilege',
    status: 'ok',
    detail: `user "${secret.username}" may change its own password (every PostgreSQL role can); no master needed`,
  };
  if (!settings.testQuery) return [privilege];
  const detail = 'not run by check (it may write); testSecret runs it with the new password';
  return [privilege, { check: 'PG_TEST_QUERY', status: 'skip', detail }];
}

async function masterSessionFindings(
  session: PostgresSession,
  pair: { original: string; clone: string },
  settings: PostgresSettings,
): Promise<PreflightFinding[]> {
  const [role] = await session.query<RoleFacts>(ROLE_FACTS, [], 'reading the master role');
  const exists = async (name: string) =>
    (await session.query(ROLE_EXISTS, [name], `looking up role "${name}"`)).length > 0;
  const cloneExists = await exists(pair.clone);
  const originalExists = await exists(pair.original);
  return [
    pairFinding(pair, originalExists, cloneExists, settings.preProvisionedPair),
    await masterPrivilege(session, role, pair.original, cloneExists || settings.preProvisionedPair),
  ];
}

function pairFinding(
  pair: { original: string; clone: string },
  originalExists: boolean,
  cloneExists: boolean,
  preProvisioned: boolean,
): PreflightFinding {
  if (!preProvisioned) {
    return {
      check: 'user pair',
      status: 'ok',
      detail: cloneExists
        ? `"${pair.original}" and "${pair.clone}" exist`
        : `"${pair.clone}" does not exist yet; the first rotation creates it as a stand-in for "${pair.original}"`,
    };
  }
  const missing = [...(originalExists ? [] : [pair.original]), ...(cloneExists ? [] : [pair.clone])];
  return missing.length === 0
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
      };
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
  const needsAdmin = role.server_version >= 160000;
  if (needsAdmin) {
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
    detail: `"${name}" has CREATEROLE${needsAdmin ? ` and ADMIN OPTION on "${original}"` : ''}`,
  };
}

/** Redshift needs a password policy within its rules, and has no clone mode. */
function redshiftFindings(
  ctx: StepContext,
  strategy: Strategy,
  settings: PostgresSettings,
): PreflightFinding[] {
  const problems = redshiftPolicyProblems(passwordPolicyFromEnv(ctx.env, POSTGRES_EXCLUDE_CHARACTERS));
  const findings: PreflightFinding[] = [
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
  ];
  if (strategy === 'alternating-users' && !settings.preProvisionedPair) {
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
