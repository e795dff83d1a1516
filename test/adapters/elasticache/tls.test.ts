/** elasticache-user over TLS, as ElastiCache RBAC requires: a private TLS-only redis-server, verify-full. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { elastiCacheUser } from '../../../src/adapters/elasticache/index.ts';
import { ElastiCacheUsers, mockElastiCache } from '../../support/elasticache-api.ts';
import { capturedOutput } from '../../support/leak-scan.ts';
import { makeTestCertificates, type TestCertificates } from '../../support/tls.ts';
import { Rig, setupPassword } from '../redis/rig.ts';

let dir: string;
let certs: TestCertificates;
let rig: Rig;
let mock: ReturnType<typeof mockElastiCache>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'elasticache-tls-'));
  certs = await makeTestCertificates(join(dir, 'ca'));
  rig = await Rig.start({ tls: { cert: certs.certPath, key: certs.keyPath } });
});
afterAll(async () => {
  mock?.restore();
  await rig?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('verify-full (the default) with REDIS_CA_BUNDLE: rotates over verified TLS, the old password refused', async () => {
  const users = new ElastiCacheUsers(rig.redis);
  mock = mockElastiCache(users);
  const initial = setupPassword();
  await users.addUser('tls-user', 'tls_user', initial);
  const arn = await rig.createSecret('tls', rig.secretFor('tls_user', initial, { userId: 'tls-user' }));
  const handler = rig.handler(elastiCacheUser(), {
    REDIS_CA_BUNDLE: certs.caPath,
    ELASTICACHE_POLL_INTERVAL_MS: '10',
  });
  for (let rotation = 0; rotation < 3; rotation += 1) {
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
  }
  expect(await rig.canLogin(await rig.value(arn))).toBe(true);
  expect(await rig.canLogin({ username: 'tls_user', password: initial })).toBe(false);
  expect(capturedOutput()).toContain('"tls":"verified"');
  expect(capturedOutput()).not.toContain('"tls":"plaintext"');
});
