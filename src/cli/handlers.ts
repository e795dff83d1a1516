/**
 * Handler names the CLI accepts (`--handler <name>`) and the adapter each one builds. Adapters are
 * imported only when a command needs one, so a missing or broken adapter never breaks the others.
 */
import type { RotationTarget } from '../core/target.ts';
import { UsageError } from './exit.ts';

/**
 * Which kind of target a handler rotates: decides the preflight of `check`.
 *
 * @example
 * ```ts
 * const family: HandlerFamily = findHandler('mysql-single-user').family; // 'mysql'
 * ```
 */
export type HandlerFamily =
  | 'postgres'
  | 'mysql'
  | 'redis'
  | 'http-api-key'
  | 'oauth-client-secret'
  | 'random-secret'
  | 'custom';

/**
 * One handler name: what it rotates and how to build its adapter.
 *
 * @example
 * ```ts
 * const entry: HandlerEntry = {
 *   description: "my team's rotator",
 *   family: 'custom',
 *   load: async () => myTarget(),
 * };
 * ```
 */
export interface HandlerEntry {
  /** One line for `--help` and errors. */
  readonly description: string;
  readonly family: HandlerFamily;
  /** For database handlers: whether the secret's user changes its own password, or users alternate. */
  readonly strategy?: 'single-user' | 'alternating-users';
  /** Builds the adapter (imports its module on first use). */
  load(): Promise<RotationTarget<unknown>>;
}

type AdapterFactory = (options?: Record<string, unknown>) => RotationTarget<unknown>;

/**
 * Builds the adapter `exportName` of a module imported by `importModule`. The import is a literal
 * `import('../adapters/x/index.ts')` at each call site, so the TypeScript build rewrites it to the
 * compiled `.js` file and bundlers see it: a computed path would point at source files that an
 * installed package cannot run.
 */
function lazyAdapter(
  module: string,
  importModule: () => Promise<Record<string, unknown>>,
  exportName: string,
): () => Promise<RotationTarget<unknown>> {
  return async () => {
    let loaded: Record<string, unknown>;
    try {
      loaded = await importModule();
    } catch (error) {
      // An adapter whose dependencies are missing or broken fails here, for this handler only.
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new UsageError(
        `the ${module} adapter could not be loaded (${reason})`,
        'reinstall the package (npm ci), or pick another --handler',
      );
    }
    const factory = loaded[exportName];
    if (typeof factory !== 'function') {
      throw new UsageError(
        `the ${module} adapter has no ${exportName}() in this version`,
        'pick another --handler',
      );
    }
    return (factory as AdapterFactory)();
  };
}

/**
 * The built-in handler names. They match the Lambda handlers in `handlers/`.
 *
 * @example
 * ```ts
 * const target = await BUILT_IN_HANDLERS['random-secret']!.load();
 * ```
 */
export const BUILT_IN_HANDLERS: Readonly<Record<string, HandlerEntry>> = {
  'random-secret': {
    description: 'a random string, or one field of a JSON secret; no external system',
    family: 'random-secret',
    load: lazyAdapter('random-secret', () => import('../adapters/random-secret/index.ts'), 'randomSecret'),
  },
  'postgres-single-user': {
    description: 'PostgreSQL / Aurora PostgreSQL: the user changes its own password',
    family: 'postgres',
    strategy: 'single-user',
    load: lazyAdapter('postgres', () => import('../adapters/postgres/index.ts'), 'postgresSingleUser'),
  },
  'postgres-alternating-users': {
    description: 'PostgreSQL / Aurora PostgreSQL: two users alternate, managed with the master secret',
    family: 'postgres',
    strategy: 'alternating-users',
    load: lazyAdapter('postgres', () => import('../adapters/postgres/index.ts'), 'postgresAlternatingUsers'),
  },
  'mysql-single-user': {
    description: 'MySQL / Aurora MySQL / MariaDB: the user changes its own password',
    family: 'mysql',
    strategy: 'single-user',
    load: lazyAdapter('mysql', () => import('../adapters/mysql/index.ts'), 'mysqlSingleUser'),
  },
  'mysql-alternating-users': {
    description: 'MySQL / Aurora MySQL / MariaDB: two users alternate, managed with the master secret',
    family: 'mysql',
    strategy: 'alternating-users',
    load: lazyAdapter('mysql', () => import('../adapters/mysql/index.ts'), 'mysqlAlternatingUsers'),
  },
  'redis-single-user': {
    description: 'Redis 6+ / Valkey ACL user: its only password replaced (by itself, or the master)',
    family: 'redis',
    strategy: 'single-user',
    load: lazyAdapter('redis', () => import('../adapters/redis/index.ts'), 'redisSingleUser'),
  },
  'redis-password-overlap': {
    description: 'Redis 6+ / Valkey ACL user: the new password added, the old one removed after finishSecret',
    family: 'redis',
    strategy: 'single-user',
    load: lazyAdapter('redis', () => import('../adapters/redis/index.ts'), 'redisPasswordOverlap'),
  },
  'redis-alternating-users': {
    description: "Redis 6+ / Valkey ACL users: two users alternate, the clone a copy of the original's rules",
    family: 'redis',
    strategy: 'alternating-users',
    load: lazyAdapter('redis', () => import('../adapters/redis/index.ts'), 'redisAlternatingUsers'),
  },
  'http-api-key': {
    description: "an HTTP API key minted and revoked through the provider's API",
    family: 'http-api-key',
    load: lazyAdapter('http-api-key', () => import('../adapters/http-api-key/index.ts'), 'httpApiKey'),
  },
  'oauth-client-secret': {
    description: "an OAuth client secret minted and revoked through the provider's admin API",
    family: 'oauth-client-secret',
    load: lazyAdapter(
      'oauth-client-secret',
      () => import('../adapters/oauth-client-secret/index.ts'),
      'oauthClientSecret',
    ),
  },
};

/**
 * Finds a handler by name among the built-in ones and any `extra` ones (tests, embedders).
 *
 * @throws UsageError naming `--handler` and listing the accepted names.
 * @example
 * ```ts
 * const entry = findHandler('postgres-single-user');
 * const target = await entry.load();
 * ```
 */
export function findHandler(
  name: string,
  extra: Readonly<Record<string, HandlerEntry>> = {},
): HandlerEntry & { readonly name: string } {
  const all = { ...BUILT_IN_HANDLERS, ...extra };
  const entry = all[name];
  if (!entry) {
    throw new UsageError(
      `--handler "${name}" is not a known handler`,
      `use one of: ${Object.keys(all).join(', ')}`,
    );
  }
  return { ...entry, name };
}
