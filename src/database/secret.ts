/**
 * The database secret (docs/protocol.md#the-database-secret) as adapters, client and CLI read it; each
 * engine supplies its rules.
 */

import { SecretShapeError } from '../core/errors.ts';
import { parseJsonObject } from '../core/json-object.ts';
import type { StepContext } from '../core/target.ts';
import { describeServer, requireMasterServer, type ServerAddress, sameServer } from './hosts.ts';

export interface DatabaseSecretRules<Engine extends string> {
  readonly engines: readonly Engine[];
  /** Where to go instead when `engine` names another family. */
  readonly otherEngines: string;
  readonly defaultPort: number;
  readonly server: string;
  readonly checkUsername: (name: string, field: string) => void;
}

/** `fields` is the object as stored, so fields the adapter does not know reach the next version unchanged. */
export interface DatabaseSecretValue<Engine extends string> {
  readonly engine: Engine;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly dbname: string | undefined;
  /** `undefined`: TLS preferred (docs/protocol.md#tls-to-databases). */
  readonly ssl: boolean | undefined;
  readonly masterarn: string | undefined;
  readonly fields: Readonly<Record<string, unknown>>;
}

const REQUIRED_FIELD_FIXES = {
  host: 'set "host" to the database endpoint',
  username: 'set "username" to the database user',
  password: 'set "password" to the user\'s current password',
} as const;

export function databaseSecretFields(raw: string, fix: string): Record<string, unknown> {
  return parseJsonObject(raw, (problem) => new SecretShapeError('(value)', `is ${problem}`, fix));
}

/** No message quotes the password or the raw JSON. */
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

/** Names a wrong value in a message without showing it. */
export function describeType(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return `a ${Array.isArray(value) ? 'list' : typeof value}`;
}

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

/** Fields keep their stored form (a string `port` stays a string). */
export function serializeDatabaseSecretValue(secret: DatabaseSecretValue<string>): string {
  return JSON.stringify(secret.fields);
}

/** An RDS-managed master secret holds only username and password; its server comes from RDS tags. */
export interface MasterCredentials {
  readonly username: string;
  readonly password: string;
  readonly host: string | undefined;
  readonly port: number | undefined;
}

/** Errors name the master ARN and the field, never a value. */
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

/** Refuses before anything is sent with the master unless `target` is its server (requireMasterServer). */
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

/** Else the master would change its own password, or the rotation the master's. */
export function refuseMasterAmong(master: MasterCredentials, arn: string, rotated: readonly string[]): void {
  if (rotated.includes(master.username)) {
    throw new SecretShapeError(
      'masterarn',
      `names secret ${arn}, whose user "${master.username}" is one of the users being rotated`,
      'point masterarn at a separate administrative user',
    );
  }
}

/** A revocation runs with wider rights, so it acts only on the rotated pair on its server. */
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

export function isDatabaseSecretValue(
  value: unknown,
): value is { readonly username: string; readonly host: string; readonly port: number } {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    typeof fields.username === 'string' && typeof fields.host === 'string' && typeof fields.port === 'number'
  );
}

export const CLONE_SUFFIX = '_clone';

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

export function otherUser(username: string): string {
  return alternatingPair(username).other;
}

const SHOWN_NAME_CHARACTERS = 64;

export function quotedName(name: string): string {
  const characters = [...name];
  if (characters.length <= SHOWN_NAME_CHARACTERS) return `"${name}"`;
  return `"${characters.slice(0, SHOWN_NAME_CHARACTERS).join('')}…" (${characters.length} characters)`;
}
