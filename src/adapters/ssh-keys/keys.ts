import { createHash } from 'node:crypto';
import { SecretShapeError } from '../../core/errors.ts';
import { loadedSsh2, loadSsh2 } from './ssh2-loader.ts';

export type SshKeyType = 'ed25519' | 'rsa';
export const SSH_KEY_TYPES: readonly SshKeyType[] = ['ed25519', 'rsa'];
export const MIN_RSA_BITS = 3072;
export const MAX_RSA_BITS = 8192;

/** A public key as one authorized_keys line: `type base64 [comment]`. */
export interface SshPublicKey {
  readonly type: string;
  readonly blob: string;
  readonly line: string;
}

const PUBLIC_KEY_LINE =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) ([A-Za-z0-9+/]+={0,2})(?: [\x20-\x7e]*)?$/;

/** Parses a private key; ssh2's messages never quote key material, but ours name only the field. */
export function publicKeyOf(privateKey: string, field: string): SshPublicKey {
  if (!privateKey.includes('-----BEGIN ')) {
    throw new SecretShapeError(
      field,
      'is not a PEM private key',
      'store the OpenSSH private key file (-----BEGIN OPENSSH PRIVATE KEY-----)',
    );
  }
  const parsed = loadedSsh2().utils.parseKey(privateKey);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    throw new SecretShapeError(
      field,
      encrypted ? 'is protected by a passphrase' : 'is not a private key ssh2 can read',
      encrypted
        ? 'store the key without a passphrase (Secrets Manager encrypts it at rest)'
        : 'store an unencrypted OpenSSH, PKCS#1 or PKCS#8 private key (ed25519 or RSA)',
    );
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey())
    throw new SecretShapeError(field, 'holds a public key, not a private key', 'store the private key');
  const blob = key.getPublicSSH().toString('base64');
  return { type: key.type, blob, line: `${key.type} ${blob}` };
}

/** Parses a stored public key line, keeping its comment. */
export function parsePublicKeyLine(line: string, field: string): SshPublicKey {
  const match = PUBLIC_KEY_LINE.exec(line.trim());
  if (!match) {
    throw new SecretShapeError(
      field,
      'is not one OpenSSH public key line',
      'store "ssh-ed25519 AAAA… comment" or leave the field out',
    );
  }
  return { type: match[1]!, blob: match[2]!, line: line.trim() };
}

/**
 * A new key pair in OpenSSH format. ssh2 drops a leading zero byte from some ed25519 keys (about 1
 * in 150), making a file neither it nor OpenSSH reads: such a pair is made again.
 */
export async function generateSshKeyPair(
  type: SshKeyType,
  bits: number,
  comment: string,
): Promise<{ privateKey: string; publicKey: string }> {
  const ssh2 = await loadSsh2();
  for (let attempt = 1; attempt <= 10; attempt += 1) {
    const keys = await new Promise<{ privateKey: string; publicKey: string }>((resolve, reject) => {
      const options = type === 'rsa' ? { bits, comment } : { comment };
      ssh2.utils.generateKeyPair(type, options, (error, pair) =>
        error ? reject(error) : resolve({ privateKey: pair.private, publicKey: pair.public }),
      );
    });
    if (readable(keys)) return keys;
  }
  throw new Error(`ssh2 made no readable ${type} key pair in 10 attempts`);
}

function readable(keys: { privateKey: string; publicKey: string }): boolean {
  const parsed = loadedSsh2().utils.parseKey(keys.privateKey);
  if (parsed instanceof Error || Array.isArray(parsed)) return false;
  const blob = parsed.getPublicSSH();
  // An ed25519 blob is 51 bytes: type name and 32-byte key, each with its length.
  return (
    blob.toString('base64') === keys.publicKey.split(' ')[1] &&
    (parsed.type !== 'ssh-ed25519' || blob.length === 51)
  );
}

/** OpenSSH's `SHA256:` fingerprint of a key blob (base64 or raw). */
export function fingerprintOf(blob: string | Buffer): string {
  const bytes = typeof blob === 'string' ? Buffer.from(blob, 'base64') : blob;
  return `SHA256:${createHash('sha256').update(bytes).digest('base64').replace(/=+$/, '')}`;
}

/** The base64 body of a PEM text, without header or line breaks: how a key may show up re-wrapped. */
export function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}
