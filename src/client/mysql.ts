import mysql from 'mysql2/promise';
import { envString, processEnv } from '../core/config.ts';
import { mysqlTlsConnectionOptions, serverPublicKeyFrom } from '../database/mysql-tls.ts';
import { credentialKey } from './database-secret.ts';
import {
  type DatabaseTlsOptions,
  type PoolDriver,
  poolTls,
  type RotatingPoolBaseOptions,
  RotatingPoolCore,
  type RotatingPoolStats,
  refuseDriverSettings,
} from './pool-core.ts';

/** Pool settings you may pass to mysql2; where and as whom to connect come from the secret. */
export type MysqlPoolConfig = Omit<
  mysql.PoolOptions,
  'user' | 'password' | 'host' | 'port' | 'database' | 'uri' | 'ssl' | 'stream' | 'authPlugins'
>;

/** Options of {@link createMysqlPool}. */
export interface MysqlPoolOptions extends RotatingPoolBaseOptions {
  /** mysql2 pool settings; `ssl`, `stream` and `authPlugins` are refused: TLS follows `tls`. */
  readonly poolOptions?: MysqlPoolConfig;
  /** TLS mode and CA; `serverPublicKey` (default `MYSQL_SERVER_PUBLIC_KEY`) pins the key a password goes to without TLS. */
  readonly tls?: Pick<DatabaseTlsOptions, 'ca' | 'mode'> & { readonly serverPublicKey?: string };
}

/**
 * Whether a mysql2 error is a refused login: `ER_ACCESS_DENIED_ERROR` (1045) or
 * `ER_ACCESS_DENIED_NO_PASSWORD_ERROR` (1698).
 */
export function isMysqlAuthError(error: unknown): boolean {
  const { errno, code } = (error ?? {}) as { errno?: unknown; code?: unknown };
  return (
    errno === 1045 ||
    errno === 1698 ||
    code === 'ER_ACCESS_DENIED_ERROR' ||
    code === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR'
  );
}

/**
 * A mysql2 (promise API) pool whose connection and credentials come from a secret, kept working
 * through rotations: mysql2 fixes a pool's password, so a refused login moves to a new pool with a
 * fresher version. A login is refused before any statement runs, so nothing runs twice.
 *
 * @example
 * ```ts
 * const pool = createMysqlPool({ cache, secretId: 'prod/app/mysql' });
 * const [rows] = await pool.query<mysql.RowDataPacket[]>('SELECT id FROM orders WHERE customer = ?', [42]);
 * await pool.end();
 * ```
 */
export class RotatingMysqlPool {
  readonly #core: RotatingPoolCore<mysql.Pool>;

  constructor(options: MysqlPoolOptions) {
    const poolOptions = options?.poolOptions ?? {};
    refuseDriverSettings(
      'createMysqlPool poolOptions',
      poolOptions,
      ['user', 'password', 'host', 'port', 'database', 'uri'],
      ['ssl', 'stream', 'authPlugins'],
    );
    const tls = options?.tls ?? {};
    const { mode: tlsMode, variable: tlsVariable } = poolTls('createMysqlPool', tls, 'MYSQL_TLS_MODE');
    const serverPublicKey =
      tls.serverPublicKey === undefined
        ? serverPublicKeyFrom(envString(processEnv(), 'MYSQL_SERVER_PUBLIC_KEY'), 'MYSQL_SERVER_PUBLIC_KEY')
        : serverPublicKeyFrom(tls.serverPublicKey, 'createMysqlPool tls.serverPublicKey');
    const driver: PoolDriver<mysql.Pool> = {
      name: 'createMysqlPool',
      engines: ['mysql', 'aurora-mysql', 'mariadb'],
      defaultPort: 3306,
      tlsMode,
      tlsVariable,
      // mysql2 cannot change a pool's password: every password gets its own pool.
      poolKey: credentialKey,
      isAuthError: options?.isAuthError ?? isMysqlAuthError,
      isServerWithoutTls: (error) =>
        (error as { code?: unknown } | null)?.code === 'HANDSHAKE_NO_SSL_SUPPORT',
      create: ({ secret }, mode, onPlaintext) => {
        const port = secret.port ?? 3306;
        return mysql.createPool({
          ...poolOptions,
          host: secret.host,
          port,
          user: secret.username,
          password: secret.password,
          ...(secret.dbname === undefined ? {} : { database: secret.dbname }),
          // Every connection of the pool makes its own TLS decision, whichever comes first.
          ...mysqlTlsConnectionOptions(
            { mode, variable: tlsVariable, ca: tls.ca, serverPublicKey, onPlaintext },
            { host: secret.host, port },
          ),
        });
      },
    };
    this.#core = new RotatingPoolCore(driver, options);
  }

  /** Like mysql2's `pool.query`, retrying a refused login with fresher credentials. */
  query<T extends mysql.QueryResult = mysql.QueryResult>(
    sql: string | mysql.QueryOptions,
    values?: Parameters<mysql.Pool['query']>[1],
  ): Promise<[T, mysql.FieldPacket[]]> {
    return this.#core.run((pool) =>
      typeof sql === 'string' ? pool.query<T>(sql, values) : pool.query<T>(sql, values),
    );
  }

  /** Like mysql2's `pool.execute`, retrying a refused login with fresher credentials. */
  execute<T extends mysql.QueryResult = mysql.QueryResult>(
    sql: string | mysql.QueryOptions,
    values?: Parameters<mysql.Pool['execute']>[1],
  ): Promise<[T, mysql.FieldPacket[]]> {
    return this.#core.run((pool) =>
      typeof sql === 'string' ? pool.execute<T>(sql, values) : pool.execute<T>(sql, values),
    );
  }

  /** Like mysql2's `pool.getConnection`; its pool stays open until it is released, even after a rotation. */
  getConnection(): Promise<mysql.PoolConnection> {
    return this.#core.run(async (pool) => {
      const connection = await pool.getConnection();
      const done = this.#core.hold(pool);
      // Own properties on this one handle: the retired pool must not close it under the caller.
      for (const method of ['release', 'destroy'] as const) {
        const original = connection[method].bind(connection);
        connection[method] = () => {
          original();
          done();
        };
      }
      return connection;
    });
  }

  /** What the pool has been through: operations, refused logins, retries that saved one. */
  stats(): RotatingPoolStats {
    return this.#core.stats();
  }

  /** Ends every mysql2 pool it created. */
  end(): Promise<void> {
    return this.#core.end();
  }
}

/**
 * Creates a {@link RotatingMysqlPool} reading a database secret through the cache.
 *
 * @example
 * ```ts
 * import { SecretCache, createMysqlPool } from 'secrets-rotator/client';
 *
 * const cache = new SecretCache({ ttlMs: 60_000 });
 * const pool = createMysqlPool({ cache, secretId: 'prod/app/mysql', poolOptions: { connectionLimit: 10 } });
 * const [rows] = await pool.query('SELECT CURRENT_USER() AS user');
 * ```
 */
export function createMysqlPool(options: MysqlPoolOptions): RotatingMysqlPool {
  return new RotatingMysqlPool(options);
}
