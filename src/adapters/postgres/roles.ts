/**
 * What the master does to the pair (docs/protocol.md#shared-ownership-and-exact-grants): passwords, and the
 * clone kept a stand-in for the original.
 */
import { TargetRefusedError } from '../../core/errors.ts';
import type { RotationLogger, RotationMetrics } from '../../core/target.ts';
import type { PostgresSession } from './connect.ts';
import { type RedshiftPasswordHash, redshiftPasswordHash } from './redshift.ts';
import { scramSha256Verifier } from './scram.ts';
import {
  ACT_AS_SESSION_USER,
  createCloneStatement,
  FIND_ROLE,
  FIND_USER,
  grantMembershipStatement,
  inheritStatement,
  membershipQuery,
  ROLE_POWERS,
  ROLE_SETTINGS,
  redshiftSetPasswordStatement,
  resetRoleSettingsStatement,
  roleSettingStatement,
  roleSwitchSetting,
  SERVER_VERSION,
  setPasswordStatement,
  splitSettingEntry,
  WHO_AM_I,
} from './sql.ts';

export { alternatingPair, CLONE_SUFFIX } from '../../database/secret.ts';

interface RoleContext {
  readonly logger: RotationLogger;
  readonly metrics: RotationMetrics;
  redact(...values: string[]): void;
}

/** Never the password itself. */
export type PasswordForm =
  | { readonly kind: 'scram'; readonly iterations: number }
  | { readonly kind: 'redshift'; readonly hash: RedshiftPasswordHash };

interface RoleRow extends Record<string, unknown> {
  oid: number;
  can_login: boolean;
  inherit: boolean;
}

async function findRole(session: PostgresSession, name: string): Promise<RoleRow | undefined> {
  return (await session.query<RoleRow>(FIND_ROLE, [name], `looking up role "${name}"`))[0];
}

export async function userExists(session: PostgresSession, name: string): Promise<boolean> {
  return (await session.query(FIND_USER, [name], `looking up user "${name}"`)).length > 0;
}

/** The password never travels in SQL. */
export async function setPassword(
  session: PostgresSession,
  role: string,
  password: string,
  form: PasswordForm,
  ctx: RoleContext,
): Promise<void> {
  const redshift = form.kind === 'redshift';
  const stored = redshift
    ? redshiftPasswordHash(form.hash, password, role)
    : scramSha256Verifier(password, { iterations: form.iterations });
  ctx.redact(stored);
  await session.query(
    redshift ? redshiftSetPasswordStatement(role, stored) : setPasswordStatement(role, stored),
    [],
    `changing the password of ${redshift ? 'user' : 'role'} "${role}"`,
    [stored, password],
  );
  ctx.logger.info(
    'password changed',
    redshift
      ? { role, method: `Redshift ${form.hash} hash` }
      : { role, method: 'SCRAM-SHA-256 verifier', iterations: form.iterations },
  );
}

/** Drops the session's starting `role` so the statement acts as the user itself. */
export async function changeOwnPassword(
  session: PostgresSession,
  username: string,
  password: string,
  form: PasswordForm,
  ctx: RoleContext,
): Promise<void> {
  await requireSessionUser(session, username, '; check for a connection pooler or proxy that maps users');
  // Redshift has no per-user `role` setting to undo (nor SET ROLE NONE); its ALTER USER acts as the session user.
  if (form.kind === 'scram') await session.query(ACT_AS_SESSION_USER, [], 'acting as the session user');
  await setPassword(session, username, password, form, ctx);
}

/** Refused when the server reports another session user than the login's (`hint`: where to look). */
export async function requireSessionUser(
  session: PostgresSession,
  username: string,
  hint = '',
): Promise<{ session_user: string; current_user: string }> {
  const [who] = await session.query<{ session_user: string; current_user: string }>(
    WHO_AM_I,
    [],
    'checking the session user',
  );
  if (who?.session_user !== username) {
    throw new TargetRefusedError(
      'rejected',
      `logged in as user "${username}" but the server reports session user "${who?.session_user}"${hint}`,
    );
  }
  return who;
}

async function serverVersion(session: PostgresSession): Promise<number> {
  const [row] = await session.query<{ version: number }>(SERVER_VERSION, [], 'reading the server version');
  return row?.version ?? 0;
}

/**
 * Idempotent, inside the caller's transaction: the clone is a member of the original and its sessions start
 * with role=<original>, so what either creates is owned by the original.
 */
export async function ensureClone(
  session: PostgresSession,
  original: string,
  clone: string,
  ctx: RoleContext,
): Promise<{ created: boolean }> {
  const version = await serverVersion(session);
  const originalRole = await findRole(session, original);
  if (!originalRole) {
    throw new TargetRefusedError(
      'rejected',
      `role "${original}" (the original of alternating users) does not exist on ${session.where}; check "username" in the secret`,
    );
  }
  let cloneRole = await findRole(session, clone);
  let created = false;
  if (!cloneRole) {
    await session.query(createCloneStatement(clone, original), [], `creating role "${clone}"`);
    ctx.logger.info('created the clone role', { role: clone, original });
    ctx.metrics.count('CloneRoleCreated');
    cloneRole = await findRole(session, clone);
    created = true;
    if (!cloneRole)
      throw new TargetRefusedError('rejected', `role "${clone}" was created but cannot be found`);
  } else if (!cloneRole.can_login) {
    throw new TargetRefusedError(
      'rejected',
      `role "${clone}" exists but cannot log in (NOLOGIN); it is not a clone this rotator made. Rename or drop it, or give it LOGIN`,
    );
  } else {
    await refuseMorePowerfulClone(session, originalRole.oid, original, cloneRole.oid, clone);
  }

  const [membership] = await session.query<{ grants: number; inherit: boolean; can_set: boolean }>(
    membershipQuery(version),
    [originalRole.oid, cloneRole.oid],
    `checking that "${clone}" is a member of "${original}"`,
  );
  if (!membership || membership.grants === 0 || !membership.can_set || !membership.inherit) {
    await session.query(
      grantMembershipStatement(original, clone, version),
      [],
      `granting role "${original}" to "${clone}"`,
    );
    ctx.logger.info('granted the original role to the clone', { role: clone, original });
  }
  if (version < 160000 && !cloneRole.inherit) {
    await session.query(inheritStatement(clone), [], `giving role "${clone}" the INHERIT attribute`);
  }

  await syncSettings(session, originalRole.oid, clone, cloneRole.oid, original, ctx);
  return { created };
}

interface PowersRow extends Record<string, unknown> {
  superuser: boolean;
  createrole: boolean;
  createdb: boolean;
  replication: boolean;
  bypassrls: boolean;
  member_of: string[] | null;
}

const POWER_ATTRIBUTES = [
  ['superuser', 'SUPERUSER'],
  ['createrole', 'CREATEROLE'],
  ['createdb', 'CREATEDB'],
  ['replication', 'REPLICATION'],
  ['bypassrls', 'BYPASSRLS'],
] as const;

/**
 * Every reader of the secret gets the clone's password, so a clone that can do more than the original is
 * refused, unchanged.
 */
async function refuseMorePowerfulClone(
  session: PostgresSession,
  originalOid: number,
  original: string,
  cloneOid: number,
  clone: string,
): Promise<void> {
  const powersOf = async (oid: number, role: string) =>
    (await session.query<PowersRow>(ROLE_POWERS, [oid], `reading the attributes of role "${role}"`))[0];
  const originalPowers = await powersOf(originalOid, original);
  const clonePowers = await powersOf(cloneOid, clone);
  if (!originalPowers || !clonePowers) return;
  const attributes = POWER_ATTRIBUTES.filter(
    ([column]) => clonePowers[column] && !originalPowers[column],
  ).map(([, keyword]) => keyword);
  const originalMemberships = new Set(originalPowers.member_of ?? []);
  const memberships = (clonePowers.member_of ?? []).filter(
    (role) => role !== original && !originalMemberships.has(role),
  );
  if (attributes.length === 0 && memberships.length === 0) return;
  const extras = [...attributes, ...memberships.map((role) => `membership in "${role}"`)];
  const fixes = [
    ...(attributes.length > 0
      ? [`ALTER ROLE "${clone}" ${attributes.map((keyword) => `NO${keyword}`).join(' ')}`]
      : []),
    ...memberships.map((role) => `REVOKE "${role}" FROM "${clone}"`),
  ];
  throw new TargetRefusedError(
    'rejected',
    `role "${clone}" already exists with ${extras.join(', ')}, which "${original}" does not have; the rotator will not hand its password to the secret's readers, and changed nothing. Run ${fixes.join('; ')} (or drop the role and let the rotator create it), then rotate again`,
  );
}

interface SettingRow extends Record<string, unknown> {
  database_oid: number;
  database: string | null;
  config: string[] | null;
}

async function readSettings(
  session: PostgresSession,
  oid: number,
  role: string,
): Promise<Map<number, { database: string | undefined; entries: string[] }>> {
  const rows = await session.query<SettingRow>(
    ROLE_SETTINGS,
    [oid],
    `reading the settings of role "${role}"`,
  );
  const byDatabase = new Map<number, { database: string | undefined; entries: string[] }>();
  for (const row of rows) {
    // A setting for a database that no longer exists is skipped: it can apply to nothing.
    if (row.database_oid !== 0 && row.database === null) continue;
    byDatabase.set(row.database_oid, {
      database: row.database_oid === 0 ? undefined : (row.database ?? undefined),
      entries: [...(row.config ?? [])],
    });
  }
  return byDatabase;
}

async function syncSettings(
  session: PostgresSession,
  originalOid: number,
  clone: string,
  cloneOid: number,
  original: string,
  ctx: RoleContext,
): Promise<void> {
  const desired = await readSettings(session, originalOid, original);
  const all = desired.get(0) ?? { database: undefined, entries: [] };
  if (!all.entries.some((entry) => splitSettingEntry(entry).name.toLowerCase() === 'role')) {
    all.entries = [...all.entries, roleSwitchSetting(original)];
  }
  desired.set(0, all);
  const actual = await readSettings(session, cloneOid, clone);

  const databases = new Set([...desired.keys(), ...actual.keys()]);
  for (const oid of databases) {
    const want = desired.get(oid);
    const have = actual.get(oid);
    if (sameEntries(want?.entries ?? [], have?.entries ?? [])) continue;
    const database = want?.database ?? have?.database;
    await session.query(
      resetRoleSettingsStatement(clone, database),
      [],
      `resetting the settings of role "${clone}"${database ? ` in database "${database}"` : ''}`,
    );
    for (const entry of want?.entries ?? []) await copySetting(session, clone, database, entry, ctx);
    ctx.logger.info('copied role settings to the clone', {
      role: clone,
      original,
      database: database ?? '(all)',
      settings: (want?.entries ?? []).map((entry) => splitSettingEntry(entry).name),
    });
  }
}

/** A savepoint per setting: one the master may not set (superuser-only) is skipped, not failing rotations. */
async function copySetting(
  session: PostgresSession,
  clone: string,
  database: string | undefined,
  entry: string,
  ctx: RoleContext,
): Promise<void> {
  const name = splitSettingEntry(entry).name;
  await session.query('SAVEPOINT copy_setting', [], 'setting a savepoint');
  try {
    await session.query(
      roleSettingStatement(clone, database, entry),
      [],
      `copying setting "${name}" to role "${clone}"`,
    );
    await session.query('RELEASE SAVEPOINT copy_setting', [], 'releasing a savepoint');
  } catch (error) {
    // A timeout or broken connection rolls everything back: the error must name the statement that failed.
    if (!session.usable) throw error;
    await session.query('ROLLBACK TO SAVEPOINT copy_setting', [], 'rolling back a savepoint');
    if (name.toLowerCase() === 'role') throw error;
    ctx.logger.warn('could not copy a role setting to the clone', {
      role: clone,
      setting: name,
      database: database ?? '(all)',
      // Only the SQLSTATE: the server's message may quote the setting's value.
      sqlstate: /SQLSTATE (\w{5})/.exec(error instanceof Error ? error.message : '')?.[1] ?? 'unknown',
    });
    ctx.metrics.count('RoleSettingNotCopied');
  }
}

function sameEntries(a: readonly string[], b: readonly string[]): boolean {
  const sorted = (list: readonly string[]) => JSON.stringify([...list].sort());
  return sorted(a) === sorted(b);
}
