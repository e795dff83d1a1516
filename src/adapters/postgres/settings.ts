import { readFileSync } from 'node:fs';
import { type Env, envBoolean, envInteger, envString } from '../../core/config.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { DEFAULT_SCRAM_ITERATIONS } from './scram.ts';

/**
 * The PostgreSQL adapter's settings, read from the environment once, when the handler is created.
 *
 * @example
 * ```ts
 * const settings = readPostgresSettings({ PG_CA_BUNDLE: '/opt/rds-global-bundle.pem' });
 * settings.connectTimeoutMs; // 5000
 * ```
 */
export interface PostgresSettings {
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
  /** Alternating users only: both users already exist; only their passwords alternate. */
  readonly preProvisionedPair: boolean;
}

/**
 * The names of this adapter's environment variables (the README lists their defaults).
 *
 * @example
 * ```ts
 * const env = { [POSTGRES_ENV.caBundle]: '/opt/rds-global-bundle.pem' };
 * ```
 */
export const POSTGRES_ENV = {
  caBundle: 'PG_CA_BUNDLE',
  tlsServerName: 'PG_TLS_SERVERNAME',
  connectTimeoutMs: 'PG_CONNECT_TIMEOUT_MS',
  statementTimeoutMs: 'PG_STATEMENT_TIMEOUT_MS',
  testQuery: 'PG_TEST_QUERY',
  scramIterations: 'PG_SCRAM_ITERATIONS',
  preProvisionedPair: 'PG_PREPROVISIONED_PAIR',
} as const;

/**
 * Default of `PG_CONNECT_TIMEOUT_MS`.
 *
 * @example
 * ```ts
 * readPostgresSettings({}).connectTimeoutMs === DEFAULT_CONNECT_TIMEOUT_MS; // true
 * ```
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/**
 * Default of `PG_STATEMENT_TIMEOUT_MS`.
 *
 * @example
 * ```ts
 * readPostgresSettings({}).statementTimeoutMs === DEFAULT_STATEMENT_TIMEOUT_MS; // true
 * ```
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;

// node-postgres refuses to log in with verifiers above 100 000 iterations (its guard against a
// hostile server making clients spin), so a higher count would lock our own users out.
const MAX_SCRAM_ITERATIONS = 100_000;

/**
 * Reads the adapter's settings. Every bad value throws a {@link ConfigurationError} naming the
 * variable, so the function fails at start-up rather than mid-rotation.
 *
 * @param overrides - values given to the factory, which win over the environment.
 * @example
 * ```ts
 * readPostgresSettings(ctxEnv, { preProvisionedPair: true });
 * ```
 */
export function readPostgresSettings(
  env: Env,
  overrides: { readonly preProvisionedPair?: boolean | undefined } = {},
): PostgresSettings {
  const testQuery = envString(env, POSTGRES_ENV.testQuery);
  return {
    caBundle: readCaBundle(env),
    tlsServerName: readServerName(env),
    connectTimeoutMs: envInteger(env, POSTGRES_ENV.connectTimeoutMs, {
      default: DEFAULT_CONNECT_TIMEOUT_MS,
      min: 100,
      max: 300_000,
    }),
    statementTimeoutMs: envInteger(env, POSTGRES_ENV.statementTimeoutMs, {
      default: DEFAULT_STATEMENT_TIMEOUT_MS,
      min: 100,
      max: 900_000,
    }),
    testQuery,
    scramIterations: envInteger(env, POSTGRES_ENV.scramIterations, {
      default: DEFAULT_SCRAM_ITERATIONS,
      min: DEFAULT_SCRAM_ITERATIONS,
      max: MAX_SCRAM_ITERATIONS,
    }),
    preProvisionedPair:
      overrides.preProvisionedPair ?? envBoolean(env, POSTGRES_ENV.preProvisionedPair, false),
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

function readCaBundle(env: Env): string | undefined {
  const name = POSTGRES_ENV.caBundle;
  const value = envString(env, name);
  if (value === undefined) return undefined;
  let pem: string;
  if (value.startsWith('-----BEGIN')) {
    // Environment variables often carry PEM text with its line breaks written as "\n".
    pem = value.includes('\n') ? value : value.replaceAll('\\n', '\n');
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
  const name = POSTGRES_ENV.tlsServerName;
  const value = envString(env, name);
  if (value === undefined) return undefined;
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$|^[0-9a-fA-F:.]+$/.test(value)) {
    throw new ConfigurationError(
      name,
      `must be a host name or IP address as written in the server's certificate, got "${value}"`,
    );
  }
  return value.replace(/\.$/, '');
}
