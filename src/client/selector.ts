import { AWSPENDING, AWSPREVIOUS } from '../core/stages.ts';
import { type CachedSecret, parseOnce, type SecretCache, type SecretParser } from './cache.ts';

/** A failure reported with an older generation was already dealt with by someone else. */
export interface VersionChoice<T> {
  readonly secret: CachedSecret<T>;
  readonly generation: number;
}

/** After every version was refused, how long a new refusal fails at once instead of asking again. */
const EXHAUSTED_COOLDOWN_MS = 2_000;

interface Override {
  readonly raw: CachedSecret<string>;
  /** The AWSCURRENT version id this override was chosen against; it ends when AWSCURRENT moves. */
  readonly whileCurrentIs: string;
  readonly parsed: Map<SecretParser<unknown>, unknown>;
}

/** Which version of one secret to use; shared per cache and secret, so one refusal teaches every integration. */
export class VersionSelector {
  readonly #cache: SecretCache;
  readonly #secretId: string;
  #override: Override | undefined;
  #generation = 0;
  #lastVersionId: string | undefined;
  #refused = new Set<string>();
  #refusedWhileCurrentIs: string | undefined;
  #recovering: Promise<boolean> | undefined;
  #exhaustedUntil = Number.NEGATIVE_INFINITY;

  constructor(cache: SecretCache, secretId: string) {
    this.#cache = cache;
    this.#secretId = secretId;
  }

  async pick<T>(parse?: SecretParser<T>): Promise<VersionChoice<T>> {
    const current = await this.#cache.get(this.#secretId, { parse });
    const override = this.#override;
    if (override && override.whileCurrentIs !== current.versionId) this.#override = undefined;
    const chosen = this.#override ? this.#view(this.#override, parse) : current;
    if (chosen.versionId !== this.#lastVersionId) {
      this.#lastVersionId = chosen.versionId;
      this.#generation += 1;
    }
    return { secret: chosen, generation: this.#generation };
  }

  /** Resolves true when another version is now chosen (maybe by a concurrent caller), false when all were refused. */
  recover(failed: VersionChoice<unknown>): Promise<boolean> {
    if (failed.generation !== this.#generation) return Promise.resolve(true);
    this.#recovering ??= this.#advance(failed.secret.versionId).finally(() => {
      this.#recovering = undefined;
    });
    return this.#recovering;
  }

  async #advance(refusedVersionId: string): Promise<boolean> {
    if (this.#cache.now() < this.#exhaustedUntil) return false;
    const fresh = await this.#cache.refresh(this.#secretId);
    if (this.#refusedWhileCurrentIs !== fresh.versionId) {
      this.#refused = new Set();
      this.#refusedWhileCurrentIs = fresh.versionId;
    }
    this.#refused.add(refusedVersionId);
    // Fresh AWSCURRENT first; AWSPENDING and AWSPREVIOUS are fetched only when reached.
    for (const stage of [undefined, AWSPENDING, AWSPREVIOUS] as const) {
      const version = stage ? await this.#cache.getVersion(this.#secretId, stage) : fresh;
      if (!version || this.#refused.has(version.versionId)) continue;
      this.#override =
        version.versionId === fresh.versionId
          ? undefined
          : { raw: version, whileCurrentIs: fresh.versionId, parsed: new Map() };
      this.#lastVersionId = version.versionId;
      this.#generation += 1;
      return true;
    }
    // Every version was refused: pause rather than call Secrets Manager for every failing request.
    this.#refused = new Set();
    this.#override = undefined;
    this.#exhaustedUntil = this.#cache.now() + EXHAUSTED_COOLDOWN_MS;
    return false;
  }

  #view<T>(override: Override, parse: SecretParser<T> | undefined): CachedSecret<T> {
    return { ...override.raw, parsed: parseOnce(override.parsed, override.raw.value, parse) };
  }
}

const selectors = new WeakMap<SecretCache, Map<string, VersionSelector>>();

export function selectorFor(cache: SecretCache, secretId: string): VersionSelector {
  const bySecret = selectors.get(cache) ?? new Map<string, VersionSelector>();
  const selector = bySecret.get(secretId) ?? new VersionSelector(cache, secretId);
  selectors.set(cache, bySecret.set(secretId, selector));
  return selector;
}
