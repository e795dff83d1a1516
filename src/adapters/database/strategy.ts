/**
 * Pieces the rotation strategies of several database adapters (PostgreSQL, Redis) build the same
 * way: when settings are read, the `RotationTarget` parts that only depend on the secret format,
 * and setSecret's pending-first check.
 */
import type { Env } from '../../core/config.ts';
import type { StepContext } from '../../core/target.ts';

/** Reads an adapter's settings; `preProvisionedPair` given to the factory wins over the environment. */
export type SettingsReader<Settings> = (
  env: Env,
  overrides: { readonly preProvisionedPair?: boolean | undefined },
) => Settings;

/**
 * Settings read by `init`, or from the step's environment when a target is used without the
 * engine (tests, custom rotators).
 *
 * @example
 * ```ts
 * const settings = new StrategySettings(readRedisSettings, options.preProvisionedPair);
 * const config = settings.get(ctx);
 * ```
 */
export class StrategySettings<Settings> {
  #settings: Settings | undefined;
  readonly #read: SettingsReader<Settings>;
  readonly #preProvisionedPair: boolean | undefined;

  constructor(read: SettingsReader<Settings>, preProvisionedPair?: boolean) {
    this.#read = read;
    this.#preProvisionedPair = preProvisionedPair;
  }

  init(env: Env): void {
    this.#settings = this.#read(env, { preProvisionedPair: this.#preProvisionedPair });
  }

  get(ctx: Pick<StepContext, 'env'>): Settings {
    this.#settings ??= this.#read(ctx.env, { preProvisionedPair: this.#preProvisionedPair });
    return this.#settings;
  }
}

/**
 * The parts of `RotationTarget` that every strategy of an adapter implements the same way: they
 * depend only on the adapter's secret format and its `EXCLUDE_CHARACTERS` default.
 *
 * @example
 * ```ts
 * const parts = credentialTargetParts('redis-single-user', REDIS_EXCLUDE_CHARACTERS, parseRedisSecret, serializeRedisSecret);
 * ```
 */
export function credentialTargetParts<Secret extends { readonly password: string }>(
  adapter: string,
  defaultExcludeCharacters: string,
  parse: (raw: string, adapter: string) => Secret,
  serialize: (value: Secret) => string,
) {
  return {
    defaultExcludeCharacters,
    parse: (raw: string) => parse(raw, adapter),
    serialize,
    secrets: (value: Secret) => [value.password],
  };
}

/**
 * setSecret's first move (docs/protocol.md#setsecret): if the pending credentials already log in,
 * there is nothing to do. This is what makes a re-run after any failure safe.
 *
 * @param pendingLogsIn - tries the pending credentials; true when the server accepts them.
 * @example
 * ```ts
 * if (await pendingAlreadyLogsIn(pending, () => canLogIn(endpoint, login, settings, ctx), ctx)) return;
 * ```
 */
export async function pendingAlreadyLogsIn(
  pending: { readonly username: string },
  pendingLogsIn: () => Promise<boolean>,
  ctx: StepContext,
): Promise<boolean> {
  const works = await pendingLogsIn();
  if (works)
    ctx.logger.info('pending credentials already log in; nothing to change', { user: pending.username });
  return works;
}
