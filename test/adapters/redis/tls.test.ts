import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisSingleUser } from '../../../src/adapters/redis/index.ts';
import { capturedOutput, trackSecrets } from '../../support/leak-scan.ts';
import { makeTestCertificates, type TestCertificates } from '../../support/tls.ts';
import { directContext, PLAINTEXT_ENV, Rig, setupPassword } from './rig.ts';

describe('Redis TLS modes against a private TLS-only redis-server and a plaintext one', () => {
  let dir: string;
  let certs: TestCertificates;
  let otherCa: TestCertificates;
  let tlsRig: Rig;
  let plainRig: Rig;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'redis-tls-'));
    [certs, otherCa] = await Promise.all([
      makeTestCertificates(join(dir, 'good')),
      makeTestCertificates(join(dir, 'other'), { caName: 'another CA' }),
    ]);
    [tlsRig, plainRig] = await Promise.all([
      Rig.start({ tls: { cert: certs.certPath, key: certs.keyPath } }),
      Rig.start(),
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled([tlsRig?.stop(), plainRig?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function userOn(rig: Rig, name: string, extra: Record<string, unknown> = {}) {
    const initial = setupPassword();
    await rig.createUser(name, initial, ['~app:*', '+acl|setuser']);
    const arn = await rig.createSecret(name, rig.secretFor(name, initial, extra));
    return { arn, initial };
  }

  it('verify-full (the default) with REDIS_CA_BUNDLE: rotates over verified TLS', async () => {
    const { arn, initial } = await userOn(tlsRig, 'tls_ok');
    const handler = tlsRig.handler(redisSingleUser(), { REDIS_CA_BUNDLE: certs.caPath });
    for (let rotation = 0; rotation < 3; rotation += 1) {
      const result = await tlsRig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
    }
    expect(await tlsRig.canLogin(await tlsRig.value(arn))).toBe(true);
    expect(await tlsRig.canLogin({ username: 'tls_ok', password: initial })).toBe(false);
    expect(capturedOutput()).toContain('"tls":"verified"');
    expect(capturedOutput()).not.toContain('"tls":"plaintext"');
  });

  it.each([
    ['a certificate from a CA it does not trust', () => ({ REDIS_CA_BUNDLE: otherCa.caPath })],
    ["Node's default trust store", () => ({})],
    [
      'another name than the certificate holds',
      () => ({ REDIS_CA_BUNDLE: certs.caPath, REDIS_TLS_SERVERNAME: 'cache.other.test' }),
    ],
  ])('verify-full refuses %s before AUTH: nothing changes', async (_kind, env) => {
    const { arn, initial } = await userOn(tlsRig, `tls_bad_${Math.random().toString(36).slice(2, 8)}`);
    const result = await tlsRig.rotate(arn, tlsRig.handler(redisSingleUser(), env()));
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('tls failure');
    expect(result.error).toMatch(/certificate was not accepted/);
    const current = await tlsRig.value(arn);
    expect(await tlsRig.canLogin({ username: current.username, password: initial })).toBe(true);
  });

  it('prefer uses verified TLS when the server speaks it', async () => {
    const { arn } = await userOn(tlsRig, 'tls_prefer');
    const handler = tlsRig.handler(redisSingleUser(), {
      REDIS_TLS_MODE: 'prefer',
      REDIS_CA_BUNDLE: certs.caPath,
    });
    expect((await tlsRig.rotate(arn, handler)).error).toBeUndefined();
    expect(capturedOutput()).toContain('"tls":"verified"');
    expect(capturedOutput()).not.toContain('TlsPlaintextFallback');
  });

  it('prefer goes on in plaintext with a warning and the TlsPlaintextFallback metric when the server speaks no TLS', async () => {
    const { arn } = await userOn(plainRig, 'plain_prefer');
    const handler = plainRig.handler(redisSingleUser(), { REDIS_TLS_MODE: 'prefer' });
    expect((await plainRig.rotate(arn, handler)).error).toBeUndefined();
    expect(await plainRig.canLogin(await plainRig.value(arn))).toBe(true);
    expect(capturedOutput()).toContain('"tls":"plaintext"');
    expect(capturedOutput()).toContain('the server speaks no TLS');
    expect(capturedOutput()).toContain('TlsPlaintextFallback');
  });

  it('a secret\'s "ssl": true makes the connection verify-full even under REDIS_TLS_MODE=disable; "ssl": false never loosens it', async () => {
    const strict = await userOn(plainRig, 'plain_ssl_true', { ssl: true });
    const loosened = await userOn(plainRig, 'plain_ssl_false', { ssl: false });
    const strictResult = await plainRig.rotate(
      strict.arn,
      plainRig.handler(redisSingleUser(), { REDIS_TLS_MODE: 'prefer' }),
    );
    expect(strictResult.failedStep).toBe('setSecret');
    expect(strictResult.error).toContain('tls failure');
    const looseResult = await plainRig.rotate(
      loosened.arn,
      plainRig.handler(redisSingleUser(), { REDIS_CONNECT_TIMEOUT_MS: '1000' }),
    );
    expect(looseResult.failedStep).toBe('setSecret');
    expect(looseResult.error).toContain('tls failure');
    // Over TLS, "ssl": true with REDIS_TLS_MODE=disable still rotates (verified).
    const overTls = await userOn(tlsRig, 'tls_ssl_true', { ssl: true });
    const handler = tlsRig.handler(redisSingleUser(), { ...PLAINTEXT_ENV, REDIS_CA_BUNDLE: certs.caPath });
    expect((await tlsRig.rotate(overTls.arn, handler)).error).toBeUndefined();
  });

  it('"ssl": false is ignored under a mode that wants TLS, with the databases\' warning; under disable, silently', async () => {
    const { initial } = await userOn(tlsRig, 'tls_ssl_false', { ssl: false });
    const secret = JSON.stringify(tlsRig.secretFor('tls_ssl_false', initial, { ssl: false }));
    trackSecrets(secret);
    const target = redisSingleUser();
    const verified = directContext({ REDIS_CA_BUNDLE: certs.caPath });
    await target.verify(target.parse(secret), verified);
    expect(verified.lines.find((line) => line.message === 'connected to Redis')?.extra?.tls).toBe('verified');
    expect(verified.lines.filter((line) => line.level === 'warn').map((line) => line.message)).toEqual([
      'the secret sets "ssl": false, which cannot loosen REDIS_TLS_MODE; ignored',
    ]);
    const plain = await userOn(plainRig, 'plain_ssl_false_disabled', { ssl: false });
    const disabled = directContext(PLAINTEXT_ENV);
    const plainSecret = JSON.stringify(
      plainRig.secretFor('plain_ssl_false_disabled', plain.initial, { ssl: false }),
    );
    trackSecrets(plainSecret);
    const plainTarget = redisSingleUser();
    await plainTarget.verify(plainTarget.parse(plainSecret), disabled);
    expect(disabled.lines.find((line) => line.message === 'connected to Redis')?.extra?.tls).toBe('disabled');
    expect(disabled.lines.filter((line) => line.level === 'warn')).toEqual([]);
  });
});
