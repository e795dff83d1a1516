import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** PostgreSQL's default iteration count (`scram_iterations`), and ours. */
export const DEFAULT_SCRAM_ITERATIONS = 4096;

/** Salt length PostgreSQL uses for the verifiers it builds itself. */
const SALT_BYTES = 16;

/** Options of {@link scramSha256Verifier}. */
export interface ScramOptions {
  /** PBKDF2 iterations, 4096 by default. PostgreSQL accepts any count from 1. */
  readonly iterations?: number;
  /** The salt; random (16 bytes) unless given. Tests pass a fixed one to compare with known vectors. */
  readonly salt?: Uint8Array;
}

/**
 * The SCRAM-SHA-256 verifier of a password, in the form PostgreSQL stores in `pg_authid`:
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, RFC 7677, all base64).
 *
 * Sent as `ALTER ROLE … PASSWORD '<verifier>'`, the server stores it as it is, so the password
 * itself never travels in SQL text that `log_statement` or `pg_stat_statements` could record.
 *
 * Passwords must be printable ASCII (every password policy of docs/protocol.md#password-policy produces one). The server
 * runs SASLprep over non-ASCII passwords before hashing them, and a client-side verifier that
 * skipped or approximated it would lock the user out, so those are refused here instead.
 */
export function scramSha256Verifier(password: string, options: ScramOptions = {}): string {
  if (!/^[\x20-\x7e]+$/.test(password)) {
    throw new RangeError(
      'a SCRAM verifier is only built for non-empty printable ASCII passwords; check the password policy (EXCLUDE_CHARACTERS and friends)',
    );
  }
  const iterations = options.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`SCRAM iterations must be a whole number from 1, got ${iterations}`);
  }
  const salt = Buffer.from(options.salt ?? randomBytes(SALT_BYTES));
  const saltedPassword = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(saltedPassword, 'Client Key');
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = hmac(saltedPassword, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function hmac(key: Buffer, message: string): Buffer {
  return createHmac('sha256', key).update(message, 'utf8').digest();
}
