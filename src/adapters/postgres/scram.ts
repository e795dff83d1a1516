import { nodeCrypto } from '../../core/node-crypto.ts';

export const DEFAULT_SCRAM_ITERATIONS = 4096;

const SALT_BYTES = 16;

interface ScramOptions {
  readonly iterations?: number;
  readonly salt?: Uint8Array;
}

/**
 * Sent as the password, so it never travels in SQL that logs could record. Non-ASCII passwords are refused:
 * a verifier without the server's exact SASLprep would lock the user out.
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
  const { createHash, pbkdf2Sync, randomBytes } = nodeCrypto();
  const salt = Buffer.from(options.salt ?? randomBytes(SALT_BYTES));
  const saltedPassword = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(saltedPassword, 'Client Key');
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = hmac(saltedPassword, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function hmac(key: Buffer, message: string): Buffer {
  return nodeCrypto().createHmac('sha256', key).update(message, 'utf8').digest();
}
