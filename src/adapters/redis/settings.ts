import { type Env, envBoolean, envInteger, envString } from '../../core/config.ts';
import { readDatabaseAllowedHosts } from '../../database/hosts.ts';
import {
  CONNECT_TIMEOUT_RANGE,
  caBundleFrom,
  type DatabaseSettings,
  STATEMENT_TIMEOUT_RANGE,
  tlsServerNameFrom,
} from '../../database/settings.ts';
import { parseTlsMode } from '../../database/tls.ts';

/** The database settings Redis shares (the connect timeout covers TLS and AUTH), and its command timeout. */
export interface RedisSettings extends Omit<DatabaseSettings, 'statementTimeoutMs' | 'testQuery'> {
  readonly commandTimeoutMs: number;
}

export const REDIS_ENV = {
  tlsMode: 'REDIS_TLS_MODE',
  caBundle: 'REDIS_CA_BUNDLE',
  tlsServerName: 'REDIS_TLS_SERVERNAME',
  connectTimeoutMs: 'REDIS_CONNECT_TIMEOUT_MS',
  commandTimeoutMs: 'REDIS_COMMAND_TIMEOUT_MS',
  preProvisionedPair: 'REDIS_PREPROVISIONED_PAIR',
} as const;

/** Every bad value throws a ConfigurationError naming the variable, so the function fails at start-up. */
export function readRedisSettings(
  env: Env,
  overrides: { readonly preProvisionedPair?: boolean | undefined } = {},
): RedisSettings {
  return {
    tlsMode: parseTlsMode(envString(env, REDIS_ENV.tlsMode), REDIS_ENV.tlsMode),
    caBundle: caBundleFrom(envString(env, REDIS_ENV.caBundle), REDIS_ENV.caBundle),
    tlsServerName: tlsServerNameFrom(envString(env, REDIS_ENV.tlsServerName), REDIS_ENV.tlsServerName, {
      allowIpAddress: true,
    }),
    connectTimeoutMs: envInteger(env, REDIS_ENV.connectTimeoutMs, CONNECT_TIMEOUT_RANGE),
    commandTimeoutMs: envInteger(env, REDIS_ENV.commandTimeoutMs, STATEMENT_TIMEOUT_RANGE),
    preProvisionedPair: overrides.preProvisionedPair ?? envBoolean(env, REDIS_ENV.preProvisionedPair, false),
    allowedHosts: readDatabaseAllowedHosts(env),
  };
}
