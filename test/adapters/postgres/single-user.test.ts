import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import type { RotationTarget } from '../../../src/core/target.ts';
import { AWSPENDING } from '../../../src/testing/index.ts';
import { Rig, setupPassword, VERSIONS } from './rig.ts';

describe.each(VERSIONS)('postgres single user on PostgreSQL %i', (version) => {
  let rig: Rig;
  const generated: string[] = [];

  beforeAll(async () => {
    rig = await Rig.start({ version, logStatements: true });
    expect(rig.db.version).toBe(version);
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('rotates 20 times in a row: each new password logs in and the one before is refused', async () => {
    const initial = setupPassword();
    await rig.createRole('app_single', initial);
    const arn = await rig.createSecret('single', rig.secretFor('app_single', initial, { team: 'payments' }));
    const handler = rig.handler(postgresSingleUser());

    let before = await rig.value(arn);
    for (let rotation = 1; rotation <= 20; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      const after = await rig.value(arn);
      generated.push(after.password);
      expect(after.username).toBe('app_single');
      expect(after.team).toBe('payments');
      expect(after.password).not.toBe(before.password);
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(false);
      before = after;
    }
    expect(new Set(generated).size).toBe(20);
  });

  it('never sends a generated password in SQL text: the log_statement=all log holds only verifiers', async () => {
    const log = await rig.db.readLog();
    // The statements were logged (so this test can fail)…
    expect(log).toMatch(/ALTER ROLE "app_single" PASSWORD 'SCRAM-SHA-256\$4096:/);
    // …and none of them carries a password.
    expect(generated.length).toBeGreaterThan(0);
    for (const password of generated) expect(log).not.toContain(password);
  });

  it.each([
    ['quotes', `o'brien "the dba"`],
    ['a semicolon and SQL', 'app; DROP ROLE postgres; --'],
    ['spaces', 'app user with spaces'],
    ['non-ASCII characters', 'ünïcødé_用户_пользователь'],
    ['63 characters', `long_${'x'.repeat(58)}`],
    ['63 bytes of non-ASCII', `${'é'.repeat(31)}x`],
  ])('rotates a user name with %s', async (_kind, name) => {
    const initial = setupPassword();
    await rig.createRole(name, initial);
    const arn = await rig.createSecret('odd-name', rig.secretFor(name, initial));
    const handler = rig.handler(postgresSingleUser());
    for (let rotation = 0; rotation < 2; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const current = await rig.value(arn);
      expect(current.username).toBe(name);
      expect(await rig.canLogin(current)).toBe(true);
    }
    expect(await rig.canLogin({ username: name, password: initial })).toBe(false);
  });

  it('logs in with the previous password when pending and current no longer work', async () => {
    const initial = setupPassword();
    await rig.createRole('app_restored', initial);
    const arn = await rig.createSecret('restored', rig.secretFor('app_restored', initial));
    const handler = rig.handler(postgresSingleUser());
    expect((await rig.rotate(arn, handler)).ok).toBe(true);
    // A database restore brings back the password of before that rotation (AWSPREVIOUS).
    await rig.setRolePassword('app_restored', initial);

    const result = await rig.rotate(arn, handler);
    expect(result.error).toBeUndefined();
    const current = await rig.value(arn);
    expect(await rig.canLogin(current)).toBe(true);
    expect(await rig.canLogin({ username: 'app_restored', password: initial })).toBe(false);
  });

  it('fails with a clear authentication error when no stored version logs in, changing nothing', async () => {
    const initial = setupPassword();
    const outOfBand = setupPassword();
    await rig.createRole('app_lost', initial);
    const arn = await rig.createSecret('lost', rig.secretFor('app_lost', initial));
    await rig.setRolePassword('app_lost', outOfBand);

    const result = await rig.rotate(arn, rig.handler(postgresSingleUser()));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('authentication failure');
    expect(result.error).toContain('could not log in with any stored version');
    expect(result.error).toContain('current: authentication failed');
    expect(await rig.canLogin({ username: 'app_lost', password: outOfBand })).toBe(true);
  });

  it('refuses a pending version naming another user before connecting with current credentials', async () => {
    const initial = setupPassword();
    await rig.createRole('app_mismatch', initial);
    const arn = await rig.createSecret('mismatch', rig.secretFor('app_mismatch', initial));
    const versionId = crypto.randomUUID();
    await rig.sm.registerPendingVersion(arn, versionId);
    const intruder = setupPassword();
    await rig.sm.fillPendingVersion(arn, versionId, JSON.stringify(rig.secretFor('someone_else', intruder)));

    const result = await rig.rotate(arn, rig.handler(postgresSingleUser()), true);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('must be the same user and host');
    expect(await rig.canLogin({ username: 'app_mismatch', password: initial })).toBe(true);
    expect((await rig.value(arn, AWSPENDING)).username).toBe('someone_else');
  });

  it('converges when the function dies right after the password change and the rotation is re-run', async () => {
    const initial = setupPassword();
    await rig.createRole('app_fault', initial);
    const arn = await rig.createSecret('fault', rig.secretFor('app_fault', initial));
    const inner = postgresSingleUser();
    let failures = 0;
    const dying: RotationTarget<ReturnType<typeof inner.parse>> = {
      ...inner,
      async apply(pending, known, ctx) {
        await inner.apply(pending, known, ctx);
        if (failures === 0) {
          failures += 1;
          throw new Error('injected: the function died right after the password change');
        }
      },
    };
    const handler = rig.handler(dying);

    const first = await rig.rotate(arn, handler);
    expect(first.ok).toBe(false);
    expect(first.failedStep).toBe('setSecret');
    const pending = await rig.value(arn, AWSPENDING);
    // The database already has the new password, the secret still names the old one as current.
    expect(await rig.canLogin(pending)).toBe(true);
    expect(await rig.canLogin({ username: 'app_fault', password: initial })).toBe(false);

    const rerun = await rig.rotate(arn, handler, true);
    expect(rerun.error).toBeUndefined();
    expect(rerun.versionId).toBe(first.versionId);
    const current = await rig.value(arn);
    expect(current.password).toBe(pending.password);
    expect(await rig.canLogin(current)).toBe(true);
  });

  it('testSecret runs PG_TEST_QUERY and reports a missing privilege as a permission failure', async () => {
    const initial = setupPassword();
    await rig.createRole('app_probe', initial);
    await rig.db.query('CREATE TABLE IF NOT EXISTS probe_orders (id int)');
    const arn = await rig.createSecret('probe', rig.secretFor('app_probe', initial));
    const handler = rig.handler(postgresSingleUser(), { PG_TEST_QUERY: 'SELECT count(*) FROM probe_orders' });

    const refused = await rig.rotate(arn, handler);
    expect(refused.ok).toBe(false);
    expect(refused.failedStep).toBe('testSecret');
    expect(refused.error).toContain('permission failure');
    expect(refused.error).toContain('PG_TEST_QUERY');
    expect(refused.error).toContain('42501');

    await rig.db.query('GRANT SELECT ON probe_orders TO app_probe');
    const resumed = await rig.rotate(arn, handler, true);
    expect(resumed.error).toBeUndefined();
    expect(await rig.canLogin(await rig.value(arn))).toBe(true);
  });
});
