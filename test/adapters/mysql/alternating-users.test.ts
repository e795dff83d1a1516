import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlAlternatingUsers } from '../../../src/adapters/mysql/index.ts';
import { quoteAccount, quoteIdentifier } from '../../../src/adapters/mysql/sql.ts';
import type { RotationTarget } from '../../../src/core/target.ts';
import { AWSPENDING, AWSPREVIOUS } from '../../../src/testing/index.ts';
import { capturedOutput } from '../../support/leak-scan.ts';
import { directContext, Rig, rejection, setupPassword } from './rig.ts';

describe('mysql alternating users on a private MariaDB', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await Rig.start();
    await rig.db.query('CREATE DATABASE shop');
    await rig.db.query('CREATE DATABASE audit');
  });
  afterAll(async () => {
    await rig?.stop();
  });

  /** SHOW GRANTS of an account with its own name replaced, sorted: comparable between the pair. */
  async function grantShape(user: string, host = '%'): Promise<string[]> {
    const lines = await rig.grants(user, host);
    const grantee = quoteAccount({ user, host });
    return lines.map((line) => line.split(grantee).join('<grantee>')).sort();
  }

  async function alternatingSecret(name: string, password: string, extra: Record<string, unknown> = {}) {
    return rig.createSecret('alt', rig.secretFor(name, password, { masterarn: rig.masterArn, ...extra }));
  }

  it('rotates 20 times: users alternate, both log in, and each can write and alter what the other created', async () => {
    const initial = setupPassword();
    await rig.createUser('app_alt', initial);
    await rig.db.query(
      'GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX ON shop.* TO `app_alt`@`%`',
    );
    const arn = await alternatingSecret('app_alt', initial, { team: 'payments' });
    const handler = rig.handler(mysqlAlternatingUsers());

    let before = await rig.value(arn);
    for (let rotation = 1; rotation <= 20; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const after = await rig.value(arn);
      expect(after.team).toBe('payments');
      expect(after.masterarn).toBe(rig.masterArn);
      expect(after.username).toBe(rotation % 2 === 1 ? 'app_alt_clone' : 'app_alt');
      expect(after.username).not.toBe(before.username);
      // Zero downtime: the new current and the previous user both log in.
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(true);
      expect(await rig.value(arn, AWSPREVIOUS)).toEqual(before);
      expect(await grantShape('app_alt_clone')).toEqual(await grantShape('app_alt'));

      // A table made by the new current user is written and altered by the other, and back.
      const table = `orders_${rotation}`;
      await rig.as(after, (c) => c.query(`CREATE TABLE ${quoteIdentifier(table)} (id int)`), 'shop');
      await rig.as(
        before,
        async (c) => {
          await c.query(`INSERT INTO ${quoteIdentifier(table)} VALUES (1)`);
          await c.query(`ALTER TABLE ${quoteIdentifier(table)} ADD COLUMN note text`);
        },
        'shop',
      );
      await rig.as(after, (c) => c.query(`UPDATE ${quoteIdentifier(table)} SET note = 'ok'`), 'shop');
      before = after;
    }
    expect(await rig.hostsOf('app_alt_clone')).toEqual(['%']);
  });

  it('re-syncs grants on every rotation: revoked privileges leave the clone, GRANT OPTION, roles and limits follow', async () => {
    const initial = setupPassword();
    await rig.createUser('app_drift', initial, '127.0.0.1');
    const original = quoteAccount({ user: 'app_drift', host: '127.0.0.1' });
    await rig.db.query(`GRANT SELECT, INSERT, DELETE ON shop.* TO ${original} WITH GRANT OPTION`);
    await rig.db.query(`GRANT SELECT ON audit.* TO ${original}`);
    await rig.db.query('CREATE TABLE IF NOT EXISTS audit.events (id int, secret_col int, note text)');
    await rig.db.query(`GRANT SELECT (id), UPDATE (note) ON audit.events TO ${original}`);
    await rig.db.query('CREATE ROLE IF NOT EXISTS reporting');
    await rig.db.query('CREATE ROLE IF NOT EXISTS `auditor "x"`');
    await rig.db.query('GRANT SELECT ON audit.* TO reporting');
    await rig.db.query(`GRANT reporting TO ${original}`);
    await rig.db.query(`GRANT \`auditor "x"\` TO ${original} WITH ADMIN OPTION`);
    await rig.db.query(`SET DEFAULT ROLE reporting FOR ${original}`);
    await rig.db.query(`ALTER USER ${original} WITH MAX_USER_CONNECTIONS 7`);
    const arn = await alternatingSecret('app_drift', initial);
    const handler = rig.handler(mysqlAlternatingUsers());

    // First rotation: the clone is created on the original's real host, with everything copied.
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    expect(await rig.hostsOf('app_drift_clone')).toEqual(['127.0.0.1']);
    const cloneShape = await grantShape('app_drift_clone', '127.0.0.1');
    expect(cloneShape).toEqual(await grantShape('app_drift', '127.0.0.1'));
    expect(cloneShape).toContain('GRANT SELECT, INSERT, DELETE ON `shop`.* TO <grantee> WITH GRANT OPTION');
    expect(cloneShape).toContain('GRANT `auditor "x"` TO <grantee> WITH ADMIN OPTION');
    expect(cloneShape).toContain('SET DEFAULT ROLE `reporting` FOR <grantee>');
    const [limits] = await rig.db.query<{ n: number }>(
      "SELECT max_user_connections AS n FROM mysql.user WHERE User = 'app_drift_clone'",
    );
    expect(Number(limits?.n)).toBe(7);
    // The clone really holds the privileges: it logs in and reads through its default role.
    const clone = await rig.value(arn);
    expect(clone.username).toBe('app_drift_clone');
    await rig.as(clone, (c) => c.query('SELECT COUNT(*) FROM audit.events'));

    // Drift on the original between rotations.
    await rig.db.query(`REVOKE DELETE ON shop.* FROM ${original}`);
    await rig.db.query(`REVOKE SELECT ON audit.* FROM ${original}`);
    await rig.db.query(`REVOKE UPDATE (note) ON audit.events FROM ${original}`);
    await rig.db.query(`GRANT UPDATE ON shop.* TO ${original} WITH GRANT OPTION`);
    await rig.db.query(`REVOKE ADMIN OPTION FOR \`auditor "x"\` FROM ${original}`);
    await rig.db.query(`REVOKE reporting FROM ${original}`);
    await rig.db.query(`SET DEFAULT ROLE NONE FOR ${original}`);
    await rig.db.query(`ALTER USER ${original} WITH MAX_USER_CONNECTIONS 3`);

    // The next rotation makes the original current again, and re-syncs the clone (which apps use).
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    expect((await rig.value(arn)).username).toBe('app_drift');
    const synced = await grantShape('app_drift_clone', '127.0.0.1');
    expect(synced).toEqual(await grantShape('app_drift', '127.0.0.1'));
    expect(synced).toContain('GRANT SELECT, INSERT, UPDATE ON `shop`.* TO <grantee> WITH GRANT OPTION');
    expect(synced.join('\n')).not.toMatch(/DELETE|`audit`\.\*|UPDATE \(`note`\)|reporting|ADMIN OPTION/);
    const [after] = await rig.db.query<{ n: number }>(
      "SELECT max_user_connections AS n FROM mysql.user WHERE User = 'app_drift_clone'",
    );
    expect(Number(after?.n)).toBe(3);
    // The revoked privilege is really gone: the clone can no longer delete.
    const error = await rejection(rig.as(clone, (c) => c.query('DELETE FROM shop.orders_1')));
    expect(error.message).toContain('DELETE command denied');
    expect(await rig.hostsOf('app_drift')).toEqual(['127.0.0.1']);
  });

  it.each([
    ['quotes', `o'brien "the dba"`],
    ['backticks and a semicolon with SQL', 'app`; DROP USER root; --'],
    ['spaces', 'app user with spaces'],
    ['non-ASCII characters', 'ünïcødé_用户_пользователь'],
    ['the longest name whose clone fits in 80 characters', `long_${'x'.repeat(69)}`],
  ])('alternates a user name with %s', async (_kind, name) => {
    const initial = setupPassword();
    await rig.createUser(name, initial);
    await rig.db.query(`GRANT SELECT ON shop.* TO ${quoteAccount({ user: name, host: '%' })}`);
    const arn = await alternatingSecret(name, initial);
    const handler = rig.handler(mysqlAlternatingUsers());
    for (const expected of [`${name}_clone`, name]) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const current = await rig.value(arn);
      expect(current.username).toBe(expected);
      expect(await rig.canLogin(current)).toBe(true);
    }
    expect(await grantShape(`${name}_clone`)).toEqual(await grantShape(name));
    expect(await rig.canLogin({ username: name, password: initial })).toBe(false);
  });

  it('refuses a name whose clone would pass the 80-character limit, before anything changes', async () => {
    const name = `long_${'y'.repeat(70)}`;
    const initial = setupPassword();
    await rig.createUser(name, initial);
    const arn = await alternatingSecret(name, initial);
    const result = await rig.rotate(arn, rig.handler(mysqlAlternatingUsers()));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('createSecret');
    expect(result.error).toContain('would be 81 characters long, more than the 80 allowed');
    expect(result.error).toContain('shorten the user name to at most 74 characters');
    expect(await rig.hostsOf(`${name}_clone`)).toEqual([]);
    expect(await rig.canLogin({ username: name, password: initial })).toBe(true);
    await expect(rig.value(arn, AWSPENDING)).rejects.toThrow();
  });

  it('with engine "mysql" applies the MySQL limit of 32 characters', async () => {
    const name = `app_${'z'.repeat(24)}`; // 28 characters: its clone would be 34
    const initial = setupPassword();
    await rig.createUser(name, initial);
    const arn = await alternatingSecret(name, initial, { engine: 'mysql' });
    const result = await rig.rotate(arn, rig.handler(mysqlAlternatingUsers()));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('createSecret');
    expect(result.error).toContain('more than the 32 allowed for engine "mysql"');
    expect(await rig.hostsOf(`${name}_clone`)).toEqual([]);
  });

  it('does not use the master when the current credentials fail to log in (the guard of docs/protocol.md#alternating-users)', async () => {
    const initial = setupPassword();
    const outOfBand = setupPassword();
    await rig.createUser('app_guard', initial);
    await rig.setPassword('app_guard', outOfBand);
    const arn = await alternatingSecret('app_guard', initial);
    const result = await rig.rotate(arn, rig.handler(mysqlAlternatingUsers()));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('master credentials are not used');
    expect(await rig.hostsOf('app_guard_clone')).toEqual([]);
  });

  it('converges when the function dies after creating the clone but before its password is set', async () => {
    const initial = setupPassword();
    await rig.createUser('app_crash', initial);
    await rig.db.query('GRANT SELECT, INSERT ON shop.* TO `app_crash`@`%`');
    const arn = await alternatingSecret('app_crash', initial);
    const inner = mysqlAlternatingUsers();
    let crashes = 0;
    const crashing: RotationTarget<ReturnType<typeof inner.parse>> = {
      ...inner,
      async apply(pending, known, ctx) {
        if (crashes > 0) return inner.apply(pending, known, ctx);
        crashes += 1;
        // The function dies right after the clone was created: before grants and password.
        const dying = {
          ...ctx,
          logger: {
            ...ctx.logger,
            info(message: string, extra?: Record<string, unknown>) {
              ctx.logger.info(message, extra);
              if (message === 'created the clone user')
                throw new Error('injected: died after creating the clone');
            },
          },
        };
        return inner.apply(pending, known, dying);
      },
    };
    const handler = rig.handler(crashing);
    const first = await rig.rotate(arn, handler);
    expect(first.ok).toBe(false);
    expect(first.error).toContain('injected');
    expect(await rig.hostsOf('app_crash_clone')).toEqual(['%']);
    expect(await grantShape('app_crash_clone')).not.toEqual(await grantShape('app_crash'));
    const pending = await rig.value(arn, AWSPENDING);
    expect(await rig.canLogin(pending)).toBe(false);

    const rerun = await rig.rotate(arn, handler, true);
    expect(rerun.error).toBeUndefined();
    const current = await rig.value(arn);
    expect(current.username).toBe('app_crash_clone');
    expect(await rig.canLogin(current)).toBe(true);
    expect(await grantShape('app_crash_clone')).toEqual(await grantShape('app_crash'));
  });

  it('with a pre-provisioned pair only alternates passwords, copying no grants', async () => {
    const initial = setupPassword();
    const partner = setupPassword();
    await rig.createUser('app_pair', initial);
    await rig.createUser('app_pair_clone', partner);
    await rig.db.query('GRANT SELECT ON shop.* TO `app_pair`@`%`');
    await rig.db.query('GRANT INSERT ON audit.* TO `app_pair_clone`@`%`');
    const cloneGrants = await grantShape('app_pair_clone');
    const arn = await alternatingSecret('app_pair', initial);
    const handler = rig.handler(mysqlAlternatingUsers({ preProvisionedPair: true }));
    for (const expected of ['app_pair_clone', 'app_pair', 'app_pair_clone']) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const current = await rig.value(arn);
      expect(current.username).toBe(expected);
      expect(await rig.canLogin(current)).toBe(true);
    }
    expect(await rig.canLogin({ username: 'app_pair_clone', password: partner })).toBe(false);
    expect(await grantShape('app_pair_clone')).toEqual(cloneGrants);
  });

  it('with a pre-provisioned pair whose partner is missing fails clearly, creating nothing', async () => {
    const initial = setupPassword();
    await rig.createUser('app_single_of_pair', initial);
    const arn = await alternatingSecret('app_single_of_pair', initial);
    const result = await rig.rotate(
      arn,
      rig.handler(mysqlAlternatingUsers(), { MYSQL_PREPROVISIONED_PAIR: 'yes' }),
    );
    expect(result.ok).toBe(false);
    expect(result.error).toContain(
      'MYSQL_PREPROVISIONED_PAIR is on, but the user "app_single_of_pair_clone" does not exist',
    );
    expect(await rig.hostsOf('app_single_of_pair_clone')).toEqual([]);
  });

  it('reports a master without privileges as a permission failure without any password in it', async () => {
    const initial = setupPassword();
    const weak = setupPassword();
    await rig.createUser('app_weak', initial);
    await rig.createUser('weak_master', weak);
    const weakArn = await rig.createSecret(
      'weak-master',
      rig.masterFor({ username: 'weak_master', password: weak }),
    );
    const arn = await rig.createSecret('alt', rig.secretFor('app_weak', initial, { masterarn: weakArn }));
    const result = await rig.rotate(arn, rig.handler(mysqlAlternatingUsers()));
    const pending = await rig.value(arn, AWSPENDING);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('permission failure');
    expect(result.error).not.toContain(pending.password);
    expect(result.error).not.toContain(weak);
    expect(capturedOutput()).not.toContain(pending.password);
    expect(await rig.hostsOf('app_weak_clone')).toEqual([]);
  });

  it('revoke() makes a user of the pair unusable at once (rotate --emergency)', async () => {
    const initial = setupPassword();
    await rig.createUser('app_emergency', initial);
    const arn = await alternatingSecret('app_emergency', initial);
    const handler = rig.handler(mysqlAlternatingUsers());
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    const previous = await rig.value(arn, AWSPREVIOUS);
    const current = await rig.value(arn);
    expect(await rig.canLogin(previous)).toBe(true);

    const target = mysqlAlternatingUsers();
    const ctx = directContext({}, rig.client);
    await target.revoke!(target.parse(JSON.stringify(previous)), ctx);
    expect(await rig.canLogin(previous)).toBe(false);
    expect(await rig.canLogin(current)).toBe(true);
    // A second call finds nothing to do.
    await target.revoke!(target.parse(JSON.stringify(previous)), ctx);
    expect(ctx.lines.some((line) => line.message.includes('nothing to do'))).toBe(true);
  });
});
