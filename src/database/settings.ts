/**
 * Settings every database adapter reads the same way, each under its own variable names: the CA
 * bundle, the name checked in the server's certificate, and the ranges of the time limits. Each
 * adapter reads its variables itself (`envString(env, POSTGRES_ENV.caBundle)`) and hands the
 * value here, so that every variable a bundle reads stays visible where it is read.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigurationError } from '../core/errors.ts';

/** Default of `PG_CONNECT_TIMEOUT_MS` and `MYSQL_CONNECT_TIMEOUT_MS`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** Default of `PG_STATEMENT_TIMEOUT_MS` and `MYSQL_STATEMENT_TIMEOUT_MS`. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;

/** Default and bounds of a connect timeout (connecting, TLS and authentication), for `envInteger`. */
export const CONNECT_TIMEOUT_RANGE = { default: DEFAULT_CONNECT_TIMEOUT_MS, min: 100, max: 300_000 } as const;

/** Default and bounds of a statement timeout, for `envInteger`. */
export const STATEMENT_TIMEOUT_RANGE = {
  default: DEFAULT_STATEMENT_TIMEOUT_MS,
  min: 100,
  max: 900_000,
} as const;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/**
 * The CA bundle a variable names: the path of a PEM file, or the PEM text itself (with its line
 * breaks written as `\n`, as environment variables often carry it). `undefined` when unset.
 */
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

/**
 * The PEM text a variable gives: the text itself (with its line breaks written as `\n`, as
 * environment variables often carry it), or read from the file it names. Checks nothing of the
 * content; the caller does.
 */
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

/**
 * The name to check in the server's certificate instead of the secret's `host` (CNAME hosts),
 * without a trailing dot; `undefined` when unset.
 */
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
