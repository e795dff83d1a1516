/**
 * One scenario per adapter for the reliability suite: how to build its target, set up a case (a
 * user or key, and the secret pointing at a fault proxy in front of the real server), and ask the
 * real server which stored versions authenticate. Shared by the test files and by the child
 * process that plays a Lambda container killed mid-step.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { elastiCacheUser } from '../../../src/adapters/elasticache/index.ts';
import type { HttpApiKeyConfig } from '../../../src/adapters/http-api-key/config.ts';
import { httpApiKey } from '../../../src/adapters/http-api-key/index.ts';
import { mysqlAlternatingUsers, mysqlSingleUser } from '../../../src/adapters/mysql/index.ts';
import { quoteAccount } from '../../../src/adapters/mysql/sql.ts';
import { oauthClientSecret } from '../../../src/adapters/oauth-client-secret/index.ts';
import { postgresAlternatingUsers, postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import { scramSha256Verifier } from '../../../src/adapters/postgres/scram.ts';
import { quoteIdentifier } from '../../../src/adapters/postgres/sql.ts';
import { randomSecret } from '../../../src/adapters/random-secret/index.ts';
import {
  redisAlternatingUsers,
  redisPasswordOverlap,
  redisSingleUser,
} from '../../../src/adapters/redis/index.ts';
import { sshKeys } from '../../../src/adapters/ssh-keys/index.ts';
import { pemBody } from '../../../src/adapters/ssh-keys/keys.ts';
import type { Env } from '../../../src/core/config.ts';
import type { RotationTarget } from '../../../src/core/target.ts';
import { ElastiCacheUsers, startElastiCacheApi } from '../../support/elasticache-api.ts';
import { startOAuthProvider } from '../../support/fake-oauth-provider.ts';
import type { PointDescriber } from '../../support/fault-proxy.ts';
import { describeHttp, describeMysql, describePostgres, describeRedis } from '../../support/fault-proxy.ts';
import type { KeyApi } from '../../support/key-api.ts';
import { startKeyApi } from '../../support/key-api.ts';
import type { MariaDbInstance } from '../../support/mariadb.ts';
import type { PostgresInstance } from '../../support/postgres.ts';
import type { RedisInstance } from '../../support/redis.ts';
import type { SshdInstance } from '../../support/sshd.ts';

/** The adapters (and strategies) the suite covers. */
export const ADAPTERS = [
  'random-secret',
  'postgres-single-user',
  'postgres-alternating-users',
  'mysql-single-user',
  'mysql-alternating-users',
  'http-api-key',
  'oauth-client-secret',
  'redis-single-user',
  'redis-password-overlap',
  'redis-alternating-users',
  'ssh-keys',
  'elasticache-user',
] as const;

export type AdapterName = (typeof ADAPTERS)[number];

/**
 * Builds a fresh target for an adapter, as a new Lambda container would.
 *
 * @example
 * ```ts
 * const handler = createRotationHandler(makeTarget('postgres-single-user'), { client, env });
 * ```
 */
export function makeTarget(name: AdapterName): RotationTarget<unknown> {
  switch (name) {
    case 'random-secret':
      return randomSecret() as RotationTarget<unknown>;
    case 'postgres-single-user':
      return postgresSingleUser() as RotationTarget<unknown>;
    case 'postgres-alternating-users':
      return postgresAlternatingUsers() as RotationTarget<unknown>;
    case 'mysql-single-user':
      return mysqlSingleUser() as RotationTarget<unknown>;
    case 'mysql-alternating-users':
      return mysqlAlternatingUsers() as RotationTarget<unknown>;
    case 'http-api-key':
      return httpApiKey() as RotationTarget<unknown>;
    case 'oauth-client-secret':
      return oauthClientSecret() as RotationTarget<unknown>;
    case 'redis-single-user':
      return redisSingleUser() as RotationTarget<unknown>;
    case 'redis-password-overlap':
      return redisPasswordOverlap() as RotationTarget<unknown>;
    case 'redis-alternating-users':
      return redisAlternatingUsers() as RotationTarget<unknown>;
    case 'ssh-keys':
      return sshKeys() as RotationTarget<unknown>;
    case 'elasticache-user':
      return elastiCacheUser() as RotationTarget<unknown>;
  }
}

/**
 * The environment of every handler in the fault suite. One Secrets Manager attempt per call, so an
 * injected failure fails the step (the throttling tests cover the engine's own retries), and the
 * adapters' timeouts short, so a stalled connection is noticed within seconds, yet long enough
 * that a busy CI machine never trips them by itself (a spurious failure would move the I/O points).
 */
export const FAULT_ENV: Env = {
  SECRETS_MANAGER_MAX_ATTEMPTS: '1',
  PG_CONNECT_TIMEOUT_MS: '2000',
  PG_STATEMENT_TIMEOUT_MS: '2000',
  MYSQL_CONNECT_TIMEOUT_MS: '2000',
  MYSQL_STATEMENT_TIMEOUT_MS: '2000',
  // The key API listens on loopback, which an API key reaches only when listed exactly.
  HTTP_API_KEY_ALLOWED_HOSTS: '127.0.0.1',
  // The private test databases have no certificate: plaintext, said explicitly (and no TLS probe,
  // so the connections the fault proxies count are the ones the rotation makes).
  PG_TLS_MODE: 'disable',
  MYSQL_TLS_MODE: 'disable',
  REDIS_TLS_MODE: 'disable',
  REDIS_CONNECT_TIMEOUT_MS: '2000',
  REDIS_COMMAND_TIMEOUT_MS: '2000',
  // An SSH login costs a key exchange and a signature in JavaScript: slower than a database's.
  SSH_CONNECT_TIMEOUT_MS: '5000',
  SSH_COMMAND_TIMEOUT_MS: '5000',
};

/** What a scenario needs from the case that runs it. */
export interface CaseTools {
  /** Starts a fault proxy in front of `target` on the case's ledger; returns its address. */
  proxy(
    label: string,
    target: { host: string; port: number },
    describe: PointDescriber,
  ): Promise<{ host: string; port: number; url: string }>;
  /** Creates a secret in the case's endpoint (tracked by the leak scan); returns its ARN. */
  createSecret(name: string, value: string): Promise<string>;
  /** Registers secret values with the leak scan. */
  track(...values: Array<string | undefined>): void;
}

/** A case's target, once set up. */
export interface PreparedCase {
  /** The ARN of the secret to rotate. */
  readonly secretArn: string;
  /** Whether a stored value authenticates against the real server (not through the proxy). */
  authenticates(value: string): Promise<boolean>;
  /**
   * The target's state for this case, to compare before and after a refused step: the users (with
   * their password hashes, compared, never printed) or the API's keys. Empty without a target.
   * `rotating`: the version id of the rotation in progress, whose own new credential a minting
   * provider may hold already (createSecret mints, then stores; the retry reuses that key).
   */
  fingerprint(rotating?: string): Promise<string>;
  /** Checks after convergence beyond the generic ones; returns violations. */
  extraChecks?(current: string): Promise<string[]>;
  /** Function settings this case needs beyond the scenario's `env` (e.g. a configuration naming its proxy). */
  readonly env?: Env;
  /** Every secret the target made that the case did not read from a version (minted keys). */
  secretsSeen?(): string[];
  close(): Promise<void>;
}

/**
 * A scenario: an adapter and how to set up one case of it.
 *
 * @example
 * ```ts
 * const prepared = await scenario.prepare('c17', tools);
 * expect(await prepared.authenticates(currentValue)).toBe(true);
 * ```
 */
export interface Scenario {
  readonly adapter: AdapterName;
  /** AWSCURRENT must authenticate at every point (alternating users); else some stored version must. */
  readonly currentAlwaysWorks: boolean;
  /** There is a target to authenticate against (false for random-secret). */
  readonly hasTarget: boolean;
  readonly env: Env;
  /** Clean rotations run when a case is set up, before the faulted one (e.g. 1: the clone exists). */
  readonly warmup?: number;
  /** Builds the target instead of {@link makeTarget} (in-process cases only: a container knows adapters by name). */
  readonly target?: () => RotationTarget<unknown>;
  /** Fewer cases in flight than the fault matrix's default, where the scenario's server cannot take more. */
  readonly casesAtOnce?: { readonly busy: number; readonly stalled: number };
  prepare(id: string, tools: CaseTools): Promise<PreparedCase>;
}

/**
 * The same scenario, with `rotations` clean rotations done at set-up: for alternating users, one
 * means the clone exists and the faulted rotation sets the original user's password.
 *
 * @example
 * ```ts
 * const second = afterRotations(postgresScenario(db, true), 1);
 * ```
 */
export function afterRotations(scenario: Scenario, rotations: number): Scenario {
  return { ...scenario, warmup: rotations };
}

/** The servers the database scenarios run against (one each per test file). */
export interface Servers {
  readonly postgres?: PostgresInstance;
  readonly mariadb?: MariaDbInstance;
  readonly redis?: RedisInstance;
}

function casePassword(): string {
  return `Init-${randomBytes(12).toString('base64url')}-Pw1`;
}

function parsed(value: string): Record<string, unknown> {
  return JSON.parse(value) as Record<string, unknown>;
}

/**
 * The random-secret scenario: no target outside Secrets Manager, so "authenticates" means the
 * version holds a usable (non-empty) value.
 */
export function randomSecretScenario(): Scenario {
  return {
    adapter: 'random-secret',
    currentAlwaysWorks: true,
    hasTarget: false,
    env: FAULT_ENV,
    async prepare(id, tools) {
      const initial = `initial-${randomBytes(16).toString('hex')}`;
      const secretArn = await tools.createSecret(`fm-random-${id}`, initial);
      return {
        secretArn,
        authenticates: async (value) => value.length > 0,
        fingerprint: async () => '',
        close: async () => {},
      };
    },
  };
}

/** What differs between the engines of the database scenarios; the case's set-up is otherwise the same. */
interface DatabaseEngine {
  readonly adapters: { readonly single: AdapterName; readonly alternating: AdapterName };
  /** The fault proxy's label, and the short name in the case's secret names. */
  readonly proxyLabel: string;
  readonly secretPrefix: string;
  readonly describePoints: PointDescriber;
  readonly server: { readonly host: string; readonly port: number };
  /** The administrator the alternating strategy's master secret holds. */
  readonly admin: { readonly username: string; readonly password: string };
  /** The engine's own fields of the rotated secret (`engine`, `dbname`). */
  readonly secretFields: Readonly<Record<string, unknown>>;
  createUser(username: string, password: string): Promise<void>;
  canLogin(username: string, password: string): Promise<boolean>;
  /** The state of every user of the case (`username` and its clone), password hashes as digests only. */
  fingerprint(username: string): Promise<string>;
}

function databaseScenario(engine: DatabaseEngine, alternating: boolean): Scenario {
  return {
    adapter: alternating ? engine.adapters.alternating : engine.adapters.single,
    currentAlwaysWorks: alternating,
    hasTarget: true,
    env: FAULT_ENV,
    async prepare(id, tools) {
      const username = `fm_${id}`;
      const password = casePassword();
      tools.track(password);
      await engine.createUser(username, password);
      const proxy = await tools.proxy(engine.proxyLabel, engine.server, engine.describePoints);
      const extra: Record<string, unknown> = {};
      if (alternating) {
        extra.masterarn = await tools.createSecret(
          `fm-${engine.secretPrefix}-master-${id}`,
          JSON.stringify({
            username: engine.admin.username,
            password: engine.admin.password,
            host: proxy.host,
            port: proxy.port,
          }),
        );
      }
      const value = {
        ...engine.secretFields,
        host: proxy.host,
        port: proxy.port,
        username,
        password,
        ssl: false,
        team: 'reliability',
        ...extra,
      };
      const secretArn = await tools.createSecret(`fm-${engine.secretPrefix}-${id}`, JSON.stringify(value));
      return {
        secretArn,
        async authenticates(raw) {
          const secret = parsed(raw);
          return engine.canLogin(String(secret.username), String(secret.password));
        },
        fingerprint: () => engine.fingerprint(username),
        close: async () => {},
      };
    },
  };
}

/** PostgreSQL, single user or alternating users (master = the server's superuser). */
export function postgresScenario(db: PostgresInstance, alternating: boolean): Scenario {
  return databaseScenario(
    {
      adapters: { single: 'postgres-single-user', alternating: 'postgres-alternating-users' },
      proxyLabel: 'pg',
      secretPrefix: 'pg',
      describePoints: describePostgres,
      server: { host: db.host, port: db.port },
      admin: db.superuser,
      secretFields: { engine: 'postgres', dbname: 'postgres' },
      async createUser(username, password) {
        await db.query(
          `CREATE ROLE ${quoteIdentifier(username)} LOGIN PASSWORD '${scramSha256Verifier(password)}'`,
        );
      },
      canLogin: (username, password) => db.canLogin(username, password),
      async fingerprint(username) {
        // Every role of this case (the user and its clone), with settings and memberships; the
        // verifier only as a digest, so a failing comparison prints nothing derived from a password.
        const rows = await db.query<Record<string, unknown>>(
          `SELECT r.rolname, md5(a.rolpassword) AS password_digest, r.rolcanlogin, r.rolconfig,
                  ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
                         WHERE m.member = r.oid ORDER BY 1) AS member_of
             FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid
            WHERE r.rolname LIKE $1 ORDER BY r.rolname`,
          [`${username}%`],
        );
        return JSON.stringify(rows);
      },
    },
    alternating,
  );
}

/** MariaDB through the MySQL adapter, single user or alternating users (master = root). */
export function mysqlScenario(db: MariaDbInstance, alternating: boolean): Scenario {
  return databaseScenario(
    {
      adapters: { single: 'mysql-single-user', alternating: 'mysql-alternating-users' },
      proxyLabel: 'mysql',
      secretPrefix: 'my',
      describePoints: describeMysql,
      server: { host: db.host, port: db.port },
      admin: db.root,
      secretFields: { engine: 'mariadb' },
      async createUser(username, password) {
        const account = quoteAccount({ user: username, host: '%' });
        await db.query(`CREATE USER ${account} IDENTIFIED BY ?`, [password]);
        // A grant for the alternating strategy to copy onto the clone.
        await db.query(`GRANT SELECT ON mysql.help_topic TO ${account}`);
      },
      canLogin: (username, password) => db.canLogin(username, password),
      async fingerprint(username) {
        const users = await db.query<Record<string, unknown>>(
          'SELECT User, Host, SHA2(authentication_string, 256) AS password_digest, plugin FROM mysql.user WHERE User LIKE ? ORDER BY User, Host',
          [`${username}%`],
        );
        const grants: string[] = [];
        for (const user of users) {
          const rows = await db.query<Record<string, string>>(
            `SHOW GRANTS FOR ${quoteAccount({ user: String(user.User), host: String(user.Host) })}`,
          );
          grants.push(...rows.map((row) => Object.values(row)[0] ?? ''));
        }
        return JSON.stringify({ users, grants });
      },
    },
    alternating,
  );
}

/**
 * Redis ACL users through the Redis adapter: single user (the user holds `+acl|setuser`), overlapping
 * passwords or alternating users (master = the server's admin).
 */
/** The case's users (`username`, its clone) as ACL LIST prints them, each password hash digested again. */
async function redisUsersFingerprint(redis: RedisInstance, username: string): Promise<string> {
  const list = (await redis.command(['ACL', 'LIST'])) as string[];
  return JSON.stringify(
    list
      .filter((line) => line.startsWith(`user ${username} `) || line.startsWith(`user ${username}_clone `))
      .map((line) =>
        line.replace(
          /#([0-9a-f]{64})/g,
          (_all, hash: string) => `#${createHash('sha256').update(hash).digest('hex').slice(0, 12)}`,
        ),
      ),
  );
}

/**
 * An ElastiCache user: the API stand-in of test/support/elasticache-api.ts behind one fault proxy
 * (its DescribeUsers/ModifyUser calls are I/O points), the redis-server behind another.
 */
export function elastiCacheScenario(redis: RedisInstance): Scenario {
  return {
    adapter: 'elasticache-user',
    currentAlwaysWorks: false,
    hasTarget: true,
    env: { ...FAULT_ENV, ELASTICACHE_POLL_INTERVAL_MS: '10', ELASTICACHE_REQUEST_TIMEOUT_MS: '2000' },
    async prepare(id, tools) {
      // The SDK takes credentials from the process, as in Lambda; the stand-in checks no signature.
      process.env.AWS_ACCESS_KEY_ID ??= 'AKIDLOCALTESTONLY';
      process.env.AWS_SECRET_ACCESS_KEY ??= 'local-test-secret-access-key';
      process.env.AWS_REGION ??= 'us-east-1';
      const users = new ElastiCacheUsers(redis);
      // One poll per change keeps the I/O points few; the wait itself is tested in test/adapters.
      users.modifyingPolls = 1;
      const username = `fm_${id}`;
      const userId = `fm-${id.replace(/[^a-zA-Z0-9]/g, '-')}`;
      const password = casePassword();
      tools.track(password);
      await users.addUser(userId, username, password, ['~fm:*', '+get']);
      const api = await startElastiCacheApi(users);
      const apiAddress = new URL(api.url);
      const apiProxy = await tools.proxy(
        'elasticache',
        { host: apiAddress.hostname, port: Number(apiAddress.port) },
        describeHttp,
      );
      const proxy = await tools.proxy('redis', { host: redis.host, port: redis.port }, describeRedis);
      const value = {
        engine: 'valkey',
        host: proxy.host,
        port: proxy.port,
        username,
        password,
        userId,
        team: 'reliability',
      };
      const secretArn = await tools.createSecret(`fm-elasticache-${id}`, JSON.stringify(value));
      return {
        secretArn,
        env: { AWS_ENDPOINT_URL_ELASTICACHE: apiProxy.url },
        authenticates: async (raw) => redis.canLogin(username, String(parsed(raw).password)),
        fingerprint: async () => `${users.statusOf(userId)} ${await redisUsersFingerprint(redis, username)}`,
        async extraChecks() {
          const count = await redis.passwordCount(username);
          const status = users.statusOf(userId);
          return [
            ...(count === 1
              ? []
              : [`${username} holds ${count} passwords after the rotation, expected only the current one`]),
            ...(status === 'active' ? [] : [`ElastiCache user ${userId} was left ${status}`]),
          ];
        },
        close: () => api.close(),
      };
    },
  };
}

export function redisScenario(
  redis: RedisInstance,
  strategy: 'single' | 'overlap' | 'alternating',
): Scenario {
  const adapter: AdapterName =
    strategy === 'single'
      ? 'redis-single-user'
      : strategy === 'overlap'
        ? 'redis-password-overlap'
        : 'redis-alternating-users';
  const scenario = databaseScenario(
    {
      adapters: { single: adapter, alternating: adapter },
      proxyLabel: 'redis',
      secretPrefix: 'redis',
      describePoints: describeRedis,
      server: { host: redis.host, port: redis.port },
      admin: redis.admin,
      secretFields: { engine: 'redis' },
      async createUser(username, password) {
        await redis.command([
          'ACL',
          'SETUSER',
          username,
          'reset',
          'on',
          `>${password}`,
          '~fm:*',
          '+get',
          '+acl|setuser',
        ]);
      },
      canLogin: (username, password) => redis.canLogin(username, password),
      fingerprint: (username) => redisUsersFingerprint(redis, username),
    },
    strategy === 'alternating',
  );
  if (strategy === 'alternating') return scenario;
  // One user: after convergence it holds only the current password (overlap: the old one removed
  // after promotion). Before, some stored version works, which the generic checks cover.
  return {
    ...scenario,
    async prepare(id, tools) {
      const prepared = await scenario.prepare(id, tools);
      return {
        ...prepared,
        async extraChecks(current) {
          const username = String(parsed(current).username);
          const count = await redis.passwordCount(username);
          return count === 1
            ? []
            : [`${username} holds ${count} passwords after the rotation, expected only the current one`];
        },
      };
    },
  };
}

/**
 * One point per SSH connection, its first chunk: the rest is encrypted, and how the client's packets
 * fall into TCP chunks depends on timing, which would move every later point between runs.
 */
function describeSshConnection(_chunk: Buffer, first: boolean): string | null {
  return first ? 'connect' : null;
}

/**
 * SSH keys against a private sshd: each case has its own authorized_keys file (one of the files
 * sshd reads), so parallel cases never edit one file; the host key is pinned in the secret.
 */
export function sshKeysScenario(sshd: SshdInstance): Scenario {
  return {
    adapter: 'ssh-keys',
    // True in fact (the old key goes only after the new one is current), but the flag also asks
    // AWSPREVIOUS to keep working, as alternating users do; the old key must not.
    currentAlwaysWorks: false,
    hasTarget: true,
    env: FAULT_ENV,
    // One sshd forks a process per login: at 4 busy and 10 stalled cases it stopped answering logins.
    casesAtOnce: { busy: 2, stalled: 3 },
    async prepare(id, tools) {
      const slot = await sshd.claimKeysFile();
      const pair = await sshd.keyPair();
      tools.track(pair.privateKey, pemBody(pair.privateKey));
      await writeFile(slot.file, `${pair.publicKey}\n`);
      const proxy = await tools.proxy('ssh', { host: sshd.host, port: sshd.port }, describeSshConnection);
      const label = `${proxy.host}:${proxy.port}`;
      const secretArn = await tools.createSecret(
        `fm-ssh-${id}`,
        JSON.stringify({
          privateKey: pair.privateKey,
          username: sshd.user,
          hosts: [label],
          hostKeys: { [label]: sshd.hostKeyFingerprint },
          authorizedKeysFile: slot.file,
        }),
      );
      const blobs = async () =>
        (await readFile(slot.file, 'utf8'))
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => line.split(' ')[1] ?? '');
      return {
        secretArn,
        authenticates: (value) => sshd.canLogin(String(parsed(value).privateKey)),
        fingerprint: async () => JSON.stringify(await blobs()),
        async extraChecks(current) {
          const held = await blobs();
          const expected = String(parsed(current).publicKey).split(' ')[1];
          return held.length === 1 && held[0] === expected
            ? []
            : [
                `the case's authorized_keys holds ${held.length} keys after the rotation, expected only the current one`,
              ];
        },
        close: async () => slot.release(),
      };
    },
  };
}

/** The key API's configuration for the fault suite: idempotent minting, revocation at finish, one attempt per request. */
export function faultKeyApiConfig(url: string): HttpApiKeyConfig {
  return {
    baseUrl: url,
    auth: { type: 'bearer' },
    mint: {
      request: { method: 'POST', path: '/keys', body: { label: 'rotation {{versionId}}' } },
      keyPointer: '/key',
      keyIdPointer: '/id',
      idempotencyHeader: 'Idempotency-Key',
    },
    test: {
      request: { method: 'GET', path: '/whoami' },
      successStatus: [200],
      propagation: { maxWaitMs: 4_000, initialDelayMs: 5, maxDelayMs: 40 },
    },
    revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
    http: { timeoutMs: 2_000, attempts: 1, initialDelayMs: 5, maxDelayMs: 40 },
  };
}

/**
 * The HTTP API-key scenario: a key API per case (its own keys), reached through a proxy. After
 * convergence exactly one key may be active: the current one.
 */
export function httpApiKeyScenario(): Scenario {
  return {
    adapter: 'http-api-key',
    currentAlwaysWorks: false,
    hasTarget: true,
    env: FAULT_ENV,
    async prepare(id, tools) {
      const api: KeyApi = await startKeyApi();
      const address = new URL(api.url);
      const proxy = await tools.proxy(
        'http',
        { host: address.hostname, port: Number(address.port) },
        describeHttp,
      );
      tools.track(api.seed.key);
      const value = {
        apiKey: api.seed.key,
        keyId: api.seed.id,
        owner: 'reliability',
        rotation: faultKeyApiConfig(proxy.url),
      };
      const secretArn = await tools.createSecret(`fm-key-${id}`, JSON.stringify(value));
      return {
        secretArn,
        authenticates: async (raw) => api.accepts(String(parsed(raw).apiKey)),
        fingerprint: async (rotating) =>
          JSON.stringify(
            api
              .keys()
              .filter((record) => rotating === undefined || record.label !== `rotation ${rotating}`)
              .map((record) => ({ id: record.id, revoked: record.revoked })),
          ),
        async extraChecks(current) {
          const key = String(parsed(current).apiKey);
          const active = api.keys().filter((record) => !record.revoked);
          const problems: string[] = [];
          if (active.length !== 1 || active[0]?.key !== key) {
            problems.push(
              `expected only the current key to be active, found ${active.length} active key(s): ${active.map((record) => record.id).join(', ')}`,
            );
          }
          // No rotation (one version id, one label) may have minted two keys.
          const labels = api.minted().map((record) => record.label);
          const repeated = labels.filter((label, index) => labels.indexOf(label) !== index);
          if (repeated.length > 0)
            problems.push(`keys minted twice for: ${[...new Set(repeated)].join(', ')}`);
          return problems;
        },
        secretsSeen: () => api.keys().map((record) => record.key),
        close: () => api.close(),
      };
    },
  };
}

/**
 * The OAuth client-secret scenario: a provider per case (token endpoint, admin API with two
 * active secrets at most), reached through a proxy; its configuration, naming the proxy, is the
 * case's own function setting. After convergence exactly one secret may be active: the current one.
 */
export function oauthClientSecretScenario(): Scenario {
  return {
    adapter: 'oauth-client-secret',
    currentAlwaysWorks: false,
    hasTarget: true,
    env: FAULT_ENV,
    async prepare(id, tools) {
      const provider = await startOAuthProvider();
      const address = new URL(provider.url);
      const proxy = await tools.proxy(
        'http',
        { host: address.hostname, port: Number(address.port) },
        describeHttp,
      );
      tools.track(provider.seed.secret);
      const value = { clientSecret: provider.seed.secret, secretId: provider.seed.id, owner: 'reliability' };
      const secretArn = await tools.createSecret(`fm-oauth-${id}`, JSON.stringify(value));
      const config = {
        baseUrl: proxy.url,
        clientId: provider.clientId,
        secretsPath: provider.secretsPath,
        propagation: { maxWaitMs: 4_000, initialDelayMs: 5, maxDelayMs: 40 },
        http: { timeoutMs: 2_000, attempts: 1, initialDelayMs: 5, maxDelayMs: 40 },
      };
      const accepts = (secret: string) => provider.active().some((record) => record.secret === secret);
      return {
        secretArn,
        env: { OAUTH_CLIENT_SECRET_CONFIG: JSON.stringify(config) },
        authenticates: async (raw) => accepts(String(parsed(raw).clientSecret)),
        fingerprint: async (rotating) =>
          JSON.stringify(
            provider
              .secrets()
              .filter((record) => rotating === undefined || record.label !== `rotation ${rotating}`)
              .map((record) => ({ id: record.id, revoked: record.revoked })),
          ),
        async extraChecks(current) {
          const secret = String(parsed(current).clientSecret);
          const active = provider.active();
          const problems: string[] = [];
          if (active.length !== 1 || active[0]?.secret !== secret) {
            problems.push(
              `expected only the current client secret to be active, found ${active.length}: ${active.map((record) => record.id).join(', ')}`,
            );
          }
          if ((await provider.tokenStatus(secret)) !== 200)
            problems.push('the current client secret gets no token');
          return problems;
        },
        secretsSeen: () => [...provider.secrets().map((record) => record.secret), ...provider.tokens()],
        close: () => provider.close(),
      };
    },
  };
}

/**
 * The scenario of one adapter, against the suite file's own database servers.
 *
 * @example
 * ```ts
 * const scenario = scenarioFor('postgres-alternating-users', { postgres, mariadb });
 * ```
 */
export function scenarioFor(
  adapter: AdapterName,
  servers: {
    readonly postgres: PostgresInstance;
    readonly mariadb: MariaDbInstance;
    readonly redis?: RedisInstance;
    readonly sshd?: SshdInstance;
  },
): Scenario {
  switch (adapter) {
    case 'random-secret':
      return randomSecretScenario();
    case 'postgres-single-user':
      return postgresScenario(servers.postgres, false);
    case 'postgres-alternating-users':
      return postgresScenario(servers.postgres, true);
    case 'mysql-single-user':
      return mysqlScenario(servers.mariadb, false);
    case 'mysql-alternating-users':
      return mysqlScenario(servers.mariadb, true);
    case 'http-api-key':
      return httpApiKeyScenario();
    case 'oauth-client-secret':
      return oauthClientSecretScenario();
    case 'redis-single-user':
    case 'redis-password-overlap':
    case 'redis-alternating-users': {
      if (!servers.redis)
        throw new Error(`scenarioFor(${adapter}): start a Redis server (startRedis) and pass it`);
      const strategy =
        adapter === 'redis-single-user'
          ? 'single'
          : adapter === 'redis-password-overlap'
            ? 'overlap'
            : 'alternating';
      return redisScenario(servers.redis, strategy);
    }
    case 'ssh-keys':
      if (!servers.sshd) throw new Error('scenarioFor(ssh-keys): start an sshd (startSshd) and pass it');
      return sshKeysScenario(servers.sshd);
    case 'elasticache-user':
      if (!servers.redis)
        throw new Error(`scenarioFor(${adapter}): start a Redis server (startRedis) and pass it`);
      return elastiCacheScenario(servers.redis);
  }
}
