import { envString, processEnv } from '../core/config.ts';
import { ConfigurationError } from '../core/errors.ts';
import { normalHost } from '../database/secret.ts';
import { effectiveTlsMode, parseTlsMode, serverWithoutTlsError, type TlsMode } from '../database/tls.ts';
import { type CachedSecret, checkCount, type SecretCache } from './cache.ts';
import { type DatabaseSecret, parseDatabaseSecret, requireEngine } from './database-secret.ts';
import { DEFAULT_MAX_ATTEMPTS } from './fresh-secret.ts';
import { selectorFor, type VersionChoice, type VersionSelector } from './selector.ts';

/** Where the pools warn of a connection without TLS (mode `prefer`); a Powertools `Logger` or `console` fits. */
export interface ClientLogger {
  warn(message: string, ...details: unknown[]): void;
}

/**
 * How the pool's connections are protected; `mode` defaults to `PG_TLS_MODE` / `MYSQL_TLS_MODE`, else
 * `verify-full`. A secret's `"ssl": true` tightens it; `"ssl": false` cannot loosen it.
 *
 * @example
 * ```ts
 * const tls: DatabaseTlsOptions = { ca: readFileSync('/opt/rds-global-bundle.pem', 'utf8') };
 * const local: DatabaseTlsOptions = { mode: 'prefer' }; // a local database without TLS
 * ```
 */
export interface DatabaseTlsOptions {
  /** `verify-full`, `prefer` (plaintext with a warning when the server offers no TLS) or `disable`. */
  readonly mode?: TlsMode;
  /** CA certificates to trust instead of Node's defaults, e.g. the RDS bundle (PEM). */
  readonly ca?: string | Buffer | Array<string | Buffer>;
  /** pg only: the name to check in the server's certificate when `host` is a CNAME or an IP. */
  readonly servername?: string;
}

/** What a rotating pool has been through; each `query`, `execute` or `connect` is one operation. */
export interface RotatingPoolStats {
  readonly operations: number;
  /** Logins the database refused. */
  readonly authRefusals: number;
  /** Operations that met at least one refused login. */
  readonly retriedOperations: number;
  /** Operations that met a refused login and then succeeded. */
  readonly recoveredOperations: number;
  /** Operations that ended in an error, whatever the cause. */
  readonly failedOperations: number;
  /** Driver pools created (one per user and server; for mysql2 also per password). */
  readonly poolsCreated: number;
  /** Connections that went on without TLS (mode `prefer`); never remembered, each new one asks again. */
  readonly plaintextFallbacks: number;
}

/** The pool's TLS mode, and the setting to name in messages about it: `tls.mode` if given, else the variable. */
export function poolTls(
  name: string,
  tls: DatabaseTlsOptions,
  variable: string,
): { readonly mode: TlsMode; readonly variable: string } {
  if (tls.mode === undefined)
    return { mode: parseTlsMode(envString(processEnv(), variable), variable), variable };
  return { mode: parseTlsMode(String(tls.mode), `${name} tls.mode`), variable: `${name} tls.mode` };
}

const CONNECTION_REFUSAL = 'must not be set: where and as whom to connect come from the secret';
// Settings that decide TLS or how the password travels follow the pool's mode: none may switch it off.
const TLS_REFUSAL =
  'must not be set: TLS and how the password is sent follow tls.mode (verify-full, prefer or disable), tls.ca and, for MySQL, tls.serverPublicKey';

export function refuseDriverSettings(
  option: string,
  settings: object,
  connectionFields: readonly string[],
  tlsFields: readonly string[],
): void {
  for (const [fields, reason] of [
    [connectionFields, CONNECTION_REFUSAL],
    [tlsFields, TLS_REFUSAL],
  ] as const) {
    const field = fields.find((candidate) => candidate in settings);
    if (field !== undefined) throw new ConfigurationError(`${option}.${field}`, reason);
  }
}

/** One driver pool, for one login (and TLS mode); retired when the secret moves elsewhere. */
interface PoolGeneration<P> {
  readonly key: string;
  readonly pool: P;
  /** pg reads its password per connection. */
  secret: DatabaseSecret;
  users: number;
  retired: boolean;
}

export interface PoolDriver<P extends { end(): Promise<void> }> {
  readonly name: string;
  readonly engines: readonly string[];
  readonly defaultPort: number;
  /** The part of the pool key that decides whether two versions can share a driver pool. */
  poolKey(secret: DatabaseSecret): string;
  create(generation: Omit<PoolGeneration<P>, 'pool'>, tls: TlsMode, onPlaintext: (server: string) => void): P;
  isAuthError(error: unknown): boolean;
  /** The driver's error for a server that answered it offers no TLS at all (under verify-full). */
  isServerWithoutTls(error: unknown): boolean;
  readonly tlsMode: TlsMode;
  readonly tlsVariable: string;
}

export interface RotatingPoolBaseOptions {
  /** Share one per process. */
  readonly cache: SecretCache;
  /** Name or ARN of the database secret (docs/protocol.md#the-database-secret). */
  readonly secretId: string;
  /** Which errors mean a refused login. Default: the driver's (`isPgAuthError`, `isMysqlAuthError`). */
  readonly isAuthError?: (error: unknown) => boolean;
  /** Most tries per operation, the first included. Default 4: current, refreshed current, pending, previous. */
  readonly maxAttempts?: number;
  /** Where the warning about a connection without TLS goes. Default `console`. */
  readonly logger?: ClientLogger;
}

/** The engine-independent part of a rotating pool: one driver pool per login, refused logins retried. */
export class RotatingPoolCore<P extends { end(): Promise<void> }> {
  readonly #driver: PoolDriver<P>;
  readonly #selector: VersionSelector;
  readonly #secretId: string;
  readonly #maxAttempts: number;
  readonly #logger: ClientLogger;
  readonly #generations = new Map<string, PoolGeneration<P>>();
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
    this.#maxAttempts = checkCount(`${driver.name} maxAttempts`, options.maxAttempts, DEFAULT_MAX_ATTEMPTS);
    this.#driver = driver;
    this.#selector = selectorFor(options.cache, options.secretId);
    this.#secretId = options.secretId;
    this.#logger = options.logger ?? console;
  }

  stats(): RotatingPoolStats {
    return { ...this.#stats };
  }

  async pick(): Promise<VersionChoice<DatabaseSecret>> {
    const choice = await this.#selector.pick(parseDatabaseSecret);
    requireEngine(choice.secret.parsed, this.#driver.engines, this.#driver.name);
    return choice;
  }

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
    for (let refusals = 0; ; ) {
      this.#checkOpen();
      const choice = await this.pick();
      const generation = this.#generationFor(choice.secret);
      generation.users += 1;
      try {
        const result = await operation(generation.pool);
        if (refusals > 0) this.#stats.recoveredOperations += 1;
        return result;
      } catch (error) {
        this.#countRefusal(error, choice.secret.parsed);
        if (refusals === 0) this.#stats.retriedOperations += 1;
        refusals += 1;
        // A failure to ask Secrets Manager for a fresher version propagates: it is why this failed.
        if (refusals >= this.#maxAttempts || !(await this.#selector.recover(choice))) throw error;
      } finally {
        this.release(generation);
      }
    }
  }

  /** Rethrows what a fresher password cannot fix. */
  #countRefusal(error: unknown, secret: DatabaseSecret): void {
    if (this.#driver.isServerWithoutTls(error)) {
      throw serverWithoutTlsError(
        `${this.#driver.name}: connecting to ${this.#server(secret)} (secret "${this.#secretId}")`,
        this.#driver.tlsVariable,
        this.#tlsFor(secret),
      );
    }
    if (!this.#driver.isAuthError(error)) throw error;
    this.#stats.authRefusals += 1;
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

  async end(): Promise<void> {
    this.#ended = true;
    const pools = [...this.#generations.values()];
    this.#generations.clear();
    this.#active = undefined;
    await Promise.allSettled(pools.map((generation) => generation.pool.end()));
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

  #tlsFor(secret: DatabaseSecret): TlsMode {
    return effectiveTlsMode(this.#driver.tlsMode, secret.ssl);
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
      const pool = this.#driver.create(base, this.#tlsFor(secret), (server) => this.#notePlaintext(server));
      // The driver's callbacks hold `base`; the generation must be that same object.
      generation = Object.assign(base, { pool });
      this.#generations.set(key, generation);
      this.#stats.poolsCreated += 1;
    } else {
      generation.secret = secret;
    }
    if (this.#active !== generation) {
      // Another login now: the old pool finishes its work first (alternating users keep it valid).
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
    generation.pool.end().catch(() => {
      // Ending a pool whose connections already broke can fail; nothing is left to clean up.
    });
  }

  /** One connection went on without TLS (mode `prefer`): counted and logged, never remembered. */
  #notePlaintext(server: string): void {
    this.#stats.plaintextFallbacks += 1;
    const variable = this.#driver.tlsVariable;
    this.#logger.warn(
      `${this.#driver.name}: database ${server} (secret "${this.#secretId}") offers no TLS; this connection goes on without it (${variable} is prefer). ` +
        `Enable TLS on the server and set ${variable} to verify-full.`,
    );
  }
}
