import type { HostAllowlist } from '../../core/allowed-hosts.ts';
import { type Env, envBoolean, envInteger, envString } from '../../core/config.ts';
import { readDatabaseAllowedHosts } from '../../database/hosts.ts';
import {
  CONNECT_TIMEOUT_RANGE,
  caBundleFrom,
  STATEMENT_TIMEOUT_RANGE,
  tlsServerNameFrom,
} from '../database/settings.ts';
import { parseTlsMode, type TlsMode } from '../database/tls.ts';

/**
 * How a Redis connection may be protected: the databases' modes (`src/adapters/database/tls.ts`),
 * `verify-full` by default.
 *
 * @example
 * ```ts
 * const mode: RedisTlsMode = readRedisSettings({ REDIS_TLS_MODE: 'disable' }).tlsMode;
 * ```
 */
export type RedisTlsMode = TlsMode;

/**
 * The Redis adapter's settings, read from the environment once, when the handler is created.
 *
 * @example
 * ```ts
 * const settings = readRedisSettings({ REDIS_TLS_MODE: 'prefer' });
 * settings.connectTimeoutMs; // 5000
 * ```
 */
export interface RedisSettings {
  /** `REDIS_TLS_MODE`; a secret's `"ssl": true` makes it `verify-full`, `"ssl": false` never loosens it. */
  readonly tlsMode: RedisTlsMode;
  /** PEM text of the CA certificates trusted for TLS; `undefined`: Node's default trust store. */
  readonly caBundle: string | undefined;
  /** The name checked in the server's certificate instead of the secret's `host`. */
  readonly tlsServerName: string | undefined;
  /** Limit for opening a connection, TLS and AUTH included. */
  readonly connectTimeoutMs: number;
  /** Limit for the answer to one command. */
  readonly commandTimeoutMs: number;
  /** Alternating users only: both users already exist; only their passwords alternate. */
  readonly preProvisionedPair: boolean;
  /** `DATABASE_ALLOWED_HOSTS`: the hosts a secret may name; `undefined`: any host. */
  readonly allowedHosts: HostAllowlist | undefined;
}

/**
 * The names of this adapter's environment variables (docs/environment.md lists their defaults).
 *
 * @example
 * ```ts
 * const env = { [REDIS_ENV.tlsMode]: 'disable' };
 * ```
 */
export const REDIS_ENV = {
  tlsMode: 'REDIS_TLS_MODE',
  caBundle: 'REDIS_CA_BUNDLE',
  tlsServerName: 'REDIS_TLS_SERVERNAME',
  connectTimeoutMs: 'REDIS_CONNECT_TIMEOUT_MS',
  commandTimeoutMs: 'REDIS_COMMAND_TIMEOUT_MS',
  preProvisionedPair: 'REDIS_PREPROVISIONED_PAIR',
} as const;

/**
 * Reads the adapter's settings. Every bad value throws a `ConfigurationError` naming the variable,
 * so the function fails at start-up rather than mid-rotation.
 *
 * @param overrides - values given to the factory, which win over the environment.
 * @example
 * ```ts
 * readRedisSettings(env, { preProvisionedPair: true });
 * ```
 */
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
