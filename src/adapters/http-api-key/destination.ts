/**
 * Where the adapter may send a key: the host of `baseUrl` must be one the deployer listed in
 * `HTTP_API_KEY_ALLOWED_HOSTS`, and every address it resolves to must be public unless that
 * address is listed itself. The address that passed the check is the one connected to, so a DNS
 * answer that changes between the check and the connection (DNS rebinding) cannot redirect a key.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { type HostAllowlist, normalizeHost, specialAddressKind } from '../../core/allowed-hosts.ts';
import { ConfigurationError } from '../../core/errors.ts';

/**
 * The environment variable listing the hosts a key may be sent to (exact names, IP addresses,
 * `*.suffix` patterns).
 */
export const HTTP_API_KEY_ALLOWED_HOSTS = 'HTTP_API_KEY_ALLOWED_HOSTS';

/**
 * A DNS lookup returning every address of a name, as `dns.promises.lookup(name, { all: true })`
 * does. Replaceable in tests to play a hostile resolver.
 */
export type AddressLookup = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

/** The rules a provider client applies before it sends anything. */
export interface DestinationPolicy {
  /** `HTTP_API_KEY_ALLOWED_HOSTS`, parsed; `undefined` when unset. */
  readonly allowlist: HostAllowlist | undefined;
  /** Where `baseUrl` came from, for error messages. */
  readonly baseUrlFrom: string;
  /** Refuse every host when the list is unset (the configuration came from the secret itself). */
  readonly requireAllowlist: boolean;
  /** Default: the system resolver (`dns.lookup`, as Node's own connections use). */
  readonly lookup?: AddressLookup;
}

/** The checked address to connect to for a URL's host. */
export interface Destination {
  readonly hostname: string;
  readonly address: string;
  readonly family: 4 | 6;
}

const systemLookup: AddressLookup = (hostname) =>
  dns.promises.lookup(hostname, { all: true, verbatim: true });

/**
 * Checks `url`'s host against the policy, resolves it, checks every address, and returns the one
 * to connect to. Throws a {@link ConfigurationError} naming `HTTP_API_KEY_ALLOWED_HOSTS` before
 * anything is sent; DNS failures are thrown as they are (network errors, retried by the caller).
 */
export async function checkedDestination(url: URL, policy: DestinationPolicy): Promise<Destination> {
  const hostname = normalizeHost(url.hostname);
  const { allowlist } = policy;
  if (!allowlist) {
    if (policy.requireAllowlist) {
      throw new ConfigurationError(
        HTTP_API_KEY_ALLOWED_HOSTS,
        `is not set, so host ${hostname} named by ${policy.baseUrlFrom} is refused: a secret may only send its key to hosts the deployer listed. Set ${HTTP_API_KEY_ALLOWED_HOSTS} to the provider's host (or configure the function with HTTP_API_KEY_CONFIG instead)`,
      );
    }
  } else if (!allowlist.allows(hostname)) {
    throw new ConfigurationError(
      HTTP_API_KEY_ALLOWED_HOSTS,
      `does not list host ${hostname} named by ${policy.baseUrlFrom}; no key is sent there. Add the host to ${HTTP_API_KEY_ALLOWED_HOSTS} if it is the provider's`,
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
        `does not list ${address}: host ${hostname} named by ${policy.baseUrlFrom} ${resolved}a ${kind} address, and keys go to ${kind} addresses only when ${HTTP_API_KEY_ALLOWED_HOSTS} lists that exact address`,
      );
    }
  }
  const chosen = addresses[0]!;
  return { hostname, address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}
