import pg from 'pg';
import { pgClientFor, SERVER_WITHOUT_TLS } from '../database/postgres-tls.ts';
import { loginKey } from './database-secret.ts';
import {
  type DatabaseTlsOptions,
  type PoolDriver,
  poolTls,
  type RotatingPoolBaseOptions,
  RotatingPoolCore,
  type RotatingPoolStats,
  refuseDriverSettings,
} from './pool-core.ts';

/** Pool settings you may pass to pg; where and as whom to connect come from the secret. */
export type PgPoolConfig = Omit<
  pg.PoolConfig,
  'user' | 'password' | 'host' | 'port' | 'database' | 'connectionString' | 'ssl' | 'Client'
>;

/** Options of {@link createPgPool}. */
export interface PgPoolOptions extends RotatingPoolBaseOptions {
  /** pg pool settings; `ssl` is refused: TLS follows `tls`. */
  readonly poolConfig?: PgPoolConfig;
  /** The TLS mode (default `PG_TLS_MODE`, else verify-full), the CA and the certificate name. */
  readonly tls?: DatabaseTlsOptions;
  /** Errors of idle connections, which would otherwise crash the process. Default: a warning through `logger`. */
  readonly onIdleError?: (error: Error) => void;
}

/**
 * Whether a pg error is a refused login: SQLSTATE `28P01` (wrong password) or `28000` (no such
 * role, or not allowed to log in).
 */
export function isPgAuthError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '28P01' || code === '28000';
}

/**
 * A pg pool whose connection and password come from a secret, kept working through rotations: pg
 * asks the cache for the password per connection, a new user gets a new pool, and a refused login
 * retries with a fresher version. A login is refused before any statement runs, so nothing runs twice.
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
    refuseDriverSettings(
      'createPgPool poolConfig',
      poolConfig,
      ['user', 'password', 'host', 'port', 'database', 'connectionString'],
      ['ssl'],
    );
    const logger = options?.logger ?? console;
    const onIdleError =
      options?.onIdleError ??
      ((error: Error) => logger.warn(`createPgPool: an idle connection failed: ${error.message}`));
    const tls = options?.tls ?? {};
    const { mode: tlsMode, variable: tlsVariable } = poolTls('createPgPool', tls, 'PG_TLS_MODE');
    const driver: PoolDriver<pg.Pool> = {
      name: 'createPgPool',
      engines: ['postgres', 'aurora-postgresql', 'redshift'],
      defaultPort: 5432,
      tlsMode,
      tlsVariable,
      poolKey: loginKey,
      isAuthError: options?.isAuthError ?? isPgAuthError,
      isServerWithoutTls: (error) => error instanceof Error && error.message === SERVER_WITHOUT_TLS,
      create: (generation, mode, onPlaintext) => {
        const { secret } = generation;
        // Every connection of the pool makes its own TLS decision, whichever comes first.
        const Client = pgClientFor({
          mode,
          variable: tlsVariable,
          ca: tls.ca,
          serverName: tls.servername,
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
    };
    this.#core = new RotatingPoolCore(driver, options);
  }

  /** Like pg's `Pool.query`, retrying a refused login with a fresher version. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    textOrConfig: string | pg.QueryConfig<unknown[]>,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.#core.run((pool) => pool.query<R>(textOrConfig, values));
  }

  /** Like pg's `Pool.connect`; a connection keeps its login for its life. */
  connect(): Promise<pg.PoolClient> {
    // pg ends checked-out connections only on release: hold the generation until hand-out only.
    return this.#core.run((pool) => pool.connect());
  }

  /** What the pool has been through: operations, refused logins, retries that saved an operation. */
  stats(): RotatingPoolStats {
    return this.#core.stats();
  }

  /** Ends every pg pool it created, once checked-out connections are released. */
  end(): Promise<void> {
    return this.#core.end();
  }
}

/**
 * Creates a {@link RotatingPgPool} reading a database secret through the cache.
 *
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
