/**
 * Every statement the PostgreSQL adapter sends. ALTER ROLE … PASSWORD / SET take no bind parameters, so
 * their values are quoted literals (a password only as a verifier).
 */
// pg's quoting without its client, which loads with the first connection (not at cold start).
import pgUtils from 'pg/lib/utils.js';

export function quoteIdentifier(name: string): string {
  if (name.includes('\0')) throw new RangeError('identifiers cannot contain a NUL character');
  return pgUtils.escapeIdentifier(name);
}

export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new RangeError('literals cannot contain a NUL character');
  return pgUtils.escapeLiteral(value);
}

export const WHO_AM_I = 'SELECT session_user::text AS session_user, current_user::text AS current_user';

export const SERVER_VERSION = "SELECT current_setting('server_version_num')::int AS version";

export const ACT_AS_SESSION_USER = 'SET ROLE NONE';

export const FIND_ROLE =
  'SELECT oid::int AS oid, rolcanlogin AS can_login, rolinherit AS inherit FROM pg_catalog.pg_roles WHERE rolname = $1';

/** Through `pg_user`: Redshift has it too (its `pg_roles` differs). */
export const FIND_USER = 'SELECT usesysid::int AS oid FROM pg_catalog.pg_user WHERE usename = $1';

export const ROLE_POWERS = `SELECT r.rolsuper AS superuser, r.rolcreaterole AS createrole, r.rolcreatedb AS createdb,
    r.rolreplication AS replication, r.rolbypassrls AS bypassrls,
    array(SELECT g.rolname::text FROM pg_catalog.pg_auth_members m
      JOIN pg_catalog.pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of
  FROM pg_catalog.pg_roles r WHERE r.oid = $1`;

/** Per database; oid 0 means all databases. */
export const ROLE_SETTINGS = `SELECT s.setdatabase::int AS database_oid, d.datname AS database, s.setconfig AS config
  FROM pg_catalog.pg_db_role_setting s
  LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
  WHERE s.setrole = $1`;

/** PostgreSQL 16 records INHERIT and SET per grant; before 16 inheritance is the member's attribute. */
export function membershipQuery(serverVersion: number): string {
  return serverVersion >= 160000
    ? `SELECT count(*)::int AS grants, coalesce(bool_or(inherit_option), false) AS inherit, coalesce(bool_or(set_option), false) AS can_set
         FROM pg_catalog.pg_auth_members WHERE roleid = $1 AND member = $2`
    : `SELECT count(*)::int AS grants, true AS inherit, true AS can_set
         FROM pg_catalog.pg_auth_members WHERE roleid = $1 AND member = $2`;
}

/**
 * Candidates materialised first: in a plain WHERE the planner may call pg_terminate_backend before the name
 * test, ending every session.
 */
export const TERMINATE_SESSIONS = `WITH targets AS MATERIALIZED (
    SELECT pid FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()
  )
  SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid))::int AS ended FROM targets`;

/** PostgreSQL stores a given verifier as is, so the password never appears in the statement. */
export function setPasswordStatement(role: string, verifier: string): string {
  if (!verifier.startsWith('SCRAM-SHA-256$')) {
    throw new RangeError('setPasswordStatement takes a SCRAM-SHA-256 verifier, never a password');
  }
  return `ALTER ROLE ${quoteIdentifier(role)} PASSWORD ${quoteLiteral(verifier)}`;
}

/** Redshift has no SCRAM; it stores these client-built hashes without seeing the password. */
export function redshiftSetPasswordStatement(user: string, hash: string): string {
  if (!/^md5[0-9a-f]{32}$/.test(hash) && !/^sha256\|[0-9a-f]{64}\|[0-9a-f]{64}$/.test(hash)) {
    // Never a plain password (or the `sha256|<password>` form).
    throw new RangeError('redshiftSetPasswordStatement takes an md5 or salted sha256 hash, never a password');
  }
  return `ALTER USER ${quoteIdentifier(user)} PASSWORD ${quoteLiteral(hash)}`;
}

export function createCloneStatement(clone: string, original: string): string {
  return `CREATE ROLE ${quoteIdentifier(clone)} WITH LOGIN INHERIT IN ROLE ${quoteIdentifier(original)}`;
}

export function grantMembershipStatement(original: string, clone: string, serverVersion: number): string {
  const grant = `GRANT ${quoteIdentifier(original)} TO ${quoteIdentifier(clone)}`;
  return serverVersion >= 160000 ? `${grant} WITH INHERIT TRUE, SET TRUE` : grant;
}

/** Before PostgreSQL 16, inheritance is per role. */
export function inheritStatement(role: string): string {
  return `ALTER ROLE ${quoteIdentifier(role)} INHERIT`;
}

export function resetRoleSettingsStatement(role: string, database: string | undefined): string {
  return `ALTER ROLE ${quoteIdentifier(role)}${inDatabase(database)} RESET ALL`;
}

// GUC_LIST_QUOTE settings: sent back as one literal, `"$user", public` would become one name.
const LIST_QUOTE_SETTINGS = new Set([
  'search_path',
  'temp_tablespaces',
  'session_preload_libraries',
  'local_preload_libraries',
  'shared_preload_libraries',
]);

/** Writes back exactly the stored `name=value` text. */
export function roleSettingStatement(role: string, database: string | undefined, entry: string): string {
  const { name, value } = splitSettingEntry(entry);
  const quotedName = name.split('.').map(quoteIdentifier).join('.');
  const values = LIST_QUOTE_SETTINGS.has(name.toLowerCase())
    ? splitQuotedList(value).map(quoteLiteral).join(', ')
    : quoteLiteral(value);
  return `ALTER ROLE ${quoteIdentifier(role)}${inDatabase(database)} SET ${quotedName} = ${values}`;
}

export function roleSwitchSetting(original: string): string {
  return `role=${original}`;
}

export function splitSettingEntry(entry: string): { name: string; value: string } {
  const at = entry.indexOf('=');
  if (at <= 0) throw new RangeError('a stored role setting has no "name=" part');
  return { name: entry.slice(0, at), value: entry.slice(at + 1) };
}

export function splitQuotedList(text: string): string[] {
  const elements: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  skipSpace();
  if (i === text.length) return [];
  for (;;) {
    skipSpace();
    let element: string;
    if (text[i] === '"') {
      [element, i] = readQuotedElement(text, i);
    } else {
      const start = i;
      while (i < text.length && text[i] !== ',') i++;
      element = text.slice(start, i).trimEnd();
    }
    elements.push(element);
    skipSpace();
    if (i >= text.length) return elements;
    if (text[i] !== ',')
      throw new RangeError('unexpected text after a quoted element in a stored list setting');
    i++;
  }
}

/** The element whose opening quote is at `start` (`""` stands for a quote), and the index after it. */
function readQuotedElement(text: string, start: number): [string, number] {
  let element = '';
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] !== '"') element += text[i];
    else if (text[i + 1] === '"') element += text[i++];
    else return [element, i + 1];
  }
  throw new RangeError('unterminated quoted element in a stored list setting');
}

function inDatabase(database: string | undefined): string {
  return database === undefined ? '' : ` IN DATABASE ${quoteIdentifier(database)}`;
}
