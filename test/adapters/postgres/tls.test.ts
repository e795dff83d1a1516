import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import { TargetRefusedError, TargetUnreachableError } from '../../../src/core/errors.ts';
import { describePostgres, FaultProxy, IoLedger } from '../../support/fault-proxy.ts';
import { capturedOutput } from '../../support/leak-scan.ts';
import { directContext, Rig, rejection, setupPassword, VERSIONS } from './rig.ts';

const run = promisify(execFile);

/** A self-signed certificate (its own issuer) naming only `db.test`, as a CNAME'd server might have. */
async function selfSignedCertificate(
  dir: string,
): Promise<{ certPath: string; keyPath: string; pem: string }> {
  const certPath = join(dir, 'self-signed.crt');
  const keyPath = join(dir, 'self-signed.key');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    '/CN=db.test',
    '-addext',
    'subjectAltName=DNS:db.test',
  ]);
  return { certPath, keyPath, pem: await readFile(certPath, 'utf8') };
}

const VERIFIED = { PG_TLS_SERVERNAME: 'db.test' };
// Fails with division by zero unless the server itself sees this session as TLS.
const SERVER_SEES_TLS = 'SELECT 1 / (ssl::int) FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

describe.each(VERSIONS)('postgres TLS on PostgreSQL %i', (version) => {
  let dir: string;
  let cert: { certPath: string; keyPath: string; pem: string };
  let tlsRig: Rig;
  let plainRig: Rig;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pg-tls-'));
    cert = await selfSignedCertificate(dir);
    [tlsRig, plainRig] = await Promise.all([
      Rig.start({ version, tls: { cert: cert.certPath, key: cert.keyPath } }),
      Rig.start({ version }),
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled([tlsRig?.stop(), plainRig?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  async function userOn(rig: Rig, name: string, ssl: boolean | undefined) {
    const password = setupPassword();
    await rig.createRole(name, password);
    const secret = rig.secretFor(name, password);
    if (ssl === undefined) delete secret.ssl;
    else secret.ssl = ssl;
    return secret;
  }

  it('"ssl": true with the CA configured: verified TLS, and the rotation goes through', async () => {
    const secret = await userOn(tlsRig, 'tls_required', true);
    const arn = await tlsRig.createSecret('tls-required', secret);
    const handler = tlsRig.handler(postgresSingleUser(), {
      ...VERIFIED,
      PG_CA_BUNDLE: cert.certPath,
      PG_TEST_QUERY: SERVER_SEES_TLS,
    });
    const result = await tlsRig.rotate(arn, handler);
    expect(result.error).toBeUndefined();
    expect(await tlsRig.canLogin(await tlsRig.value(arn))).toBe(true);
    const output = capturedOutput();
    expect(output).toContain('"tls":"verified"');
    expect(output).not.toContain('"tls":"plaintext"');
  });

  it('"ssl" absent with the CA configured (inline PEM): verified TLS, no fallback', async () => {
    const secret = await userOn(tlsRig, 'tls_preferred', undefined);
    const target = postgresSingleUser();
    const ctx = directContext({ ...VERIFIED, PG_CA_BUNDLE: cert.pem, PG_TEST_QUERY: SERVER_SEES_TLS });
    await target.verify(target.parse(JSON.stringify(secret)), ctx);
    expect(ctx.lines.find((line) => line.message === 'connected to PostgreSQL')?.extra?.tls).toBe('verified');
    expect(ctx.counted.TlsPlaintextFallback).toBeUndefined();
    expect(ctx.lines.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it('"ssl" absent without the CA: refused as a TLS failure, with no plaintext retry', async () => {
    const secret = await userOn(tlsRig, 'tls_untrusted', undefined);
    const arn = await tlsRig.createSecret('tls-untrusted', secret);
    const result = await tlsRig.rotate(arn, tlsRig.handler(postgresSingleUser(), VERIFIED));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('tls failure');
    expect(result.error).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(result.error).toContain('PG_CA_BUNDLE');
    // The server accepts plaintext logins, so a plaintext retry would have succeeded.
    expect(await tlsRig.canLogin(secret)).toBe(true);
    expect(capturedOutput()).not.toContain('connected to PostgreSQL');
    expect(capturedOutput()).not.toContain('TlsPlaintextFallback');
  });

  it('"ssl": true without the CA, and a certificate not naming the host: TLS failures naming the fix', async () => {
    const secret = await userOn(tlsRig, 'tls_strict', true);
    const target = postgresSingleUser();
    const value = target.parse(JSON.stringify(secret));

    const untrusted = await rejection(target.verify(value, directContext({})));
    expect(untrusted).toBeInstanceOf(TargetUnreachableError);
    expect((untrusted as TargetUnreachableError).failure).toBe('tls');

    // Settings are read once per target, as in a Lambda: a new environment needs a new target.
    const trusting = postgresSingleUser();
    const misnamed = await rejection(trusting.verify(value, directContext({ PG_CA_BUNDLE: cert.pem })));
    expect((misnamed as TargetUnreachableError).failure).toBe('tls');
    expect(misnamed.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(misnamed.message).toContain('PG_TLS_SERVERNAME');
  });

  it('a wrong password over TLS is an authentication failure, never retried in plaintext', async () => {
    const secret = await userOn(tlsRig, 'tls_wrong_password', undefined);
    const target = postgresSingleUser();
    const wrong = setupPassword();
    const ctx = directContext({ ...VERIFIED, PG_CA_BUNDLE: cert.pem });
    const error = await rejection(
      target.verify(target.parse(JSON.stringify({ ...secret, password: wrong })), ctx),
    );
    expect(error).toBeInstanceOf(TargetRefusedError);
    expect((error as TargetRefusedError).failure).toBe('authentication');
    expect(ctx.counted.TlsPlaintextFallback).toBeUndefined();
    expect(ctx.lines).toEqual([]);
  });

  it('"ssl": false cannot loosen the mode: against a TLS server TLS is still used and verified', async () => {
    const secret = await userOn(tlsRig, 'tls_off', false);
    const target = postgresSingleUser();
    const ctx = directContext({ ...VERIFIED, PG_CA_BUNDLE: cert.pem, PG_TEST_QUERY: SERVER_SEES_TLS });
    await target.verify(target.parse(JSON.stringify(secret)), ctx);
    expect(ctx.lines.find((line) => line.message === 'connected to PostgreSQL')?.extra?.tls).toBe('verified');
    expect(ctx.lines.filter((line) => line.level === 'warn').map((line) => line.message)).toEqual([
      'the secret sets "ssl": false, which cannot loosen PG_TLS_MODE; ignored',
    ]);
  });

  it('PG_TLS_MODE=disable against a TLS server: plaintext, as the deployer asked, without a warning', async () => {
    const secret = await userOn(tlsRig, 'tls_disabled', undefined);
    const target = postgresSingleUser();
    const ctx = directContext({ PG_TLS_MODE: 'disable' });
    await target.verify(target.parse(JSON.stringify(secret)), ctx);
    expect(ctx.lines.find((line) => line.message === 'connected to PostgreSQL')?.extra?.tls).toBe('disabled');
    expect(ctx.lines.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it('PG_TLS_MODE unset (verify-full) against a server without TLS: refused before any login', async () => {
    const secret = await userOn(plainRig, 'plain_default', undefined);
    const target = postgresSingleUser();
    const ctx = directContext({ PG_TLS_MODE: undefined });
    const error = await rejection(target.verify(target.parse(JSON.stringify(secret)), ctx));
    expect((error as TargetUnreachableError).failure).toBe('tls');
    expect(error.message).toContain('PG_TLS_MODE is verify-full');
    expect(error.message).toContain('set PG_TLS_MODE=prefer');
    expect(ctx.counted.TlsPlaintextFallback).toBeUndefined();
  });

  it('PG_TLS_MODE=prefer, "ssl" absent, against a server without TLS: plaintext, with a warning line and a metric', async () => {
    const secret = await userOn(plainRig, 'plain_preferred', undefined);
    const arn = await plainRig.createSecret('plain', secret);
    const result = await plainRig.rotate(
      arn,
      plainRig.handler(postgresSingleUser(), { PG_TLS_MODE: 'prefer', PG_CA_BUNDLE: cert.pem }),
    );
    expect(result.error).toBeUndefined();
    expect(await plainRig.canLogin(await plainRig.value(arn))).toBe(true);
    const output = capturedOutput();
    expect(output).toMatch(
      /"level":"WARN","message":"PostgreSQL server offers no TLS; connecting without encryption \(PG_TLS_MODE=prefer\)"/,
    );
    expect(output).toContain('"tls":"plaintext"');
    expect(output).toMatch(/"TlsPlaintextFallback":\d/);
  });

  it.each([
    ['offers TLS', () => tlsRig, 'verified'],
    ['offers no TLS', () => plainRig, 'plaintext'],
  ])(
    'PG_TLS_MODE=prefer, the server %s: one connection a login, its answer read on that connection',
    async (_, rig, outcome) => {
      const secret = await userOn(rig(), `one_connection_${outcome}`, undefined);
      // One point per connection: what its first bytes are; nothing later on it is counted.
      const ledger = new IoLedger();
      const proxy = await FaultProxy.start({
        label: 'pg',
        target: { host: String(secret.host), port: Number(secret.port) },
        ledger,
        describe: (chunk, firstOnConnection) => (firstOnConnection ? describePostgres(chunk, true) : null),
      });
      try {
        const target = postgresSingleUser();
        const ctx = directContext({ ...VERIFIED, PG_TLS_MODE: 'prefer', PG_CA_BUNDLE: cert.pem });
        ledger.begin();
        await target.verify(target.parse(JSON.stringify({ ...secret, port: proxy.port })), ctx);
        const connections = ledger.end().points.map((point) => point.description);
        expect(ctx.lines.find((line) => line.message === 'connected to PostgreSQL')?.extra?.tls).toBe(
          outcome,
        );
        expect(connections).toEqual(['pg:ssl-request']);
      } finally {
        await proxy.close();
      }
    },
  );

  it('"ssl": true against a server without TLS: refused, not downgraded', async () => {
    const secret = await userOn(plainRig, 'plain_required', true);
    const target = postgresSingleUser();
    const ctx = directContext({});
    const error = await rejection(target.verify(target.parse(JSON.stringify(secret)), ctx));
    expect((error as TargetUnreachableError).failure).toBe('tls');
    expect(error.message).toContain('offers no TLS');
    expect(ctx.counted.TlsPlaintextFallback).toBeUndefined();
  });
});

describe('a server that answers the TLS request with an error message', () => {
  it.each(['prefer', 'verify-full'])(
    'PG_TLS_MODE=%s: a TLS failure, not taken for injected data',
    async (mode) => {
      // What a pre-7.0 server sends: an ErrorResponse instead of "S" or "N".
      const errorResponse = Buffer.from('E\0\0\0\x1dSFATAL\0Munsupported protocol\0\0', 'latin1');
      const server = createServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => socket.end(errorResponse));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const target = postgresSingleUser();
        const secret = {
          engine: 'postgres',
          host: '127.0.0.1',
          port: (server.address() as AddressInfo).port,
          username: 'app',
          password: setupPassword(),
          dbname: 'postgres',
        };
        const error = await rejection(
          target.verify(target.parse(JSON.stringify(secret)), directContext({ PG_TLS_MODE: mode })),
        );
        expect((error as TargetUnreachableError).failure).toBe('tls');
        expect(error.message).toContain('the TLS handshake failed');
        expect(error.message).not.toContain('came with more data');
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  );
});
