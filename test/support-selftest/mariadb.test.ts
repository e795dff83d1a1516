import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trackSecrets } from '../support/leak-scan.ts';
import { type MariaDbInstance, startMariaDb } from '../support/mariadb.ts';
import { makeTestCertificates, type TestCertificates } from '../support/tls.ts';
import { abandonServer, isListening, waitForCleanup } from './crash-cleanup.ts';

let certDir: string;
let certs: TestCertificates;
let otherCerts: TestCertificates;
let plain: MariaDbInstance;
let secured: MariaDbInstance;

beforeAll(async () => {
  certDir = await mkdtemp(join(tmpdir(), 'sr-certs-'));
  certs = await makeTestCertificates(join(certDir, 'trusted'));
  otherCerts = await makeTestCertificates(join(certDir, 'untrusted'));
  [plain, secured] = await Promise.all([
    startMariaDb(),
    startMariaDb({
      tls: { cert: certs.certPath, key: certs.serverKey, ca: certs.caPath },
      logStatements: true,
    }),
  ]);
  trackSecrets(plain.root.password, secured.root.password);
});
afterAll(async () => {
  await Promise.all([plain?.stop(), secured?.stop()]);
  await rm(certDir, { recursive: true, force: true });
});

describe('startMariaDb', () => {
  it('runs MariaDB on the loopback address', async () => {
    expect(plain.version).toMatch(/MariaDB/);
    expect(plain.host).toBe('127.0.0.1');
    const [row] = await plain.query<{ address: string }>('SELECT @@bind_address AS address');
    expect(row?.address).toBe('127.0.0.1');
  });

  it('lets root in with its password and refuses a wrong or empty one', async () => {
    expect(await plain.canLogin('root', plain.root.password)).toBe(true);
    expect(await plain.canLogin('root', `${plain.root.password}x`)).toBe(false);
    expect(await plain.canLogin('root', '')).toBe(false);
  });

  it('refuses anonymous logins and unknown users', async () => {
    expect(await plain.canLogin('', '')).toBe(false);
    expect(await plain.canLogin('nobody_here', 'whatever')).toBe(false);
  });

  it('has no account that logs in without a password', async () => {
    const accounts = await plain.query<{ User: string; Host: string }>(
      "SELECT User, Host FROM mysql.user WHERE authentication_string = '' OR User = ''",
    );
    // mariadb.sys is an internal, locked account that owns system views.
    expect(accounts.filter((account) => account.User !== 'mariadb.sys')).toEqual([]);
    const [locked] = await plain.query<{ locked: string }>(
      "SELECT JSON_VALUE(Priv, '$.account_locked') AS locked FROM mysql.global_priv WHERE User = 'mariadb.sys'",
    );
    // JSON_VALUE renders the JSON true as '1' in 10.11.
    expect(['true', '1']).toContain(String(locked?.locked));
  });

  it('enforces passwords for a new user created through the root account', async () => {
    const password = 'user-password-93ab1e';
    trackSecrets(password);
    await plain.query('CREATE USER ?@? IDENTIFIED BY ?', ['app_user', '%', password]);
    expect(await plain.canLogin('app_user', password)).toBe(true);
    expect(await plain.canLogin('app_user', 'not-the-password')).toBe(false);
    const connection = await plain.connect({ username: 'app_user', password });
    try {
      const [rows] = await connection.query('SELECT CURRENT_USER() AS me');
      expect(rows).toEqual([{ me: 'app_user@%' }]);
    } finally {
      await connection.end();
    }
  });

  it("does not resolve host names: a 'localhost' account does not match a TCP login", async () => {
    const password = 'local-only-password-7c2d';
    trackSecrets(password);
    await plain.query('CREATE USER ?@? IDENTIFIED BY ?', ['local_only', 'localhost', password]);
    expect(await plain.canLogin('local_only', password)).toBe(false);
  });

  it('throws, rather than answering false, when the failure is not about the password', async () => {
    await expect(plain.canLogin('root', plain.root.password, '127.0.0.2')).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('negotiates TLS when enabled, with a certificate the test CA verifies', async () => {
    const connection = await secured.connect(undefined, undefined, {
      ssl: { ca: certs.caCert },
    });
    try {
      const [rows] = await connection.query<import('mysql2').RowDataPacket[]>(
        "SHOW STATUS LIKE 'Ssl_cipher'",
      );
      expect(rows[0]?.Value).toMatch(/\w/);
    } finally {
      await connection.end();
    }
    expect(secured.tls).toBe(true);
    const [setting] = await secured.query<{ ca: string }>('SELECT @@ssl_ca AS ca');
    expect(setting?.ca).toMatch(/ca\.crt$/);
  });

  it('rejects a certificate from another CA on the client side', async () => {
    await expect(secured.connect(undefined, undefined, { ssl: { ca: otherCerts.caCert } })).rejects.toThrow(
      /certificate/i,
    );
  });

  it('does not use TLS when not enabled', async () => {
    const [setting] = await plain.query<{ Value: string }>("SHOW VARIABLES LIKE 'have_ssl'");
    expect(setting?.Value).toBe('DISABLED');
    const [status] = await plain.query<{ Value: string }>("SHOW STATUS LIKE 'Ssl_cipher'");
    expect(status?.Value).toBe('');
  });

  it('logs statements with logStatements, and only then', async () => {
    const marker = `marker_${Date.now().toString(36)}`;
    await secured.query(`SELECT 1 AS ${marker}`);
    await plain.query(`SELECT 1 AS ${marker}`);
    expect(await secured.readStatementLog()).toContain(`SELECT 1 AS ${marker}`);
    expect(await plain.readStatementLog()).toBe('');
  });

  it('does not write the root password to its log', async () => {
    expect(await plain.readLog()).toContain('ready for connections');
    expect(await plain.readLog()).not.toContain(plain.root.password);
    expect(await secured.readStatementLog()).not.toContain(secured.root.password);
  });
});

describe('stopping', () => {
  it('stops the server, deletes its directory, and tolerates a second stop', async () => {
    const db = await startMariaDb();
    trackSecrets(db.root.password);
    const connection = await db.connect();
    await db.stop();
    await db.stop();
    expect(await isListening(db.port)).toBe(false);
    expect(await waitForCleanup({ port: db.port, dir: dirname(db.logPath) }, 0)).toEqual([]);
    await expect(connection.query('SELECT 1')).rejects.toThrow();
  });

  it.each(['kill', 'exit'] as const)(
    'cleans up after a test process that ends by %s without stopping',
    async (ending) => {
      const abandoned = await abandonServer('mariadb', ending);
      expect(await waitForCleanup(abandoned)).toEqual([]);
    },
  );
});
