/**
 * Who the local endpoint answers. It holds a developer's secrets and may run rotation functions
 * that log in to databases, so a web page must not reach it: a page using DNS rebinding sends its
 * own host name in `Host`, and any page's request carries its `Origin`. Only loopback host names
 * (and the name the endpoint was started with) are served, requests from a browser page only for
 * origins the user allowed, and bodies only up to what the service itself would accept.
 */
import { isIP } from 'node:net';
import { normalizeHost, specialAddressKind } from '../core/allowed-hosts.ts';

/**
 * The largest request body the endpoint reads: 512 KiB. The service's largest request is a
 * 65,536-byte SecretString; written entirely as JSON `\uXXXX` escapes it takes 384 KiB, so no
 * request the service accepts is larger. A bigger body is refused without being read.
 */
export const MAX_REQUEST_BODY_BYTES = 512 * 1024;

/** What the guard decides about a request, before its body is read. */
export type GuardVerdict =
  | { readonly ok: true; readonly corsOrigin: string | undefined }
  | { readonly ok: false; readonly status: number; readonly type: string; readonly message: string };

/** The rules: extra host names served besides loopback ones, and browser origins allowed. */
export interface RequestGuardOptions {
  /** The address or name the endpoint listens on; served as a Host value unless it is a wildcard. */
  readonly listenHost: string;
  /** More Host names to serve (e.g. `host.docker.internal`). */
  readonly allowedHosts?: readonly string[];
  /** Origins (`scheme://host[:port]`) whose pages may call the endpoint. Default: none. */
  readonly allowedOrigins?: readonly string[];
}

/** Whether `host` names this machine only: `localhost`, a `.localhost` name, or a loopback address. */
export function isLoopbackHost(host: string): boolean {
  const name = normalizeHost(host);
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return isIP(name) !== 0 && specialAddressKind(name) === 'loopback';
}

/**
 * An origin as browsers send it: lower-case scheme and host, the port only when not the default.
 * `undefined` when `text` is not an http(s) origin.
 */
export function normalizeOrigin(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (
    url.username ||
    url.password ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search ||
    url.hash
  ) {
    return undefined;
  }
  return url.origin;
}

/** Decides, from the headers alone, whether the endpoint serves a request. */
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
