import { type Env, envBoolean, envChoice, envInteger, envString } from '../../core/config.ts';
import { readDatabaseAllowedHosts } from '../../database/hosts.ts';
import {
  CONNECT_TIMEOUT_RANGE,
  caBundleFrom,
  type DatabaseSettings,
  STATEMENT_TIMEOUT_RANGE,
  tlsServerNameFrom,
} from '../../database/settings.ts';
import { parseTlsMode } from '../../database/tls.ts';
import { REDSHIFT_PASSWORD_HASHES, type RedshiftPasswordHash } from './redshift.ts';
import { DEFAULT_SCRAM_ITERATIONS } from './scram.ts';

export interface PostgresSettings extends DatabaseSettings {
  readonly scramIterations: number;
  readonly redshiftPasswordHash: RedshiftPasswordHash;
}

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

// node-postgres refuses verifiers above 100 000 iterations: more would lock our users out.
const MAX_SCRAM_ITERATIONS = 100_000;

/** Every bad value throws naming its variable, so a handler fails at start-up, not mid-rotation. */
export function readPostgresSettings(
  env: Env,
  overrides: { readonly preProvisionedPair?: boolean | undefined } = {},
): PostgresSettings {
  return {
    allowedHosts: readDatabaseAllowedHosts(env),
    tlsMode: parseTlsMode(envString(env, POSTGRES_ENV.tlsMode), POSTGRES_ENV.tlsMode),
    caBundle: caBundleFrom(envString(env, POSTGRES_ENV.caBundle), POSTGRES_ENV.caBundle),
    tlsServerName: tlsServerNameFrom(envString(env, POSTGRES_ENV.tlsServerName), POSTGRES_ENV.tlsServerName, {
      allowIpAddress: true,
    }),
    connectTimeoutMs: envInteger(env, POSTGRES_ENV.connectTimeoutMs, CONNECT_TIMEOUT_RANGE),
    statementTimeoutMs: envInteger(env, POSTGRES_ENV.statementTimeoutMs, STATEMENT_TIMEOUT_RANGE),
    testQuery: envString(env, POSTGRES_ENV.testQuery),
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
