/**
 * The TLS modes of every database connection: the deployer picks one per engine; a secret's `ssl` can only
 * make it stricter.
 */
import { ConfigurationError, TargetUnreachableError } from '../core/errors.ts';
import type { RotationLogger } from '../core/target.ts';

/** `prefer`: verified TLS when offered, else plaintext (warned and counted). */
export type TlsMode = 'verify-full' | 'prefer' | 'disable';

const TLS_MODES: readonly TlsMode[] = ['verify-full', 'prefer', 'disable'];

const DEFAULT_TLS_MODE: TlsMode = 'verify-full';

export const TLS_PLAINTEXT_FALLBACK_METRIC = 'TlsPlaintextFallback';

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

/** `"ssl": false` never loosens it: whoever may write the secret could then read passwords on the wire. */
export function effectiveTlsMode(configured: TlsMode, ssl: boolean | undefined): TlsMode {
  return ssl === true ? 'verify-full' : configured;
}

function sslFieldIgnored(configured: TlsMode, ssl: boolean | undefined): boolean {
  return ssl === false && configured !== 'disable';
}

/** Where a connection goes, with the secret's `ssl` field. */
export interface TlsEndpoint {
  readonly host: string;
  readonly port: number;
  readonly ssl: boolean | undefined;
}

export function warnIfSslFieldIgnored(
  configured: TlsMode,
  endpoint: TlsEndpoint,
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

export type TlsOutcome = 'verified' | 'plaintext' | 'disabled';

/** How one connection follows its TlsMode; `onPlaintext` warns and counts a fallback under `prefer`. */
export interface TlsPolicy {
  readonly mode: TlsMode;
  readonly variable: string;
  readonly ca: string | Buffer | Array<string | Buffer> | undefined;
  readonly onPlaintext?: ((server: string) => void) | undefined;
}

export function allowPlaintextHint(variable: string): string {
  return `for a local database without TLS, set ${variable}=prefer (or disable)`;
}

/**
 * Under `prefer` the same answer means the server offered TLS then refused it: someone on the path chooses
 * the answers.
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
 * Cleartext, MD5 or a server-chosen RSA key would let an eavesdropper or the server reuse the password; it
 * has not been sent.
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
