import type { HostAllowlist } from '../../core/allowed-hosts.ts';
import { type Env, envBoolean, envInteger, envString } from '../../core/config.ts';
import { readDatabaseAllowedHosts } from '../../database/hosts.ts';
import {
  CONNECT_TIMEOUT_RANGE,
  caBundleFrom,
  STATEMENT_TIMEOUT_RANGE,
  tlsServerNameFrom,
} from '../../database/settings.ts';
import { parseTlsMode, type TlsMode } from '../../database/tls.ts';

/** The adapter's settings, read once from the environment (docs/environment.md). */
export interface RedisSettings {
  readonly tlsMode: TlsMode;
  /** PEM; `undefined`: Node's default trust store. */
  readonly caBundle: string | undefined;
  /** Checked in the server's certificate instead of the secret's `host`. */
  readonly tlsServerName: string | undefined;
  /** Opening a connection, TLS and AUTH included. */
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** Alternating users: both users exist already; only their passwords alternate. */
  readonly preProvisionedPair: boolean;
  /** `undefined`: any host. */
  readonly allowedHosts: HostAllowlist | undefined;
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
