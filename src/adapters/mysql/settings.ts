import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type Env, envBoolean, envInteger, envString } from '../../core/config.ts';
import { ConfigurationError } from '../../core/errors.ts';

/**
 * The MySQL adapter's settings, read from the environment once, when the handler is created.
 *
 * @example
 * ```ts
 * const settings = readMysqlSettings({ MYSQL_CA_BUNDLE: '/opt/rds-global-bundle.pem' });
 * settings.connectTimeoutMs; // 5000
 * ```
 */
export interface MysqlSettings {
  /** PEM text of the CA certificates trusted for TLS; `undefined`: Node's default trust store. */
  readonly caBundle: string | undefined;
  /** The name checked in the server's certificate instead of the secret's `host` (CNAME hosts). */
  readonly tlsServerName: string | undefined;
  /** Limit for opening a connection, TLS and authentication included. */
  readonly connectTimeoutMs: number;
  /** Limit for each statement: the client's own wait, MariaDB's `max_statement_time`, `lock_wait_timeout`. */
  readonly statementTimeoutMs: number;
  /** Extra query run by testSecret with the pending credentials, to prove a privilege. */
  readonly testQuery: string | undefined;
  /** Single user on MySQL 8.0.14+: keep the old password as a secondary one (zero downtime). */
  readonly dualPassword: boolean;
  /** Alternating users only: both users already exist; only their passwords alternate. */
  readonly preProvisionedPair: boolean;
}

/**
 * The environment variables of this adapter (the README lists them with their defaults).
 *
 * @example
 * ```ts
 * const env = { [MYSQL_ENV.statementTimeoutMs]: '5000' };
 * ```
 */
export const MYSQL_ENV = {
  caBundle: 'MYSQL_CA_BUNDLE',
  tlsServerName: 'MYSQL_TLS_SERVERNAME',
  connectTimeoutMs: 'MYSQL_CONNECT_TIMEOUT_MS',
  statementTimeoutMs: 'MYSQL_STATEMENT_TIMEOUT_MS',
  testQuery: 'MYSQL_TEST_QUERY',
  dualPassword: 'MYSQL_DUAL_PASSWORD',
  preProvisionedPair: 'MYSQL_PREPROVISIONED_PAIR',
} as const;

/**
 * Default of `MYSQL_CONNECT_TIMEOUT_MS`.
 *
 * @example
 * ```ts
 * readMysqlSettings({}).connectTimeoutMs === DEFAULT_CONNECT_TIMEOUT_MS; // true
 * ```
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/**
 * Default of `MYSQL_STATEMENT_TIMEOUT_MS`.
 *
 * @example
 * ```ts
 * readMysqlSettings({}).statementTimeoutMs === DEFAULT_STATEMENT_TIMEOUT_MS; // true
 * ```
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;

/**
 * Values given to a factory; each one wins over its environment variable.
 *
 * @example
 * ```ts
 * const overrides: MysqlSettingsOverrides = { dualPassword: true };
 * ```
 */
export interface MysqlSettingsOverrides {
  readonly dualPassword?: boolean | undefined;
  readonly preProvisionedPair?: boolean | undefined;
}

/**
 * Reads the adapter's settings. Every bad value throws a {@link ConfigurationError} naming the
 * variable, so the function fails at start-up rather than mid-rotation.
 *
 * @example
 * ```ts
 * readMysqlSettings({ MYSQL_STATEMENT_TIMEOUT_MS: '5000' }, { preProvisionedPair: true });
 * ```
 */
export function readMysqlSettings(env: Env, overrides: MysqlSettingsOverrides = {}): MysqlSettings {
  return {
    caBundle: readCaBundle(env),
    tlsServerName: readServerName(env),
    connectTimeoutMs: envInteger(env, MYSQL_ENV.connectTimeoutMs, {
      default: DEFAULT_CONNECT_TIMEOUT_MS,
      min: 100,
      max: 300_000,
    }),
    statementTimeoutMs: envInteger(env, MYSQL_ENV.statementTimeoutMs, {
      default: DEFAULT_STATEMENT_TIMEOUT_MS,
      min: 100,
      max: 900_000,
    }),
    testQuery: envString(env, MYSQL_ENV.testQuery),
    dualPassword: overrides.dualPassword ?? envBoolean(env, MYSQL_ENV.dualPassword, false),
    preProvisionedPair: overrides.preProvisionedPair ?? envBoolean(env, MYSQL_ENV.preProvisionedPair, false),
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

function readCaBundle(env: Env): string | undefined {
  const name = MYSQL_ENV.caBundle;
  const value = envString(env, name);
  if (value === undefined) return undefined;
  let pem: string;
  if (value.startsWith('-----BEGIN')) {
    pem = value;
  } else {
    try {
      pem = readFileSync(value, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigurationError(
        name,
        `names a file that cannot be read (${code}): "${value}"; give the path of a PEM file or the PEM text itself`,
      );
    }
  }
  if (!PEM_CERTIFICATE.test(pem)) {
    throw new ConfigurationError(
      name,
      'holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the path of a PEM file or the PEM text itself',
    );
  }
  return pem;
}

function readServerName(env: Env): string | undefined {
  const name = MYSQL_ENV.tlsServerName;
  const value = envString(env, name);
  if (value === undefined) return undefined;
  // mysql2 checks certificates against a host name only; an IP address belongs in the secret's host.
  if (isIP(value) !== 0 || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$/.test(value)) {
    throw new ConfigurationError(
      name,
      `must be a host name as written in the server's certificate, got "${value}"`,
    );
  }
  return value.replace(/\.$/, '');
}
