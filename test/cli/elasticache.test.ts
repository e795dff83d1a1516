/**
 * `secrets-rotator rotate --handler elasticache-user`: the built-in handler rotates an ElastiCache
 * user through the local endpoint, the API stand-in (AWS_ENDPOINT_URL_ELASTICACHE) and a private
 * redis-server.
 */
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ElastiCacheUsers, startElastiCacheApi } from '../support/elasticache-api.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { type RedisInstance, startRedis } from '../support/redis.ts';
import { setupPassword } from '../support/rotation-rig.ts';
import { type CliFixture, startCliFixture } from './fixtures.ts';
import { cli } from './run.ts';

let fixture: CliFixture;
let redis: RedisInstance;
let api: Awaited<ReturnType<typeof startElastiCacheApi>>;
let users: ElastiCacheUsers;

beforeAll(async () => {
  // The ElastiCache client takes region and credentials from the process (environment or profile),
  // as on an operator's machine; the stand-in ignores them.
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIDLOCALTESTONLY';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local-test-secret-access-key';
  [fixture, redis] = await Promise.all([startCliFixture(), startRedis()]);
  users = new ElastiCacheUsers(redis);
  api = await startElastiCacheApi(users);
});
afterAll(async () => {
  await api?.close();
  await Promise.all([fixture?.close(), redis?.stop()]);
});

it('rotates an ElastiCache user: the new password logs in, the old one is refused, the user is active', async () => {
  const initial = setupPassword();
  await users.addUser('cli-user', 'cli_user', initial);
  const value = {
    engine: 'valkey',
    host: redis.host,
    port: redis.port,
    username: 'cli_user',
    password: initial,
    userId: 'cli-user',
  };
  await fixture.client.send(
    new CreateSecretCommand({ Name: 'cache/cli', SecretString: JSON.stringify(value) }),
  );
  const env = {
    REDIS_TLS_MODE: 'disable',
    ELASTICACHE_POLL_INTERVAL_MS: '10',
    AWS_ENDPOINT_URL_ELASTICACHE: api.url,
  };
  const result = await cli(
    ['rotate', 'cache/cli', '--handler', 'elasticache-user', '--endpoint-url', fixture.local.endpoint],
    { now: fixture.clock.now, env },
  );
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const answer = await fixture.client.send(new GetSecretValueCommand({ SecretId: 'cache/cli' }));
  trackSecrets(answer.SecretString);
  const password = (JSON.parse(answer.SecretString ?? '{}') as { password: string }).password;
  expect(password).not.toBe(initial);
  expect(await redis.canLogin('cli_user', password)).toBe(true);
  expect(await redis.canLogin('cli_user', initial)).toBe(false);
  expect(users.statusOf('cli-user')).toBe('active');
});
