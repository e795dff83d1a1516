import { isIP } from 'node:net';
import { type Env, envString } from './config.ts';
import { ConfigurationError } from './errors.ts';

/** Hosts a credential may be sent to: exact names, IP addresses, or `*.suffix` (never `suffix` itself). */
export interface HostAllowlist {
  readonly variable: string;
  readonly entries: readonly string[];
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

export function readHostAllowlist(env: Env, variable: string): HostAllowlist | undefined {
  return parseHostAllowlist(variable, envString(env, variable));
}

/** What kind of non-public address an IP is (`undefined`: public); IPv4 inside IPv6 is judged as IPv4. */
export function specialAddressKind(address: string): SpecialAddressKind | undefined {
  const normalized = normalizeHost(address);
  const family = isIP(normalized);
  if (family === 4) return ipv4Kind(ipv4Number(normalized));
  if (family === 6) return ipv6Kind(ipv6Words(normalized));
  return undefined;
}

type SpecialAddressKind = 'loopback' | 'link-local' | 'private' | 'reserved';

const IPV4_BLOCKS: ReadonlyArray<readonly [string, number, SpecialAddressKind]> = [
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['100.64.0.0', 10, 'private'],
  ['0.0.0.0', 8, 'reserved'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 3, 'reserved'],
];

function ipv4Number(address: string): number {
  return address.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

function ipv4Kind(value: number): SpecialAddressKind | undefined {
  for (const [base, bits, kind] of IPV4_BLOCKS) {
    const size = 2 ** (32 - bits);
    const start = ipv4Number(base);
    if (value >= start && value < start + size) return kind;
  }
  return undefined;
}

/** The eight 16-bit words of an IPv6 address (a trailing dotted IPv4 part counts as two). */
function ipv6Words(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const value = ipv4Number(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) =>
    part === '' ? [] : part.split(':').map((word) => Number.parseInt(word, 16));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  return [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
}

function ipv6Kind(words: number[]): SpecialAddressKind | undefined {
  const [first = 0] = words;
  const embeddedV4 = ((words[6]! << 16) + words[7]!) >>> 0;
  const zeroUntil = (index: number) => words.slice(0, index).every((word) => word === 0);
  if (zeroUntil(7) && words[7] === 1) return 'loopback';
  if (zeroUntil(8)) return 'reserved';
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d).
  if ((zeroUntil(5) && words[5] === 0xffff) || zeroUntil(6)) return ipv4Kind(embeddedV4);
  if (first === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((word) => word === 0)) {
    return ipv4Kind(embeddedV4);
  }
  if ((first & 0xffc0) === 0xfe80) return 'link-local';
  if ((first & 0xfe00) === 0xfc00) return 'private';
  if ((first & 0xff00) === 0xff00) return 'reserved';
  if (first === 0x2001 && words[1] === 0x0db8) return 'reserved';
  return undefined;
}
