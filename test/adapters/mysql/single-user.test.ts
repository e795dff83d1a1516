import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession } from '../../../src/adapters/mysql/connect.ts';
import { mysqlSingleUser } from '../../../src/adapters/mysql/index.ts';
import { readMysqlSettings } from '../../../src/adapters/mysql/settings.ts';
import { nativePasswordHash } from '../../../src/adapters/mysql/sql.ts';
import type { RotationTarget } from '../../../src/core/target.ts';
import { AWSPENDING, AWSPREVIOUS } from '../../../src/testing/index.ts';
import { capturedOutput, trackSecrets } from '../../support/leak-scan.ts';
import { directContext, Rig, rejection, setupPassword } from './rig.ts';

/** What mysql2 attaches to a server's error. */
type ServerError = Error & { errno?: number; sqlMessage?: string };

describe('mysql single user on a private MariaDB', () => {
  let rig: Rig;
  const generated: string[] = [];

  beforeAll(async () => {
    rig = await Rig.start();
    expect(rig.db.version).toMatch(/MariaDB/);
    // Log every statement to a table, to check what the server could write to its logs.
    await rig.db.query("SET GLOBAL log_output = 'TABLE'");
    await rig.db.query('SET GLOBAL general_log = 1');
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('rotates 20 times in a row: each new password logs in and the one before is refused', async () => {
    const initial = setupPassword();
    await rig.createUser('app_single', initial);
    const arn = await rig.createSecret(
      'single',
      rig.secretFor('app_single', initial, { team: 'payments', port: String(rig.db.port) }),
    );
    const handler = rig.handler(mysqlSingleUser());

    let before = await rig.value(arn);
    for (let rotation = 1; rotation <= 20; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      const after = await rig.value(arn);
      generated.push(after.password);
      expect(after.username).toBe('app_single');
      expect(after.team).toBe('payments');
      expect(after.port).toBe(String(rig.db.port));
      expect(after.password).not.toBe(before.password);
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(false);
      before = after;
    }
    expect(new Set(generated).size).toBe(20);
  });

  it('never sends a generated password in SQL text: the general log holds only native hashes', async () => {
    const rows = await rig.db.query<{ argument: Buffer | string }>(
      "SELECT argument FROM mysql.general_log WHERE command_type = 'Query'",
    );
    const log = rows.map((row) => String(row.argument)).join('\n');
    expect(generated.length).toBe(20);
    // The password changes were logged (so this test can fail)…
    for (const password of generated)
      expect(log).toContain(`SET PASSWORD = '${nativePasswordHash(password)}'`);
    // …and none of them carries a password.
    for (const password of generated) expect(log).not.toContain(password);
  });

  it.each([
    ['quotes', `o'brien "the dba"`],
    ['backticks and a semicolon with SQL', 'app`; DROP USER root; --'],
    ['spaces', 'app user with spaces'],
    ['non-ASCII characters', 'ünïcødé_用户_пользователь'],
    ['backslashes and a percent sign', 'dom\\app%_x'],
    ['80 characters, the MariaDB limit', `long_${'x'.repeat(75)}`],
  ])('rotates a user name with %s', async (_kind, name) => {
    const initial = setupPassword();
    await rig.createUser(name, initial);
    const arn = await rig.createSecret('odd-name', rig.secretFor(name, initial));
    const handler = rig.handler(mysqlSingleUser());
    for (let rotation = 0; rotation < 2; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const current = await rig.value(arn);
      expect(current.username).toBe(name);
      expect(await rig.canLogin(current)).toBe(true);
    }
    expect(await rig.canLogin({ username: name, password: initial })).toBe(false);
    expect(await rig.hostsOf(name)).toEqual(['%']);
  });

  it.each([
    ['81 characters, one over the MariaDB limit', 81],
    ['60 000 characters', 60_000],
  ])(
    'refuses a user name of %s at createSecret, naming the field and the limit, storing nothing',
    async (_kind, length) => {
      const initial = setupPassword();
      const arn = await rig.createSecret('too-long', rig.secretFor('u'.repeat(length), initial));
      const result = await rig.rotate(arn, rig.handler(mysqlSingleUser()));
      expect(result.ok).toBe(false);
      expect(result.failedStep).toBe('createSecret');
      expect(result.error).toContain(
        `Secret field "username" is ${length} characters long, more than the 80 allowed for engine "mariadb"`,
      );
      expect(result.error).not.toContain('u'.repeat(65));
      await expect(rig.value(arn, AWSPENDING)).rejects.toThrow();
    },
  );

  it('keeps an account bound to a host other than % on that host', async () => {
    const initial = setupPassword();
    await rig.createUser('app_local_host', initial, '127.0.0.1');
    const arn = await rig.createSecret('host', rig.secretFor('app_local_host', initial));
    const result = await rig.rotate(arn, rig.handler(mysqlSingleUser()));
    expect(result.error).toBeUndefined();
    expect(await rig.canLogin(await rig.value(arn))).toBe(true);
    expect(await rig.hostsOf('app_local_host')).toEqual(['127.0.0.1']);
  });

  it('logs in with the previous password when pending and current no longer work', async () => {
    const initial = setupPassword();
    await rig.createUser('app_restored', initial);
    const arn = await rig.createSecret('restored', rig.secretFor('app_restored', initial));
    const handler = rig.handler(mysqlSingleUser());
    expect((await rig.rotate(arn, handler)).ok).toBe(true);
    // A database restore brings back the password of before that rotation (AWSPREVIOUS).
    await rig.setPassword('app_restored', initial);

    const result = await rig.rotate(arn, handler);
    expect(result.error).toBeUndefined();
    const current = await rig.value(arn);
    expect(await rig.canLogin(current)).toBe(true);
    expect(await rig.canLogin({ username: 'app_restored', password: initial })).toBe(false);
  });

  it('fails with a clear authentication error when no stored version logs in, changing nothing', async () => {
    const initial = setupPassword();
    const outOfBand = setupPassword();
    await rig.createUser('app_lost', initial);
    const arn = await rig.createSecret('lost', rig.secretFor('app_lost', initial));
    await rig.setPassword('app_lost', outOfBand);

    const result = await rig.rotate(arn, rig.handler(mysqlSingleUser()));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('authentication failure');
    expect(result.error).toContain('could not log in');
    expect(result.error).toContain('pending, current or previous version');
    expect(await rig.canLogin({ username: 'app_lost', password: outOfBand })).toBe(true);
  });

  it('refuses a pending version naming another user before connecting with current credentials', async () => {
    const initial = setupPassword();
    await rig.createUser('app_mismatch', initial);
    const arn = await rig.createSecret('mismatch', rig.secretFor('app_mismatch', initial));
    const versionId = crypto.randomUUID();
    await rig.sm.registerPendingVersion(arn, versionId);
    const intruder = setupPassword();
    await rig.sm.fillPendingVersion(arn, versionId, JSON.stringify(rig.secretFor('someone_else', intruder)));

    const result = await rig.rotate(arn, rig.handler(mysqlSingleUser()), true);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('single-user rotation keeps one user');
    expect(await rig.canLogin({ username: 'app_mismatch', password: initial })).toBe(true);
    expect((await rig.value(arn, AWSPENDING)).username).toBe('someone_else');
  });

  it('converges when the function dies right after the password change and the rotation is re-run', async () => {
    const initial = setupPassword();
    await rig.createUser('app_fault', initial);
    const arn = await rig.createSecret('fault', rig.secretFor('app_fault', initial));
    const inner = mysqlSingleUser();
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
    expect(await rig.canLogin(pending)).toBe(true);
    expect(await rig.canLogin({ username: 'app_fault', password: initial })).toBe(false);

    const rerun = await rig.rotate(arn, handler, true);
    expect(rerun.error).toBeUndefined();
    expect(rerun.versionId).toBe(first.versionId);
    const current = await rig.value(arn);
    expect(current.password).toBe(pending.password);
    expect(await rig.canLogin(current)).toBe(true);
  });

  it('testSecret runs MYSQL_TEST_QUERY and reports a missing privilege as a permission failure', async () => {
    const initial = setupPassword();
    await rig.createUser('app_probe', initial);
    await rig.db.query('CREATE DATABASE IF NOT EXISTS probe');
    await rig.db.query('CREATE TABLE IF NOT EXISTS probe.orders (id int)');
    const arn = await rig.createSecret('probe', rig.secretFor('app_probe', initial));
    const handler = rig.handler(mysqlSingleUser(), { MYSQL_TEST_QUERY: 'SELECT COUNT(*) FROM probe.orders' });

    const refused = await rig.rotate(arn, handler);
    expect(refused.ok).toBe(false);
    expect(refused.failedStep).toBe('testSecret');
    expect(refused.error).toContain('permission failure');
    expect(refused.error).toContain('MYSQL_TEST_QUERY');
    expect(refused.error).toContain('1142');

    await rig.db.query('GRANT SELECT ON probe.orders TO `app_probe`@`%`');
    const resumed = await rig.rotate(arn, handler, true);
    expect(resumed.error).toBeUndefined();
    expect(await rig.canLogin(await rig.value(arn))).toBe(true);
  });

  it('refuses MYSQL_DUAL_PASSWORD on MariaDB before changing anything', async () => {
    const initial = setupPassword();
    await rig.createUser('app_dual', initial);
    const arn = await rig.createSecret('dual', rig.secretFor('app_dual', initial));
    const result = await rig.rotate(arn, rig.handler(mysqlSingleUser(), { MYSQL_DUAL_PASSWORD: 'true' }));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('MYSQL_DUAL_PASSWORD is on, but the server is MariaDB');
    expect(await rig.canLogin({ username: 'app_dual', password: initial })).toBe(true);
  });

  it('reports a password change the server rejects without the password in the error', async () => {
    const initial = setupPassword();
    await rig.createUser('app_readonly', initial);
    const arn = await rig.createSecret('readonly', rig.secretFor('app_readonly', initial));
    await rig.db.query('SET GLOBAL read_only = 1');
    let result: Awaited<ReturnType<Rig['rotate']>>;
    try {
      result = await rig.rotate(arn, rig.handler(mysqlSingleUser()));
    } finally {
      await rig.db.query('SET GLOBAL read_only = 0');
    }
    const pending = await rig.value(arn, AWSPENDING);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('change the password of the logged-in user');
    expect(result.error).toContain('1290');
    expect(result.error).toContain('read-only');
    expect(result.error).not.toContain(pending.password);
    expect(result.error).not.toContain(nativePasswordHash(pending.password));
    expect(capturedOutput()).not.toContain(pending.password);
    expect(await rig.canLogin({ username: 'app_readonly', password: initial })).toBe(true);
  });

  it('revoke() finds nothing to do for an old password, and refuses to revoke the only one', async () => {
    const initial = setupPassword();
    await rig.createUser('app_revoke', initial);
    const arn = await rig.createSecret('revoke', rig.secretFor('app_revoke', initial));
    expect((await rig.rotate(arn, rig.handler(mysqlSingleUser()))).error).toBeUndefined();
    const target = mysqlSingleUser();
    const ctx = directContext({}, rig.client);
    await target.revoke!(target.parse(JSON.stringify(await rig.value(arn, AWSPREVIOUS))), ctx);
    expect(ctx.lines.some((line) => line.message.includes('nothing to do'))).toBe(true);

    const current = await rig.value(arn);
    const error = await rejection(target.revoke!(target.parse(JSON.stringify(current)), ctx));
    expect(error.message).toContain('still the only password of "app_revoke"; rotate the secret instead');
    expect(await rig.canLogin(current)).toBe(true);
  });

  it("keeps the password out of the error when the server's syntax error quotes the statement", async () => {
    const password = 'Quoted-In-Syntax-Error-7f3a';
    trackSecrets(password);
    // What the server itself says about this statement: it quotes the password.
    const raw = await rig.db.connect();
    const serverSays = await rejection(raw.query(`SET PASSWORD = = PASSWORD('${password}')`));
    await raw.end();
    expect((serverSays as ServerError).errno).toBe(1064);
    expect((serverSays as ServerError).sqlMessage).toContain(password);
    trackSecrets((serverSays as ServerError).sqlMessage);

    const ctx = directContext({});
    const session = await openSession(
      { host: rig.db.host, port: rig.db.port, database: undefined, ssl: false },
      { username: rig.db.root.username, password: rig.db.root.password, source: 'the test' },
      readMysqlSettings({ MYSQL_TLS_MODE: 'disable' }),
      ctx,
    );
    try {
      const error = await rejection(
        session.run({
          label: 'change a password',
          text: `SET PASSWORD = = PASSWORD('${password}')`,
          sensitive: true,
        }),
      );
      expect(error.message).toContain('change a password');
      expect(error.message).toContain('server error 1064 ER_PARSE_ERROR');
      expect(error.message).toContain('withheld');
      expect(error.message).not.toContain(password);
      expect(JSON.stringify(error)).not.toContain(password);
      expect(String(error.stack)).not.toContain(password);
      expect((error as { cause?: unknown }).cause).toBeUndefined();
    } finally {
      await session.close();
    }
  });
});
