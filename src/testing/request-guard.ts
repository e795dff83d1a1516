// The endpoint holds a developer's secrets, so no web page may reach it: `Host` defeats DNS
// rebinding, `Origin` any other page; bodies are capped at what the service itself accepts.
import { isIP } from 'node:net';
import { normalizeHost, specialAddressKind } from '../core/allowed-hosts.ts';

/** A 65,536-byte SecretString written as `\uXXXX` escapes takes 384 KiB: no accepted request is larger. */
export const MAX_REQUEST_BODY_BYTES = 512 * 1024;

type GuardVerdict =
  | { readonly ok: true; readonly corsOrigin: string | undefined }
  | { readonly ok: false; readonly status: number; readonly type: string; readonly message: string };

interface RequestGuardOptions {
  /** The address or name the endpoint listens on; served as a Host value unless it is a wildcard. */
  readonly listenHost: string;
  readonly allowedHosts?: readonly string[];
  readonly allowedOrigins?: readonly string[];
}

/** Whether `host` names this machine only: `localhost`, a `.localhost` name, or a loopback address. */
export function isLoopbackHost(host: string): boolean {
  const name = normalizeHost(host);
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return isIP(name) !== 0 && specialAddressKind(name) === 'loopback';
}

/** An origin as browsers send it; `undefined` when `text` is not an http(s) origin. */
export function normalizeOrigin(text: string): string | undefined {
  const url = URL.parse(text);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  // Credentials, a path, a query or a fragment make it a URL rather than an origin.
  const extras = url.username + url.password + url.search + url.hash;
  return extras || (url.pathname !== '/' && url.pathname !== '') ? undefined : url.origin;
}

export class RequestGuard {
  readonly #hosts: ReadonlySet<string>;
  readonly #origins: ReadonlySet<string>;

  constructor(options: RequestGuardOptions) {
    const hosts = new Set<string>();
    const listen = normalizeHost(options.listenHost);
    // A wildcard address names no host; anything else is what the user chose to be reached by.
    if (listen !== '' && listen !== '0.0.0.0' && listen !== '::') hosts.add(listen);
    for (const host of options.allowedHosts ?? []) hosts.add(normalizeHost(host));
    this.#hosts = hosts;
    const origins = new Set<string>();
    for (const origin of options.allowedOrigins ?? []) {
      const normalized = normalizeOrigin(origin);
      if (!normalized) {
        throw new TypeError(
          `allowedOrigins: "${origin}" is not an origin; write scheme://host[:port], e.g. http://localhost:3000`,
        );
      }
      origins.add(normalized);
    }
    this.#origins = origins;
  }

  check(host: string | undefined, origin: string | undefined): GuardVerdict {
    if (host === undefined || host === '') {
      return refuse(400, 'the request has no Host header');
    }
    const hostname = hostnameOf(host);
    if (hostname === undefined || (!isLoopbackHost(hostname) && !this.#hosts.has(hostname))) {
      return refuse(
        403,
        `this local endpoint serves only this machine: Host "${host.slice(0, 100)}" is not a loopback name or the address it listens on (a web page using DNS rebinding looks like this). Use http://127.0.0.1:<port>, or start it with --allow-host NAME`,
      );
    }
    if (origin === undefined) return { ok: true, corsOrigin: undefined };
    const normalized = normalizeOrigin(origin);
    if (normalized === undefined || !this.#origins.has(normalized)) {
      return refuse(
        403,
        `requests from web pages are refused unless their origin is allowed: Origin "${origin.slice(0, 100)}" is not (start the endpoint with --allow-origin ORIGIN, or allowedOrigins in code, to allow it)`,
      );
    }
    return { ok: true, corsOrigin: normalized };
  }
}

function refuse(status: number, message: string): GuardVerdict {
  return { ok: false, status, type: 'AccessDeniedException', message };
}

/** The host name of a Host header (`name`, `name:port`, `[v6]:port`); `undefined` when malformed. */
function hostnameOf(host: string): string | undefined {
  const text = host.trim();
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) return normalizeHost(bracketed[1]!);
  const plain = /^([^:[\]\s/@]+)(?::\d{1,5})?$/.exec(text);
  return plain ? normalizeHost(plain[1]!) : undefined;
}
