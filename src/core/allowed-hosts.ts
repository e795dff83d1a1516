import { isIP } from 'node:net';
import { type Env, envString } from './config.js';
import { ConfigurationError } from './errors.js';

/**
 * A deployer's list of host names a credential may be sent to: exact names, IP addresses, or
 * `*.suffix` patterns that match any name ending in `.suffix` (never `suffix` itself).
 *
 * @example
 * ```ts
 * const hosts = readHostAllowlist(process.env, 'DATABASE_ALLOWED_HOSTS');
 * if (hosts && !hosts.allows('db.internal.example.com')) throw new Error('refused');
 * ```
 */
export interface HostAllowlist {
  /** The environment variable the list came from, for error messages. */
  readonly variable: string;
  /** The entries as written (lower-cased, trailing dots removed). */
  readonly entries: readonly string[];
  /** Whether `host` is listed exactly or matches a `*.suffix` entry. */
  allows(host: string): boolean;
  /** Whether `host` is listed exactly (patterns do not count). */
  listsExactly(host: string): boolean;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Lower-case, drop one trailing dot and IPv6 brackets, so equal hosts compare equal. */
export function normalizeHost(host: string): string {
  let normalized = host.trim().toLowerCase();
  if (normalized.startsWith('[') && normalized.endsWith(']')) normalized = normalized.slice(1, -1);
  if (normalized.endsWith('.')) normalized = normalized.slice(0, -1);
  return normalized;
}

function isHostName(name: string): boolean {
  return name.length <= 253 && name.split('.').every((label) => LABEL.test(label));
}

function parseEntry(variable: string, raw: string): string {
  const entry = normalizeHost(raw);
  if (entry.startsWith('*.')) {
    const suffix = entry.slice(2);
    // "*.com" would allow a whole public suffix; a pattern needs at least two labels after "*.".
    if (!isHostName(suffix) || !suffix.includes('.')) {
      throw new ConfigurationError(
        variable,
        `has the pattern "${raw}", which is not "*." followed by a domain of at least two labels; write e.g. "*.internal.example.com"`,
      );
    }
    return entry;
  }
  if (isIP(entry) !== 0 || isHostName(entry)) return entry;
  throw new ConfigurationError(
    variable,
    `has the entry "${raw}", which is neither a host name, an IP address nor a "*.suffix" pattern; separate entries with commas`,
  );
}

/** Parse a comma-separated host list; `undefined` when the list is empty or absent. */
export function parseHostAllowlist(variable: string, raw: string | undefined): HostAllowlist | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const entries = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => parseEntry(variable, part));
  if (entries.length === 0) return undefined;
  const exact = new Set(entries.filter((entry) => !entry.startsWith('*.')));
  const suffixes = entries.filter((entry) => entry.startsWith('*.')).map((entry) => entry.slice(1));
  return {
    variable,
    entries,
    listsExactly: (host) => exact.has(normalizeHost(host)),
    allows(host) {
      const name = normalizeHost(host);
      if (exact.has(name)) return true;
      // IP addresses only ever match exact entries.
      if (isIP(name) !== 0) return false;
      return suffixes.some((suffix) => name.endsWith(suffix) && name.length > suffix.length);
    },
  };
}

/** Read and parse the host list held in environment variable `variable`. */
export function readHostAllowlist(env: Env, variable: string): HostAllowlist | undefined {
  return parseHostAllowlist(variable, envString(env, variable));
}
