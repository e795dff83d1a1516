import { isIP } from 'node:net';
import { type HostAllowlist, normalizeHost, readHostAllowlist } from '../../core/allowed-hosts.ts';
import { type Env, envInteger, envString } from '../../core/config.ts';
import { ConfigurationError, SecretShapeError } from '../../core/errors.ts';
import { fingerprintOf } from './keys.ts';

const DEFAULT_SSH_PORT = 22;

export const SSH_ENV = {
  allowedHosts: 'SSH_ALLOWED_HOSTS',
  hostKeys: 'SSH_HOST_KEYS',
  connectTimeoutMs: 'SSH_CONNECT_TIMEOUT_MS',
  commandTimeoutMs: 'SSH_COMMAND_TIMEOUT_MS',
} as const;

export interface SshHost {
  readonly host: string;
  readonly port: number;
  /** `host:port` (`[v6]:port`), for messages and pin lookups. */
  readonly label: string;
}

/** Pinned host key fingerprints by host label. */
export type HostKeyPins = ReadonlyMap<string, ReadonlySet<string>>;

export interface SshSettings {
  readonly allowedHosts: HostAllowlist | undefined;
  readonly hostKeys: HostKeyPins;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

export function readSshSettings(env: Env): SshSettings {
  return {
    allowedHosts: readHostAllowlist(env, SSH_ENV.allowedHosts),
    hostKeys: parseDeployerPins(envString(env, SSH_ENV.hostKeys)),
    connectTimeoutMs: envInteger(env, SSH_ENV.connectTimeoutMs, { default: 10_000, min: 500, max: 120_000 }),
    commandTimeoutMs: envInteger(env, SSH_ENV.commandTimeoutMs, { default: 15_000, min: 500, max: 300_000 }),
  };
}

const HOST_PORT = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/;

/** `host`, `host:port`, `[v6]:port` or a bare IPv6 address; `undefined` when it is none of them. */
export function parseHost(text: string): SshHost | undefined {
  const trimmed = text.trim();
  if (isIP(trimmed) === 6) return hostAt(trimmed, DEFAULT_SSH_PORT);
  const match = HOST_PORT.exec(trimmed);
  if (!match) return undefined;
  const port = match[3] === undefined ? DEFAULT_SSH_PORT : Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  const host = normalizeHost(match[1] ?? match[2]!);
  if (!/^[a-z0-9.:_-]+$/.test(host)) return undefined;
  return hostAt(host, port);
}

function hostAt(host: string, port: number): SshHost {
  const name = normalizeHost(host);
  return { host: name, port, label: `${name.includes(':') ? `[${name}]` : name}:${port}` };
}

/** A fingerprint as pinned: `SHA256:…` as is, a public key (`type base64`) turned into its fingerprint. */
function pinOf(text: string): string | undefined {
  const words = text.trim().split(/\s+/);
  if (words.length === 1 && /^SHA256:[A-Za-z0-9+/]{43}$/.test(words[0]!)) return words[0];
  if (words.length >= 2 && /^(ssh-|ecdsa-)/.test(words[0]!) && /^[A-Za-z0-9+/]+={0,2}$/.test(words[1]!)) {
    return fingerprintOf(words[1]!);
  }
  return undefined;
}

function addPin(pins: Map<string, Set<string>>, host: SshHost, pin: string): void {
  const set = pins.get(host.label) ?? new Set<string>();
  set.add(pin);
  pins.set(host.label, set);
}

/**
 * `SSH_HOST_KEYS`: entries separated by `;` or new lines, each `host[:port] SHA256:…` or a
 * known_hosts line (`host[,host…] ssh-ed25519 AAAA…`, `[host]:port …`); hashed names cannot be read.
 */
export function parseDeployerPins(raw: string | undefined): HostKeyPins {
  const pins = new Map<string, Set<string>>();
  for (const entry of (raw ?? '').split(/[;\n]/).map((part) => part.trim())) {
    if (entry === '' || entry.startsWith('#')) continue;
    const [names = '', ...rest] = entry.split(/\s+/);
    const pin = pinOf(rest.join(' '));
    const hosts = names.split(',').map(parseHost);
    if (!pin || hosts.some((host) => !host) || names.startsWith('|')) {
      throw new ConfigurationError(
        SSH_ENV.hostKeys,
        `has the entry "${entry.slice(0, 120)}", which is not "host[:port] SHA256:<fingerprint>" nor a known_hosts line with plain host names; separate entries with ";" or new lines`,
      );
    }
    for (const host of hosts) addPin(pins, host!, pin);
  }
  return pins;
}

/** The secret's own `hostKeys`: an object from `host[:port]` to a fingerprint or public key, or a list of them. */
export function parseSecretPins(value: unknown): HostKeyPins {
  const pins = new Map<string, Set<string>>();
  if (value === undefined) return pins;
  const fix =
    'write {"host:port": "SHA256:…"} (from ssh-keygen -lf on the host key) or the host\'s public key line';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SecretShapeError('hostKeys', 'is not an object', fix);
  }
  for (const [name, pinned] of Object.entries(value)) {
    const host = parseHost(name);
    const list = Array.isArray(pinned) ? pinned : [pinned];
    const found = list.map((item) => (typeof item === 'string' ? pinOf(item) : undefined));
    if (!host || list.length === 0 || found.some((pin) => pin === undefined)) {
      throw new SecretShapeError(
        `hostKeys.${name.slice(0, 100)}`,
        'is not a host with SHA256 fingerprints or public keys',
        fix,
      );
    }
    for (const pin of found) addPin(pins, host, pin!);
  }
  return pins;
}

export function pinsFor(host: SshHost, ...sources: HostKeyPins[]): Set<string> {
  const found = new Set<string>();
  for (const source of sources) for (const pin of source.get(host.label) ?? []) found.add(pin);
  return found;
}

/** Refuses a host `SSH_ALLOWED_HOSTS` does not list, before any key is sent to it. */
export function refuseUnlistedSshHost(
  host: SshHost,
  allowed: HostAllowlist | undefined,
  field: string,
): void {
  if (allowed === undefined || allowed.allows(host.host)) return;
  throw new SecretShapeError(
    field,
    `names ${host.label}, which ${allowed.variable} does not list (${allowed.entries.join(', ')}), so nothing was sent to it`,
    `list only allowed hosts in the secret, or have the deployer add the host to ${allowed.variable}`,
  );
}
