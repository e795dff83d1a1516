/**
 * Settings every database adapter reads alike; each reads its own variables by name, so every variable a
 * bundle reads stays visible where it is read.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { HostAllowlist } from '../core/allowed-hosts.ts';
import { ConfigurationError } from '../core/errors.ts';
import type { TlsMode } from './tls.ts';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;

export const CONNECT_TIMEOUT_RANGE = { default: DEFAULT_CONNECT_TIMEOUT_MS, min: 100, max: 300_000 } as const;

export const STATEMENT_TIMEOUT_RANGE = {
  default: DEFAULT_STATEMENT_TIMEOUT_MS,
  min: 100,
  max: 900_000,
} as const;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** A PEM file path, or the PEM text itself with line breaks possibly written as `\n`. */
export function caBundleFrom(value: string | undefined, variable: string): string | undefined {
  if (value === undefined) return undefined;
  const pem = pemTextFrom(value, variable, 'a PEM file');
  if (!PEM_CERTIFICATE.test(pem)) {
    throw new ConfigurationError(
      variable,
      'holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the path of a PEM file or the PEM text itself',
    );
  }
  return pem;
}

export function pemTextFrom(value: string, variable: string, fileHint: string): string {
  if (value.startsWith('-----BEGIN')) return value.includes('\n') ? value : value.replaceAll('\\n', '\n');
  try {
    return readFileSync(value, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigurationError(
      variable,
      `names a file that cannot be read (${code}): "${value}"; give the path of ${fileHint} or the PEM text itself`,
    );
  }
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$/;

export function tlsServerNameFrom(
  value: string | undefined,
  variable: string,
  options: { readonly allowIpAddress: boolean },
): string | undefined {
  if (value === undefined) return undefined;
  const valid = options.allowIpAddress
    ? HOST_NAME.test(value) || /^[0-9a-fA-F:.]+$/.test(value)
    : isIP(value) === 0 && HOST_NAME.test(value);
  if (!valid) {
    throw new ConfigurationError(
      variable,
      `must be a host name${options.allowIpAddress ? ' or IP address' : ''} as written in the server's certificate, got "${value}"`,
    );
  }
  return value.replace(/\.$/, '');
}

/** The settings PostgreSQL and MySQL read alike, each under its own variable names. */
export interface DatabaseSettings {
  readonly tlsMode: TlsMode;
  readonly caBundle: string | undefined;
  /** Checked in the server's certificate instead of the secret's host (CNAME hosts). */
  readonly tlsServerName: string | undefined;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  /** Run by testSecret with the pending credentials, to prove a privilege. */
  readonly testQuery: string | undefined;
  readonly preProvisionedPair: boolean;
  readonly allowedHosts?: HostAllowlist | undefined;
}
