import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ConfigurationError, SecretShapeError } from 'secrets-rotator';
import {
  isPgAuthError,
  type PgPoolOptions,
  type RotatingPgPool,
  createPgPool as rotatingPgPool,
  SecretCache,
} from 'secrets-rotator/client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { scramSha256Verifier } from '../../src/adapters/postgres/scram.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { makeTestCertificates, type TestCertificates } from '../support/tls.ts';
import { newPassword, recordingLogger, SecretsRig, tlsChecks } from './rig.ts';

/**
 * The private test server offers no TLS: these pools allow plaintext explicitly, as an application
 * would for a local database. Tests about TLS pass their own `tls`.
 */
function createPgPool(options: PgPoolOptions): RotatingPgPool {
  return rotatingPgPool({ tls: { mode: 'prefer' }, ...options });
}

let db: PostgresInstance;
let rig: SecretsRig;
let roleCounter = 0;
const pools: RotatingPgPool[] = [];

/** Creates a login role; the password reaches the server only as a SCRAM verifier. */
async function createRole(name: string, password: string): Promise<void> {
  await db.query(
    `CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`,
  );
}

async function setPassword(name: string, password: string): Promise<void> {
  await db.query(
    `ALTER ROLE ${pg.escapeIdentifier(name)} PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`,
  );
}

function secretFor(username: string, password: string, extra: Record<string, unknown> = {}) {
  return {
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username,
    password,
    dbname: 'postgres',
    ssl: false,
    ...extra,
  };
}

async function newRole(): Promise<{ role: string; password: string }> {
  roleCounter += 1;
  const role = `client_app_${roleCounter}`;
  const password = newPassword('pg');
  await createRole(role, password);
  return { role, password };
}

/** A pool that logs in afresh for every query, so every rotation is felt by the next query. */
function track(pool: RotatingPgPool): RotatingPgPool {
  pools.push(pool);
  return pool;
}

async function whoAmI(pool: RotatingPgPool): Promise<string> {
  const { rows } = await pool.query<{ who: string }>('SELECT current_user AS who');
  return rows[0]!.who;
}

beforeAll(async () => {
  [db, rig] = await Promise.all([startPostgres(), SecretsRig.start()]);
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end()));
});

afterAll(async () => {
  await Promise.allSettled([db?.stop(), rig?.close()]);
});

describe('createPgPool', () => {
  it('connects with the host, port, database, user and password of the secret', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-basic', secretFor(role, password));
    const pool = track(createPgPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name }));

    expect(await whoAmI(pool)).toBe(role);
    const { rows } = await pool.query<{ n: number }>({ text: 'SELECT $1::int + 1 AS n', values: [41] });
    expect(rows[0]?.n).toBe(42);
    expect(pool.stats()).toMatchObject({
      operations: 2,
      authRefusals: 0,
      failedOperations: 0,
      poolsCreated: 1,
    });
  });

  it('picks up a rotated password for new connections without a new pool', async () => {
    let now = 0;
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-rotated', secretFor(role, password));
    const cache = new SecretCache({ client: rig.sdk, ttlMs: 1_000, clock: () => now });
    const pool = track(createPgPool({ cache, secretId: name, poolConfig: { maxUses: 1 } }));
    await whoAmI(pool);

    const rotated = newPassword('pg');
    await setPassword(role, rotated);
    await rig.put(name, secretFor(role, rotated));
    now += 1_000;

    expect(await whoAmI(pool)).toBe(role);
    expect(pool.stats()).toMatchObject({ authRefusals: 0, poolsCreated: 1 });
  });

  it('refreshes the secret after a refused login and retries the query once with the new password', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-refused', secretFor(role, password));
    const cache = new SecretCache({ client: rig.sdk, ttlMs: 3_600_000 });
    const pool = track(createPgPool({ cache, secretId: name, poolConfig: { maxUses: 1 } }));
    await whoAmI(pool);

    // Rotated behind the cache's back: its copy is now refused.
    const rotated = newPassword('pg');
    await setPassword(role, rotated);
    await rig.put(name, secretFor(role, rotated));

    expect(await whoAmI(pool)).toBe(role);
    expect(pool.stats()).toMatchObject({
      operations: 2,
      authRefusals: 1,
      retriedOperations: 1,
      recoveredOperations: 1,
      failedOperations: 0,
    });
    expect(rig.reads(name, 'AWSPENDING')).toBe(0);
  });

  it('uses AWSPENDING in a single-user window, then follows AWSCURRENT once it is promoted', async () => {
    let now = 0;
    const { role, password } = await newRole();
    const { name, versionId: first } = await rig.create('pg-window', secretFor(role, password));
    const cache = new SecretCache({ client: rig.sdk, ttlMs: 1_000, clock: () => now });
    const pool = track(createPgPool({ cache, secretId: name, poolConfig: { maxUses: 1 } }));
    await whoAmI(pool);

    // createSecret and setSecret have run; finishSecret has not.
    const pendingPassword = newPassword('pg');
    const pending = await rig.put(name, secretFor(role, pendingPassword), ['AWSPENDING']);
    await setPassword(role, pendingPassword);

    expect(await whoAmI(pool)).toBe(role);
    expect(await whoAmI(pool)).toBe(role);
    expect(pool.stats()).toMatchObject({ authRefusals: 1, recoveredOperations: 1, failedOperations: 0 });
    expect(rig.reads(name, 'AWSPENDING')).toBe(1);

    await rig.promote(name, pending, first);
    now += 1_000;
    expect(await whoAmI(pool)).toBe(role);
    expect(cache.peek(name)?.versionId).toBe(pending);
    expect(pool.stats()).toMatchObject({ authRefusals: 1, failedOperations: 0 });
  });

  it('moves to a new pool when the user changes (alternating users) and ends the old one once released', async () => {
    let now = 0;
    const a = await newRole();
    const b = await newRole();
    const { name } = await rig.create('pg-alternating', secretFor(a.role, a.password));
    const cache = new SecretCache({ client: rig.sdk, ttlMs: 1_000, clock: () => now });
    const pool = track(createPgPool({ cache, secretId: name }));
    const held = await pool.connect();
    expect((await held.query<{ who: string }>('SELECT current_user AS who')).rows[0]?.who).toBe(a.role);

    await rig.put(name, secretFor(b.role, b.password));
    now += 1_000;

    expect(await whoAmI(pool)).toBe(b.role);
    // The connection checked out before the switch still works as the old user…
    expect((await held.query<{ who: string }>('SELECT current_user AS who')).rows[0]?.who).toBe(a.role);
    held.release();
    // …and once it is back, the old pool is ended: no session of the old user is left.
    await vi.waitFor(async () => {
      const rows = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
        [a.role],
      );
      expect(rows[0]?.n).toBe(0);
    });
    expect(pool.stats()).toMatchObject({ poolsCreated: 2, authRefusals: 0, failedOperations: 0 });
  });

  it('retries a refused connect() too', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-connect', secretFor(role, password));
    const cache = new SecretCache({ client: rig.sdk });
    await cache.get(name);
    const rotated = newPassword('pg');
    await setPassword(role, rotated);
    await rig.put(name, secretFor(role, rotated));
    const pool = track(createPgPool({ cache, secretId: name }));

    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      expect((await client.query<{ who: string }>('SELECT current_user AS who')).rows[0]?.who).toBe(role);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(pool.stats()).toMatchObject({ authRefusals: 1, recoveredOperations: 1 });
  });

  it('fails with the driver error when every version is refused, without the password in it', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-all-refused', secretFor(role, password));
    await setPassword(role, newPassword('pg'));
    const pool = track(createPgPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name }));

    const error = await pool.query('SELECT 1').catch((caught: unknown) => caught);

    expect(isPgAuthError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('28P01');
    expect(String((error as Error).message)).not.toContain(password);
    expect(pool.stats()).toMatchObject({
      operations: 1,
      authRefusals: 1,
      retriedOperations: 1,
      failedOperations: 1,
    });
    expect(pool.stats().recoveredOperations).toBe(0);
  });

  it('passes other errors through at once, without refreshing', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-syntax', secretFor(role, password));
    const pool = track(createPgPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name }));

    await expect(pool.query('SELEC 1')).rejects.toMatchObject({ code: '42601' });
    expect(rig.reads(name)).toBe(1);
    expect(pool.stats()).toMatchObject({ authRefusals: 0, failedOperations: 1 });
  });

  it('under prefer, uses plaintext only because the server offers no TLS, and says so for the connection', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-no-ssl-field', secretFor(role, password, { ssl: undefined }));
    const logger = recordingLogger();
    const pool = track(createPgPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name, logger }));

    expect(await whoAmI(pool)).toBe(role);
    expect(await whoAmI(pool)).toBe(role);

    expect(pool.stats().plaintextFallbacks).toBe(1);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toContain('offers no TLS');
  });

  it('with "ssl": true, refuses a server without TLS instead of falling back', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-ssl-required', secretFor(role, password, { ssl: true }));
    const logger = recordingLogger();
    const pool = track(createPgPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name, logger }));

    await tlsChecks.refusedWithoutTls(pool, logger, 'createPgPool');
  });

  it('8 operations started together on a fresh pool: all succeed under prefer, all refuse under verify-full', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-race', secretFor(role, password, { ssl: undefined }));
    await tlsChecks.decidedPerConnection(
      'createPgPool',
      (mode) =>
        track(
          rotatingPgPool({
            cache: new SecretCache({ client: rig.sdk }),
            secretId: name,
            tls: { mode },
            logger: recordingLogger(),
            poolConfig: { max: 8 },
          }),
        ),
      (pool) => pool.query<{ who: string }>('SELECT current_user AS who'),
    );
  });

  it('rejects connection fields in poolConfig and a secret for another engine', async () => {
    const cache = new SecretCache({ client: rig.sdk });
    expect(() =>
      createPgPool({ cache, secretId: 'x', poolConfig: { user: 'someone' } as unknown as pg.PoolConfig }),
    ).toThrow(ConfigurationError);
    expect(() => createPgPool({ cache, secretId: '' })).toThrow(/secretId/);
    expect(() =>
      createPgPool({ cache, secretId: 'x', poolConfig: { ssl: false } as unknown as pg.PoolConfig }),
    ).toThrow(/poolConfig.ssl must not be set: TLS and how the password is sent follow tls.mode/);
    expect(() => createPgPool({ cache, secretId: 'x', tls: { mode: 'allow' as 'prefer' } })).toThrow(
      /createPgPool tls.mode must be verify-full/,
    );

    const { name } = await rig.create(
      'pg-wrong-engine',
      secretFor('nobody', newPassword('pg'), { engine: 'mysql' }),
    );
    const pool = track(createPgPool({ cache, secretId: name }));
    const error = await pool.query('SELECT 1').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretShapeError);
    expect((error as Error).message).toMatch(/engine.*"mysql".*postgres, aurora-postgresql/);
  });

  it('refuses work after end()', async () => {
    const { role, password } = await newRole();
    const { name } = await rig.create('pg-ended', secretFor(role, password));
    const pool = createPgPool({ cache: new SecretCache({ client: rig.sdk }), secretId: name });
    await whoAmI(pool);
    await pool.end();
    await expect(pool.query('SELECT 1')).rejects.toThrow(/has been ended/);
  });
});

describe('createPgPool over TLS', () => {
  let certDir: string;
  let certs: TestCertificates;
  let tlsDb: PostgresInstance;

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'client-pg-tls-'));
    // The certificate names only db.test, as the server behind a CNAME would.
    certs = await makeTestCertificates(certDir, { commonName: 'db.test', altNames: ['db.test'] });
    tlsDb = await startPostgres({ tls: { cert: certs.certPath, key: certs.keyPath } });
  });
  afterAll(async () => {
    await tlsDb?.stop();
    await rm(certDir, { recursive: true, force: true });
  });

  async function tlsPool(servername: string): Promise<RotatingPgPool> {
    roleCounter += 1;
    const role = `client_tls_${roleCounter}`;
    const password = newPassword('pg');
    await tlsDb.query(
      `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`,
    );
    // A host name, not an IP address: the name pg connects to differs from the one in the certificate.
    const { name } = await rig.create('pg-tls', {
      engine: 'postgres',
      host: 'localhost',
      port: tlsDb.port,
      username: role,
      password,
      ssl: true,
    });
    return track(
      createPgPool({
        cache: new SecretCache({ client: rig.sdk }),
        secretId: name,
        tls: { ca: certs.caCert, servername },
      }),
    );
  }

  it('checks the certificate against tls.servername, not the host connected to', async () => {
    const pool = await tlsPool('db.test');
    const { rows } = await pool.query<{ ssl: boolean }>(
      'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    expect(rows[0]?.ssl).toBe(true);
  });

  it('under prefer every new connection asks again: a server that starts offering TLS gets it at once', async () => {
    roleCounter += 1;
    const role = `client_recheck_${roleCounter}`;
    const password = newPassword('pg');
    const create = `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`;
    await Promise.all([db.query(create), tlsDb.query(create)]);
    // One address for the database, served first by a server without TLS, then by one with TLS.
    const front = await switchableProxy(db.port);
    try {
      const { name } = await rig.create('pg-recheck', {
        engine: 'postgres',
        host: '127.0.0.1',
        port: front.port,
        username: role,
        password,
      });
      const logger = recordingLogger();
      const pool = track(
        createPgPool({
          cache: new SecretCache({ client: rig.sdk, ttlMs: 3_600_000 }),
          secretId: name,
          tls: { mode: 'prefer', ca: certs.caCert, servername: 'db.test' },
          poolConfig: { idleTimeoutMillis: 1 },
          logger,
        }),
      );
      const overTls = async () => {
        const { rows } = await pool.query<{ ssl: boolean }>(
          'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
        );
        return rows[0]?.ssl;
      };

      expect(await overTls()).toBe(false);
      expect(pool.stats().plaintextFallbacks).toBe(1);

      front.switchTo(tlsDb.port);
      // The idle connection has closed (idleTimeoutMillis 1): the next one is new, and nothing
      // the first one was told is remembered.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await overTls()).toBe(true);
      expect(pool.stats().plaintextFallbacks).toBe(1);
      expect(logger.lines).toHaveLength(1);
    } finally {
      await front.close();
    }
  });

  it('refuses a certificate that does not name tls.servername', async () => {
    const pool = await tlsPool('other.test');
    const error = await pool.query('SELECT 1').catch((caught: unknown) => caught);
    expect((error as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(pool.stats().plaintextFallbacks).toBe(0);
  });
});

/** A TCP front whose connections go to the upstream port of the moment. */
async function switchableProxy(upstreamPort: number) {
  let upstream = upstreamPort;
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const server = connect(upstream, '127.0.0.1');
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(server).pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as { port: number }).port,
    switchTo(port: number) {
      upstream = port;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}
