import type { Env } from '../../core/config.ts';
import type { StepContext } from '../../core/target.ts';

/**
 * An adapter's settings, read by `init`, or on first use when a target runs without the engine
 * (tests, custom rotators); the factory's options win over the environment.
 */
export class StrategySettings<Settings, Overrides = { readonly preProvisionedPair?: boolean | undefined }> {
  #settings: Settings | undefined;
  readonly #read: (env: Env, overrides: Overrides) => Settings;
  readonly #overrides: Overrides;

  constructor(read: (env: Env, overrides: Overrides) => Settings, overrides = {} as Overrides) {
    this.#read = read;
    this.#overrides = overrides;
  }

  init(env: Env): void {
    this.#settings = this.#read(env, this.#overrides);
  }

  get(ctx: Pick<StepContext, 'env'>): Settings {
    this.#settings ??= this.#read(ctx.env, this.#overrides);
    return this.#settings;
  }

  /** The settings if `init` or `get` has read them. */
  peek(): Settings | undefined {
    return this.#settings;
  }
}

/** `readsInApply` of a target whose `apply` logs in with the master credentials `masterarn` names. */
export function masterReadInApply(pending: { readonly masterarn?: string | undefined }): readonly string[] {
  return pending.masterarn === undefined ? [] : [pending.masterarn];
}

/** The parts of a target that rotates one generated password, applied from the current credentials. */
export function credentialTargetParts<Secret extends { readonly password: string }>(
  adapter: string,
  defaultExcludeCharacters: string,
  parse: (raw: string, adapter: string) => Secret,
  serialize: (value: Secret) => string,
) {
  return {
    name: adapter,
    generatesPassword: true,
    appliesFromCurrent: true,
    defaultExcludeCharacters,
    parse: (raw: string) => parse(raw, adapter),
    serialize,
    secrets: (value: Secret) => [value.password],
  };
}

/** setSecret's first move (docs/protocol.md#setsecret): what makes a re-run after any failure safe. */
export async function pendingAlreadyLogsIn(
  pending: { readonly username: string },
  tryPendingLogin: () => Promise<{ close(): unknown } | undefined>,
  ctx: StepContext,
): Promise<boolean> {
  const session = await tryPendingLogin();
  await session?.close();
  const works = session !== undefined;
  if (works)
    ctx.logger.info('pending credentials already log in; nothing to change', { user: pending.username });
  return works;
}
