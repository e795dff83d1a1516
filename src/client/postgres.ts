import pg from 'pg';
import { envString, processEnv } from '../core/config.ts';
import { pgClientFor } from '../database/postgres-tls.ts';
import { loginKey } from './database-secret.ts';
import {
  type DatabaseTlsOptions,
  type PoolDriver,
  poolTlsMode,
  type RotatingPoolBaseOptions,
  RotatingPoolCore,
  type RotatingPoolStats,
  refuseConnectionSettings,
  refuseDriverTls,
} from './pool-core.ts';

/**
 * Pool settings you may pass to pg; where and as whom to connect come from the secret.
 *
 * @example
 * ```ts
 * const poolConfig: PgPoolConfig = { max: 10, idleTimeoutMillis: 30_000, statement_timeout: 5_000 };
 * ```
 */
export type PgPoolConfig = Omit<
  pg.PoolConfig,
  'user' | 'password' | 'host' | 'port' | 'database' | 'connectionString' | 'ssl' | 'Client'
>;

/**
 * Options of {@link createPgPool}.
 *
 * @example
 * ```ts
 * const options: PgPoolOptions = {
 *   cache,
 *   secretId: 'prod/app/db',
 *   poolConfig: { max: 10, idleTimeoutMillis: 30_000 },
 *   tls: { ca: readFileSync('/opt/rds-global-bundle.pem', 'utf8') },
 * };
 * ```
 */
export interface PgPoolOptions extends RotatingPoolBaseOptions {
  /**
   * pg pool settings (`max`, `idleTimeoutMillis`, `maxUses`, `statement_timeout`…). `ssl` is
   * refused: TLS follows `tls`.
   */
  readonly poolConfig?: PgPoolConfig;
  /** The TLS mode (default `PG_TLS_MODE`, else verify-full), the CA and the certificate name. */
  readonly tls?: DatabaseTlsOptions;
  /**
   * Told about errors of idle connections (a server restart, a terminated session); pg would
   * otherwise crash the process on them. Default: a warning through `logger`.
   */
  readonly onIdleError?: (error: Error) => void;
}

/**
 * Whether a pg error is a refused login: SQLSTATE `28P01` (wrong password) or `28000` (no such
 * role, or not allowed to log in).
 *
 * @example
 * ```ts
 * try { await client.connect(); } catch (error) { if (isPgAuthError(error)) console.warn('refused'); }
 * ```
 */
export function isPgAuthError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '28P01' || code === '28000';
}

// pg's own message for a server that answers 'N' to the SSLRequest while TLS is required.
const SERVER_WITHOUT_TLS = 'The server does not support SSL connections';

// How long a new connection may take to learn whether the server offers TLS (mode prefer), when
// the pool sets no connectionTimeoutMillis.
const DEFAULT_PROBE_TIMEOUT_MS = 10_000;

/**
 * A pg pool that takes host, port, database, user and password from a Secrets Manager secret and
 * keeps working while the secret rotates. Create it with {@link createPgPool}.
 *
 * - The password is a function pg calls for each new connection, answered from the cache, so a
 *   rotated password is picked up without recreating anything.
 * - When the secret's user changes (alternating users), a new pg pool is used for new work and
 *   the old one is ended once its connections are released.
 * - A refused login (SQLSTATE 28P01/28000) refreshes the secret and retries: with the new
 *   AWSCURRENT, else AWSPENDING (the single-user rotation window), else AWSPREVIOUS. A refused
 *   login happens before any statement runs, so the retry never runs a statement twice.
 *
 * @example
 * ```ts
 * const pool = createPgPool({ cache, secretId: 'prod/app/db' });
 * const { rows } = await pool.query<{ id: number }>('SELECT id FROM orders WHERE customer = $1', [42]);
 * await pool.end();
 * ```
 */
export class RotatingPgPool {
  readonly #core: RotatingPoolCore<pg.Pool>;

  constructor(options: PgPoolOptions) {
    const poolConfig = options?.poolConfig ?? {};
    refuseConnectionSettings('createPgPool poolConfig', poolConfig, [
      'user',
      'password',
      'host',
      'port',
      'database',
      'connectionString',
    ]);
    const isAuthError = options?.isAuthError ?? isPgAuthError;
    const logger = options?.logger ?? console;
    const onIdleError =
      options?.onIdleError ??
      ((error: Error) => logger.warn(`createPgPool: an idle connection failed: ${error.message}`));
    refuseDriverTls('createPgPool poolConfig', poolConfig);
    const tls = options?.tls ?? {};
    const tlsVariable = tls.mode === undefined ? 'PG_TLS_MODE' : 'createPgPool tls.mode';
    const driver: PoolDriver<pg.Pool> = {
      name: 'createPgPool',
      engines: ['postgres', 'aurora-postgresql', 'redshift'],
      defaultPort: 5432,
      tlsMode: poolTlsMode('createPgPool', tls, envString(processEnv(), 'PG_TLS_MODE'), 'PG_TLS_MODE'),
      tlsVariable,
      poolKey: loginKey,
      isAuthError,
      isServerWithoutTls: (error) => error instanceof Error && error.message === SERVER_WITHOUT_TLS,
      create: (generation, mode, onPlaintext) => {
        const { secret } = generation;
        // Every connection of the pool makes its own TLS decision, whichever comes first.
        const Client = pgClientFor({
          mode,
          variable: tlsVariable,
          ca: tls.ca,
          serverName: tls.servername,
          probeTimeoutMs: poolConfig.connectionTimeoutMillis || DEFAULT_PROBE_TIMEOUT_MS,
          onPlaintext,
        });
        const pool = new pg.Pool({
          ...poolConfig,
          host: secret.host,
          // Redshift listens on 5439 unless the secret says otherwise.
          port: secret.port ?? (secret.engine === 'redshift' ? 5439 : 5432),
          database: secret.dbname ?? 'postgres',
          user: secret.username,
          password: () => this.#core.passwordFor(generation),
          Client: Client as unknown as new () => pg.ClientBase,
        });
        pool.on('error', onIdleError);
        return pool;
      },
      end: (pool) => pool.end(),
    };
    this.#core = new RotatingPoolCore(driver, options);
  }

  /**
   * Runs one statement on a pooled connection, like pg's `Pool.query`, retrying a refused login
   * with a fresher version of the secret.
   *
   * @example
   * ```ts
   * const { rows } = await pool.query<{ total: string }>('SELECT sum(amount) AS total FROM orders');
   * const byConfig = await pool.query({ text: 'SELECT $1::int AS n', values: [1] });
   * ```
   */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    textOrConfig: string | pg.QueryConfig<unknown[]>,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.#core.run((pool) => pool.query<R>(textOrConfig, values));
  }

  /**
   * Checks out a connection, like pg's `Pool.connect` (release it with `client.release()`). A
   * refused login is retried with a fresher version; a connection already handed out keeps its
   * login for its life.
   *
   * @example
   * ```ts
   * const client = await pool.connect();
   * try {
   *   await client.query('BEGIN');
   *   await client.query('UPDATE accounts SET balance = balance - 10 WHERE id = $1', [1]);
   *   await client.query('COMMIT');
   * } finally {
   *   client.release();
   * }
   * ```
   */
  connect(): Promise<pg.PoolClient> {
    // pg ends a pool's checked-out connections only when they are released, so the pool
    // generation needs to be held only until the connection is handed out.
    return this.#core.run((pool) => pool.connect());
  }

  /**
   * What the pool has been through: operations, refused logins, retries that saved an operation.
   *
   * @example
   * ```ts
   * console.info(pool.stats());
   * ```
   */
  stats(): RotatingPoolStats {
    return this.#core.stats();
  }

  /**
   * Ends every pg pool it created (waiting for checked-out connections to be released).
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => void pool.end());
   * ```
   */
  end(): Promise<void> {
    return this.#core.end();
  }
}

/**
 * Creates a {@link RotatingPgPool}: a pg pool whose connection settings and password come from a
 * database secret through the cache, and that rides through rotations (single user and
 * alternating users).
 *
 * @throws ConfigurationError when `poolConfig` sets connection fields the secret owns, or an option is unusable.
 * @example
 * ```ts
 * import { SecretCache, createPgPool } from 'secrets-rotator/client';
 *
 * const cache = new SecretCache({ ttlMs: 60_000 });
 * const pool = createPgPool({ cache, secretId: 'prod/app/db', poolConfig: { max: 10 } });
 * const { rows } = await pool.query('SELECT current_user');
 * ```
 */
export function createPgPool(options: PgPoolOptions): RotatingPgPool {
  return new RotatingPgPool(options);
}
