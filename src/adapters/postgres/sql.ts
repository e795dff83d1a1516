/**
 * Every statement the PostgreSQL adapter sends, in one place. Identifiers (role, database and
 * setting names) go through {@link quoteIdentifier}; values go as bind parameters wherever the
 * statement accepts them. `ALTER ROLE … PASSWORD` and `ALTER ROLE … SET` take no bind parameters,
 * so their values are quoted literals: the password as a SCRAM verifier, never the password.
 */
import { escapeIdentifier, escapeLiteral } from 'pg';

/**
 * Quotes an identifier for PostgreSQL: double quotes around it, inner double quotes doubled. The
 * name is kept exactly (case, spaces, quotes, semicolons, non-ASCII).
 */
export function quoteIdentifier(name: string): string {
  if (name.includes('\0')) throw new RangeError('identifiers cannot contain a NUL character');
  return escapeIdentifier(name);
}

/** Quotes a string literal for PostgreSQL (single quotes doubled; backslashes handled with `E''`). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new RangeError('literals cannot contain a NUL character');
  return escapeLiteral(value);
}

/** Who the session is: the role that logged in, and the role it acts as. */
export const WHO_AM_I = 'SELECT session_user::text AS session_user, current_user::text AS current_user';

/** `server_version_num` as a number, e.g. 150020 or 180004. */
export const SERVER_VERSION = "SELECT current_setting('server_version_num')::int AS version";

/** Makes the session act as the role that logged in, whatever `role` setting it started with. */
export const ACT_AS_SESSION_USER = 'SET ROLE NONE';

/** Looks a role up by its exact name. `$1`: the name. */
export const FIND_ROLE =
  'SELECT oid::int AS oid, rolcanlogin AS can_login, rolinherit AS inherit FROM pg_catalog.pg_roles WHERE rolname = $1';

/**
 * Whether a user exists, through `pg_user`, which Redshift has as well as PostgreSQL (Redshift's
 * catalog differs in `pg_roles`). `$1`: the name.
 */
export const FIND_USER = 'SELECT usesysid::int AS oid FROM pg_catalog.pg_user WHERE usename = $1';

/**
 * The powers of one role beyond logging in: its attributes, and the roles it is a member of.
 * `$1`: the role's oid.
 */
export const ROLE_POWERS = `SELECT r.rolsuper AS superuser, r.rolcreaterole AS createrole, r.rolcreatedb AS createdb,
    r.rolreplication AS replication, r.rolbypassrls AS bypassrls,
    array(SELECT g.rolname::text FROM pg_catalog.pg_auth_members m
      JOIN pg_catalog.pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of
  FROM pg_catalog.pg_roles r WHERE r.oid = $1`;

/**
 * The role settings (`ALTER ROLE … SET`) of one role, per database (oid 0: all databases).
 * `$1`: the role's oid.
 */
export const ROLE_SETTINGS = `SELECT s.setdatabase::int AS database_oid, d.datname AS database, s.setconfig AS config
  FROM pg_catalog.pg_db_role_setting s
  LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
  WHERE s.setrole = $1`;

/**
 * Whether `$2` is a member of `$1` (oids), and with which options. PostgreSQL 16 records INHERIT
 * and SET per grant; before 16 every membership allows SET ROLE and inheritance is the member's
 * INHERIT attribute.
 */
export function membershipQuery(serverVersion: number): string {
  return serverVersion >= 160000
    ? `SELECT count(*)::int AS grants, coalesce(bool_or(inherit_option), false) AS inherit, coalesce(bool_or(set_option), false) AS can_set
         FROM pg_catalog.pg_auth_members WHERE roleid = $1 AND member = $2`
    : `SELECT count(*)::int AS grants, true AS inherit, true AS can_set
         FROM pg_catalog.pg_auth_members WHERE roleid = $1 AND member = $2`;
}

/**
 * Ends the sessions of a role other than this one. `$1`: the role name. The candidates are
 * materialised first: in a plain WHERE clause the planner may call pg_terminate_backend before
 * the name test, ending every session on the server.
 */
export const TERMINATE_SESSIONS = `WITH targets AS MATERIALIZED (
    SELECT pid FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()
  )
  SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid))::int AS ended FROM targets`;

/**
 * Sets a role's password to a SCRAM-SHA-256 verifier. PostgreSQL stores a verifier it is given as
 * it is, so the password itself never appears in the statement (docs/protocol.md#security-rules).
 */
export function setPasswordStatement(role: string, verifier: string): string {
  if (!verifier.startsWith('SCRAM-SHA-256$')) {
    // A guard against ever sending a plain password through this statement.
    throw new RangeError('setPasswordStatement takes a SCRAM-SHA-256 verifier, never a password');
  }
  return `ALTER ROLE ${quoteIdentifier(role)} PASSWORD ${quoteLiteral(verifier)}`;
}

/**
 * Sets a Redshift user's password to a hash built on the client (`md5…` or `sha256|<digest>|<salt>`):
 * Redshift has no SCRAM verifiers, and these are the forms it stores without ever seeing the password.
 * The hash goes as a quoted literal (`ALTER USER` takes no bind parameters); the user name is quoted.
 */
export function redshiftSetPasswordStatement(user: string, hash: string): string {
  if (!/^md5[0-9a-f]{32}$/.test(hash) && !/^sha256\|[0-9a-f]{64}\|[0-9a-f]{64}$/.test(hash)) {
    // A guard against ever sending a plain password (or the `sha256|<password>` form) through this statement.
    throw new RangeError('redshiftSetPasswordStatement takes an md5 or salted sha256 hash, never a password');
  }
  return `ALTER USER ${quoteIdentifier(user)} PASSWORD ${quoteLiteral(hash)}`;
}

/**
 * Creates the clone of alternating users: a login role that is a member of the original, so it can
 * act as the original (see {@link roleSwitchSetting}). Its password is set separately.
 */
export function createCloneStatement(clone: string, original: string): string {
  return `CREATE ROLE ${quoteIdentifier(clone)} WITH LOGIN INHERIT IN ROLE ${quoteIdentifier(original)}`;
}

/** Grants membership in `original` to `clone`, with the options the clone needs to act as it. */
export function grantMembershipStatement(original: string, clone: string, serverVersion: number): string {
  const grant = `GRANT ${quoteIdentifier(original)} TO ${quoteIdentifier(clone)}`;
  return serverVersion >= 160000 ? `${grant} WITH INHERIT TRUE, SET TRUE` : grant;
}

/** Gives a role the INHERIT attribute (before PostgreSQL 16, inheritance is per role). */
export function inheritStatement(role: string): string {
  return `ALTER ROLE ${quoteIdentifier(role)} INHERIT`;
}

/**
 * Removes every setting a role has for one database (or for all databases when `database` is
 * undefined).
 */
export function resetRoleSettingsStatement(role: string, database: string | undefined): string {
  return `ALTER ROLE ${quoteIdentifier(role)}${inDatabase(database)} RESET ALL`;
}

// Settings whose stored value is a list of quoted identifiers (GUC_LIST_QUOTE in PostgreSQL's
// source). Their stored text cannot be sent back as one literal: `'"$user", public'` would become
// a single schema of that name. They are split into elements and each element sent as a literal.
const LIST_QUOTE_SETTINGS = new Set([
  'search_path',
  'temp_tablespaces',
  'session_preload_libraries',
  'local_preload_libraries',
  'shared_preload_libraries',
]);

/**
 * One role setting as `pg_db_role_setting` stores it (`name=value`), written back with
 * `ALTER ROLE … SET`. The result stores exactly the same `name=value` text.
 */
export function roleSettingStatement(role: string, database: string | undefined, entry: string): string {
  const { name, value } = splitSettingEntry(entry);
  const quotedName = name.split('.').map(quoteIdentifier).join('.');
  const values = LIST_QUOTE_SETTINGS.has(name.toLowerCase())
    ? splitQuotedList(value).map(quoteLiteral).join(', ')
    : quoteLiteral(value);
  return `ALTER ROLE ${quoteIdentifier(role)}${inDatabase(database)} SET ${quotedName} = ${values}`;
}

/** The `role` setting that makes a clone's sessions act as the original role, as stored text. */
export function roleSwitchSetting(original: string): string {
  return `role=${original}`;
}

/** Splits a stored `name=value` setting at its first `=`. */
export function splitSettingEntry(entry: string): { name: string; value: string } {
  const at = entry.indexOf('=');
  if (at <= 0) throw new RangeError('a stored role setting has no "name=" part');
  return { name: entry.slice(0, at), value: entry.slice(at + 1) };
}

/**
 * Splits a stored list of identifiers (`"$user", public, "My Schema"`) into its elements, undoing
 * the double quotes PostgreSQL put around the ones that needed them.
 */
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
    let element = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new RangeError('unterminated quoted element in a stored list setting');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            element += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        element += text[i];
        i++;
      }
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

function inDatabase(database: string | undefined): string {
  return database === undefined ? '' : ` IN DATABASE ${quoteIdentifier(database)}`;
}
