/**
 * The elasticache-user handler: the API side answered by aws-sdk-client-mock (test/support/elasticache-api.ts), the
 * login side by a private redis-server whose ACL the fake API changes.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { elastiCacheUser } from '../../../src/adapters/elasticache/index.ts';
import type { RotationEvent } from '../../../src/core/event.ts';
import { AWSPENDING } from '../../../src/testing/index.ts';
import { ElastiCacheUsers, mockElastiCache } from '../../support/elasticache-api.ts';
import { PLAINTEXT_ENV, Rig, setupPassword } from '../redis/rig.ts';

const ROTATIONS = 20;
const ENV = { ...PLAINTEXT_ENV, ELASTICACHE_POLL_INTERVAL_MS: '10' } as const;

let rig: Rig;
let api: ElastiCacheUsers;
let mock: ReturnType<typeof mockElastiCache>;
let users = 0;

beforeAll(async () => {
  rig = await Rig.start();
  api = new ElastiCacheUsers(rig.redis);
  mock = mockElastiCache(api);
});
afterAll(async () => {
  mock?.restore();
  await rig?.stop();
});
beforeEach(() => {
  api.modifyingPolls = 2;
  api.stuck = false;
});

/** A new user in the API and on the server, and its secret. */
async function newUser(extra: Record<string, unknown> = {}) {
  users += 1;
  const userId = `app-user-${users}`;
  const username = `app_${users}`;
  const password = setupPassword();
  await api.addUser(userId, username, password);
  const arn = await rig.createSecret(userId, rig.secretFor(username, password, { userId, ...extra }));
  return { arn, userId, username, password };
}

describe('elasticache-user', () => {
  it(`${ROTATIONS} rotations: both passwords work until finishSecret, then only the new one; ModifyUser only on an active user`, async () => {
    const { arn, userId, username } = await newUser({ team: 'cache' });
    const inner = rig.handler(elastiCacheUser(), ENV);
    const beforeFinish: Array<{ current: boolean; pending: boolean; count: number }> = [];
    const handler = async (event: RotationEvent, context?: Partial<Context>) => {
      if (event.Step === 'finishSecret') {
        beforeFinish.push({
          current: await rig.canLogin(await rig.value(arn)),
          pending: await rig.canLogin(await rig.value(arn, AWSPENDING)),
          count: await rig.redis.passwordCount(username),
        });
      }
      return inner(event, context);
    };
    let before = await rig.value(arn);
    const seen = new Set<string>();
    for (let rotation = 1; rotation <= ROTATIONS; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      expect(beforeFinish.at(-1)).toEqual({ current: true, pending: true, count: 2 });
      const after = await rig.value(arn);
      seen.add(after.password);
      expect(after).toMatchObject({ username, userId, team: 'cache', port: rig.redis.port });
      expect(after.password).toMatch(/^[^,"/@:'\\]{32}$/);
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(false);
      expect(await rig.redis.passwordCount(username)).toBe(1);
      before = after;
    }
    expect(seen.size).toBe(ROTATIONS);
    // setSecret: current + new; finishSecret: new alone. The fake refuses a ModifyUser while modifying.
    const mine = api.modifications.filter((change) => change.userId === userId);
    expect(mine.map((change) => change.passwords)).toEqual(
      Array.from({ length: ROTATIONS }, () => [2, 1]).flat(),
    );
    expect(api.statusOf(userId)).toBe('active');
  });

  it('testSecret logs in only after the user is active again (a slow modifying phase)', async () => {
    const { arn } = await newUser();
    api.modifyingPolls = 8;
    const result = await rig.rotate(arn, rig.handler(elastiCacheUser(), ENV));
    expect(result.error).toBeUndefined();
    expect(await rig.canLogin(await rig.value(arn))).toBe(true);
  });

  it('a user that stays modifying: setSecret fails naming the user and its status, and the retry converges', async () => {
    const { arn, userId, password } = await newUser();
    api.stuck = true;
    const handler = rig.handler(elastiCacheUser(), { ...ENV, ELASTICACHE_WAIT_TIMEOUT_MS: '1000' });
    const failed = await rig.rotate(arn, handler);
    expect(failed.failedStep).toBe('setSecret');
    expect(failed.error).toContain(`ElastiCache user "${userId}" is still "modifying"`);
    expect(failed.error).toContain('ELASTICACHE_WAIT_TIMEOUT_MS');
    const pending = await rig.value(arn, AWSPENDING);
    expect(failed.error).not.toContain(pending.password);
    expect(await rig.canLogin({ username: pending.username, password })).toBe(true);

    api.stuck = false;
    const resumed = await rig.rotate(arn, handler, true);
    expect(resumed.error).toBeUndefined();
    const after = await rig.value(arn);
    expect(after.password).toBe(pending.password);
    expect(await rig.canLogin(after)).toBe(true);
    expect(await rig.canLogin({ username: after.username, password })).toBe(false);
  });

  it('refuses, before any ModifyUser, a secret whose username is not the API user, a user without passwords, and an unlisted host', async () => {
    const handler = (env = {}) => rig.handler(elastiCacheUser(), { ...ENV, ...env });
    const before = api.modifications.length;

    const other = await newUser();
    const mismatch = await rig.createSecret(
      'mismatch',
      rig.secretFor('someone_else', setupPassword(), { userId: other.userId }),
    );
    const named = await rig.rotate(mismatch, handler());
    expect(named.error).toMatch(/username.*"someone_else".*"app-user-\d+".*"app_\d+"/);

    const iam = await newUser();
    api.setType(iam.userId, 'iam');
    expect((await rig.rotate(iam.arn, handler())).error).toContain('authenticates with "iam"');

    const unlisted = await newUser();
    const refused = await rig.rotate(unlisted.arn, handler({ DATABASE_ALLOWED_HOSTS: 'cache.example.com' }));
    expect(refused.error).toContain('DATABASE_ALLOWED_HOSTS does not list');

    const missing = await rig.createSecret(
      'missing',
      rig.secretFor('app_x', setupPassword(), { userId: 'nobody' }),
    );
    expect((await rig.rotate(missing, handler())).error).toContain(
      '"nobody", which ElastiCache reports does not exist',
    );

    expect(api.modifications.length).toBe(before);
  });

  it('TLS verify-full by default: a server without TLS is refused before any ModifyUser, naming REDIS_TLS_MODE', async () => {
    const { arn, password, username } = await newUser();
    const before = api.modifications.length;
    const { REDIS_TLS_MODE: _plaintext, ...defaults } = ENV;
    const result = await rig.rotate(arn, rig.handler(elastiCacheUser(), defaults));
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('REDIS_TLS_MODE');
    expect(api.modifications.length).toBe(before);
    expect(await rig.canLogin({ username, password })).toBe(true);
  });

  it('a password policy ElastiCache would refuse fails createSecret naming the variable', async () => {
    const { arn } = await newUser();
    const short = await rig.rotate(arn, rig.handler(elastiCacheUser(), { ...ENV, PASSWORD_LENGTH: '12' }));
    expect(short.failedStep).toBe('createSecret');
    expect(short.error).toContain('PASSWORD_LENGTH makes passwords ElastiCache refuses');
  });
});
