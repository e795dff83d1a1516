/**
 * What each deployed handler rotates against, for the as-deployed tests and the bench: a real
 * database or the key-issuing test API, the secret to rotate, the function's settings, and a check
 * that a rotated value really works there.
 *
 * A handler in `handlers/` with no entry here is reported as skipped by the as-deployed test (and
 * by the bench), never passed silently: add its fixture here.
 */
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { HttpApiKeyConfig } from '../../../src/adapters/http-api-key/config.ts';
import { scramSha256Verifier } from '../../../src/adapters/postgres/scram.ts';
import { ElastiCacheUsers, startElastiCacheApi } from '../../support/elasticache-api.ts';
import { startOAuthProvider } from '../../support/fake-oauth-provider.ts';
import { startKeyApi } from '../../support/key-api.ts';
import { type MariaDbInstance, startMariaDb } from '../../support/mariadb.ts';
import { type PostgresInstance, startPostgres } from '../../support/postgres.ts';
import { startRedis } from '../../support/redis.ts';
import { startSshd } from '../../support/sshd.ts';

/** A started target for one handler. */
export interface FixtureTarget {
  /** The function's own settings (adapter and engine variables) for its environment. */
  readonly settings: Readonly<Record<string, string>>;
  /** Creates the secret to rotate (and any secret it points to); returns its id and every secret value used. */
  createSecret(client: SecretsManagerClient, name: string): Promise<{ secretId: string; secrets: string[] }>;
  /**
   * Proves a rotation took effect on the target: the new value works, and the old one is refused
   * or still accepted as the strategy promises. Returns secret values it learnt (for the leak scan).
   */
  checkRotated(before: string, after: string): Promise<void>;
  /** The secret values inside a stored value (the whole value included), for the leak checks. */
  secretsIn(value: string): string[];
  /** Logins to the target so far, counted by the target itself; undefined when it has none. */
  logins?(): Promise<{ ok: number; failed: number }>;
  stop(): Promise<void>;
}

/** How to set up a target for one handler. */
export interface DeployedFixture {
  /** What the handler rotates against, for reports (e.g. `PostgreSQL 18`). */
  readonly target: string;
  start(): Promise<FixtureTarget>;
}

function parse(value: string): Record<string, unknown> {
  return JSON.parse(value) as Record<string, unknown>;
}

function expectThat(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

const POSTGRES_LOGIN_OK = /connection authorized: user=/g;
const POSTGRES_LOGIN_FAILED = /password authentication failed for user/g;

async function postgresLogins(db: PostgresInstance): Promise<{ ok: number; failed: number }> {
  const log = await db.readLog();
  return {
    ok: log.match(POSTGRES_LOGIN_OK)?.length ?? 0,
    failed: log.match(POSTGRES_LOGIN_FAILED)?.length ?? 0,
  };
}

/** A private PostgreSQL 18 with connection logging on, and a login role `app`. */
async function startPostgresWithApp(password: string): Promise<PostgresInstance> {
  const db = await startPostgres();
  try {
    // The password reaches the server as a SCRAM verifier only, never as SQL text.
    await db.query(`CREATE ROLE app LOGIN PASSWORD '${scramSha256Verifier(password)}'`);
    await db.query('GRANT CREATE ON SCHEMA public TO app');
    await db.query("ALTER SYSTEM SET log_connections = 'on'");
    await db.query('SELECT pg_reload_conf()');
    return db;
  } catch (error) {
    await db.stop();
    throw error;
  }
}

/** A private MariaDB with a database `appdb` and an account `app`@`%` that owns it. */
async function startMariaDbWithApp(password: string): Promise<MariaDbInstance> {
  const db = await startMariaDb();
  try {
    await db.query('CREATE DATABASE appdb');
    await db.query('CREATE USER ?@? IDENTIFIED BY ?', ['app', '%', password]);
    await db.query('GRANT ALL PRIVILEGES ON appdb.* TO ?@?', ['app', '%']);
    return db;
  } catch (error) {
    await db.stop();
    throw error;
  }
}

/**
 * MariaDB's own counters: `Connections` counts every connection attempt, `Aborted_connects` the
 * refused ones. Each reading opens a connection itself, which is taken off.
 */
function mariaDbLoginCounter(db: MariaDbInstance): () => Promise<{ ok: number; failed: number }> {
  let readings = 0;
  return async () => {
    const rows = await db.query<{ Variable_name: string; Value: string }>(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Aborted_connects')",
    );
    readings += 1;
    const value = (name: string) =>
      Number(rows.find((row) => row.Variable_name === name)?.Value ?? Number.NaN);
    const failed = value('Aborted_connects');
    return { ok: value('Connections') - failed - readings, failed };
  };
}

function mariaDbSecret(db: MariaDbInstance, username: string, password: string, extra: object = {}): string {
  return JSON.stringify({
    engine: 'mariadb',
    host: db.host,
    port: db.port,
    username,
    password,
    ssl: false,
    ...extra,
  });
}

/** A database the fixtures rotate against, started with a login `app` that owns its database. */
interface DatabaseWithApp {
  canLogin(username: string, password: string): Promise<boolean>;
  stop(): Promise<void>;
}

/** What differs between the database engines the single-user and alternating-users fixtures use. */
interface DatabaseKind<Db extends DatabaseWithApp> {
  readonly target: string;
  startWithApp(password: string): Promise<Db>;
  /** The administrator the alternating-users strategy's master secret holds. */
  admin(db: Db): { username: string; password: string };
  /** A secret value for this database; `extra` adds fields such as `dbname` and `masterarn`. */
  secret(db: Db, username: string, password: string, extra?: object): string;
  /** The database `app` owns, named in the rotated secret. */
  readonly appDatabase: string;
  /** Makes the login counter for one started target (it may keep state between readings). */
  loginCounter(db: Db): () => Promise<{ ok: number; failed: number }>;
  /** The TLS mode that lets the function reach the test server, which has no certificate. */
  readonly localTls: Readonly<Record<string, string>>;
}

function postgresSecret(
  db: PostgresInstance,
  username: string,
  password: string,
  extra: object = {},
): string {
  return JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username,
    password,
    ssl: false,
    ...extra,
  });
}

const POSTGRES: DatabaseKind<PostgresInstance> = {
  target: 'PostgreSQL 18',
  startWithApp: startPostgresWithApp,
  admin: (db) => db.superuser,
  secret: postgresSecret,
  appDatabase: 'postgres',
  loginCounter: (db) => () => postgresLogins(db),
  localTls: { PG_TLS_MODE: 'prefer' },
};

const MARIADB: DatabaseKind<MariaDbInstance> = {
  target: 'MariaDB',
  startWithApp: startMariaDbWithApp,
  admin: (db) => db.root,
  secret: mariaDbSecret,
  appDatabase: 'appdb',
  loginCounter: mariaDbLoginCounter,
  localTls: { MYSQL_TLS_MODE: 'prefer' },
};

/** Single user: `app` gets a new password; the old one must stop working. */
function singleUserFixture<Db extends DatabaseWithApp>(kind: DatabaseKind<Db>): DeployedFixture {
  return {
    target: kind.target,
    async start() {
      const initial = randomPassword();
      const db = await kind.startWithApp(initial);
      return {
        settings: { ...kind.localTls },
        async createSecret(client, name) {
          const value = kind.secret(db, 'app', initial, { dbname: kind.appDatabase });
          const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
          return { secretId: created.ARN!, secrets: [value, initial] };
        },
        secretsIn: (value) => [value, parse(value).password as string],
        async checkRotated(before, after) {
          const old = parse(before);
          const next = parse(after);
          expectThat(next.username === 'app', 'the user changed');
          expectThat(await db.canLogin('app', next.password as string), 'the new password is refused');
          expectThat(!(await db.canLogin('app', old.password as string)), 'the old password still works');
        },
        logins: kind.loginCounter(db),
        stop: () => db.stop(),
      };
    },
  };
}

/** Alternating users: `app` and `app_clone` take turns; the previous credentials keep working. */
function alternatingUsersFixture<Db extends DatabaseWithApp>(kind: DatabaseKind<Db>): DeployedFixture {
  return {
    target: kind.target,
    async start() {
      const initial = randomPassword();
      const db = await kind.startWithApp(initial);
      return {
        settings: { ...kind.localTls },
        async createSecret(client, name) {
          const admin = kind.admin(db);
          const master = kind.secret(db, admin.username, admin.password);
          const masterSecret = await client.send(
            new CreateSecretCommand({ Name: `${name}-master`, SecretString: master }),
          );
          const value = kind.secret(db, 'app', initial, {
            dbname: kind.appDatabase,
            masterarn: masterSecret.ARN,
          });
          const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
          return { secretId: created.ARN!, secrets: [value, master, initial, admin.password] };
        },
        secretsIn: (value) => [value, parse(value).password as string],
        async checkRotated(before, after) {
          const old = parse(before);
          const next = parse(after);
          expectThat(next.username !== old.username, 'the user did not alternate');
          expectThat(['app', 'app_clone'].includes(next.username as string), 'unexpected user name');
          expectThat(
            await db.canLogin(next.username as string, next.password as string),
            'the new credentials are refused',
          );
          expectThat(
            await db.canLogin(old.username as string, old.password as string),
            'the previous credentials stopped working (alternating users must keep them)',
          );
        },
        logins: kind.loginCounter(db),
        stop: () => db.stop(),
      };
    },
  };
}

/**
 * A private redis-server whose user `app` the ElastiCache API stand-in (test/support/elasticache-api.ts)
 * changes, reached by the deployed function through AWS_ENDPOINT_URL_ELASTICACHE.
 */
const elastiCacheFixture: DeployedFixture = {
  target: 'Redis 7 (private redis-server) behind an ElastiCache API stand-in',
  async start() {
    const initial = randomPassword();
    const redis = await startRedis();
    const users = new ElastiCacheUsers(redis);
    await users.addUser('app-user', 'app', initial);
    const api = await startElastiCacheApi(users);
    return {
      settings: {
        REDIS_TLS_MODE: 'disable',
        ELASTICACHE_POLL_INTERVAL_MS: '20',
        AWS_ENDPOINT_URL_ELASTICACHE: api.url,
      },
      async createSecret(client, name) {
        const value = JSON.stringify({
          engine: 'valkey',
          host: redis.host,
          port: redis.port,
          username: 'app',
          password: initial,
          userId: 'app-user',
        });
        const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
        return { secretId: created.ARN!, secrets: [value, initial] };
      },
      secretsIn: (value) => [value, parse(value).password as string],
      async checkRotated(before, after) {
        const old = parse(before).password as string;
        const next = parse(after).password as string;
        expectThat(next !== old, 'the password did not change');
        expectThat(await redis.canLogin('app', next), 'the new password is refused');
        expectThat(!(await redis.canLogin('app', old)), 'the old password still logs in after finishSecret');
        expectThat(users.statusOf('app-user') === 'active', 'the user was left modifying');
      },
      stop: async () => {
        await api.close();
        await redis.stop();
      },
    };
  },
};

/**
 * A private redis-server with an ACL user `app`; single user and overlap give it `+acl|setuser` (it
 * changes its own password), alternating users use the server's admin as the master.
 */
function redisFixture(strategy: 'single' | 'overlap' | 'alternating'): DeployedFixture {
  return {
    target: 'Redis 7 (private redis-server)',
    async start() {
      const initial = randomPassword();
      const redis = await startRedis();
      const own = strategy === 'alternating' ? [] : ['+acl|setuser'];
      await redis.command(['ACL', 'SETUSER', 'app', 'on', `>${initial}`, '~app:*', '+get', '+set', ...own]);
      const secretOf = (username: string, password: string, extra: object = {}) =>
        JSON.stringify({ engine: 'redis', host: redis.host, port: redis.port, username, password, ...extra });
      return {
        // The private server has no certificate: plaintext, said explicitly.
        settings: { REDIS_TLS_MODE: 'disable' },
        async createSecret(client, name) {
          const secrets = [initial, redis.admin.password];
          let extra = {};
          if (strategy === 'alternating') {
            const master = JSON.stringify({
              username: redis.admin.username,
              password: redis.admin.password,
              host: redis.host,
              port: redis.port,
            });
            const masterSecret = await client.send(
              new CreateSecretCommand({ Name: `${name}-master`, SecretString: master }),
            );
            secrets.push(master);
            extra = { masterarn: masterSecret.ARN };
          }
          const value = secretOf('app', initial, extra);
          const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
          return { secretId: created.ARN!, secrets: [value, ...secrets] };
        },
        secretsIn: (value) => [value, parse(value).password as string],
        async checkRotated(before, after) {
          const old = parse(before);
          const next = parse(after);
          expectThat(next.password !== old.password, 'the password did not change');
          expectThat(
            await redis.canLogin(next.username as string, next.password as string),
            'the new credentials are refused',
          );
          const oldWorks = await redis.canLogin(old.username as string, old.password as string);
          if (strategy === 'alternating') {
            expectThat(next.username !== old.username, 'the user did not alternate');
            expectThat(
              oldWorks,
              'the previous credentials stopped working (alternating users must keep them)',
            );
          } else {
            expectThat(!oldWorks, 'the old password still logs in after finishSecret');
          }
        },
        stop: () => redis.stop(),
      };
    },
  };
}

function randomPassword(): string {
  return `Init-${crypto.randomUUID()}`;
}

/**
 * The fixtures, by handler name (the file name in `handlers/` without extension).
 *
 * @example
 * ```ts
 * const target = await DEPLOYED_FIXTURES['random-secret']!.start();
 * ```
 */
export const DEPLOYED_FIXTURES: Readonly<Record<string, DeployedFixture>> = {
  'random-secret': {
    target: 'none (value only)',
    async start() {
      return {
        // A non-default setting proves the bundle reads its configuration from the environment.
        settings: { PASSWORD_LENGTH: '40', RANDOM_SECRET_FIELD: 'token' },
        async createSecret(client, name) {
          const initial = JSON.stringify({ token: randomPassword(), owner: 'packaging-test' });
          const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: initial }));
          return { secretId: created.ARN!, secrets: [initial] };
        },
        secretsIn: (value) => [value, parse(value).token as string],
        async checkRotated(before, after) {
          const old = parse(before);
          const next = parse(after);
          expectThat(
            typeof next.token === 'string' && next.token.length === 40,
            'token is not 40 characters',
          );
          expectThat(next.token !== old.token, 'token did not change');
          expectThat(next.owner === 'packaging-test', 'other fields were not carried over');
        },
        async stop() {},
      };
    },
  },

  'http-api-key': {
    target: 'key-issuing test API',
    async start() {
      const api = await startKeyApi();
      const config: HttpApiKeyConfig = {
        baseUrl: api.url,
        auth: { type: 'bearer' },
        mint: {
          request: { method: 'POST', path: '/keys', body: { label: 'rotation {{versionId}}' } },
          keyPointer: '/key',
          keyIdPointer: '/id',
          idempotencyHeader: 'Idempotency-Key',
        },
        test: { request: { method: 'GET', path: '/whoami' }, successStatus: [200] },
        revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
      };
      return {
        // The configuration comes from the environment here (it may also live in the secret).
        // The key API listens on loopback, which a key reaches only when listed exactly.
        settings: { HTTP_API_KEY_CONFIG: JSON.stringify(config), HTTP_API_KEY_ALLOWED_HOSTS: '127.0.0.1' },
        async createSecret(client, name) {
          const initial = JSON.stringify({ apiKey: api.seed.key, keyId: api.seed.id });
          const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: initial }));
          return { secretId: created.ARN!, secrets: [initial, api.seed.key] };
        },
        secretsIn: (value) => [value, parse(value).apiKey as string],
        async checkRotated(before, after) {
          const oldKey = parse(before).apiKey as string;
          const newKey = parse(after).apiKey as string;
          expectThat(newKey !== oldKey, 'apiKey did not change');
          expectThat(api.accepts(newKey), 'the API refuses the new key');
          expectThat(!api.accepts(oldKey), 'the API still accepts the revoked key');
        },
        stop: () => api.close(),
      };
    },
  },

  'oauth-client-secret': {
    target: 'loopback OAuth provider (token endpoint, admin API with two active secrets at most)',
    async start() {
      const provider = await startOAuthProvider();
      const config = {
        baseUrl: provider.url,
        clientId: provider.clientId,
        secretsPath: provider.secretsPath,
      };
      return {
        // The provider listens on loopback, which a client secret reaches only when listed exactly.
        settings: {
          OAUTH_CLIENT_SECRET_CONFIG: JSON.stringify(config),
          HTTP_API_KEY_ALLOWED_HOSTS: '127.0.0.1',
        },
        async createSecret(client, name) {
          const initial = JSON.stringify({
            clientId: provider.clientId,
            clientSecret: provider.seed.secret,
            secretId: provider.seed.id,
          });
          const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: initial }));
          return { secretId: created.ARN!, secrets: [initial, provider.seed.secret] };
        },
        secretsIn: (value) => [value, parse(value).clientSecret as string],
        async checkRotated(before, after) {
          const oldSecret = parse(before).clientSecret as string;
          const newSecret = parse(after).clientSecret as string;
          expectThat(newSecret !== oldSecret, 'clientSecret did not change');
          expectThat(
            (await provider.tokenStatus(newSecret)) === 200,
            'the token endpoint refuses the new secret',
          );
          expectThat(
            (await provider.tokenStatus(oldSecret)) === 401,
            'the token endpoint still accepts the old secret',
          );
        },
        stop: () => provider.close(),
      };
    },
  },

  'ssh-keys': {
    target: 'OpenSSH sshd (private instance)',
    async start() {
      const sshd = await startSshd();
      const initial = await sshd.keyPair();
      await sshd.setAuthorizedKeys([initial.publicKey]);
      const keyOf = (value: string) => parse(value).privateKey as string;
      return {
        settings: { SSH_HOST_KEYS: `${sshd.host}:${sshd.port} ${sshd.hostKeyFingerprint}` },
        async createSecret(client, name) {
          const value = JSON.stringify({
            privateKey: initial.privateKey,
            username: sshd.user,
            hosts: [`${sshd.host}:${sshd.port}`],
            authorizedKeysFile: sshd.authorizedKeysFile,
          });
          const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
          return { secretId: created.ARN!, secrets: [value, initial.privateKey] };
        },
        secretsIn: (value) => [value, keyOf(value)],
        async checkRotated(before, after) {
          expectThat(keyOf(after) !== keyOf(before), 'privateKey did not change');
          expectThat(await sshd.canLogin(keyOf(after)), 'sshd refuses the new key');
          expectThat(!(await sshd.canLogin(keyOf(before))), 'sshd still accepts the old key');
        },
        stop: () => sshd.stop(),
      };
    },
  },

  'postgres-single-user': singleUserFixture(POSTGRES),
  'postgres-alternating-users': alternatingUsersFixture(POSTGRES),
  'mysql-single-user': singleUserFixture(MARIADB),
  'mysql-alternating-users': alternatingUsersFixture(MARIADB),
  'redis-single-user': redisFixture('single'),
  'redis-password-overlap': redisFixture('overlap'),
  'redis-alternating-users': redisFixture('alternating'),
  'elasticache-user': elastiCacheFixture,
};
