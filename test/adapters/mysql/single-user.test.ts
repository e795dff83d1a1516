import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession } from '../../../src/adapters/mysql/connect.ts';
import { mysqlSingleUser } from '../../../src/adapters/mysql/index.ts';
import { readMysqlSettings } from '../../../src/adapters/mysql/settings.ts';
import { nativePasswordHash } from '../../../src/adapters/mysql/sql.ts';
import { AWSPENDING, AWSPREVIOUS } from '../../../src/testing/index.ts';
import { capturedOutput, trackSecrets } from '../../support/leak-scan.ts';
import { directContext, Rig, rejection, setupPassword } from './rig.ts';

/** What mysql2 attaches to a server's error. */
type ServerError = Error & { errno?: number; sqlMessage?: string };

describe('mysql single user on a private MariaDB: what only MySQL does', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await Rig.start();
    expect(rig.db.version).toMatch(/MariaDB/);
  });
  afterAll(async () => {
    await rig?.stop();
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
