import { SecretShapeError } from '../../core/errors.ts';
import { type HostKeyPins, parseHost, parseSecretPins, type SshHost } from './hosts.ts';
import {
  MAX_RSA_BITS,
  MIN_RSA_BITS,
  parsePublicKeyLine,
  publicKeyOf,
  SSH_KEY_TYPES,
  type SshKeyType,
  type SshPublicKey,
} from './keys.ts';

/** Where the keys go: from the JSON fields, or from the tags of a binary secret. */
export interface SshDestination {
  readonly username: string;
  readonly hosts: readonly SshHost[];
  readonly hostKeys: HostKeyPins;
  readonly authorizedKeysFile: string;
  readonly keyType: SshKeyType;
  readonly keyBits: number;
}

export interface SshKeySecret {
  /** `json`: a SecretString object; `binary`: SecretBinary holding the private key file. */
  readonly format: 'json' | 'binary';
  readonly privateKey: string;
  readonly publicKey: SshPublicKey;
  /** JSON only: every stored field, kept as it was. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** JSON only; a binary secret's destination comes from its tags. */
  readonly destination: SshDestination | undefined;
}

const DEFAULT_AUTHORIZED_KEYS_FILE = '~/.ssh/authorized_keys';

/** The tags that describe a binary secret (tag values cannot hold commas: hosts are separated by spaces). */
const SSH_TAGS = {
  username: 'ssh:username',
  hosts: 'ssh:hosts',
  authorizedKeysFile: 'ssh:authorized-keys-file',
  keyType: 'ssh:key-type',
} as const;

const USERNAME = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;
// Safe inside single quotes anyway; this refuses what no authorized_keys path holds.
const KEYS_FILE = /^(?:~\/)?[A-Za-z0-9._/%+@-]+$/;

export function parseJsonSecret(raw: string): SshKeySecret {
  let fields: unknown;
  try {
    fields = JSON.parse(raw);
  } catch {
    throw new SecretShapeError(
      '(value)',
      'is not JSON',
      'store a JSON object with privateKey, username and hosts, or the private key file as SecretBinary',
    );
  }
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    throw new SecretShapeError(
      '(value)',
      'is not a JSON object',
      'store {"privateKey": …, "username": …, "hosts": […]}',
    );
  }
  const record = fields as Record<string, unknown>;
  const privateKey = requiredString(record, 'privateKey', 'the OpenSSH private key, without passphrase');
  const publicKey = publicKeyOf(privateKey, 'privateKey');
  if (record.publicKey !== undefined) {
    const stored = parsePublicKeyLine(
      typeof record.publicKey === 'string' ? record.publicKey : '',
      'publicKey',
    );
    if (stored.blob !== publicKey.blob) {
      throw new SecretShapeError(
        'publicKey',
        'is not the public half of privateKey',
        'remove publicKey (it is derived) or store the matching one',
      );
    }
  }
  const hostsField = record.hosts;
  if (!Array.isArray(hostsField) || hostsField.length === 0 || hostsField.length > 50) {
    throw new SecretShapeError(
      'hosts',
      'is not a list of 1 to 50 hosts',
      'write e.g. ["web1.internal", "10.0.0.7:2222"]',
    );
  }
  const destination = checkDestination({
    username: requiredString(record, 'username', 'the account whose authorized_keys holds the key'),
    hosts: hostsField.map((entry, index) => hostEntry(entry, `hosts[${index}]`)),
    hostKeys: parseSecretPins(record.hostKeys),
    authorizedKeysFile: optionalString(record, 'authorizedKeysFile') ?? DEFAULT_AUTHORIZED_KEYS_FILE,
    keyType: keyTypeOf(optionalString(record, 'keyType'), 'keyType'),
    keyBits: keyBitsOf(record.keyBits),
  });
  return {
    format: 'json',
    privateKey,
    publicKey: { ...publicKey, line: publicKeyLine(record, publicKey) },
    fields: record,
    destination,
  };
}

export function parseBinarySecret(raw: Uint8Array): SshKeySecret {
  const privateKey = Buffer.from(raw).toString('utf8');
  return {
    format: 'binary',
    privateKey,
    publicKey: publicKeyOf(privateKey, '(value)'),
    fields: {},
    destination: undefined,
  };
}

/** The same value with a new key pair; a JSON secret keeps every other field. */
export function withKeyPair(secret: SshKeySecret, privateKey: string, publicKeyLine: string): SshKeySecret {
  const publicKey = parsePublicKeyLine(publicKeyLine, 'publicKey');
  const fields = secret.format === 'json' ? { ...secret.fields, privateKey, publicKey: publicKey.line } : {};
  return { ...secret, privateKey, publicKey, fields };
}

export function serializeSshSecret(secret: SshKeySecret): string | Uint8Array {
  if (secret.format === 'binary') return new Uint8Array(Buffer.from(secret.privateKey, 'utf8'));
  return JSON.stringify({
    ...secret.fields,
    privateKey: secret.privateKey,
    publicKey: secret.publicKey.line,
  });
}

export function destinationFromTags(tags: ReadonlyMap<string, string>): SshDestination {
  const tag = (name: string) => tags.get(name)?.trim() || undefined;
  const username = tag(SSH_TAGS.username);
  const hosts = tag(SSH_TAGS.hosts);
  if (!username || !hosts) {
    throw new SecretShapeError(
      username ? SSH_TAGS.hosts : SSH_TAGS.username,
      'is not a tag of this binary secret',
      `tag the secret with ${SSH_TAGS.username} (the account) and ${SSH_TAGS.hosts} (hosts separated by spaces), or store the JSON form`,
    );
  }
  return checkDestination({
    username,
    hosts: hosts.split(/\s+/).map((entry) => hostEntry(entry, SSH_TAGS.hosts)),
    hostKeys: new Map(),
    authorizedKeysFile: tag(SSH_TAGS.authorizedKeysFile) ?? DEFAULT_AUTHORIZED_KEYS_FILE,
    keyType: keyTypeOf(tag(SSH_TAGS.keyType), SSH_TAGS.keyType),
    keyBits: MIN_RSA_BITS,
  });
}

function checkDestination(destination: SshDestination): SshDestination {
  if (!USERNAME.test(destination.username)) {
    throw new SecretShapeError(
      'username',
      'is not a POSIX account name',
      'use the login name of an account on the hosts',
    );
  }
  if (
    !KEYS_FILE.test(destination.authorizedKeysFile) ||
    destination.authorizedKeysFile.split('/').includes('..')
  ) {
    throw new SecretShapeError(
      'authorizedKeysFile',
      'is not a plain path (letters, digits, . _ / % + @ -, optionally starting with ~/, no "..")',
      `leave it out for ${DEFAULT_AUTHORIZED_KEYS_FILE}, or give the path sshd's AuthorizedKeysFile names for this account`,
    );
  }
  const labels = destination.hosts.map((host) => host.label);
  const repeated = labels.find((label, index) => labels.indexOf(label) !== index);
  if (repeated) throw new SecretShapeError('hosts', `lists ${repeated} twice`, 'list each host once');
  return destination;
}

function hostEntry(entry: unknown, field: string): SshHost {
  const host = typeof entry === 'string' ? parseHost(entry) : undefined;
  if (!host)
    throw new SecretShapeError(
      field,
      'is not a host name or address with an optional :port',
      'write e.g. "web1.internal" or "10.0.0.7:2222"',
    );
  return host;
}

function publicKeyLine(record: Record<string, unknown>, derived: SshPublicKey): string {
  return typeof record.publicKey === 'string' ? record.publicKey.trim() : derived.line;
}

function requiredString(record: Record<string, unknown>, field: string, what: string): string {
  const value = record[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new SecretShapeError(
      field,
      value === undefined ? 'is missing' : 'is not a non-empty string',
      `store ${what}`,
    );
  }
  return value;
}

function optionalString(record: Record<string, unknown>, field: string): string | undefined {
  const value = record[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw new SecretShapeError(field, 'is not a string', 'store a string or leave the field out');
  return value;
}

function keyTypeOf(value: string | undefined, field: string): SshKeyType {
  if (value === undefined) return 'ed25519';
  if ((SSH_KEY_TYPES as readonly string[]).includes(value)) return value as SshKeyType;
  throw new SecretShapeError(
    field,
    `is "${value.slice(0, 40)}", not one of ${SSH_KEY_TYPES.join(', ')}`,
    'use ed25519 (the default) or rsa',
  );
}

function keyBitsOf(value: unknown): number {
  if (value === undefined) return MIN_RSA_BITS;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_RSA_BITS ||
    value > MAX_RSA_BITS ||
    value % 1024 !== 0
  ) {
    throw new SecretShapeError(
      'keyBits',
      `is not a multiple of 1024 from ${MIN_RSA_BITS} to ${MAX_RSA_BITS}`,
      'leave it out for 3072, or write 4096',
    );
  }
  return value;
}
