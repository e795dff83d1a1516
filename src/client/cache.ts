import {
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ConfigurationError, SecretShapeError, SecretsManagerCallError } from '../core/errors.ts';
import { AWSCURRENT, STAGING_LABELS, type StagingLabel } from '../core/stages.ts';

/** Turns a secret's string into the value an application uses; called once per version. */
export type SecretParser<T> = (value: string) => T;

/** One version of a secret as the cache hands it out. `value` is the secret itself: never log it. */
export interface CachedSecret<T = string> {
  readonly secretId: string;
  readonly arn: string | undefined;
  /** Versions never change value, so the id identifies the value. */
  readonly versionId: string;
  readonly stage: StagingLabel;
  readonly value: string;
  /** `parse(value)`, or `value` itself when no parser was given. */
  readonly parsed: T;
  /** When the cache fetched it, in the cache clock's milliseconds. */
  readonly fetchedAt: number;
}

/** Options of {@link SecretCache}. */
export interface SecretCacheOptions {
  /** Default: `new SecretsManagerClient({})`. */
  readonly client?: SecretsManagerClient;
  /** How long a fetched AWSCURRENT value is served without asking again. Default 300 000 (5 minutes). */
  readonly ttlMs?: number;
  /** For this long after `ttlMs`, a stale value is served while one background fetch replaces it. Default 0. */
  readonly staleWhileRevalidateMs?: number;
  /** Most (secret, label) entries kept; the least recently used goes first. Default 1000. */
  readonly maxEntries?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  readonly clock?: () => number;
  /** Told when a background refresh failed; the stale value stays until it expires. */
  readonly onBackgroundRefreshError?: (error: unknown, secretId: string) => void;
}

/** Options of {@link SecretCache.get} and {@link SecretCache.getVersion}. */
export interface GetSecretOptions<T> {
  /** Runs once per version id. Default: none (`parsed` is the string). */
  readonly parse?: SecretParser<T>;
}

interface Entry extends Omit<CachedSecret<unknown>, 'parsed'> {
  /** One parsed form per parser, kept across refreshes of the same version. */
  readonly parsed: Map<SecretParser<unknown>, unknown>;
}

const DEFAULT_TTL_MS = 300_000;
const DEFAULT_MAX_ENTRIES = 1000;

const identity: SecretParser<unknown> = (value) => value;

/** `parse(value)`, run once per parser and kept in `parsed` (versions never change value). */
export function parseOnce<T>(
  parsed: Map<SecretParser<unknown>, unknown>,
  value: string,
  parse: SecretParser<T> | undefined,
): T {
  const parser = (parse ?? identity) as SecretParser<unknown>;
  if (!parsed.has(parser)) parsed.set(parser, parser(value));
  return parsed.get(parser) as T;
}

function checkDuration(setting: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(
      setting,
      `must be a number of milliseconds, 0 or more; got ${String(value)}`,
    );
  }
  return value;
}

export function checkCount(setting: string, value: number | undefined, fallback: number): number {
  const count = value ?? fallback;
  if (!Number.isInteger(count) || count < 1) {
    throw new ConfigurationError(setting, `must be a whole number, 1 or more; got ${count}`);
  }
  return count;
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const candidate = error as { name?: unknown; code?: unknown };
    for (const value of [candidate.name, candidate.code]) {
      if (typeof value === 'string' && value !== 'Error') return value;
    }
  }
  return 'UnknownError';
}

function serviceMessage(error: unknown): string {
  // The service's messages name secrets and labels, never values; keep them short regardless.
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/**
 * A cache of secrets whose credentials rotate: TTL, version-aware parsing, stale-while-revalidate,
 * one fetch for concurrent callers, LRU-bounded. It never logs, and its errors never hold a value.
 *
 * @example
 * ```ts
 * import { SecretCache, parseDatabaseSecret } from 'secrets-rotator/client';
 *
 * const cache = new SecretCache({ ttlMs: 60_000 });
 * const { parsed: db, versionId } = await cache.get('prod/app/db', { parse: parseDatabaseSecret });
 * console.log(`connecting as ${db.username} with version ${versionId}`);
 * ```
 */
export class SecretCache {
  #client: SecretsManagerClient | undefined;
  readonly #ttlMs: number;
  readonly #staleMs: number;
  readonly #maxEntries: number;
  readonly #clock: () => number;
  readonly #onBackgroundError: ((error: unknown, secretId: string) => void) | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<Entry | undefined>>();

  constructor(options: SecretCacheOptions = {}) {
    this.#client = options.client;
    this.#ttlMs = checkDuration('SecretCache ttlMs', options.ttlMs, DEFAULT_TTL_MS);
    this.#staleMs = checkDuration('SecretCache staleWhileRevalidateMs', options.staleWhileRevalidateMs, 0);
    this.#maxEntries = checkCount('SecretCache maxEntries', options.maxEntries, DEFAULT_MAX_ENTRIES);
    this.#clock = options.clock ?? Date.now;
    this.#onBackgroundError = options.onBackgroundRefreshError;
  }

  /** The cache's clock: `options.clock`, else `Date.now()`. */
  now(): number {
    return this.#clock();
  }

  /** Entries held now (each secret and label counts once). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The AWSCURRENT version: cached while fresh, else fetched once for all concurrent callers.
   *
   * @example
   * ```ts
   * const { value } = await cache.get('prod/api-key');
   * const { parsed } = await cache.get('prod/app/db', { parse: parseDatabaseSecret });
   * ```
   */
  async get<T = string>(secretId: string, options: GetSecretOptions<T> = {}): Promise<CachedSecret<T>> {
    const key = keyOf(secretId, AWSCURRENT);
    const entry = this.#touch(key);
    const now = this.#clock();
    if (entry) {
      const age = now - entry.fetchedAt;
      if (age < this.#ttlMs) return this.#view(entry, options.parse);
      if (age < this.#ttlMs + this.#staleMs) {
        this.#revalidateInBackground(secretId);
        return this.#view(entry, options.parse);
      }
    }
    return this.refresh(secretId, options);
  }

  /** Fetches AWSCURRENT now, whatever its age: for when the credential was refused. */
  async refresh<T = string>(secretId: string, options: GetSecretOptions<T> = {}): Promise<CachedSecret<T>> {
    const fetched = await this.#fetch(secretId, AWSCURRENT);
    if (!fetched) {
      const message = `secret "${secretId}" has no AWSCURRENT version`;
      throw new SecretsManagerCallError('GetSecretValue', 'ResourceNotFoundException', message);
    }
    return this.#view(fetched, options.parse);
  }

  /**
   * The version holding `stage`, or `undefined` when none holds it with a value. AWSPENDING and
   * AWSPREVIOUS are always fetched: they matter only while a credential is refused, when stale is wrong.
   *
   * @example
   * ```ts
   * const pending = await cache.getVersion('prod/app/db', 'AWSPENDING', { parse: parseDatabaseSecret });
   * if (pending) console.log(`a rotation to version ${pending.versionId} is under way`);
   * ```
   */
  async getVersion<T = string>(
    secretId: string,
    stage: StagingLabel,
    options: GetSecretOptions<T> = {},
  ): Promise<CachedSecret<T> | undefined> {
    if (!STAGING_LABELS.includes(stage)) {
      throw new ConfigurationError(
        'stage',
        `must be one of ${STAGING_LABELS.join(', ')}; got "${String(stage)}"`,
      );
    }
    if (stage === AWSCURRENT) return this.get(secretId, options);
    const fetched = await this.#fetch(secretId, stage);
    return fetched ? this.#view(fetched, options.parse) : undefined;
  }

  /** What is cached for AWSCURRENT now, fresh or not, without calling the service. */
  peek<T = string>(secretId: string, options: GetSecretOptions<T> = {}): CachedSecret<T> | undefined {
    const entry = this.#entries.get(keyOf(secretId, AWSCURRENT));
    return entry ? this.#view(entry, options.parse) : undefined;
  }

  /** Forgets one secret (all its labels), or everything without an id. */
  invalidate(secretId?: string): void {
    if (secretId === undefined) {
      this.#entries.clear();
      return;
    }
    for (const stage of STAGING_LABELS) this.#entries.delete(keyOf(secretId, stage));
  }

  #touch(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry) this.#store(key, entry);
    return entry;
  }

  #store(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  #view<T>(entry: Entry, parse: SecretParser<T> | undefined): CachedSecret<T> {
    const { parsed, ...version } = entry;
    return { ...version, parsed: parseOnce(parsed, entry.value, parse) };
  }

  #revalidateInBackground(secretId: string): void {
    const key = keyOf(secretId, AWSCURRENT);
    if (this.#inFlight.has(key)) return;
    this.#fetch(secretId, AWSCURRENT).catch((error: unknown) => {
      this.#onBackgroundError?.(error, secretId);
    });
  }

  /** One GetSecretValue per (secret, label) at a time; undefined when the label has no value. */
  #fetch(secretId: string, stage: StagingLabel): Promise<Entry | undefined> {
    const key = keyOf(secretId, stage);
    const running = this.#inFlight.get(key);
    if (running) return running;
    const fetching = this.#load(secretId, stage, key).finally(() => {
      this.#inFlight.delete(key);
    });
    this.#inFlight.set(key, fetching);
    return fetching;
  }

  async #load(secretId: string, stage: StagingLabel, key: string): Promise<Entry | undefined> {
    let answer: GetSecretValueCommandOutput;
    try {
      answer = await this.#sdk().send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ResourceNotFoundException' && stage !== AWSCURRENT) {
        this.#entries.delete(key);
        return undefined;
      }
      throw new SecretsManagerCallError(
        'GetSecretValue',
        code,
        `reading ${stage} of secret "${secretId}": ${serviceMessage(error)}`,
      );
    }
    if (typeof answer.SecretString !== 'string') {
      throw new SecretShapeError(
        '(value)',
        `of secret "${secretId}" (${stage}) has no SecretString`,
        'the client reads string secrets only; store the value as SecretString',
      );
    }
    if (typeof answer.VersionId !== 'string') {
      throw new SecretsManagerCallError(
        'GetSecretValue',
        'MissingVersionId',
        `no VersionId for "${secretId}"`,
      );
    }
    const previous = this.#entries.get(key);
    const entry: Entry = {
      secretId,
      arn: answer.ARN,
      versionId: answer.VersionId,
      stage,
      value: answer.SecretString,
      fetchedAt: this.#clock(),
      // Same version, same value: keep what was parsed from it.
      parsed: previous && previous.versionId === answer.VersionId ? previous.parsed : new Map(),
    };
    this.#store(key, entry);
    return entry;
  }

  #sdk(): SecretsManagerClient {
    this.#client ??= new SecretsManagerClient({});
    return this.#client;
  }
}

function keyOf(secretId: string, stage: StagingLabel): string {
  return `${stage}\u0000${secretId}`;
}
