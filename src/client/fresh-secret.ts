import { ConfigurationError } from '../core/errors.ts';
import type { StagingLabel } from '../core/stages.ts';
import type { CachedSecret, SecretCache, SecretParser } from './cache.ts';
import { selectorFor } from './selector.ts';

/**
 * What {@link withFreshSecret} reports each time a version was refused.
 *
 * @example
 * ```ts
 * const onRefused = (refusal: SecretRefusal) => metrics.count(`refused-${refusal.stage}`);
 * ```
 */
export interface SecretRefusal {
  readonly secretId: string;
  readonly versionId: string;
  readonly stage: StagingLabel;
  /** 1 for the first try. */
  readonly attempt: number;
  /** Whether another version will be tried. */
  readonly willRetry: boolean;
}

/**
 * Options of {@link withFreshSecret}.
 *
 * @example
 * ```ts
 * const options: WithFreshSecretOptions<DatabaseSecret> = {
 *   parse: parseDatabaseSecret,
 *   isAuthError: (error) => (error as { code?: string }).code === '28P01',
 * };
 * ```
 */
export interface WithFreshSecretOptions<T> {
  /**
   * Whether an error means the credential was refused (wrong password, revoked key). Only these are
   * retried with another version; every other error is thrown as it is. Retrying must be safe:
   * make sure such an error means your operation did not happen (a refused login always does).
   */
  readonly isAuthError: (error: unknown) => boolean;
  /**
   * Turns the secret string into what `fn` receives as `parsed` (once per version). Write its
   * parameter's type (`(value: string) => …`) or pass a named function, so TypeScript can infer
   * the type of `parsed` before it looks at `fn`.
   */
  readonly parse?: SecretParser<T>;
  /** Most calls of `fn`, including the first. Default 4: current, refreshed current, pending, previous. */
  readonly maxAttempts?: number;
  /** Told about every refusal (ids and labels only, never values). */
  readonly onRefused?: (refusal: SecretRefusal) => void;
}

/**
 * Default {@link WithFreshSecretOptions.maxAttempts}: cached current, refreshed current, pending, previous.
 */
export const DEFAULT_MAX_ATTEMPTS = 4;

/**
 * Calls `fn` with the secret and, when the credential is refused, tries again with a fresher one:
 *
 * 1. the cached AWSCURRENT version;
 * 2. after a refusal, AWSCURRENT fetched again (the secret was rotated since it was cached);
 * 3. if that is the same version, AWSPENDING: during a single-user rotation the database already
 *    accepts the pending password before Secrets Manager promotes it (docs/protocol.md#single-user);
 * 4. then AWSPREVIOUS.
 *
 * A version that worked in place of AWSCURRENT is remembered (for this cache and secret, shared
 * with the pg and mysql2 integrations) until AWSCURRENT moves, so the next call goes straight to it.
 * Concurrent refusals share one refresh. When every version is refused, the last error is thrown
 * unchanged, and for a short pause further refusals are not retried, so a broken credential does
 * not turn every request into Secrets Manager calls.
 *
 * @returns what `fn` returned.
 * @example
 * ```ts
 * import { SecretCache, withFreshSecret } from 'secrets-rotator/client';
 *
 * const cache = new SecretCache();
 * const parse = (value: string) => JSON.parse(value) as { apiKey: string };
 * const weather = await withFreshSecret(
 *   cache,
 *   'prod/weather-api',
 *   async ({ parsed }) => {
 *     const response = await fetch('https://api.example.com/today', { headers: { 'x-api-key': parsed.apiKey } });
 *     if (response.status === 401) throw Object.assign(new Error('API key refused'), { status: 401 });
 *     return response.json();
 *   },
 *   { parse, isAuthError: (error) => (error as { status?: number }).status === 401 },
 * );
 * ```
 */
export async function withFreshSecret<T = string, R = unknown>(
  cache: SecretCache,
  secretId: string,
  fn: (secret: CachedSecret<NoInfer<T>>) => Promise<R> | R,
  options: WithFreshSecretOptions<T>,
): Promise<R> {
  if (typeof options?.isAuthError !== 'function') {
    throw new ConfigurationError(
      'withFreshSecret isAuthError',
      'must be a function telling a refused credential from other errors',
    );
  }
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new ConfigurationError(
      'withFreshSecret maxAttempts',
      `must be a whole number, 1 or more; got ${maxAttempts}`,
    );
  }
  const selector = selectorFor(cache, secretId);
  for (let attempt = 1; ; attempt += 1) {
    const choice = await selector.pick(options.parse);
    try {
      return await fn(choice.secret);
    } catch (error) {
      if (!options.isAuthError(error)) throw error;
      const willRetry = attempt < maxAttempts && (await selector.recover(choice));
      options.onRefused?.({
        secretId,
        versionId: choice.secret.versionId,
        stage: choice.secret.stage,
        attempt,
        willRetry,
      });
      if (!willRetry) throw error;
    }
  }
}
