/**
 * Internal to `secrets-rotator/client`: the engine-independent part of the pg and mysql2 pools
 * (the option and statistics types are exported from the package; the classes are not).
 */
import { normalHost } from '../adapters/database/secret.ts';
import { ConfigurationError } from '../core/errors.ts';
import type { CachedSecret, SecretCache } from './cache.ts';
import { type DatabaseSecret, parseDatabaseSecret, requireEngine } from './database-secret.ts';
import { DEFAULT_MAX_ATTEMPTS } from './fresh-secret.ts';
import { selectorFor, type VersionChoice, type VersionSelector } from './selector.ts';

/**
 * Where the pool integrations write the one warning they have (a server that offers no TLS). A
 * Powertools `Logger` or `console` fits.
 *
 * @example
 * ```ts
 * const logger: ClientLogger = new Logger({ serviceName: 'orders' });
 * ```
 */
export interface ClientLogger {
  warn(message: string, ...details: unknown[]): void;
}

/**
 * TLS settings used when the secret asks for TLS (`ssl` true or absent, docs/protocol.md#tls-to-databases).
 *
 * @example
 * ```ts
 * const tls: DatabaseTlsOptions = { ca: readFileSync('/opt/rds-global-bundle.pem', 'utf8') };
 * ```
 */
export interface DatabaseTlsOptions {
  /** CA certificates to trust instead of Node's defaults, e.g. the RDS bundle (PEM). */
  readonly ca?: string | Buffer | Array<string | Buffer>;
  /** pg only: the name to check in the server's certificate when `host` is a CNAME or an IP. */
  readonly servername?: string;
}

/**
 * What a rotating pool has been through since it was created. Each `query`, `execute`,
 * `connect`/`getConnection` is one operation.
 *
 * @example
 * ```ts
 * const { authRefusals, recoveredOperations } = pool.stats();
 * console.info(`${authRefusals} logins refused, ${recoveredOperations} operations saved by a retry`);
 * ```
 */
export interface RotatingPoolStats {
  readonly operations: number;
  /** Logins the database refused (each one was followed by a fresher version, or ended the operation). */
  readonly authRefusals: number;
  /** Operations that met at least one refused login. */
  readonly retriedOperations: number;
  /** Operations that met a refused login and then succeeded. */
  readonly recoveredOperations: number;
  /** Operations that ended in an error, whatever the cause. */
  readonly failedOperations: number;
  /** Driver pools created (one per user and server; for mysql2 also per password). */
  readonly poolsCreated: number;
  /**
   * Times a server without TLS was accepted for a secret without `ssl` (each also logged as a
   * warning). TLS is tried again every 5 minutes, so a server that still has none counts again.
   */
  readonly plaintextFallbacks: number;
}

/**
 * How long a server's answer that it offers no TLS is trusted before TLS is tried again (each
 * fallback is logged and counted again).
 *
 * @example
 * ```ts
 * PLAINTEXT_RECHECK_MS; // 300000: five minutes
 * ```
 */
export const PLAINTEXT_RECHECK_MS = 300_000;

/** How a pool reaches its server: verified TLS, or none. */
export type TlsMode = 'verified' | 'none';

/** One driver pool, for one login (and TLS mode); retired when the secret moves elsewhere. */
export interface PoolGeneration<P> {
  readonly key: string;
  readonly pool: P;
  /** The newest secret version seen for this login (pg reads its password per connection). */
  secret: DatabaseSecret;
  /** Operations and handed-out connections still using it. */
  users: number;
  retired: boolean;
}

/** What an engine integration supplies to {@link RotatingPoolCore}. */
export interface PoolDriver<P> {
  /** `createPgPool` or `createMysqlPool`, for messages. */
  readonly name: string;
  readonly engines: readonly string[];
  readonly defaultPort: number;
  /** The part of the pool key that decides whether two versions can share a driver pool. */
  poolKey(secret: DatabaseSecret): string;
  create(generation: Omit<PoolGeneration<P>, 'pool'>, tls: TlsMode | 'caller'): P;
  end(pool: P): Promise<void>;
  isAuthError(error: unknown): boolean;
  /** The driver's error for a server that answered it offers no TLS at all. */
  isServerWithoutTls(error: unknown): boolean;
  /** Whether the caller set TLS options on the pool themselves (then the secret's `ssl` is not used). */
  readonly callerTls: boolean;
}

/** Options shared by the pg and mysql2 integrations. */
export interface RotatingPoolBaseOptions {
  /** The {@link SecretCache} to read the secret through (share one per process). */
  readonly cache: SecretCache;
  /** Name or ARN of the database secret (JSON as in docs/protocol.md#the-database-secret). */
  readonly secretId: string;
  /** Which errors mean a refused login. Default: the driver's (`isPgAuthError`, `isMysqlAuthError`). */
  readonly isAuthError?: (error: unknown) => boolean;
  /** Most tries per operation, the first included. Default 4: current, refreshed current, pending, previous. */
  readonly maxAttempts?: number;
  /** Where the plaintext-fallback warning goes. Default `console`. */
  readonly logger?: ClientLogger;
}

/**
 * Refuses driver settings that say where or as whom to connect: those come from the secret.
 *
 * @param option - how the settings were passed, for the error (`createPgPool poolConfig`).
 * @example
 * ```ts
 * refuseConnectionSettings('createMysqlPool poolOptions', poolOptions, ['user', 'password', 'host']);
 * ```
 */
export function refuseConnectionSettings(option: string, settings: object, fields: readonly string[]): void {
  for (const field of fields) {
    if (field in settings) {
      throw new ConfigurationError(
        `${option}.${field}`,
        'must not be set: where and as whom to connect come from the secret',
      );
    }
  }
}

/**
 * The engine-independent part of a rotating pool: picks the version (through the shared
 * {@link VersionSelector}), keeps one driver pool per login, retires pools whose login went away
 * once nobody uses them, retries refused logins with fresher versions, and applies docs/protocol.md#tls-to-databases for a
 * secret without `ssl`.
 */
export class RotatingPoolCore<P> {
  readonly #driver: PoolDriver<P>;
  readonly #selector: VersionSelector;
  readonly #secretId: string;
  readonly #maxAttempts: number;
  readonly #logger: ClientLogger;
  readonly #generations = new Map<string, PoolGeneration<P>>();
  /** Servers found to offer no TLS, and until when (cache clock) that finding is trusted. */
  readonly #plaintextServers = new Map<string, number>();
  readonly #now: () => number;
  #active: PoolGeneration<P> | undefined;
  #ended = false;
  readonly #stats = {
    operations: 0,
    authRefusals: 0,
    retriedOperations: 0,
    recoveredOperations: 0,
    failedOperations: 0,
    poolsCreated: 0,
    plaintextFallbacks: 0,
  };

  constructor(driver: PoolDriver<P>, options: RotatingPoolBaseOptions) {
    if (!options || typeof options.cache?.get !== 'function') {
      throw new ConfigurationError(`${driver.name} cache`, 'must be a SecretCache');
    }
    if (typeof options.secretId !== 'string' || options.secretId.length === 0) {
      throw new ConfigurationError(
        `${driver.name} secretId`,
        'must be the name or ARN of the database secret',
      );
    }
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new ConfigurationError(
        `${driver.name} maxAttempts`,
        `must be a whole number, 1 or more; got ${maxAttempts}`,
      );
    }
    this.#driver = driver;
    this.#selector = selectorFor(options.cache, options.secretId);
    this.#secretId = options.secretId;
    this.#maxAttempts = maxAttempts;
    this.#logger = options.logger ?? console;
    this.#now = () => options.cache.now();
  }

  stats(): RotatingPoolStats {
    return { ...this.#stats };
  }

  /** The version to use now, parsed and checked for the engine. */
  async pick(): Promise<VersionChoice<DatabaseSecret>> {
    const choice = await this.#selector.pick(parseDatabaseSecret);
    requireEngine(choice.secret.parsed, this.#driver.engines, this.#driver.name);
    return choice;
  }

  /**
   * Runs `operation` on the driver pool of the version in use; a refused login is retried with a
   * fresher version. Operations after {@link RotatingPoolCore.end} fail.
   */
  async run<R>(operation: (pool: P) => Promise<R>): Promise<R> {
    this.#checkOpen();
    this.#stats.operations += 1;
    try {
      return await this.#attempts(operation);
    } catch (error) {
      this.#stats.failedOperations += 1;
      throw error;
    }
  }

  async #attempts<R>(operation: (pool: P) => Promise<R>): Promise<R> {
    let refusals = 0;
    let fallbacks = 0;
    for (let attempt = 1; ; ) {
      this.#checkOpen();
      const choice = await this.pick();
      const generation = this.#generationFor(choice.secret);
      generation.users += 1;
      try {
        const result = await operation(generation.pool);
        if (refusals > 0) this.#stats.recoveredOperations += 1;
        return result;
      } catch (error) {
        if (fallbacks === 0 && this.#mayFallBackToPlaintext(choice.secret.parsed, error)) {
          fallbacks += 1;
          continue;
        }
        if (!this.#driver.isAuthError(error)) throw error;
        this.#stats.authRefusals += 1;
        if (refusals === 0) this.#stats.retriedOperations += 1;
        refusals += 1;
        // A failure to ask Secrets Manager for a fresher version propagates: it is why this failed.
        if (attempt >= this.#maxAttempts || !(await this.#selector.recover(choice))) throw error;
        attempt += 1;
      } finally {
        this.release(generation);
      }
    }
  }

  /** Marks a generation used by one more holder (a connection handed to the caller). */
  hold(pool: P): () => void {
    const generation = [...this.#generations.values()].find((candidate) => candidate.pool === pool);
    if (!generation) return () => {};
    generation.users += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(generation);
    };
  }

  release(generation: PoolGeneration<P>): void {
    generation.users -= 1;
    if (generation.retired && generation.users <= 0) this.#endGeneration(generation);
  }

  /** Ends every driver pool. Operations after this fail. */
  async end(): Promise<void> {
    this.#ended = true;
    const pools = [...this.#generations.values()];
    this.#generations.clear();
    this.#active = undefined;
    await Promise.allSettled(pools.map((generation) => this.#driver.end(generation.pool)));
  }

  /** The newest password this generation knows, refreshed from the cache when it is fresher (pg). */
  async passwordFor(generation: Omit<PoolGeneration<P>, 'pool'>): Promise<string> {
    const choice = await this.pick();
    if (this.#keyOf(choice.secret.parsed) === generation.key) generation.secret = choice.secret.parsed;
    return generation.secret.password;
  }

  #checkOpen(): void {
    if (this.#ended) {
      throw new ConfigurationError(`${this.#driver.name} pool`, 'has been ended; create a new one');
    }
  }

  #server(secret: DatabaseSecret): string {
    return `${normalHost(secret.host)}:${secret.port ?? this.#driver.defaultPort}`;
  }

  #tlsFor(secret: DatabaseSecret): TlsMode | 'caller' {
    if (this.#driver.callerTls) return 'caller';
    if (secret.ssl === false) return 'none';
    if (secret.ssl === undefined && this.#knownWithoutTls(this.#server(secret))) return 'none';
    return 'verified';
  }

  #keyOf(secret: DatabaseSecret): string {
    return `${this.#driver.poolKey(secret)}|${this.#tlsFor(secret)}`;
  }

  #generationFor(version: CachedSecret<DatabaseSecret>): PoolGeneration<P> {
    const secret = version.parsed;
    const key = this.#keyOf(secret);
    let generation = this.#generations.get(key);
    if (!generation) {
      const base = { key, secret, users: 0, retired: false };
      const pool = this.#driver.create(base, this.#tlsFor(secret));
      // The driver's callbacks hold `base`; the generation must be that same object.
      generation = Object.assign(base, { pool });
      this.#generations.set(key, generation);
      this.#stats.poolsCreated += 1;
    } else {
      generation.secret = secret;
    }
    if (this.#active !== generation) {
      // The secret moved to another login: let the old pool finish what it is doing, then end it.
      // Its user stays valid meanwhile (alternating users keep the previous one working).
      const previous = this.#active;
      this.#active = generation;
      generation.retired = false;
      if (previous) {
        previous.retired = true;
        if (previous.users <= 0) this.#endGeneration(previous);
      }
    }
    return generation;
  }

  #endGeneration(generation: PoolGeneration<P>): void {
    if (this.#generations.get(generation.key) !== generation) return;
    this.#generations.delete(generation.key);
    this.#driver.end(generation.pool).catch(() => {
      // Ending a pool whose connections already broke can fail; nothing is left to clean up.
    });
  }

  /**
   * Whether `server` answered recently that it offers no TLS. The finding expires, so that TLS is
   * tried again: a server that starts offering TLS gets it, and a single forged "no TLS" answer
   * does not keep the process in plaintext for good.
   */
  #knownWithoutTls(server: string): boolean {
    const until = this.#plaintextServers.get(server);
    if (until === undefined) return false;
    if (this.#now() < until) return true;
    this.#plaintextServers.delete(server);
    return false;
  }

  /** docs/protocol.md#tls-to-databases: no `ssl` in the secret means TLS unless the server offers none at all. */
  #mayFallBackToPlaintext(secret: DatabaseSecret, error: unknown): boolean {
    if (secret.ssl !== undefined || this.#driver.callerTls || !this.#driver.isServerWithoutTls(error))
      return false;
    const server = this.#server(secret);
    if (this.#knownWithoutTls(server)) return false;
    this.#plaintextServers.set(server, this.#now() + PLAINTEXT_RECHECK_MS);
    this.#stats.plaintextFallbacks += 1;
    this.#logger.warn(
      `${this.#driver.name}: database ${server} (secret "${this.#secretId}") offers no TLS; connecting without it. ` +
        'Set "ssl": true in the secret to refuse plaintext, or "ssl": false to say it is expected.',
    );
    return true;
  }
}
