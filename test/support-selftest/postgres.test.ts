import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trackSecrets } from '../support/leak-scan.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { makeTestCertificates, type TestCertificates } from '../support/tls.ts';
import { abandonServer, isListening, waitForCleanup } from './crash-cleanup.ts';

let certDir: string;
let certs: TestCertificates;
let otherCerts: TestCertificates;

beforeAll(async () => {
  certDir = await mkdtemp(join(tmpdir(), 'sr-certs-'));
  certs = await makeTestCertificates(join(certDir, 'trusted'));
  otherCerts = await makeTestCertificates(join(certDir, 'untrusted'));
});
afterAll(async () => {
  await rm(certDir, { recursive: true, force: true });
});

describe.each([18, 15] as const)('startPostgres, version %i', (version) => {
  let plain: PostgresInstance;
  let secured: PostgresInstance;

  beforeAll(async () => {
    [plain, secured] = await Promise.all([
      startPostgres({ version }),
      startPostgres({
        version,
        logStatements: true,
        tls: { cert: certs.certPath, key: certs.keyPath },
        hbaExtra: ['hostnossl all all 127.0.0.1/32 reject'],
      }),
    ]);
    trackSecrets(plain.superuser.password, secured.superuser.password);
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), secured?.stop()]);
  });

  it('runs the requested major version on the loopback address', async () => {
    expect(plain.version).toBe(version);
    expect(plain.host).toBe('127.0.0.1');
    const client = await plain.connect();
    try {
      const { rows } = await client.query<{ address: string }>('SELECT host(inet_server_addr()) AS address');
      expect(rows[0]?.address).toBe('127.0.0.1');
    } finally {
      await client.end();
    }
    const [setting] = await plain.query<{ listen_addresses: string }>('SHOW listen_addresses');
    expect(setting?.listen_addresses).toBe('127.0.0.1');
  });

  it('lets the superuser in with its password and refuses a wrong one', async () => {
    expect(await plain.canLogin(plain.superuser.username, plain.superuser.password)).toBe(true);
    expect(await plain.canLogin(plain.superuser.username, `${plain.superuser.password}x`)).toBe(false);
    expect(await plain.canLogin(plain.superuser.username, '')).toBe(false);
    expect(await plain.canLogin('nobody_here', 'whatever')).toBe(false);
  });

  it('enforces passwords for a new login role, stored as a SCRAM-SHA-256 verifier', async () => {
    const password = 'role-password-4f1c9a';
    trackSecrets(password);
    const client = await plain.connect();
    try {
      await client.query(`CREATE ROLE app_user LOGIN PASSWORD ${client.escapeLiteral(password)}`);
      const { rows } = await client.query<{ scram: boolean }>(
        "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname = 'app_user'",
      );
      expect(rows[0]?.scram).toBe(true);
    } finally {
      await client.end();
    }
    expect(await plain.canLogin('app_user', password)).toBe(true);
    expect(await plain.canLogin('app_user', 'not-the-password')).toBe(false);
  });

  it('has no rule in pg_hba.conf that lets anyone in without a password', async () => {
    const rules = await plain.query<{ type: string; auth_method: string }>(
      'SELECT type, auth_method FROM pg_hba_file_rules',
    );
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) expect(['scram-sha-256', 'reject']).toContain(rule.auth_method);
  });

  it('throws, rather than answering false, when the failure is not about the password', async () => {
    await expect(
      plain.canLogin(plain.superuser.username, plain.superuser.password, 'no_such_database'),
    ).rejects.toMatchObject({ code: '3D000' });
  });

  it('creates databases, quoting the name', async () => {
    await plain.createDatabase('Odd "name"');
    const client = await plain.connect(undefined, 'Odd "name"');
    try {
      const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
      expect(rows[0]?.db).toBe('Odd "name"');
    } finally {
      await client.end();
    }
  });

  it('negotiates TLS when enabled, with a certificate the test CA verifies', async () => {
    const client = await secured.connect(undefined, 'postgres', {
      ssl: { ca: certs.caCert, servername: 'localhost' },
    });
    try {
      const { rows } = await client.query<{ ssl: boolean }>(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      expect(rows[0]?.ssl).toBe(true);
    } finally {
      await client.end();
    }
    expect(secured.tls).toBe(true);
  });

  it('rejects a certificate from another CA on the client side', async () => {
    await expect(
      secured.connect(undefined, 'postgres', { ssl: { ca: otherCerts.caCert, servername: 'localhost' } }),
    ).rejects.toThrow(/certificate/i);
  });

  it('applies the extra pg_hba lines: here plaintext is refused', async () => {
    expect(await secured.canLogin(secured.superuser.username, secured.superuser.password)).toBe(false);
    expect(
      await secured.canLogin(secured.superuser.username, secured.superuser.password, 'postgres', {
        ssl: { ca: certs.caCert },
      }),
    ).toBe(true);
  });

  it('does not offer TLS when not enabled', async () => {
    await expect(
      plain.connect(undefined, 'postgres', { ssl: { rejectUnauthorized: false } }),
    ).rejects.toThrow(/does not support SSL/i);
  });

  it('logs statements with logStatements, and only then', async () => {
    const marker = `marker_${Date.now().toString(36)}`;
    const ssl = { ca: certs.caCert };
    const client = await secured.connect(undefined, 'postgres', { ssl });
    await client.query(`SELECT 1 AS ${marker}`);
    await client.end();
    await plain.query(`SELECT 1 AS ${marker}`);
    expect(await secured.readLog()).toContain(`statement: SELECT 1 AS ${marker}`);
    expect(await plain.readLog()).not.toContain(marker);
  });

  it('does not write the superuser password to its log', async () => {
    expect(await plain.readLog()).not.toContain(plain.superuser.password);
  });
});

describe('stopping', () => {
  it('stops the server, deletes its directory, and tolerates a second stop', async () => {
    const db = await startPostgres();
    trackSecrets(db.superuser.password);
    const client = await db.connect();
    await db.stop();
    await db.stop();
    expect(await isListening(db.port)).toBe(false);
    expect(await waitForCleanup({ port: db.port, dir: dirname(db.logPath) }, 0)).toEqual([]);
    await expect(client.query('SELECT 1')).rejects.toThrow();
  });

  it.each([
    ['postgres18', 'kill'],
    ['postgres15', 'exit'],
  ] as const)('cleans up after a %s test process that ends by %s without stopping', async (kind, ending) => {
    const abandoned = await abandonServer(kind, ending);
    expect(await waitForCleanup(abandoned)).toEqual([]);
  });
});
