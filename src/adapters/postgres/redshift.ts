/**
 * Amazon Redshift through the PostgreSQL handlers (secret `"engine": "redshift"`). Redshift speaks
 * the PostgreSQL protocol but stores no SCRAM verifiers: `ALTER USER … PASSWORD` takes the
 * password in clear, an MD5 hash or a SHA-256 hash. This module builds the two hashed forms on the
 * client, so the password itself never travels in SQL text, and checks Redshift's password rules
 * before anything changes (the server cannot check them on a hash).
 */
import { createHash, randomBytes } from 'node:crypto';
import { SecretShapeError } from '../../core/errors.ts';
import type { PasswordPolicy } from '../../core/password.ts';

/** The hashed forms Redshift accepts in `ALTER USER … PASSWORD`, chosen with `PG_REDSHIFT_PASSWORD_HASH`. */
export type RedshiftPasswordHash = 'md5' | 'sha256';

/** Choices of `PG_REDSHIFT_PASSWORD_HASH`, the default first. */
export const REDSHIFT_PASSWORD_HASHES = ['md5', 'sha256'] as const;

/** Redshift's limits on a password's length, in characters. */
export const REDSHIFT_PASSWORD_LENGTH = { min: 8, max: 64 } as const;

/**
 * Characters Redshift refuses in a password, besides anything outside ASCII 33–126 (so space and
 * control characters are refused too).
 */
export const REDSHIFT_EXCLUDED_CHARACTERS = '\'"\\/@';

/**
 * What is wrong with a password under Redshift's rules (8–64 characters; at least one upper-case
 * letter, one lower-case letter and one digit; ASCII 33–126 except `' " \ / @`), as short phrases
 * that never quote the password. Empty when it passes.
 */
export function redshiftPasswordProblems(password: string): string[] {
  const problems: string[] = [];
  const length = [...password].length;
  if (length < REDSHIFT_PASSWORD_LENGTH.min || length > REDSHIFT_PASSWORD_LENGTH.max) {
    problems.push(
      `is ${length} characters long, outside Redshift's ${REDSHIFT_PASSWORD_LENGTH.min} to ${REDSHIFT_PASSWORD_LENGTH.max}`,
    );
  }
  if (!/[A-Z]/.test(password)) problems.push('has no upper-case letter');
  if (!/[a-z]/.test(password)) problems.push('has no lower-case letter');
  if (!/[0-9]/.test(password)) problems.push('has no digit');
  if (/[^\x21-\x7e]/.test(password))
    problems.push('has a character outside printable ASCII 33-126 (space included)');
  const excluded = [...REDSHIFT_EXCLUDED_CHARACTERS].filter((c) => password.includes(c));
  if (excluded.length > 0) problems.push(`has characters Redshift refuses (${excluded.join(' ')})`);
  return problems;
}

/**
 * Throws a {@link SecretShapeError} naming the field and every broken rule when `password` does
 * not meet Redshift's rules. Called before any login or statement, so a bad password changes nothing.
 */
export function checkRedshiftPassword(password: string, field: string): void {
  const problems = redshiftPasswordProblems(password);
  if (problems.length === 0) return;
  throw new SecretShapeError(
    field,
    `does not meet Amazon Redshift's password rules: it ${problems.join('; ')} (nothing was changed)`,
    'keep PASSWORD_LENGTH from 8 to 64, leave EXCLUDE_UPPERCASE, EXCLUDE_LOWERCASE and EXCLUDE_NUMBERS unset, REQUIRE_EACH_INCLUDED_TYPE on, and keep \' " \\ / @ in EXCLUDE_CHARACTERS (the default does)',
  );
}

/**
 * Redshift's (and PostgreSQL's) MD5 password form: `md5` followed by the hex MD5 of the password
 * followed by the user name.
 */
export function redshiftMd5Hash(password: string, username: string): string {
  const digest = createHash('md5')
    .update(Buffer.from(password + username, 'utf8'))
    .digest('hex');
  return `md5${digest}`;
}

/** Options of {@link redshiftSha256Hash}. */
export interface RedshiftSha256Options {
  /** 32 bytes; random unless given (tests pass a fixed one to compare with a known value). */
  readonly salt?: Uint8Array;
}

/**
 * Redshift's SHA-256 password form with a client-chosen salt: `sha256|<digest>|<salt>`, where the
 * salt is 256 random bits in hex and the digest is the hex SHA-256 of the password followed by that
 * salt text. (The shorter `sha256|<password>` form would carry the password itself, so it is never used.)
 */
export function redshiftSha256Hash(password: string, options: RedshiftSha256Options = {}): string {
  const salt = Buffer.from(options.salt ?? randomBytes(32));
  if (salt.length !== 32) throw new RangeError('a Redshift SHA-256 salt is 32 bytes (256 bits)');
  const saltHex = salt.toString('hex');
  const digest = createHash('sha256')
    .update(Buffer.from(password + saltHex, 'utf8'))
    .digest('hex');
  return `sha256|${digest}|${saltHex}`;
}

/** The form `ALTER USER … PASSWORD` is sent for a Redshift user. */
export function redshiftPasswordHash(form: RedshiftPasswordHash, password: string, username: string): string {
  return form === 'md5' ? redshiftMd5Hash(password, username) : redshiftSha256Hash(password);
}

/**
 * The settings of a password policy that let it produce passwords Redshift refuses, as phrases
 * naming the variable and its fix. Empty when every password the policy makes meets the rules.
 */
export function redshiftPolicyProblems(policy: PasswordPolicy): string[] {
  const problems: string[] = [];
  const { min, max } = REDSHIFT_PASSWORD_LENGTH;
  if (policy.length < min || policy.length > max) {
    problems.push(`PASSWORD_LENGTH is ${policy.length}; set it from ${min} to ${max}`);
  }
  if (policy.excludeUppercase) problems.push('EXCLUDE_UPPERCASE is set; unset it');
  if (policy.excludeLowercase) problems.push('EXCLUDE_LOWERCASE is set; unset it');
  if (policy.excludeNumbers) problems.push('EXCLUDE_NUMBERS is set; unset it');
  if (policy.includeSpace) problems.push('INCLUDE_SPACE is set; unset it');
  if (!policy.requireEachIncludedType) {
    problems.push('REQUIRE_EACH_INCLUDED_TYPE is false; leave it on so every password has each class');
  }
  const letThrough = policy.excludePunctuation
    ? []
    : [...REDSHIFT_EXCLUDED_CHARACTERS].filter((c) => !policy.excludeCharacters.includes(c));
  if (letThrough.length > 0)
    problems.push(`EXCLUDE_CHARACTERS lets ${letThrough.join(' ')} through; add them`);
  return problems;
}
