import type { HostAllowlist } from '../../core/allowed-hosts.ts';
import { type Env, envBoolean, envInteger, envString } from '../../core/config.ts';
import { readDatabaseAllowedHosts } from '../../database/hosts.ts';
import { serverPublicKeyFrom } from '../../database/mysql-tls.ts';
import {
  CONNECT_TIMEOUT_RANGE,
  caBundleFrom,
  STATEMENT_TIMEOUT_RANGE,
  tlsServerNameFrom,
} from '../../database/settings.ts';
import { parseTlsMode, type TlsMode } from '../../database/tls.ts';

/** The MySQL adapter's settings, read from the environment once, when the handler is created. */
export interface MysqlSettings {
  /** `MYSQL_TLS_MODE`: verify-full (default), prefer or disable; a secret's `"ssl": true` tightens it. */
  readonly tlsMode: TlsMode;
  /** `MYSQL_SERVER_PUBLIC_KEY`: the server's RSA key (PEM); without TLS, passwords are encrypted only to it. */
  readonly serverPublicKey: string | undefined;
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
  /** `DATABASE_ALLOWED_HOSTS`: the hosts a secret may name; `undefined`: any host. */
  readonly allowedHosts?: HostAllowlist | undefined;
}

/** The environment variables of this adapter (docs/environment.md lists them with their defaults). */
export const MYSQL_ENV = {
  tlsMode: 'MYSQL_TLS_MODE',
  serverPublicKey: 'MYSQL_SERVER_PUBLIC_KEY',
  caBundle: 'MYSQL_CA_BUNDLE',
  tlsServerName: 'MYSQL_TLS_SERVERNAME',
  connectTimeoutMs: 'MYSQL_CONNECT_TIMEOUT_MS',
  statementTimeoutMs: 'MYSQL_STATEMENT_TIMEOUT_MS',
  testQuery: 'MYSQL_TEST_QUERY',
  dualPassword: 'MYSQL_DUAL_PASSWORD',
  preProvisionedPair: 'MYSQL_PREPROVISIONED_PAIR',
} as const;

export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS } from '../../database/settings.ts';

/** Values given to a factory; each one wins over its environment variable. */
export interface MysqlSettingsOverrides {
  readonly dualPassword?: boolean | undefined;
  readonly preProvisionedPair?: boolean | undefined;
}

/**
 * Reads the adapter's settings. Every bad value throws a {@link ConfigurationError} naming the
 * variable, so the function fails at start-up rather than mid-rotation.
 */
export function readMysqlSettings(env: Env, overrides: MysqlSettingsOverrides = {}): MysqlSettings {
  return {
    allowedHosts: readDatabaseAllowedHosts(env),
    tlsMode: parseTlsMode(envString(env, MYSQL_ENV.tlsMode), MYSQL_ENV.tlsMode),
    serverPublicKey: serverPublicKeyFrom(
      envString(env, MYSQL_ENV.serverPublicKey),
      MYSQL_ENV.serverPublicKey,
    ),
    caBundle: caBundleFrom(envString(env, MYSQL_ENV.caBundle), MYSQL_ENV.caBundle),
    // mysql2 checks certificates against a host name only; an IP address belongs in the secret's host.
    tlsServerName: tlsServerNameFrom(envString(env, MYSQL_ENV.tlsServerName), MYSQL_ENV.tlsServerName, {
      allowIpAddress: false,
    }),
    connectTimeoutMs: envInteger(env, MYSQL_ENV.connectTimeoutMs, CONNECT_TIMEOUT_RANGE),
    statementTimeoutMs: envInteger(env, MYSQL_ENV.statementTimeoutMs, STATEMENT_TIMEOUT_RANGE),
    testQuery: envString(env, MYSQL_ENV.testQuery),
    dualPassword: overrides.dualPassword ?? envBoolean(env, MYSQL_ENV.dualPassword, false),
    preProvisionedPair: overrides.preProvisionedPair ?? envBoolean(env, MYSQL_ENV.preProvisionedPair, false),
  };
}
