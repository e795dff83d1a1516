import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  redisAlternatingUsers,
  redisPasswordOverlap,
  redisSingleUser,
} from '../../../src/adapters/redis/index.ts';
import type { RotationEvent } from '../../../src/core/event.ts';
import { AWSPENDING } from '../../../src/testing/index.ts';
import { directContext, PLAINTEXT_ENV, Rig, setupPassword } from './rig.ts';

const ROTATIONS = 20;

describe('Redis ACL users on a private redis-server', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await Rig.start();
    expect(rig.redis.version).toMatch(/^[6-9]\./);
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it(`single user changing its own password: ${ROTATIONS} rotations, each new password accepted and the one before refused`, async () => {
    const initial = setupPassword();
    // What the user needs to change its own password (docs/adapters/redis.md).
    await rig.createUser('app_single', initial, ['~app:*', '+get', '+set', '+acl|setuser']);
    const arn = await rig.createSecret('single', rig.secretFor('app_single', initial, { team: 'payments' }));
    const handler = rig.handler(redisSingleUser(), PLAINTEXT_ENV);
    const rules = await rig.redis.rulesOf('app_single');

    let before = await rig.value(arn);
    const seen = new Set<string>();
    for (let rotation = 1; rotation <= ROTATIONS; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const after = await rig.value(arn);
      seen.add(after.password);
      expect(after).toMatchObject({ username: 'app_single', team: 'payments', port: rig.redis.port });
      expect(after.password).not.toBe(before.password);
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(false);
      expect(await rig.redis.passwordCount('app_single')).toBe(1);
      before = after;
    }
    expect(seen.size).toBe(ROTATIONS);
    // The rules other than the password are untouched.
    expect(await rig.redis.rulesOf('app_single')).toBe(rules);
  });

  it('single user with a master secret: the user needs no ACL permission, the master changes the password', async () => {
    const initial = setupPassword();
    await rig.createUser('app_plain', initial);
    const arn = await rig.createSecret(
      'single-master',
      rig.secretFor('app_plain', initial, { masterarn: rig.masterArn }),
    );
    const handler = rig.handler(redisSingleUser(), PLAINTEXT_ENV);
    let before = await rig.value(arn);
    for (let rotation = 1; rotation <= 3; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const after = await rig.value(arn);
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(false);
      before = after;
    }
  });

  it('single user without +acl|setuser and without a master: setSecret fails naming the permission, nothing changes', async () => {
    const initial = setupPassword();
    await rig.createUser('app_noperm', initial);
    const arn = await rig.createSecret('noperm', rig.secretFor('app_noperm', initial));
    const result = await rig.rotate(arn, rig.handler(redisSingleUser(), PLAINTEXT_ENV));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('permission failure');
    expect(result.error).toContain('acl|setuser');
    const pending = await rig.value(arn, AWSPENDING);
    expect(result.error).not.toContain(pending.password);
    expect(await rig.canLogin({ username: 'app_noperm', password: initial })).toBe(true);
    expect(await rig.canLogin(pending)).toBe(false);
  });

  it(`overlapping passwords: ${ROTATIONS} rotations; until finishSecret both passwords work, after it only the new one`, async () => {
    const initial = setupPassword();
    await rig.createUser('app_overlap', initial, ['~app:*', '+get', '+acl|setuser']);
    const arn = await rig.createSecret('overlap', rig.secretFor('app_overlap', initial));
    const inner = rig.handler(redisPasswordOverlap(), PLAINTEXT_ENV);
    const beforeFinish: Array<{ current: boolean; pending: boolean; count: number }> = [];
    // Looks at the server between testSecret and finishSecret.
    const handler = async (event: RotationEvent, context?: Partial<Context>) => {
      if (event.Step === 'finishSecret') {
        const current = await rig.value(arn);
        const pending = await rig.value(arn, AWSPENDING);
        beforeFinish.push({
          current: await rig.canLogin(current),
          pending: await rig.canLogin(pending),
          count: await rig.redis.passwordCount('app_overlap'),
        });
      }
      return inner(event, context);
    };

    let before = await rig.value(arn);
    for (let rotation = 1; rotation <= ROTATIONS; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      expect(beforeFinish.at(-1)).toEqual({ current: true, pending: true, count: 2 });
      const after = await rig.value(arn);
      expect(after.password).not.toBe(before.password);
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(false);
      expect(await rig.redis.passwordCount('app_overlap')).toBe(1);
      before = after;
    }
    expect(beforeFinish).toHaveLength(ROTATIONS);
  });

  it(`alternating users with a copied clone: ${ROTATIONS} rotations, the clone's ACL rules exactly the original's`, async () => {
    const initial = setupPassword();
    const rules = ['~app:*', '%R~shared:*', '&events:*', '-@all', '+get', '+set', '+hget', '(~other:* +get)'];
    await rig.createUser('app_alt', initial, rules);
    const arn = await rig.createSecret(
      'alternating',
      rig.secretFor('app_alt', initial, { masterarn: rig.masterArn }),
    );
    const handler = rig.handler(redisAlternatingUsers(), PLAINTEXT_ENV);
    const originalRules = await rig.redis.rulesOf('app_alt');
    expect(originalRules).toContain('(~other:* resetchannels -@all +get)');

    const history = [await rig.value(arn)];
    for (let rotation = 1; rotation <= ROTATIONS; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const after = await rig.value(arn);
      history.push(after);
      expect(after.username).toBe(rotation % 2 === 1 ? 'app_alt_clone' : 'app_alt');
      expect(await rig.canLogin(after)).toBe(true);
      // The previous user keeps working until the next rotation…
      expect(await rig.canLogin(history.at(-2)!)).toBe(true);
      // …and the same user's password before this one is refused.
      if (rotation >= 2) expect(await rig.canLogin(history.at(-3)!)).toBe(false);
      expect(await rig.redis.rulesOf('app_alt_clone')).toBe(originalRules);
      expect(await rig.redis.rulesOf('app_alt')).toBe(originalRules);
      expect(await rig.redis.passwordCount(after.username)).toBe(1);
    }
  });

  it('alternating users: an original made without reset (no sanitize-payload flag) is copied exactly too', async () => {
    const initial = setupPassword();
    // ACL SETUSER without reset leaves the user with neither sanitize flag; `reset` would set one.
    expect(
      await rig.redis.command(['ACL', 'SETUSER', 'app_noflag', 'on', `>${initial}`, '~n:*', '+get']),
    ).toBe('OK');
    const arn = await rig.createSecret(
      'noflag',
      rig.secretFor('app_noflag', initial, { masterarn: rig.masterArn }),
    );
    const handler = rig.handler(redisAlternatingUsers(), PLAINTEXT_ENV);
    const rules = await rig.redis.rulesOf('app_noflag');
    expect(rules).not.toContain('sanitize-payload');
    for (let rotation = 1; rotation <= 4; rotation += 1) {
      expect((await rig.rotate(arn, handler)).error).toBeUndefined();
      expect(await rig.redis.rulesOf('app_noflag_clone')).toBe(rules);
    }
    // A flag set on the clone by hand is removed at its next rotation.
    await rig.redis.command(['ACL', 'SETUSER', 'app_noflag_clone', 'skip-sanitize-payload']);
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    expect(await rig.redis.rulesOf('app_noflag_clone')).toBe(rules);
    expect(await rig.canLogin(await rig.value(arn))).toBe(true);
  });

  it('alternating users: a clone given extra permissions behind the rotator is reset to the original rules', async () => {
    const initial = setupPassword();
    await rig.createUser('app_drift', initial);
    const arn = await rig.createSecret(
      'drift',
      rig.secretFor('app_drift', initial, { masterarn: rig.masterArn }),
    );
    const handler = rig.handler(redisAlternatingUsers(), PLAINTEXT_ENV);
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    await rig.redis.command(['ACL', 'SETUSER', 'app_drift_clone', '+@all', '~*']);
    expect(await rig.redis.rulesOf('app_drift_clone')).not.toBe(await rig.redis.rulesOf('app_drift'));
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    expect(await rig.redis.rulesOf('app_drift_clone')).toBe(await rig.redis.rulesOf('app_drift'));
  });

  it('alternating users: revoke (rotate --emergency) locks the previous user out at once, ends its connections, keeps the current one', async () => {
    const initial = setupPassword();
    await rig.createUser('app_revoke', initial);
    const arn = await rig.createSecret(
      'revoke',
      rig.secretFor('app_revoke', initial, { masterarn: rig.masterArn }),
    );
    const target = redisAlternatingUsers();
    const handler = rig.handler(target, PLAINTEXT_ENV);
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    const previous = await rig.value(arn, 'AWSPREVIOUS');
    const current = await rig.value(arn);
    expect(await rig.canLogin(previous)).toBe(true);
    const ctx = directContext(PLAINTEXT_ENV, rig.client);
    await target.revoke!(target.parse(JSON.stringify(previous)), ctx);
    expect(await rig.canLogin(previous)).toBe(false);
    expect(await rig.canLogin(current)).toBe(true);
    expect(ctx.lines.some((line) => line.message === 'revoked the user')).toBe(true);
    // Again: the revoked password no longer logs in, so nothing is done.
    await target.revoke!(target.parse(JSON.stringify(previous)), ctx);
    expect(ctx.lines.at(-1)?.message).toBe('the revoked password no longer logs in; nothing to do');
  });

  it('alternating users with a pre-provisioned pair: only passwords change, each user keeps its own rules', async () => {
    const initial = setupPassword();
    await rig.createUser('app_pair', initial, ['~a:*', '+get']);
    await rig.createUser('app_pair_clone', setupPassword(), ['~b:*', '+get']);
    const arn = await rig.createSecret(
      'pair',
      rig.secretFor('app_pair', initial, { masterarn: rig.masterArn }),
    );
    const handler = rig.handler(redisAlternatingUsers(), {
      ...PLAINTEXT_ENV,
      REDIS_PREPROVISIONED_PAIR: 'true',
    });
    let before = await rig.value(arn);
    for (let rotation = 1; rotation <= 4; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const after = await rig.value(arn);
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(true);
      before = after;
    }
    expect(await rig.redis.rulesOf('app_pair')).toContain('~a:*');
    expect(await rig.redis.rulesOf('app_pair_clone')).toContain('~b:*');
  });

  it('refuses a master secret that names another server before sending it anything', async () => {
    const initial = setupPassword();
    await rig.createUser('app_elsewhere', initial);
    const master = await rig.createSecret('other-master', {
      username: rig.redis.admin.username,
      password: rig.redis.admin.password,
      host: 'cache.elsewhere.example',
      port: 6379,
    });
    const arn = await rig.createSecret(
      'elsewhere',
      rig.secretFor('app_elsewhere', initial, { masterarn: master }),
    );
    const result = await rig.rotate(arn, rig.handler(redisAlternatingUsers(), PLAINTEXT_ENV));
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('cache.elsewhere.example');
    expect(result.error).toContain('master credentials were not sent');
  });

  it('refuses a host DATABASE_ALLOWED_HOSTS does not list, sending nothing', async () => {
    const initial = setupPassword();
    await rig.createUser('app_listed', initial, ['~app:*', '+acl|setuser']);
    const arn = await rig.createSecret('listed', rig.secretFor('app_listed', initial));
    const handler = rig.handler(redisSingleUser(), {
      ...PLAINTEXT_ENV,
      DATABASE_ALLOWED_HOSTS: 'cache.internal.example',
    });
    const result = await rig.rotate(arn, handler);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('DATABASE_ALLOWED_HOSTS does not list');
    expect(await rig.canLogin({ username: 'app_listed', password: initial })).toBe(true);
  });

  it('says when the server speaks no TLS under the default REDIS_TLS_MODE, sending no password', async () => {
    const initial = setupPassword();
    await rig.createUser('app_tls', initial, ['~app:*', '+acl|setuser']);
    const arn = await rig.createSecret('tls', rig.secretFor('app_tls', initial));
    const result = await rig.rotate(arn, rig.handler(redisSingleUser()));
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('tls failure');
    expect(result.error).toContain('REDIS_TLS_MODE=prefer');
  });
});
