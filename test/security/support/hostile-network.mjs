/**
 * The network and DNS an attacker controls, played inside one Node process: names answer with the
 * addresses the attack needs (a different answer on later lookups, for DNS rebinding), and
 * connections to addresses this machine does not have (the metadata service at 169.254.169.254,
 * a private 10.x host, a public provider) are routed to loopback, where the test's fake servers
 * listen on the same port and record what arrives.
 *
 * Plain JavaScript so that a deployed function's process can load it before the zip's code:
 *   node --import ./hostile-network.mjs   with   HOSTILE_NETWORK='{"dns":{…},"routes":{…}}'
 * Tests in the same process call {@link installHostileNetwork} instead. Nothing here touches the
 * code under test: only Node's resolver and socket connect, as a real network would behave.
 */
import dns from 'node:dns';
import net from 'node:net';

/** The environment variable holding the network's description as JSON. */
export const HOSTILE_NETWORK_VARIABLE = 'HOSTILE_NETWORK';

const originals = {
  lookup: dns.lookup,
  promisesLookup: dns.promises.lookup,
  connect: net.Socket.prototype.connect,
};

function familyOf(address) {
  return net.isIP(address) === 6 ? 6 : 4;
}

/**
 * Installs the network described by `config` in this process; returns a function that removes it.
 *
 * @param {{ dns?: Record<string, string[]>, routes?: Record<string, string> }} config
 *   `dns`: for each name, the address answered at the first lookup, then the next, the last one
 *   repeating; `routes`: address → loopback address a connection to it really goes to.
 */
export function installHostileNetwork(config) {
  const answers = config.dns ?? {};
  const routes = config.routes ?? {};
  const asked = new Map();
  const answerFor = (hostname) => {
    const name = String(hostname).toLowerCase();
    const list = answers[name];
    if (!list) return undefined;
    const count = asked.get(name) ?? 0;
    asked.set(name, count + 1);
    const address = list[Math.min(count, list.length - 1)];
    return { address, family: familyOf(address) };
  };

  dns.lookup = function hostileLookup(hostname, options, callback) {
    const done = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'object' && options !== null ? options : {};
    const answer = answerFor(hostname);
    if (!answer) return originals.lookup.call(dns, hostname, options, callback);
    process.nextTick(() => (opts.all ? done(null, [answer]) : done(null, answer.address, answer.family)));
    return {};
  };
  dns.promises.lookup = async function hostilePromisesLookup(hostname, options) {
    const answer = answerFor(hostname);
    if (!answer) return originals.promisesLookup.call(dns.promises, hostname, options);
    return options?.all ? [answer] : answer;
  };

  const reroute = (address) => routes[address] ?? address;
  net.Socket.prototype.connect = function hostileConnect(...args) {
    const first = args[0];
    const options = Array.isArray(first) ? first[0] : typeof first === 'object' ? first : undefined;
    if (options && typeof options === 'object') {
      if (typeof options.host === 'string' && routes[options.host]) options.host = routes[options.host];
      // Node's own resolver is used when the caller brings none: route its answers too.
      const byName = typeof options.host === 'string' && net.isIP(options.host) === 0;
      const lookup = options.lookup ?? (byName ? (...lookupArgs) => dns.lookup(...lookupArgs) : undefined);
      if (typeof lookup === 'function') {
        options.lookup = (hostname, lookupOptions, callback) =>
          lookup(hostname, lookupOptions, (error, address) => {
            if (error) return callback(error);
            if (Array.isArray(address)) {
              return callback(
                null,
                address.map((entry) => ({
                  address: reroute(entry.address),
                  family: familyOf(reroute(entry.address)),
                })),
              );
            }
            return callback(null, reroute(address), familyOf(reroute(address)));
          });
      }
    }
    return originals.connect.apply(this, args);
  };

  return () => {
    dns.lookup = originals.lookup;
    dns.promises.lookup = originals.promisesLookup;
    net.Socket.prototype.connect = originals.connect;
  };
}

const fromEnvironment = process.env[HOSTILE_NETWORK_VARIABLE];
if (fromEnvironment) installHostileNetwork(JSON.parse(fromEnvironment));
