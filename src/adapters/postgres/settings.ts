import type { HostAllowlist } from '../../core/allowed-hosts.ts';
import { type Env, envBoolean, envChoice, envInteger, envString } from '../../core/config.ts';
import { readDatabaseAllowedHosts } from '../../database/hosts.ts';
import {
  CONNECT_TIMEOUT_RANGE,
  caBundleFrom,
  STATEMENT_TIMEOUT_RANGE,
  tlsServerNameFrom,
} from '../../database/settings.ts';
import { parseTlsMode, type TlsMode } from '../../database/tls.ts';
import { REDSHIFT_PASSWORD_HASHES, type RedshiftPasswordHash } from './redshift.ts';
import { DEFAULT_SCRAM_ITERATIONS } from './scram.ts';

/** The PostgreSQL adapter's settings, read from the environment once, when the handler is created. */
export interface PostgresSettings {
  /** `PG_TLS_MODE`: verify-full (default), prefer or disable; a secret's `"ssl": true` tightens it. */
  readonly tlsMode: TlsMode;
  /** PEM text of the CA certificates trusted for TLS; `undefined`: Node's default trust store. */
  readonly caBundle: string | undefined;
  /** The name checked in the server's certificate instead of the secret's `host` (CNAME hosts). */
  readonly tlsServerName: string | undefined;
  /** Limit for opening a connection, TLS and authentication included. */
  readonly connectTimeoutMs: number;
  /** `statement_timeout` of every session, and (plus a margin) the client's own wait for an answer. */
  readonly statementTimeoutMs: number;
  /** Extra query run by testSecret with the pending credentials, to prove a privilege. */
  readonly testQuery: string | undefined;
  /** PBKDF2 iterations of the SCRAM-SHA-256 verifiers this adapter sends. */
  readonly scramIterations: number;
  /** `PG_REDSHIFT_PASSWORD_HASH`: the hash sent for `"engine": "redshift"` secrets, md5 (default) or sha256. */
  readonly redshiftPasswordHash: RedshiftPasswordHash;
  /** Alternating users only: both users already exist; only their passwords alternate. */
  readonly preProvisionedPair: boolean;
  /** `DATABASE_ALLOWED_HOSTS`: the hosts a secret may name; `undefined`: any host. */
  readonly allowedHosts?: HostAllowlist | undefined;
}

/** The names of this adapter's environment variables (docs/environment.md lists their defaults). */
export const POSTGRES_ENV = {
  tlsMode: 'PG_TLS_MODE',
  caBundle: 'PG_CA_BUNDLE',
  tlsServerName: 'PG_TLS_SERVERNAME',
  connectTimeoutMs: 'PG_CONNECT_TIMEOUT_MS',
  statementTimeoutMs: 'PG_STATEMENT_TIMEOUT_MS',
  testQuery: 'PG_TEST_QUERY',
  scramIterations: 'PG_SCRAM_ITERATIONS',
  redshiftPasswordHash: 'PG_REDSHIFT_PASSWORD_HASH',
  preProvisionedPair: 'PG_PREPROVISIONED_PAIR',
} as const;

export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS } from '../../database/settings.ts';

// node-postgres refuses to log in with verifiers above 100 000 iterations (its guard against a
// hostile server making clients spin), so a higher count would lock our own users out.
const MAX_SCRAM_ITERATIONS = 100_000;

/**
 * Reads the adapter's settings. Every bad value throws a {@link ConfigurationError} naming the
 * variable, so the function fails at start-up rather than mid-rotation.
 */
export function readPostgresSettings(
  env: Env,
  overrides: { readonly preProvisionedPair?: boolean | undefined } = {},
): PostgresSettings {
  const testQuery = envString(env, POSTGRES_ENV.testQuery);
  return {
    allowedHosts: readDatabaseAllowedHosts(env),
    tlsMode: parseTlsMode(envString(env, POSTGRES_ENV.tlsMode), POSTGRES_ENV.tlsMode),
    caBundle: caBundleFrom(envString(env, POSTGRES_ENV.caBundle), POSTGRES_ENV.caBundle),
    tlsServerName: tlsServerNameFrom(envString(env, POSTGRES_ENV.tlsServerName), POSTGRES_ENV.tlsServerName, {
      allowIpAddress: true,
    }),
    connectTimeoutMs: envInteger(env, POSTGRES_ENV.connectTimeoutMs, CONNECT_TIMEOUT_RANGE),
    statementTimeoutMs: envInteger(env, POSTGRES_ENV.statementTimeoutMs, STATEMENT_TIMEOUT_RANGE),
    testQuery,
    scramIterations: envInteger(env, POSTGRES_ENV.scramIterations, {
      default: DEFAULT_SCRAM_ITERATIONS,
      min: DEFAULT_SCRAM_ITERATIONS,
      max: MAX_SCRAM_ITERATIONS,
    }),
    redshiftPasswordHash: envChoice(env, POSTGRES_ENV.redshiftPasswordHash, REDSHIFT_PASSWORD_HASHES, 'md5'),
    preProvisionedPair:
      overrides.preProvisionedPair ?? envBoolean(env, POSTGRES_ENV.preProvisionedPair, false),
  };
}
