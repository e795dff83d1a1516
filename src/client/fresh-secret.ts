import { ConfigurationError } from '../core/errors.ts';
import type { StagingLabel } from '../core/stages.ts';
import { type CachedSecret, checkCount, type SecretCache, type SecretParser } from './cache.ts';
import { selectorFor } from './selector.ts';

/** What {@link withFreshSecret} reports each time a version was refused. */
export interface SecretRefusal {
  readonly secretId: string;
  readonly versionId: string;
  readonly stage: StagingLabel;
  /** 1 for the first try. */
  readonly attempt: number;
  /** Whether another version will be tried. */
  readonly willRetry: boolean;
}

/** Options of {@link withFreshSecret}. */
export interface WithFreshSecretOptions<T> {
  /** Whether an error means the credential was refused; only these are retried, so they must mean nothing happened. */
  readonly isAuthError: (error: unknown) => boolean;
  /** What `fn` receives as `parsed`; type its parameter so TypeScript infers `parsed` before `fn`. */
  readonly parse?: SecretParser<T>;
  /** Most calls of `fn`, including the first. Default 4: current, refreshed current, pending, previous. */
  readonly maxAttempts?: number;
  /** Told about every refusal (ids and labels only, never values). */
  readonly onRefused?: (refusal: SecretRefusal) => void;
}

export const DEFAULT_MAX_ATTEMPTS = 4;

/**
 * Calls `fn` with the secret and, when the credential is refused, again with cached AWSCURRENT,
 * refreshed AWSCURRENT, AWSPENDING (a single-user rotation's database accepts it before promotion),
 * then AWSPREVIOUS. A version that worked is remembered until AWSCURRENT moves; when all are
 * refused, the last error is thrown and refusals pause briefly, sparing Secrets Manager.
 *
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
  const maxAttempts = checkCount('withFreshSecret maxAttempts', options.maxAttempts, DEFAULT_MAX_ATTEMPTS);
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
