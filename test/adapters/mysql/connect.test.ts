import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession, sanitizeMysqlError } from '../../../src/adapters/mysql/connect.ts';
import { mysqlAlternatingUsers, mysqlSingleUser } from '../../../src/adapters/mysql/index.ts';
import { readMysqlSettings } from '../../../src/adapters/mysql/settings.ts';
import { quoteAccount } from '../../../src/adapters/mysql/sql.ts';
import { TargetRefusedError, TargetUnreachableError } from '../../../src/core/errors.ts';
import { TLS_PLAINTEXT_FALLBACK_METRIC as TLS_FALLBACK_METRIC } from '../../../src/database/tls.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { type MariaDbInstance, startMariaDb } from '../../support/mariadb.ts';
import { freePort } from '../../support/ports.ts';
import { makeTestCertificates, type TestCertificates } from '../../support/tls.ts';
import { directContext, Rig, rejection, setupPassword } from './rig.ts';

// The private test MariaDB without certificates offers no TLS: plaintext, said explicitly.
const PLAIN = { MYSQL_TLS_MODE: 'disable' } as const;

describe('sanitizeMysqlError', () => {
  const secret = 'Leaky-Password-91';
  trackSecrets(secret);
  const serverError = (errno: number, code: string, sqlMessage: string) =>
    Object.assign(new Error(sqlMessage), {
      errno,
      code,
      sqlState: '42000',
      sqlMessage,
      sql: `SET PASSWORD = '${secret}'`,
    });

  it.each([
    [1045, 'ER_ACCESS_DENIED_ERROR', TargetRefusedError, 'authentication'],
    [1698, 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR', TargetRefusedError, 'authentication'],
    [1044, 'ER_DBACCESS_DENIED_ERROR', TargetRefusedError, 'permission'],
    [1142, 'ER_TABLEACCESS_DENIED_ERROR', TargetRefusedError, 'permission'],
    [1227, 'ER_SPECIFIC_ACCESS_DENIED_ERROR', TargetRefusedError, 'permission'],
    [1064, 'ER_PARSE_ERROR', TargetRefusedError, 'rejected'],
    [1819, 'ER_NOT_VALID_PASSWORD', TargetRefusedError, 'rejected'],
    [1205, 'ER_LOCK_WAIT_TIMEOUT', TargetUnreachableError, 'timeout'],
    [1969, 'ER_STATEMENT_TIMEOUT', TargetUnreachableError, 'timeout'],
    [3159, 'ER_SECURE_TRANSPORT_REQUIRED', TargetUnreachableError, 'tls'],
  ])('classifies server error %i as %s', (errno, code, kind, failure) => {
    const error = sanitizeMysqlError(serverError(errno, code, `near '${secret}' at line 1`), {
      action: 'set the password',
      sensitive: true,
      secrets: [secret],
    });
    expect(error).toBeInstanceOf(kind);
    expect((error as TargetRefusedError).failure).toBe(failure);
    expect(error.message).toContain(`set the password: server error ${errno} ${code} (SQLSTATE 42000)`);
    expect(error.message).not.toContain(secret);
    expect(error.cause).toBeUndefined();
  });

  it("keeps the server's message for statements without secrets, scrubbed all the same", () => {
    const error = sanitizeMysqlError(
      serverError(1146, 'ER_NO_SUCH_TABLE', `Table 'shop.${secret}' doesn't exist`),
      {
        action: 'run MYSQL_TEST_QUERY',
        sensitive: false,
        secrets: [secret],
      },
    );
    expect(error.message).toBe(
      "rejected failure: run MYSQL_TEST_QUERY: server error 1146 ER_NO_SUCH_TABLE (SQLSTATE 42000); server said: Table 'shop.[REDACTED]' doesn't exist",
    );
  });

  it('withholds the server message of statements that carry a password', () => {
    const error = sanitizeMysqlError(
      serverError(1064, 'ER_PARSE_ERROR', `near '${secret.slice(0, 8)}' at line 1`),
      {
        action: 'change the password',
        sensitive: true,
        secrets: [secret],
      },
    );
    // A partial password would survive scrubbing: the text is not passed on at all.
    expect(error.message).not.toContain(secret.slice(0, 8));
    expect(error.message).toContain('withheld');
  });

  it.each([
    ['ECONNREFUSED', 'network'],
    ['ENOTFOUND', 'network'],
    ['PROTOCOL_CONNECTION_LOST', 'network'],
    ['ETIMEDOUT', 'timeout'],
    ['PROTOCOL_SEQUENCE_TIMEOUT', 'timeout'],
    ['HANDSHAKE_SSL_ERROR', 'tls'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
  ])('classifies client error %s as %s', (code, failure) => {
    // Node's system errors carry a negative errno, which must not look like a server error number.
    const error = sanitizeMysqlError(Object.assign(new Error(`${code} happened`), { code, errno: -111 }), {
      action: 'log in',
      sensitive: true,
      secrets: [],
    });
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as TargetUnreachableError).failure).toBe(failure);
  });
});

describe('connections to private MariaDB servers', () => {
  let rig: Rig;
  let certDir: string;
  let certs: TestCertificates;
  let dnsOnly: TestCertificates;
  let secured: MariaDbInstance;
  let named: MariaDbInstance;
  let silent: Server;
  let silentPort: number;

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'mysql-tls-'));
    certs = await makeTestCertificates(join(certDir, 'trusted'));
    dnsOnly = await makeTestCertificates(join(certDir, 'dns-only'), {
      commonName: 'db.test',
      altNames: ['db.test'],
    });
    [rig, secured, named] = await Promise.all([
      Rig.start(),
      startMariaDb({ tls: { cert: certs.certPath, key: certs.keyPath } }),
      startMariaDb({ tls: { cert: dnsOnly.certPath, key: dnsOnly.keyPath } }),
    ]);
    trackSecrets(secured.root.password, named.root.password);
    // A listener that accepts connections and never answers.
    silent = createServer(() => undefined);
    silentPort = await freePort();
    await new Promise<void>((resolve) => silent.listen(silentPort, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    silent?.close();
    await Promise.allSettled([rig?.stop(), secured?.stop(), named?.stop()]);
    await rm(certDir, { recursive: true, force: true });
  });

  const rootLogin = (db: MariaDbInstance) => ({
    username: db.root.username,
    password: db.root.password,
    source: 'the test',
  });
  const endpoint = (db: { host: string; port: number }, ssl?: boolean) => ({
    host: db.host,
    port: db.port,
    database: undefined,
    ssl,
  });

  it('uses verified TLS when the server offers it and the CA is configured, and logs the mode', async () => {
    const ctx = directContext({});
    const session = await openSession(
      endpoint(secured),
      rootLogin(secured),
      readMysqlSettings({ MYSQL_CA_BUNDLE: certs.caPath }),
      ctx,
    );
    expect(session.tls).toBe('verified');
    const [row] = await session.run({
      label: 'read cipher',
      text: "SHOW STATUS LIKE 'Ssl_version'",
      sensitive: false,
    });
    expect(String(row?.Value)).toMatch(/^TLSv1\.[23]$/);
    await session.close();
    expect(ctx.lines.find((line) => line.message === 'connected to the database')?.extra?.tls).toBe(
      'verified',
    );
    expect(ctx.counted[TLS_FALLBACK_METRIC]).toBeUndefined();
  });

  it('never falls back to plaintext after a certificate failure, although the server accepts plaintext', async () => {
    const ctx = directContext({});
    const error = await rejection(
      openSession(endpoint(secured), rootLogin(secured), readMysqlSettings({}), ctx),
    );
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect(error.message).toContain('tls failure');
    expect(error.message).toContain('MYSQL_CA_BUNDLE');
    expect(ctx.counted[TLS_FALLBACK_METRIC]).toBeUndefined();
  });

  it('never falls back to plaintext after an authentication failure over TLS', async () => {
    const ctx = directContext({});
    const wrong = setupPassword();
    const error = await rejection(
      openSession(
        endpoint(secured),
        { username: 'root', password: wrong, source: 'a wrong version' },
        readMysqlSettings({ MYSQL_CA_BUNDLE: certs.caPath }),
        ctx,
      ),
    );
    expect(error).toBeInstanceOf(TargetRefusedError);
    expect(error.message).toContain('authentication failure');
    expect(error.message).toContain('1045');
    expect(ctx.counted[TLS_FALLBACK_METRIC]).toBeUndefined();
  });

  it('MYSQL_TLS_MODE=prefer: plaintext only when the server has no TLS, with a warning and a metric', async () => {
    const ctx = directContext({});
    const session = await openSession(
      endpoint(rig.db),
      rootLogin(rig.db),
      readMysqlSettings({ MYSQL_TLS_MODE: 'prefer' }),
      ctx,
    );
    expect(session.tls).toBe('plaintext');
    await session.close();
    expect(ctx.counted[TLS_FALLBACK_METRIC]).toBe(1);
    expect(
      ctx.lines.some((line) => line.level === 'warn' && line.message.includes('server offers no TLS')),
    ).toBe(true);
    expect(ctx.lines.find((line) => line.message === 'connected to the database')?.extra?.tls).toBe(
      'plaintext',
    );
  });

  it('MYSQL_TLS_MODE unset (verify-full) or "ssl": true refuses a server without TLS; "ssl": false cannot loosen it', async () => {
    for (const [env, ssl] of [
      [{}, undefined],
      [{ MYSQL_TLS_MODE: 'prefer' }, true],
    ] as const) {
      const error = await rejection(
        openSession(endpoint(rig.db, ssl), rootLogin(rig.db), readMysqlSettings(env), directContext({})),
      );
      expect(error).toBeInstanceOf(TargetUnreachableError);
      expect(error.message).toContain('the server offers no TLS, and MYSQL_TLS_MODE is verify-full');
      expect(error.message).toContain('set MYSQL_TLS_MODE=prefer');
    }
    const ctx = directContext({});
    const session = await openSession(
      endpoint(secured, false),
      rootLogin(secured),
      readMysqlSettings({ MYSQL_CA_BUNDLE: certs.caPath }),
      ctx,
    );
    expect(session.tls).toBe('verified');
    await session.close();
    expect(ctx.lines.some((line) => line.level === 'warn' && line.message.includes('"ssl": false'))).toBe(
      true,
    );
  });

  it('MYSQL_TLS_MODE=disable uses no TLS, even with a server that offers it', async () => {
    const ctx = directContext({});
    const session = await openSession(endpoint(secured), rootLogin(secured), readMysqlSettings(PLAIN), ctx);
    expect(session.tls).toBe('disabled');
    await session.close();
    expect(ctx.lines.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it('checks the certificate against MYSQL_TLS_SERVERNAME (CNAME hosts)', async () => {
    const withCa = { MYSQL_CA_BUNDLE: dnsOnly.caPath };
    const mismatch = await rejection(
      openSession(endpoint(named, true), rootLogin(named), readMysqlSettings(withCa), directContext({})),
    );
    expect(mismatch.message).toContain('tls failure');
    expect(mismatch.message).toMatch(/altnames|does not match/i);
    const session = await openSession(
      endpoint(named, true),
      rootLogin(named),
      readMysqlSettings({ ...withCa, MYSQL_TLS_SERVERNAME: 'db.test' }),
      directContext({}),
    );
    expect(session.tls).toBe('verified');
    await session.close();
  });

  it('reports a refused port as a network failure and a silent one as a timeout', async () => {
    const closed = await freePort();
    const refused = await rejection(
      openSession(
        { host: '127.0.0.1', port: closed, database: undefined, ssl: false },
        rootLogin(rig.db),
        readMysqlSettings(PLAIN),
        directContext({}),
      ),
    );
    expect(refused).toBeInstanceOf(TargetUnreachableError);
    expect(refused.message).toContain('network failure');
    expect(refused.message).toContain('ECONNREFUSED');

    const timedOut = await rejection(
      openSession(
        { host: '127.0.0.1', port: silentPort, database: undefined, ssl: false },
        rootLogin(rig.db),
        readMysqlSettings({ ...PLAIN, MYSQL_CONNECT_TIMEOUT_MS: '300' }),
        directContext({}),
      ),
    );
    expect(timedOut).toBeInstanceOf(TargetUnreachableError);
    expect(timedOut.message).toContain('timeout failure');
  });

  it('stops a statement at MYSQL_STATEMENT_TIMEOUT_MS with a timeout failure', async () => {
    const session = await openSession(
      endpoint(rig.db, false),
      rootLogin(rig.db),
      readMysqlSettings({ ...PLAIN, MYSQL_STATEMENT_TIMEOUT_MS: '300' }),
      directContext({}),
    );
    try {
      const error = await rejection(
        session.run({ label: 'sleep', text: 'SELECT SLEEP(5)', sensitive: false }),
      );
      expect(error).toBeInstanceOf(TargetUnreachableError);
      expect(error.message).toContain('timeout failure: sleep');
    } finally {
      await session.close();
    }
  });

  it("gives a statement up before the function's deadline, however long MYSQL_STATEMENT_TIMEOUT_MS is", async () => {
    // Three seconds left in the invocation; the statement would take twenty.
    const session = await openSession(
      endpoint(rig.db, false),
      rootLogin(rig.db),
      readMysqlSettings({ ...PLAIN, MYSQL_STATEMENT_TIMEOUT_MS: '60000' }),
      { ...directContext({}), remainingTimeMs: () => 3_000 },
    );
    try {
      const error = await rejection(
        session.run({ label: 'sleep', text: 'SELECT SLEEP(20)', sensitive: false }),
      );
      expect(error).toBeInstanceOf(TargetUnreachableError);
      expect(error.message).toContain('timeout failure: sleep');
      expect(error.message).toContain("the function's deadline");
    } finally {
      await session.close();
    }
  });

  it("gives up a server that logs in and then never answers, before the function's deadline", async () => {
    const stalling = await stallAfterLogin(rig.db);
    try {
      const error = await rejection(
        openSession(
          { host: '127.0.0.1', port: stalling.port, database: undefined, ssl: false },
          rootLogin(rig.db),
          readMysqlSettings(PLAIN),
          { ...directContext({}), remainingTimeMs: () => 3_000 },
        ),
      );
      expect(error).toBeInstanceOf(TargetUnreachableError);
      expect(error.message).toContain('timeout failure: read the server version');
    } finally {
      await stalling.close();
    }
  }, 20_000);

  it('rotates alternating users over verified TLS and copies the REQUIRE SSL of the original to the clone', async () => {
    const initial = setupPassword();
    const original = quoteAccount({ user: 'app_tls', host: '%' });
    await secured.query(`CREATE USER ${original} IDENTIFIED BY ? REQUIRE SSL`, [initial]);
    const masterArn = await rig.createSecret(
      'tls-master',
      rig.masterFor({ username: 'root', password: secured.root.password }, secured),
    );
    const arn = await rig.createSecret('tls', {
      engine: 'mariadb',
      host: secured.host,
      port: secured.port,
      username: 'app_tls',
      password: initial,
      ssl: true,
      masterarn: masterArn,
    });
    const handler = rig.handler(mysqlAlternatingUsers(), { MYSQL_CA_BUNDLE: certs.caPath });
    const result = await rig.rotate(arn, handler);
    expect(result.error).toBeUndefined();
    const current = await rig.value(arn);
    expect(current.username).toBe('app_tls_clone');
    const [row] = await secured.query<{ ssl_type: string }>(
      "SELECT ssl_type FROM mysql.user WHERE User = 'app_tls_clone'",
    );
    expect(row?.ssl_type).toBe('ANY');
    expect(await secured.canLogin(current.username, current.password)).toBe(false);
    expect(
      await secured.canLogin(current.username, current.password, undefined, { ssl: { ca: certs.caCert } }),
    ).toBe(true);

    // Single user over TLS too, for good measure.
    const single = await rig.createSecret('tls-single', { ...current, masterarn: undefined });
    expect(
      (await rig.rotate(single, rig.handler(mysqlSingleUser(), { MYSQL_CA_BUNDLE: certs.caPath }))).error,
    ).toBeUndefined();
  });
});

/**
 * A proxy to a MariaDB server that passes the login through and then never forwards a statement:
 * a server that authenticates and hangs.
 */
async function stallAfterLogin(upstream: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const server = connect(upstream.port, upstream.host);
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }
    server.pipe(client);
    client.on('close', () => server.destroy());
    let pending = Buffer.alloc(0);
    let stalled = false;
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // MySQL packets: 3-byte length, sequence number, payload. The login's packets carry
      // sequence numbers 1 and up; a command (COM_QUERY is 0x03) starts again at 0.
      while (!stalled && pending.length >= 4) {
        const end = 4 + pending.readUIntLE(0, 3);
        if (pending.length < end) break;
        const packet = pending.subarray(0, end);
        pending = pending.subarray(end);
        if (packet[3] === 0 && packet[4] === 0x03) stalled = true;
        else server.write(packet);
      }
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}
