/**
 * The TLS modes every database connection follows (adapters, `check` and the client pools): the
 * deployer picks one per engine in the environment, and a secret's `ssl` field can only make it
 * stricter. Credentials must never be offered to a server that talks in the clear unless the
 * deployer said plaintext is acceptable, and even then never in a form an eavesdropper can use.
 */
import { ConfigurationError, TargetUnreachableError } from '../core/errors.ts';
import type { RotationLogger } from '../core/target.ts';

/**
 * How a connection may be protected:
 * - `verify-full`: TLS required, the certificate checked against the trusted CAs and the host name;
 * - `prefer`: verified TLS when the server offers TLS, else plaintext (logged with a warning and
 *   the `TlsPlaintextFallback` metric);
 * - `disable`: never TLS.
 */
export type TlsMode = 'verify-full' | 'prefer' | 'disable';

/** Every mode, strictest first. */
export const TLS_MODES: readonly TlsMode[] = ['verify-full', 'prefer', 'disable'];

/** The mode when the variable is unset. */
export const DEFAULT_TLS_MODE: TlsMode = 'verify-full';

/**
 * The metric counted each time a connection goes on without TLS because the server offered none
 * (mode `prefer`).
 */
export const TLS_PLAINTEXT_FALLBACK_METRIC = 'TlsPlaintextFallback';

/**
 * A TLS mode given as text (a variable's value such as `PG_TLS_MODE`, an option); `undefined`
 * (unset) means `verify-full`. Case and surrounding blanks do not matter.
 */
export function parseTlsMode(value: string | undefined, setting: string): TlsMode {
  if (value === undefined) return DEFAULT_TLS_MODE;
  const word = value.trim().toLowerCase();
  const mode = TLS_MODES.find((candidate) => candidate === word);
  if (mode === undefined) {
    throw new ConfigurationError(
      setting,
      `must be verify-full (the default: TLS with the certificate and host name checked), prefer (TLS when the server offers it, else plaintext) or disable (no TLS), got "${value.slice(0, 40)}"`,
    );
  }
  return mode;
}

/**
 * The mode one connection follows: the deployer's mode, made stricter by a secret that sets
 * `"ssl": true`. `"ssl": false` never loosens it (whoever may write the secret could otherwise
 * switch TLS off and read the passwords on the wire).
 */
export function effectiveTlsMode(configured: TlsMode, ssl: boolean | undefined): TlsMode {
  return ssl === true ? 'verify-full' : configured;
}

/**
 * Whether a secret sets `"ssl": false` under a mode that still wants TLS: the field is then
 * ignored, and callers say so in a log line.
 */
export function sslFieldIgnored(configured: TlsMode, ssl: boolean | undefined): boolean {
  return ssl === false && configured !== 'disable';
}

/**
 * Logs a warning when the secret's `"ssl": false` is ignored (see {@link sslFieldIgnored}), naming
 * the adapter's TLS mode variable.
 */
export function warnIfSslFieldIgnored(
  configured: TlsMode,
  endpoint: { readonly host: string; readonly port: number; readonly ssl: boolean | undefined },
  variable: string,
  logger: RotationLogger,
): void {
  if (!sslFieldIgnored(configured, endpoint.ssl)) return;
  logger.warn(`the secret sets "ssl": false, which cannot loosen ${variable}; ignored`, {
    host: endpoint.host,
    port: endpoint.port,
    tlsMode: configured,
  });
}

/**
 * How one connection ended up: `verified` TLS, `plaintext` because the server offered no TLS in
 * mode `prefer`, or `disabled` (mode `disable`).
 */
export type TlsOutcome = 'verified' | 'plaintext' | 'disabled';

/** The fix to print when a local database offers no TLS: the variable that allows plaintext. */
export function allowPlaintextHint(variable: string): string {
  return `for a local database without TLS, set ${variable}=prefer (or disable)`;
}

/**
 * The error for a server that offers no TLS under `verify-full`. Nothing has been sent then.
 * Under `prefer` the same answer means the server offered TLS when asked and then refused it on
 * the connection itself: someone on the path is choosing the answers, and nothing is sent either.
 */
export function serverWithoutTlsError(
  doing: string,
  variable: string,
  mode: TlsMode = 'verify-full',
): TargetUnreachableError {
  if (mode === 'prefer') {
    return new TargetUnreachableError(
      'tls',
      `${doing}: the server said it offers TLS, then refused it on the connection itself (${variable}=prefer); no credentials were sent. Check the network path to the server`,
    );
  }
  return new TargetUnreachableError(
    'tls',
    `${doing}: the server offers no TLS, and ${variable} is verify-full (the default; or the secret sets "ssl": true), so no credentials were sent; enable TLS on the server, or ${allowPlaintextHint(variable)}`,
  );
}

/**
 * The error for a server that, on a connection without TLS, asks for the password in a form an
 * eavesdropper or the server itself could reuse (cleartext, MD5, an RSA key it chose). The
 * password has not been sent.
 */
export function plaintextPasswordRefused(
  doing: string,
  request: string,
  fix: string,
): TargetUnreachableError {
  return new TargetUnreachableError(
    'tls',
    `${doing}: the server asked for ${request} on a connection without TLS; refused, the password was not sent. Fix: ${fix}`,
  );
}
