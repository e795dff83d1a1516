import type { RowDataPacket } from 'mysql2/promise';
import { ConfigurationError, SecretShapeError } from 'secrets-rotator';
import {
  isMysqlAuthError,
  type MysqlPoolOptions,
  type RotatingMysqlPool,
  createMysqlPool as rotatingMysqlPool,
  SecretCache,
} from 'secrets-rotator/client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type MariaDbInstance, startMariaDb } from '../support/mariadb.ts';
import { newPassword, recordingLogger, SecretsRig, tlsChecks } from './rig.ts';

/**
 * The private test server offers no TLS: these pools allow plaintext explicitly, as an application
 * would for a local database. Tests about TLS pass their own `tls`.
 */
function createMysqlPool(options: MysqlPoolOptions): RotatingMysqlPool {
  return rotatingMysqlPool({ tls: { mode: 'prefer' }, ...options });
}

let db: MariaDbInstance;
let rig: SecretsRig;
let userCounter = 0;
const pools: RotatingMysqlPool[] = [];

async function newUser(): Promise<{ user: string; password: string }> {
  userCounter += 1;
  const user = `client_app_${userCounter}`;
  const password = newPassword('my');
  await db.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
  return { user, password };
}

async function setPassword(user: string, password: string): Promise<void> {
  await db.query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]);
}

async function sessionsOf(user: string): Promise<number> {
  const rows = await db.query<{ n: number }>(
    'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
    [user],
  );
  return Number(rows[0]?.n);
}

function secretFor(username: string, password: string, extra: Record<string, unknown> = {}) {
  return { engine: 'mariadb', host: db.host, port: db.port, username, password, ssl: false, ...extra };
}

function track(pool: RotatingMysqlPool): RotatingMysqlPool {
  pools.push(pool);
  return pool;
}

async function whoAmI(pool: RotatingMysqlPool): Promise<string> {
  const [rows] = await pool.query<RowDataPacket[]>("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS who");
  return String(rows[0]?.who);
}

/** One query on a connection of its own, closed afterwards: the next query has to log in again. */
async function whoAmIOnNewLogin(pool: RotatingMysqlPool): Promise<string> {
  const connection = await pool.getConnection();
  try {
    const [rows] = await connection.query<RowDataPacket[]>(
      "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS who",
    );
    return String(rows[0]?.who);
  } finally {
    connection.destroy();
  }
}

beforeAll(async () => {
  [db, rig] = await Promise.all([startMariaDb(), SecretsRig.start()]);
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end()));
});

afterAll(async () => {
  await Promise.allSettled([db?.stop(), rig?.close()]);
});

describe('createMysqlPool', () => {
  it('connects with the host, port, user and password of the secret; query, execute and getConnection work', async () => {
    const { user, password } = await newUser();
    const { name } = await rig.create('my-basic', secretFor(user, password));
    const pool = track(createMysqlPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name }));

    expect(await whoAmI(pool)).toBe(user);
    const [executed] = await pool.execute<RowDataPacket[]>('SELECT ? + 1 AS n', [41]);
    expect(Number(executed[0]?.n)).toBe(42);
    expect(await whoAmIOnNewLogin(pool)).toBe(user);
    expect(pool.stats()).toMatchObject({
      operations: 3,
      authRefusals: 0,
      failedOperations: 0,
      poolsCreated: 1,
    });
  });

  it('recreates its pool with fresh credentials after a refused login, and retries', async () => {
    const { user, password } = await newUser();
    const { name } = await rig.create('my-refused', secretFor(user, password));
    const cache = new SecretCache({ client: rig.sdk, ttlMs: 3_600_000 });
    const pool = track(createMysqlPool({ cache, secretId: name }));
    await whoAmIOnNewLogin(pool);

    const rotated = newPassword('my');
    await setPassword(user, rotated);
    await rig.put(name, secretFor(user, rotated));

    expect(await whoAmIOnNewLogin(pool)).toBe(user);
    expect(pool.stats()).toMatchObject({
      operations: 2,
      authRefusals: 1,
      retriedOperations: 1,
      recoveredOperations: 1,
      failedOperations: 0,
      poolsCreated: 2,
    });
  });

  it('uses AWSPENDING in a single-user window, then the promoted version without another pool', async () => {
    let now = 0;
    const { user, password } = await newUser();
    const { name, versionId: first } = await rig.create('my-window', secretFor(user, password));
    const cache = new SecretCache({ client: rig.sdk, ttlMs: 1_000, clock: () => now });
    const pool = track(createMysqlPool({ cache, secretId: name }));
    await whoAmIOnNewLogin(pool);

    const pendingPassword = newPassword('my');
    const pending = await rig.put(name, secretFor(user, pendingPassword), ['AWSPENDING']);
    await setPassword(user, pendingPassword);

    expect(await whoAmIOnNewLogin(pool)).toBe(user);
    expect(await whoAmIOnNewLogin(pool)).toBe(user);
    expect(pool.stats()).toMatchObject({ authRefusals: 1, recoveredOperations: 1, poolsCreated: 2 });

    await rig.promote(name, pending, first);
    now += 1_000;
    expect(await whoAmIOnNewLogin(pool)).toBe(user);
    // Same credentials as the pending version it already used: the same pool.
    expect(pool.stats()).toMatchObject({ authRefusals: 1, poolsCreated: 2, failedOperations: 0 });
  });

  it('moves to a new pool when the user changes, keeping a checked-out connection alive until it is released', async () => {
    let now = 0;
    const a = await newUser();
    const b = await newUser();
    const { name } = await rig.create('my-alternating', secretFor(a.user, a.password));
    const cache = new SecretCache({ client: rig.sdk, ttlMs: 1_000, clock: () => now });
    const pool = track(createMysqlPool({ cache, secretId: name }));
    const held = await pool.getConnection();
    expect(await whoAmI(pool)).toBe(a.user);

    await rig.put(name, secretFor(b.user, b.password));
    now += 1_000;
    expect(await whoAmI(pool)).toBe(b.user);

    const [rows] = await held.query<RowDataPacket[]>("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS who");
    expect(rows[0]?.who).toBe(a.user);
    held.release();
    await vi.waitFor(async () => expect(await sessionsOf(a.user)).toBe(0));
    expect(pool.stats()).toMatchObject({ poolsCreated: 2, authRefusals: 0, failedOperations: 0 });
  });

  it('fails with the driver error when every version is refused, without the password in it', async () => {
    const { user, password } = await newUser();
    const { name } = await rig.create('my-all-refused', secretFor(user, password));
    await setPassword(user, newPassword('my'));
    const pool = track(createMysqlPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name }));

    const error = await pool.query('SELECT 1').catch((caught: unknown) => caught);

    expect(isMysqlAuthError(error)).toBe(true);
    expect((error as { errno: number }).errno).toBe(1045);
    expect(String((error as Error).message)).not.toContain(password);
    expect(pool.stats()).toMatchObject({
      operations: 1,
      authRefusals: 1,
      failedOperations: 1,
      recoveredOperations: 0,
    });
  });

  it('passes other errors through at once, without refreshing', async () => {
    const { user, password } = await newUser();
    const { name } = await rig.create('my-syntax', secretFor(user, password));
    const pool = track(createMysqlPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name }));

    await expect(pool.query('SELEC 1')).rejects.toMatchObject({ code: 'ER_PARSE_ERROR' });
    expect(rig.reads(name)).toBe(1);
    expect(pool.stats()).toMatchObject({ authRefusals: 0, failedOperations: 1 });
  });

  it('under prefer, uses plaintext only because the server offers no TLS, and says so for each new connection', async () => {
    const { user, password } = await newUser();
    const { name } = await rig.create('my-no-ssl-field', secretFor(user, password, { ssl: undefined }));
    const logger = recordingLogger();
    const pool = track(
      createMysqlPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name, logger }),
    );

    expect(await whoAmIOnNewLogin(pool)).toBe(user);
    expect(await whoAmIOnNewLogin(pool)).toBe(user);

    // Two connections, each of which asked and was told "no TLS": nothing is remembered between them.
    expect(pool.stats().plaintextFallbacks).toBe(2);
    expect(logger.lines).toHaveLength(2);
    expect(logger.lines[0]).toContain('offers no TLS');
    expect(logger.lines[0]).toContain('set createMysqlPool tls.mode to verify-full');
  });

  it('with "ssl": true, refuses a server without TLS instead of falling back', async () => {
    const { user, password } = await newUser();
    const { name } = await rig.create('my-ssl-required', secretFor(user, password, { ssl: 'true' }));
    const logger = recordingLogger();
    const pool = track(
      createMysqlPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name, logger }),
    );

    await tlsChecks.refusedWithoutTls(pool, logger, 'createMysqlPool');
  });

  it('8 operations started together on a fresh pool: all succeed under prefer, all refuse under verify-full', async () => {
    const { user, password } = await newUser();
    const { name } = await rig.create('my-race', secretFor(user, password, { ssl: undefined }));
    await tlsChecks.decidedPerConnection(
      'createMysqlPool',
      (mode) =>
        track(
          rotatingMysqlPool({
            cache: new SecretCache({ client: rig.sdk }),
            secretId: name,
            tls: { mode },
            logger: recordingLogger(),
            poolOptions: { connectionLimit: 8 },
          }),
        ),
      (pool) => pool.query<RowDataPacket[]>('SELECT CURRENT_USER() AS who'),
    );
  });

  it('rejects connection fields in poolOptions and a secret for another engine', async () => {
    const cache = new SecretCache({ client: rig.sdk });
    expect(() =>
      createMysqlPool({
        cache,
        secretId: 'x',
        poolOptions: { password: 'nope' } as unknown as { connectionLimit: 1 },
      }),
    ).toThrow(ConfigurationError);
    expect(() =>
      createMysqlPool({
        cache,
        secretId: 'x',
        poolOptions: { ssl: {} } as unknown as { connectionLimit: 1 },
      }),
    ).toThrow(/poolOptions.ssl must not be set: TLS and how the password is sent follow tls.mode/);
    expect(() =>
      createMysqlPool({
        cache,
        secretId: 'x',
        poolOptions: { authPlugins: {} } as unknown as { connectionLimit: 1 },
      }),
    ).toThrow(/poolOptions.authPlugins must not be set/);

    const { name } = await rig.create(
      'my-wrong-engine',
      secretFor('nobody', newPassword('my'), { engine: 'postgres' }),
    );
    const pool = track(createMysqlPool({ cache, secretId: name }));
    const error = await pool.query('SELECT 1').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretShapeError);
    expect((error as Error).message).toMatch(/engine.*"postgres".*mysql, aurora-mysql, mariadb/);
  });
});
