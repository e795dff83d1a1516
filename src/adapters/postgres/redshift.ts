/**
 * Redshift stores no SCRAM verifiers: its MD5/SHA-256 password forms are built here so the password never
 * travels in SQL, and its rules are checked first (the server cannot check a hash).
 */
import { SecretShapeError } from '../../core/errors.ts';
import { nodeCrypto } from '../../core/node-crypto.ts';
import type { PasswordPolicy } from '../../core/password.ts';

export type RedshiftPasswordHash = 'md5' | 'sha256';

export const REDSHIFT_PASSWORD_HASHES = ['md5', 'sha256'] as const;

const REDSHIFT_PASSWORD_LENGTH = { min: 8, max: 64 } as const;

/** Besides anything outside ASCII 33–126. */
const REDSHIFT_EXCLUDED_CHARACTERS = '\'"\\/@';

/** Short phrases that never quote the password; empty when it passes. */
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

export function checkRedshiftPassword(password: string, field: string): void {
  const problems = redshiftPasswordProblems(password);
  if (problems.length === 0) return;
  throw new SecretShapeError(
    field,
    `does not meet Amazon Redshift's password rules: it ${problems.join('; ')} (nothing was changed)`,
    'keep PASSWORD_LENGTH from 8 to 64, leave EXCLUDE_UPPERCASE, EXCLUDE_LOWERCASE and EXCLUDE_NUMBERS unset, REQUIRE_EACH_INCLUDED_TYPE on, and keep \' " \\ / @ in EXCLUDE_CHARACTERS (the default does)',
  );
}

export function redshiftMd5Hash(password: string, username: string): string {
  const digest = nodeCrypto()
    .createHash('md5')
    .update(Buffer.from(password + username, 'utf8'))
    .digest('hex');
  return `md5${digest}`;
}

interface RedshiftSha256Options {
  /** Random unless given (tests compare with a known value). */
  readonly salt?: Uint8Array;
}

/**
 * `sha256|<digest>|<salt>`; the shorter `sha256|<password>` form would carry the password, so it is never
 * used.
 */
export function redshiftSha256Hash(password: string, options: RedshiftSha256Options = {}): string {
  const { createHash, randomBytes } = nodeCrypto();
  const salt = Buffer.from(options.salt ?? randomBytes(32));
  if (salt.length !== 32) throw new RangeError('a Redshift SHA-256 salt is 32 bytes (256 bits)');
  const saltHex = salt.toString('hex');
  const digest = createHash('sha256')
    .update(Buffer.from(password + saltHex, 'utf8'))
    .digest('hex');
  return `sha256|${digest}|${saltHex}`;
}

export function redshiftPasswordHash(form: RedshiftPasswordHash, password: string, username: string): string {
  return form === 'md5' ? redshiftMd5Hash(password, username) : redshiftSha256Hash(password);
}

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
