import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/core/config.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { type MariaDbInstance, startMariaDb } from '../support/mariadb.ts';
import { freePort } from '../support/ports.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { type RedisInstance, startRedis } from '../support/redis.ts';
import { LOCAL_PLAINTEXT_DATABASES } from '../support/rotation-rig.ts';
import { type CliFixture, databasePassword, putJsonSecret, startCliFixture } from './fixtures.ts';
import { cli } from './run.ts';

let fixture: CliFixture;
let pg: PostgresInstance;
let maria: MariaDbInstance;

interface CheckJson {
  ok: boolean;
  findings: Array<{ check: string; status: string; detail: string; fix?: string }>;
}

// The private test databases offer no TLS: plaintext is allowed explicitly, as a deployer would for a local database.
const check = async (name: string, handler: string, env: Env = LOCAL_PLAINTEXT_DATABASES) => {
  const result = await cli(
    ['check', name, '--handler', handler, '--endpoint-url', fixture.local.endpoint, '--output', 'json'],
    { env },
  );
  return { ...result, body: result.json<CheckJson>() };
};
const statusOf = (body: CheckJson, name: string) => body.findings.find((f) => f.check === name)?.status;

beforeAll(async () => {
  [fixture, pg, maria] = await Promise.all([
    startCliFixture(),
    startPostgres({ version: 18 }),
    startMariaDb(),
  ]);
  trackSecrets(pg.superuser.password, maria.root.password);
});
afterAll(async () => {
  await Promise.all([fixture?.close(), pg?.stop(), maria?.stop()]);
});

describe('check, PostgreSQL', () => {
  let appPassword: string;
  let masterArn: string;

  beforeAll(async () => {
    appPassword = databasePassword();
    const client = await pg.connect();
    try {
      await client.query(`CREATE ROLE app LOGIN PASSWORD ${client.escapeLiteral(appPassword)}`);
      const limited = databasePassword();
      await client.query(
        `CREATE ROLE limited_admin LOGIN CREATEROLE PASSWORD ${client.escapeLiteral(limited)}`,
      );
      await putJsonSecret(fixture.client, 'pg/limited-master', {
        username: 'limited_admin',
        password: limited,
        host: '127.0.0.1',
        port: pg.port,
      });
    } finally {
      await client.end();
    }
    masterArn = await putJsonSecret(fixture.client, 'pg/master', {
      username: pg.superuser.username,
      password: pg.superuser.password,
      host: '127.0.0.1',
      port: pg.port,
    });
  });

  const base = () => ({
    engine: 'postgres',
    host: '127.0.0.1',
    port: pg.port,
    username: 'app',
    password: appPassword,
    dbname: 'postgres',
  });

  it('passes a single-user secret, reporting reachability, the TLS mode and the privilege', async () => {
    await putJsonSecret(fixture.client, 'pg/single', { ...base(), ssl: false });
    const { code, body, stdout } = await check('pg/single', 'postgres-single-user');
    expect(code).toBe(0);
    expect(body.ok).toBe(true);
    expect(statusOf(body, 'secret readable')).toBe('ok');
    expect(statusOf(body, 'secret valid')).toBe('ok');
    expect(statusOf(body, 'database reachable')).toBe('ok');
    expect(statusOf(body, 'current login')).toBe('ok');
    expect(statusOf(body, 'privilege')).toBe('ok');
    const tls = body.findings.find((f) => f.check === 'TLS');
    expect(tls?.status).toBe('warn');
    expect(tls?.detail).toContain('PG_TLS_MODE=prefer: the server offers no TLS');
    expect(tls?.fix).toContain('set PG_TLS_MODE=verify-full');
    expect(body.findings.find((f) => f.check === 'rotation settings')?.status).toBe('warn');
    expect(stdout).not.toContain(appPassword);
  });

  it("checks a Redshift secret against Redshift's password rules and refuses the clone mode", async () => {
    await putJsonSecret(fixture.client, 'pg/redshift', {
      ...base(),
      engine: 'redshift',
      ssl: false,
      masterarn: masterArn,
    });
    const good = await check('pg/redshift', 'postgres-single-user');
    expect(statusOf(good.body, 'Redshift rules')).toBe('ok');
    expect(good.body.findings.find((f) => f.check === 'Redshift rules')?.detail).toContain('md5 hashes');
    expect(good.code).toBe(0);

    const bad = await check('pg/redshift', 'postgres-single-user', {
      ...LOCAL_PLAINTEXT_DATABASES,
      PASSWORD_LENGTH: '80',
      EXCLUDE_CHARACTERS: ':',
    });
    expect(bad.code).not.toBe(0);
    const rules = bad.body.findings.find((f) => f.check === 'Redshift rules');
    expect(rules?.status).toBe('fail');
    expect(rules?.fix).toContain('PASSWORD_LENGTH is 80');
    expect(rules?.fix).toContain('EXCLUDE_CHARACTERS lets');

    const clone = await check('pg/redshift', 'postgres-alternating-users');
    expect(statusOf(clone.body, 'Redshift pair')).toBe('fail');
    expect(clone.body.findings.find((f) => f.check === 'Redshift pair')?.fix).toContain(
      'PG_PREPROVISIONED_PAIR=true',
    );
    expect(clone.stdout).not.toContain(appPassword);
  });

  it('warns that a secret without "ssl" would fall back to plaintext on a server without TLS', async () => {
    await putJsonSecret(fixture.client, 'pg/no-ssl-field', base());
    const { code, body } = await check('pg/no-ssl-field', 'postgres-single-user');
    expect(code).toBe(0);
    expect(body.findings.find((f) => f.check === 'TLS')?.detail).toContain('the server offers no TLS');
  });

  it('under the default PG_TLS_MODE (verify-full) fails TLS, saying how to allow plaintext for a local database', async () => {
    const { code, body } = await check('pg/no-ssl-field', 'postgres-single-user', {});
    expect(code).toBe(1);
    const tls = body.findings.find((f) => f.check === 'TLS');
    expect(tls?.status).toBe('fail');
    expect(tls?.detail).toContain('PG_TLS_MODE is verify-full');
    expect(tls?.fix).toContain('for a local database without TLS, set PG_TLS_MODE=prefer (or disable)');
  });

  it('fails a stale password with the fix, and an unreachable server, in table form too', async () => {
    await putJsonSecret(fixture.client, 'pg/stale', { ...base(), password: databasePassword(), ssl: false });
    const stale = await check('pg/stale', 'postgres-single-user');
    expect(stale.code).toBe(1);
    expect(statusOf(stale.body, 'database reachable')).toBe('ok');
    const login = stale.body.findings.find((f) => f.check === 'current login')!;
    expect(login.status).toBe('fail');
    expect(login.detail).toContain('authentication');
    expect(login.fix).toContain('put the working password');

    await putJsonSecret(fixture.client, 'pg/nowhere', { ...base(), port: await freePort(), ssl: false });
    const table = await cli([
      'check',
      'pg/nowhere',
      '--handler',
      'postgres-single-user',
      '--endpoint-url',
      fixture.local.endpoint,
    ]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/fail\s+database reachable\s+network failure/);
    expect(table.stdout).toContain('fix: check host and port in the secret');
    expect(table.stdout).toMatch(/1 failure, \d warnings?: not ready/);
  });

  it('fails a secret that is not valid for the handler, naming the field', async () => {
    await putJsonSecret(fixture.client, 'pg/wrong-engine', { ...base(), engine: 'mysql' });
    const { code, body } = await check('pg/wrong-engine', 'postgres-single-user');
    expect(code).toBe(1);
    const valid = body.findings.find((f) => f.check === 'secret valid')!;
    expect(valid.status).toBe('fail');
    expect(valid.detail).toContain('"engine"');
    expect(body.findings.some((f) => f.check === 'database reachable')).toBe(false);
  });

  it('checks the master of alternating users: readable, logs in, may manage the pair', async () => {
    await putJsonSecret(fixture.client, 'pg/alternating', { ...base(), ssl: false, masterarn: masterArn });
    const good = await check('pg/alternating', 'postgres-alternating-users');
    expect(good.code).toBe(0);
    expect(statusOf(good.body, 'master secret')).toBe('ok');
    expect(statusOf(good.body, 'master login')).toBe('ok');
    expect(good.body.findings.find((f) => f.check === 'user pair')?.detail).toContain(
      '"app_clone" does not exist yet',
    );
    expect(good.body.findings.find((f) => f.check === 'master privilege')).toMatchObject({
      status: 'ok',
      detail: '"postgres" is a superuser',
    });

    const limitedArn = (
      await cli(['status', 'pg/limited-master', '--endpoint-url', fixture.local.endpoint, '--output', 'json'])
    ).json<{ arn: string }>().arn;
    await putJsonSecret(fixture.client, 'pg/alternating-limited', {
      ...base(),
      ssl: false,
      masterarn: limitedArn,
    });
    const limited = await check('pg/alternating-limited', 'postgres-alternating-users');
    expect(limited.code).toBe(1);
    const privilege = limited.body.findings.find((f) => f.check === 'master privilege')!;
    expect(privilege.status).toBe('fail');
    expect(privilege.detail).toContain('not ADMIN OPTION on "app"');
    expect(privilege.fix).toBe('GRANT app TO limited_admin WITH ADMIN OPTION');

    await putJsonSecret(fixture.client, 'pg/alternating-no-master', { ...base(), ssl: false });
    const none = await check('pg/alternating-no-master', 'postgres-alternating-users');
    expect(none.code).toBe(1);
    expect(none.body.findings.find((f) => f.check === 'master secret')?.detail).toContain('no "masterarn"');
  });

  it('fails the master server check when the secret names another server than the master, without logging in as the master', async () => {
    const elsewhere = await putJsonSecret(fixture.client, 'pg/master-elsewhere', {
      username: pg.superuser.username,
      password: pg.superuser.password,
      host: 'db.internal.example.com',
      port: 5432,
    });
    await putJsonSecret(fixture.client, 'pg/alternating-elsewhere', {
      ...base(),
      ssl: false,
      masterarn: elsewhere,
    });
    const { code, body } = await check('pg/alternating-elsewhere', 'postgres-alternating-users');
    expect(code).toBe(1);
    const finding = body.findings.find((f) => f.check === 'master server')!;
    expect(finding.status).toBe('fail');
    expect(finding.detail).toContain('db.internal.example.com:5432');
    expect(finding.detail).toContain(`127.0.0.1:${pg.port}`);
    expect(body.findings.some((f) => f.check === 'master login')).toBe(false);

    await putJsonSecret(fixture.client, 'pg/alternating-home', {
      ...base(),
      ssl: false,
      masterarn: masterArn,
    });
    const home = await check('pg/alternating-home', 'postgres-alternating-users');
    expect(home.body.findings.find((f) => f.check === 'master server')).toMatchObject({
      status: 'ok',
      detail: `127.0.0.1:${pg.port} is the master secret's own server`,
    });
  });
});

describe('check, MariaDB', () => {
  let appPassword: string;
  let rootArn: string;

  beforeAll(async () => {
    appPassword = databasePassword();
    await maria.query('CREATE USER ?@? IDENTIFIED BY ?', ['shop', '%', appPassword]);
    await maria.query('GRANT SELECT ON mysql.db TO ?@?', ['shop', '%']);
    rootArn = await putJsonSecret(fixture.client, 'maria/root', {
      username: maria.root.username,
      password: maria.root.password,
      host: base().host,
      port: base().port,
    });
  });

  const base = () => ({
    engine: 'mariadb',
    host: '127.0.0.1',
    port: maria.port,
    username: 'shop',
    password: appPassword,
  });

  it('passes a single-user secret and reports the server and the TLS mode', async () => {
    await putJsonSecret(fixture.client, 'maria/single', { ...base(), ssl: false });
    const { code, body } = await check('maria/single', 'mysql-single-user');
    expect(code).toBe(0);
    expect(body.findings.find((f) => f.check === 'database reachable')?.detail).toMatch(/MariaDB/i);
    expect(statusOf(body, 'TLS')).toBe('warn');
    expect(statusOf(body, 'current login')).toBe('ok');
    expect(statusOf(body, 'privilege')).toBe('ok');
  });

  it('checks the master of alternating users, and fails a master without CREATE USER', async () => {
    await putJsonSecret(fixture.client, 'maria/alternating', { ...base(), ssl: false, masterarn: rootArn });
    const good = await check('maria/alternating', 'mysql-alternating-users');
    expect(good.code).toBe(0);
    expect(statusOf(good.body, 'master login')).toBe('ok');
    expect(statusOf(good.body, 'master privilege')).toBe('ok');

    const weakPassword = databasePassword();
    await maria.query('CREATE USER ?@? IDENTIFIED BY ?', ['weak_admin', '%', weakPassword]);
    const weakArn = await putJsonSecret(fixture.client, 'maria/weak-master', {
      username: 'weak_admin',
      password: weakPassword,
      host: base().host,
      port: base().port,
    });
    await putJsonSecret(fixture.client, 'maria/alternating-weak', {
      ...base(),
      ssl: false,
      masterarn: weakArn,
    });
    const weak = await check('maria/alternating-weak', 'mysql-alternating-users');
    expect(weak.code).toBe(1);
    const privilege = weak.body.findings.find((f) => f.check === 'master privilege')!;
    expect(privilege.status).toBe('fail');
    expect(privilege.detail).toContain('CREATE USER');
  });
});

describe('check, other handlers', () => {
  it("runs the handler's own testSecret on the current value", async () => {
    await putJsonSecret(fixture.client, 'plain/random', { apiToken: databasePassword() });
    const argv = [
      'check',
      'plain/random',
      '--handler',
      'random-secret',
      '--endpoint-url',
      fixture.local.endpoint,
      '--output',
      'json',
    ];
    const result = await cli(argv, { env: { RANDOM_SECRET_FIELD: 'apiToken' } });
    expect(result.code).toBe(0);
    expect(result.json<CheckJson>().findings.find((f) => f.check === 'current value works')?.status).toBe(
      'ok',
    );
    // A JSON object with no field named would be replaced whole: the preflight says so.
    const unnamed = await cli(argv);
    expect(unnamed.code).toBe(1);
    expect(JSON.stringify(unnamed.json<CheckJson>().findings)).toContain('RANDOM_SECRET_FIELD');
  });

  it('requires --handler and reports a missing secret as a failed finding', async () => {
    const missingFlag = await cli(['check', 'plain/random', '--endpoint-url', fixture.local.endpoint]);
    expect(missingFlag.code).toBe(2);
    expect(missingFlag.stderr).toContain("required option '--handler <name>' not specified");
    const missing = await check('plain/missing', 'random-secret');
    expect(missing.code).toBe(1);
    expect(missing.body.findings[0]).toMatchObject({ check: 'secret readable', status: 'fail' });
  });
});

describe('check, Redis', () => {
  let redis: RedisInstance;
  const env = { REDIS_TLS_MODE: 'disable' };
  beforeAll(async () => {
    redis = await startRedis();
    trackSecrets(redis.admin.password);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("reports reachability, TLS and the current login, and the master's login for alternating users", async () => {
    const password = databasePassword();
    await redis.command(['ACL', 'SETUSER', 'cache', 'reset', 'on', `>${password}`, '~app:*', '+get']);
    const secret = { engine: 'redis', host: redis.host, port: redis.port, username: 'cache', password };
    await putJsonSecret(fixture.client, 'redis/single', secret);
    const single = await check('redis/single', 'redis-single-user', env);
    expect(single.code).toBe(0);
    expect(statusOf(single.body, 'database reachable')).toBe('ok');
    expect(statusOf(single.body, 'TLS')).toBe('warn');
    expect(statusOf(single.body, 'current login')).toBe('ok');

    await putJsonSecret(fixture.client, 'redis/stale', { ...secret, password: databasePassword() });
    const stale = await check('redis/stale', 'redis-single-user', env);
    expect(stale.code).toBe(1);
    expect(statusOf(stale.body, 'current login')).toBe('fail');

    const masterarn = await putJsonSecret(fixture.client, 'redis/master', {
      ...redis.admin,
      host: redis.host,
      port: redis.port,
    });
    await putJsonSecret(fixture.client, 'redis/alternating', { ...secret, masterarn });
    const alternating = await check('redis/alternating', 'redis-alternating-users', env);
    expect(alternating.code).toBe(0);
    expect(statusOf(alternating.body, 'master secret')).toBe('ok');
    expect(statusOf(alternating.body, 'master login')).toBe('ok');
  });
});
