// Handler names the CLI accepts (`--handler <name>`) and the adapter each one builds. Adapters are
// imported only when a command needs one, so a missing or broken adapter never breaks the others.
import type { RotationTarget } from '../core/target.ts';
import { UsageError } from './exit.ts';

/** One handler name: what it rotates and how to build its adapter. */
export interface HandlerEntry {
  readonly description: string;
  /** For database handlers: whether the secret's user changes its own password, or users alternate. */
  readonly strategy?: 'single-user' | 'alternating-users';
  load(): Promise<RotationTarget<unknown>>;
}

/**
 * An adapter module: its name in messages, and a literal `import('../adapters/x/index.ts')` so the
 * build rewrites it to the compiled `.js` file and bundlers see it.
 */
interface AdapterModule {
  readonly name: string;
  readonly load: () => Promise<Record<string, unknown>>;
}

/** Builds the adapter `exportName` of a module. */
function lazyAdapter(module: AdapterModule, exportName: string): HandlerEntry['load'] {
  return async () => {
    let loaded: Record<string, unknown>;
    try {
      loaded = await module.load();
    } catch (error) {
      // An adapter whose dependencies are missing or broken fails here, for this handler only.
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new UsageError(
        `the ${module.name} adapter could not be loaded (${reason})`,
        'reinstall the package (npm ci), or pick another --handler',
      );
    }
    const factory = loaded[exportName];
    if (typeof factory !== 'function') {
      throw new UsageError(
        `the ${module.name} adapter has no ${exportName}() in this version`,
        'pick another --handler',
      );
    }
    return (factory as () => RotationTarget<unknown>)();
  };
}

const postgres: AdapterModule = { name: 'postgres', load: () => import('../adapters/postgres/index.ts') };
const mysql: AdapterModule = { name: 'mysql', load: () => import('../adapters/mysql/index.ts') };
const redis: AdapterModule = { name: 'redis', load: () => import('../adapters/redis/index.ts') };

/** [handler name, adapter module, factory export, strategy, description] */
const TABLE: ReadonlyArray<readonly [string, AdapterModule, string, HandlerEntry['strategy'], string]> = [
  [
    'random-secret',
    { name: 'random-secret', load: () => import('../adapters/random-secret/index.ts') },
    'randomSecret',
    undefined,
    'a random string, or one field of a JSON secret; no external system',
  ],
  [
    'postgres-single-user',
    postgres,
    'postgresSingleUser',
    'single-user',
    'PostgreSQL / Aurora PostgreSQL: the user changes its own password',
  ],
  [
    'postgres-alternating-users',
    postgres,
    'postgresAlternatingUsers',
    'alternating-users',
    'PostgreSQL / Aurora PostgreSQL: two users alternate, managed with the master secret',
  ],
  [
    'mysql-single-user',
    mysql,
    'mysqlSingleUser',
    'single-user',
    'MySQL / Aurora MySQL / MariaDB: the user changes its own password',
  ],
  [
    'mysql-alternating-users',
    mysql,
    'mysqlAlternatingUsers',
    'alternating-users',
    'MySQL / Aurora MySQL / MariaDB: two users alternate, managed with the master secret',
  ],
  [
    'redis-single-user',
    redis,
    'redisSingleUser',
    'single-user',
    'Redis 6+ / Valkey ACL user: its only password replaced (by itself, or the master)',
  ],
  [
    'redis-password-overlap',
    redis,
    'redisPasswordOverlap',
    'single-user',
    'Redis 6+ / Valkey ACL user: the new password added, the old one removed after finishSecret',
  ],
  [
    'redis-alternating-users',
    redis,
    'redisAlternatingUsers',
    'alternating-users',
    "Redis 6+ / Valkey ACL users: two users alternate, the clone a copy of the original's rules",
  ],
  [
    'elasticache-user',
    { name: 'elasticache', load: () => import('../adapters/elasticache/index.ts') },
    'elastiCacheUser',
    undefined,
    'ElastiCache RBAC user: passwords changed through the ElastiCache API, the old one kept until finishSecret',
  ],
  [
    'http-api-key',
    { name: 'http-api-key', load: () => import('../adapters/http-api-key/index.ts') },
    'httpApiKey',
    undefined,
    "an HTTP API key minted and revoked through the provider's API",
  ],
  [
    'oauth-client-secret',
    { name: 'oauth-client-secret', load: () => import('../adapters/oauth-client-secret/index.ts') },
    'oauthClientSecret',
    undefined,
    "an OAuth client secret minted and revoked through the provider's admin API",
  ],
  [
    'ssh-keys',
    { name: 'ssh-keys', load: () => import('../adapters/ssh-keys/index.ts') },
    'sshKeys',
    undefined,
    'an SSH key pair: the new public key added to authorized_keys on each host, the old one removed',
  ],
];

/** The built-in handler names. They match the Lambda handlers in `handlers/`. */
const BUILT_IN_HANDLERS: Readonly<Record<string, HandlerEntry>> = Object.fromEntries(
  TABLE.map(([name, module, exportName, strategy, description]) => [
    name,
    { description, ...(strategy ? { strategy } : {}), load: lazyAdapter(module, exportName) },
  ]),
);

/** A built-in handler or one of `extra` (tests, embedders); a UsageError listing the names otherwise. */
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

/** The handler's target; with `--emergency`, a usage error when it cannot revoke. */
export async function loadTarget(
  entry: HandlerEntry & { name: string },
  emergency: boolean,
): Promise<RotationTarget<unknown>> {
  const target = await entry.load();
  if (emergency && typeof target.revoke !== 'function') {
    const singleUser = entry.strategy === 'single-user';
    const why = singleUser
      ? `with a single user the previous password stops working when setSecret changes it, so there is nothing left to revoke`
      : `this adapter has no way to revoke a credential`;
    throw new UsageError(
      `--emergency: handler ${entry.name} cannot revoke the previous credential (${why})`,
      singleUser ? 'drop --emergency' : 'drop --emergency, or use an alternating-users handler',
    );
  }
  return target;
}
