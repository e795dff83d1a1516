import { type Env, envBoolean, envInteger, envString } from '../../core/config.ts';
import { readDatabaseAllowedHosts } from '../../database/hosts.ts';
import { serverPublicKeyFrom } from '../../database/mysql-tls.ts';
import {
  CONNECT_TIMEOUT_RANGE,
  caBundleFrom,
  type DatabaseSettings,
  STATEMENT_TIMEOUT_RANGE,
  tlsServerNameFrom,
} from '../../database/settings.ts';
import { parseTlsMode } from '../../database/tls.ts';

export interface MysqlSettings extends DatabaseSettings {
  /** Without TLS, passwords are encrypted only to this pinned key. */
  readonly serverPublicKey: string | undefined;
  readonly dualPassword: boolean;
}

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

/** Every bad value throws naming its variable, so a handler fails at start-up, not mid-rotation. */
export function readMysqlSettings(
  env: Env,
  overrides: {
    readonly dualPassword?: boolean | undefined;
    readonly preProvisionedPair?: boolean | undefined;
  } = {},
): MysqlSettings {
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
