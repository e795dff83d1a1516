/**
 * Where the adapter may send a key: the host of `baseUrl` must be one the deployer listed in
 * `HTTP_API_KEY_ALLOWED_HOSTS`, and every address it resolves to must be public unless that
 * address is listed itself. The address that passed the check is the one connected to, so a DNS
 * answer that changes between the check and the connection (DNS rebinding) cannot redirect a key.
 */
import { isIP } from 'node:net';
import { type HostAllowlist, normalizeHost, specialAddressKind } from '../../core/allowed-hosts.ts';
import { ConfigurationError } from '../../core/errors.ts';

/** The environment variable listing the hosts a key may go to (exact names, IPs, `*.suffix` patterns). */
export const HTTP_API_KEY_ALLOWED_HOSTS = 'HTTP_API_KEY_ALLOWED_HOSTS';

/** Every address of a name, as `dns.promises.lookup(name, { all: true })`; tests play hostile resolvers with it. */
export type AddressLookup = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

/** The rules a provider client applies before it sends anything. */
export interface DestinationPolicy {
  /** `HTTP_API_KEY_ALLOWED_HOSTS`, parsed; `undefined` when unset. */
  readonly allowlist: HostAllowlist | undefined;
  /** The configuration came from the secret's writer: every host is refused while the list is unset. */
  readonly baseUrlFromSecret: boolean;
  /** Default: the system resolver (`dns.lookup`, as Node's own connections use). */
  readonly lookup?: AddressLookup;
}

/** The checked address to connect to for a URL's host. */
export interface Destination {
  readonly address: string;
  readonly family: 4 | 6;
}

// node:dns loads with the first lookup, not at cold start.
const systemLookup: AddressLookup = async (hostname) =>
  (await import('node:dns')).promises.lookup(hostname, { all: true, verbatim: true });

/**
 * The checked address to connect to for `url`'s host; a refusal is a {@link ConfigurationError}, a
 * DNS failure is thrown as it is (a network error, retried by the caller).
 */
export async function checkedDestination(url: URL, policy: DestinationPolicy): Promise<Destination> {
  const hostname = normalizeHost(url.hostname);
  const { allowlist } = policy;
  const baseUrlFrom = policy.baseUrlFromSecret ? "the secret's rotation.baseUrl" : 'baseUrl';
  if (!allowlist && policy.baseUrlFromSecret) {
    throw new ConfigurationError(
      HTTP_API_KEY_ALLOWED_HOSTS,
      `is not set, so host ${hostname} named by ${baseUrlFrom} is refused: a secret may only send its key to hosts the deployer listed. Set ${HTTP_API_KEY_ALLOWED_HOSTS} to the provider's host (or configure the function with HTTP_API_KEY_CONFIG instead)`,
    );
  }
  if (allowlist?.allows(hostname) === false) {
    throw new ConfigurationError(
      HTTP_API_KEY_ALLOWED_HOSTS,
      `does not list host ${hostname} named by ${baseUrlFrom}; no key is sent there. Add the host to ${HTTP_API_KEY_ALLOWED_HOSTS} if it is the provider's`,
    );
  }
  const literal = isIP(hostname);
  const addresses =
    literal === 0
      ? await (policy.lookup ?? systemLookup)(hostname)
      : [{ address: hostname, family: literal }];
  if (addresses.length === 0) {
    throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
  }
  for (const { address } of addresses) {
    const kind = specialAddressKind(address);
    if (kind !== undefined && !allowlist?.listsExactly(address)) {
      const resolved = literal === 0 ? `resolves to ${address}, ` : 'is ';
      throw new ConfigurationError(
        HTTP_API_KEY_ALLOWED_HOSTS,
        `does not list ${address}: host ${hostname} named by ${baseUrlFrom} ${resolved}a ${kind} address, and keys go to ${kind} addresses only when ${HTTP_API_KEY_ALLOWED_HOSTS} lists that exact address`,
      );
    }
  }
  const chosen = addresses[0]!;
  return { address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}
