/**
 * The database secret of docs/protocol.md#the-database-secret as every database adapter and the client's pools read it: the
 * fields, their defaults and their errors, the master secret, host comparison and the names of
 * the two users of alternating users. Each engine supplies its own rules (engines, default port,
 * which user names it can store).
 */

import { parseJsonObject } from '../adapters/json-object.ts';
import { SecretShapeError } from '../core/errors.ts';
import type { StepContext } from '../core/target.ts';
import { describeServer, requireMasterServer, type ServerAddress, sameServer } from './hosts.ts';

/** What one engine family accepts in its secrets. */
export interface DatabaseSecretRules<Engine extends string> {
  /** The `engine` values accepted. */
  readonly engines: readonly Engine[];
  /** Said after the accepted values when `engine` names another family: where to go instead. */
  readonly otherEngines: string;
  /** The port when the secret has none. */
  readonly defaultPort: number;
  /** The server, as named in messages (`PostgreSQL`, `MySQL and MariaDB`). */
  readonly server: string;
  /** Throws a {@link SecretShapeError} naming `field` for a user name the server cannot store. */
  readonly checkUsername: (name: string, field: string) => void;
}

/**
 * A database secret of docs/protocol.md#the-database-secret, parsed and checked. `fields` is the JSON object exactly as stored,
 * so every field the adapter does not know is carried into the next version unchanged.
 */
export interface DatabaseSecretValue<Engine extends string> {
  readonly engine: Engine;
  readonly host: string;
  /** `port` as a number, the engine's default when absent. */
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** `dbname`, `undefined` when absent. */
  readonly dbname: string | undefined;
  /** `ssl`: `true` (TLS required), `false` (no TLS) or `undefined` (TLS preferred, see docs/protocol.md#tls-to-databases). */
  readonly ssl: boolean | undefined;
  /** ARN of the secret holding credentials that may manage users (alternating users). */
  readonly masterarn: string | undefined;
  /** The whole JSON object as stored, unknown fields included. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** How to put right a missing or malformed required field. */
const REQUIRED_FIELD_FIXES = {
  host: 'set "host" to the database endpoint',
  username: 'set "username" to the database user',
  password: 'set "password" to the user\'s current password',
} as const;

/** The JSON object of a database secret, or a {@link SecretShapeError} that never quotes the text. */
export function databaseSecretFields(raw: string, fix: string): Record<string, unknown> {
  return parseJsonObject(raw, (problem) => new SecretShapeError('(value)', `is ${problem}`, fix));
}

/**
 * Parses and checks a stored database secret under one engine family's rules. Every problem is a
 * {@link SecretShapeError} naming the field and the fix; no message quotes the password or the
 * raw JSON.
 */
export function parseDatabaseSecretValue<Engine extends string>(
  raw: string,
  adapter: string,
  rules: DatabaseSecretRules<Engine>,
): DatabaseSecretValue<Engine> {
  const fields = databaseSecretFields(raw, 'store a JSON object with engine, host, username and password');

  const engine = fields.engine;
  if (typeof engine !== 'string' || !(rules.engines as readonly string[]).includes(engine)) {
    const shown = typeof engine === 'string' ? `"${engine.slice(0, 40)}"` : describeType(engine);
    throw new SecretShapeError(
      'engine',
      `is ${shown}, which the ${adapter} adapter does not rotate`,
      `accepted values are ${rules.engines.join(', ')}; ${rules.otherEngines}`,
    );
  }

  const host = requiredStringField(fields, 'host');
  const username = requiredStringField(fields, 'username');
  rules.checkUsername(username, 'username');
  const password = requiredStringField(fields, 'password');
  if (password.includes('\0')) {
    throw new SecretShapeError('password', 'contains a NUL character', `${rules.server} cannot accept it`);
  }

  return {
    engine: engine as Engine,
    host,
    port: portField(fields.port, rules.defaultPort) ?? rules.defaultPort,
    username,
    password,
    dbname: optionalStringField(fields, 'dbname'),
    ssl: sslField(fields.ssl),
    masterarn: optionalStringField(fields, 'masterarn'),
    fields,
  };
}

/**
 * `missing`, `null`, `a number`, `a list`…: how a value that is not what was expected is named
 * in a message, without showing it.
 */
export function describeType(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return `a ${Array.isArray(value) ? 'list' : typeof value}`;
}

/** A required non-empty string field of a database secret: `host`, `username` or `password`. */
export function requiredStringField(
  fields: Readonly<Record<string, unknown>>,
  name: keyof typeof REQUIRED_FIELD_FIXES,
): string {
  const value = fields[name];
  const fix = REQUIRED_FIELD_FIXES[name];
  if (typeof value !== 'string') {
    throw new SecretShapeError(name, `is ${describeType(value)}, expected a string`, fix);
  }
  if (value.length === 0) throw new SecretShapeError(name, 'is empty', fix);
  return value;
}

/**
 * An optional string field (`dbname`, `masterarn`, `engine`): `undefined` when absent or null,
 * an error when present but empty or not a string.
 */
export function optionalStringField(
  fields: Readonly<Record<string, unknown>>,
  name: string,
): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new SecretShapeError(
      name,
      `is ${typeof value === 'string' ? 'empty' : describeType(value)}, expected a non-empty string`,
      `set "${name}" to a string or remove it`,
    );
  }
  return value;
}

/** The `port` field: a number or a numeric string from 1 to 65535; `undefined` when absent. */
export function portField(value: unknown, defaultPort: number | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  const port =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SecretShapeError(
      'port',
      `is ${typeof value === 'string' ? `"${value.slice(0, 20)}"` : describeType(value)}, not a port number`,
      `set "port" to a number (or numeric string) from 1 to 65535, or remove it for ${defaultPort ?? "the engine's default"}`,
    );
  }
  return port;
}

/**
 * The `ssl` field of docs/protocol.md#tls-to-databases: `true`/`"true"`, `false`/`"false"` (any case), or `undefined` when
 * absent (TLS when the server offers it).
 */
export function sslField(value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (word === 'true') return true;
    if (word === 'false') return false;
  }
  throw new SecretShapeError(
    'ssl',
    `is ${typeof value === 'string' ? `"${value.slice(0, 20)}"` : describeType(value)}`,
    'use true or "true" (TLS required), false or "false" (no TLS), or remove it (TLS when the server offers it)',
  );
}

export { normalizeHost as normalHost } from '../core/allowed-hosts.ts';
export { describeServer, type ServerAddress, sameHost, sameServer } from './hosts.ts';

/** The next version's value: every stored field kept, with new credentials. */
export function withCredentials<Secret extends DatabaseSecretValue<string>>(
  secret: Secret,
  credentials: { readonly username: string; readonly password: string },
): Secret {
  return {
    ...secret,
    username: credentials.username,
    password: credentials.password,
    fields: { ...secret.fields, username: credentials.username, password: credentials.password },
  };
}

/**
 * The string stored in Secrets Manager: the stored object with its fields in their original form
 * (a `port` stored as a string stays a string).
 */
export function serializeDatabaseSecretValue(secret: DatabaseSecretValue<string>): string {
  return JSON.stringify(secret.fields);
}

/**
 * The master credentials named by `masterarn`. Only `username` and `password` are required: an
 * RDS-managed master secret holds nothing else (its server comes from its RDS tags). They are
 * used only on the master's own server, or one RDS reports as part of it (see
 * `requireMasterServer`).
 */
export interface MasterCredentials {
  readonly username: string;
  readonly password: string;
  /** The master secret's own `host`, when it has one. */
  readonly host: string | undefined;
  /** The master secret's own `port`, when it has one. */
  readonly port: number | undefined;
}

/** Parses the master secret. Errors name the master secret's ARN and the field, never a value. */
export function parseMasterSecret(raw: string, arn: string): MasterCredentials {
  const fix = 'point masterarn at a secret holding {"username", "password"}';
  const fields = parseJsonObject(
    raw,
    (problem) => new SecretShapeError('masterarn', `names secret ${arn}, whose value is ${problem}`, fix),
  );
  const pick = (name: 'username' | 'password') => {
    const value = fields[name];
    if (typeof value !== 'string' || value.length === 0) {
      throw new SecretShapeError(
        'masterarn',
        `names secret ${arn}, which has no non-empty string "${name}"`,
        fix,
      );
    }
    return value;
  };
  const host = fields.host;
  let port: number | undefined;
  try {
    port = portField(fields.port, undefined);
  } catch {
    throw new SecretShapeError(
      'masterarn',
      `names secret ${arn}, whose "port" is not a port number`,
      "store the master's port as a number from 1 to 65535",
    );
  }
  return {
    username: pick('username'),
    password: pick('password'),
    host: typeof host === 'string' && host.length > 0 ? host : undefined,
    port,
  };
}

/**
 * Reads and parses the master secret through the step's context, registers its password for
 * redaction at once, and refuses it unless `target` is the master's own server or one RDS reports
 * as part of it (`requireMasterServer`): nothing has been sent anywhere with it when this throws.
 */
export async function readMasterSecret(
  ctx: Pick<StepContext, 'readSecret' | 'readSecretTags' | 'redact' | 'logger'>,
  arn: string,
  target: ServerAddress,
  defaultPort: number,
): Promise<MasterCredentials> {
  const master = parseMasterSecret(await ctx.readSecret(arn), arn);
  ctx.redact(master.password);
  await requireMasterServer(ctx, { masterArn: arn, master, target, defaultPort });
  return master;
}

/**
 * Refuses master credentials that belong to one of the users being rotated: the master would then
 * change its own password, or the rotation would change the master's.
 */
export function refuseMasterAmong(master: MasterCredentials, arn: string, rotated: readonly string[]): void {
  if (rotated.includes(master.username)) {
    throw new SecretShapeError(
      'masterarn',
      `names secret ${arn}, whose user "${master.username}" is one of the users being rotated`,
      'point masterarn at a separate administrative user',
    );
  }
}

/**
 * Refuses to revoke a user that is not the other user of the pair the current version names, or
 * that sits on another server: an emergency revocation runs with the master's (or an operator's)
 * wider rights, so it acts only on the rotated pair.
 */
export function refuseRevokingOutsidePair(
  revoked: { readonly username: string; readonly host: string; readonly port: number },
  current: { readonly username: string; readonly host: string; readonly port: number },
): void {
  const partner = otherUser(current.username);
  if (revoked.username !== partner) {
    throw new SecretShapeError(
      'username',
      `of the version to revoke is ${quotedName(revoked.username)}, which is not the other user of the current version's pair (${quotedName(partner)}), so nothing was revoked`,
      'revoke only the previous user of the pair; check who changed the AWSPREVIOUS version',
    );
  }
  if (!sameServer(revoked, current)) {
    throw new SecretShapeError(
      'host',
      `of the version to revoke is ${describeServer(revoked)}, not the current version's server ${describeServer(current)}, so nothing was revoked`,
      'revoke only on the server the pair lives on; check who changed the AWSPREVIOUS version',
    );
  }
}

/** Whether a parsed value is a database secret of this module's shape (username, host, port). */
export function isDatabaseSecretValue(
  value: unknown,
): value is { readonly username: string; readonly host: string; readonly port: number } {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    typeof fields.username === 'string' && typeof fields.host === 'string' && typeof fields.port === 'number'
  );
}

/** The suffix that names the second user of an alternating pair (AWS's convention). */
export const CLONE_SUFFIX = '_clone';

/**
 * The two users of an alternating pair, from either one's name: `app` and `app_clone`, and the one
 * that the given name is not.
 */
export function alternatingPair(username: string): {
  readonly original: string;
  readonly clone: string;
  readonly other: string;
} {
  if (username.endsWith(CLONE_SUFFIX) && username.length > CLONE_SUFFIX.length) {
    const original = username.slice(0, -CLONE_SUFFIX.length);
    return { original, clone: username, other: original };
  }
  const clone = `${username}${CLONE_SUFFIX}`;
  return { original: username, clone, other: clone };
}

/** The user of an alternating pair that the given one is not. */
export function otherUser(username: string): string {
  return alternatingPair(username).other;
}

/**
 * The longest part of a name that messages quote; the rest is cut off, so that a huge value never
 * fills an error message or a log line.
 */
export const SHOWN_NAME_CHARACTERS = 64;

/**
 * A user or role name quoted for a message: whole when short, else its first
 * {@link SHOWN_NAME_CHARACTERS} characters, `…` and its length.
 */
export function quotedName(name: string): string {
  const characters = [...name];
  if (characters.length <= SHOWN_NAME_CHARACTERS) return `"${name}"`;
  return `"${characters.slice(0, SHOWN_NAME_CHARACTERS).join('')}…" (${characters.length} characters)`;
}
