/** Single-user scenarios that are the same on PostgreSQL and MySQL/MariaDB, run on each engine. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlSingleUser } from '../../../src/adapters/mysql/index.ts';
import { nativePasswordHash } from '../../../src/adapters/mysql/sql.ts';
import { postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import type { RotationTarget } from '../../../src/core/target.ts';
import { AWSPENDING } from '../../../src/testing/index.ts';
import type { RotationRig, StoredSecret } from '../../support/rotation-rig.ts';
import { Rig as MysqlRig } from '../mysql/rig.ts';
import { Rig as PostgresRig, setupPassword, VERSIONS } from '../postgres/rig.ts';

interface EngineRig extends RotationRig {
  secretFor(username: string, password: string, extra?: Record<string, unknown>): StoredSecret;
  canLogin(value: { username: string; password: string }): Promise<boolean>;
  createUser(name: string, password: string): Promise<void>;
  setPassword(name: string, password: string): Promise<void>;
  /** Extra fields of the first secret, which must survive every rotation. */
  readonly carried: Record<string, unknown>;
  /** Checks what else the engine keeps of an account across rotations (its host). */
  expectAccountKept(name: string): Promise<void>;
  /** The statements the server logged, to check that no password reached them. */
  loggedStatements(): Promise<string>;
  /** Sets up a table the user may not read, and a query that reads it. */
  probe(user: string): Promise<{ readonly env: Record<string, string>; readonly grant: () => Promise<void> }>;
  stop(): Promise<void>;
}

interface Engine {
  readonly name: string;
  start(): Promise<EngineRig>;
  // biome-ignore lint/suspicious/noExplicitAny: each engine's target has its own secret type.
  target(): RotationTarget<any>;
  /** A password change as the server's log shows it. */
  loggedChange(password: string): string | RegExp;
  readonly oddNames: ReadonlyArray<readonly [string, string]>;
  readonly lostMessages: readonly string[];
  readonly mismatchMessage: string;
  readonly probeVariable: string;
  readonly probeErrno: string;
}

function postgresEngine(version: (typeof VERSIONS)[number]): Engine {
  return {
    name: `PostgreSQL ${version}`,
    async start() {
      const rig = await PostgresRig.start({ version, logStatements: true });
      expect(rig.db.version).toBe(version);
      return Object.assign(rig, {
        carried: { team: 'payments' },
        expectAccountKept: async () => {},
        createUser: (name: string, password: string) => rig.createRole(name, password),
        setPassword: (name: string, password: string) => rig.setRolePassword(name, password),
        loggedStatements: () => rig.db.readLog(),
        async probe(user: string) {
          await rig.db.query('CREATE TABLE IF NOT EXISTS probe_orders (id int)');
          return {
            env: { PG_TEST_QUERY: 'SELECT count(*) FROM probe_orders' },
            grant: async () => void (await rig.db.query(`GRANT SELECT ON probe_orders TO ${user}`)),
          };
        },
      });
    },
    target: () => postgresSingleUser(),
    loggedChange: () => /ALTER ROLE "app_single" PASSWORD 'SCRAM-SHA-256\$4096:/,
    oddNames: [
      ['quotes', `o'brien "the dba"`],
      ['a semicolon and SQL', 'app; DROP ROLE postgres; --'],
      ['spaces', 'app user with spaces'],
      ['non-ASCII characters', 'ünïcødé_用户_пользователь'],
      ['63 characters', `long_${'x'.repeat(58)}`],
      ['63 bytes of non-ASCII', `${'é'.repeat(31)}x`],
    ],
    lostMessages: ['could not log in with any stored version', 'current: authentication failed'],
    mismatchMessage: 'must be the same user and host',
    probeVariable: 'PG_TEST_QUERY',
    probeErrno: '42501',
  };
}

const mariadb: Engine = {
  name: 'MariaDB',
  async start() {
    const rig = await MysqlRig.start();
    expect(rig.db.version).toMatch(/MariaDB/);
    // Every statement goes to a table, to check what the server could write to its logs.
    await rig.db.query("SET GLOBAL log_output = 'TABLE'");
    await rig.db.query('SET GLOBAL general_log = 1');
    return Object.assign(rig, {
      carried: { team: 'payments', port: String(rig.db.port) },
      expectAccountKept: async (name: string) => expect(await rig.hostsOf(name)).toEqual(['%']),
      async loggedStatements() {
        const rows = await rig.db.query<{ argument: Buffer | string }>(
          "SELECT argument FROM mysql.general_log WHERE command_type = 'Query'",
        );
        return rows.map((row) => String(row.argument)).join('\n');
      },
      async probe(user: string) {
        await rig.db.query('CREATE DATABASE IF NOT EXISTS probe');
        await rig.db.query('CREATE TABLE IF NOT EXISTS probe.orders (id int)');
        return {
          env: { MYSQL_TEST_QUERY: 'SELECT COUNT(*) FROM probe.orders' },
          grant: async () => void (await rig.db.query(`GRANT SELECT ON probe.orders TO \`${user}\`@\`%\``)),
        };
      },
    });
  },
  target: () => mysqlSingleUser(),
  loggedChange: (password) => `SET PASSWORD = '${nativePasswordHash(password)}'`,
  oddNames: [
    ['quotes', `o'brien "the dba"`],
    ['backticks and a semicolon with SQL', 'app`; DROP USER root; --'],
    ['spaces', 'app user with spaces'],
    ['non-ASCII characters', 'ünïcødé_用户_пользователь'],
    ['backslashes and a percent sign', 'dom\\app%_x'],
    ['80 characters, the MariaDB limit', `long_${'x'.repeat(75)}`],
  ],
  lostMessages: ['could not log in', 'pending, current or previous version'],
  mismatchMessage: 'single-user rotation keeps one user',
  probeVariable: 'MYSQL_TEST_QUERY',
  probeErrno: '1142',
};

describe.each([...VERSIONS.map(postgresEngine), mariadb])('single user on $name', (engine) => {
  let rig: EngineRig;
  const generated: string[] = [];

  beforeAll(async () => {
    rig = await engine.start();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('rotates 20 times in a row: each new password logs in and the one before is refused', async () => {
    const initial = setupPassword();
    await rig.createUser('app_single', initial);
    const arn = await rig.createSecret('single', rig.secretFor('app_single', initial, rig.carried));
    const handler = rig.handler(engine.target());

    let before = await rig.value(arn);
    for (let rotation = 1; rotation <= 20; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      const after = await rig.value(arn);
      generated.push(after.password);
      expect(after).toMatchObject({ username: 'app_single', ...rig.carried });
      expect(after.password).not.toBe(before.password);
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(false);
      before = after;
    }
    expect(new Set(generated).size).toBe(20);
  });

  it('never sends a generated password in SQL text: the server log holds only verifiers or hashes', async () => {
    const log = await rig.loggedStatements();
    expect(generated.length).toBe(20);
    // The password changes were logged (so this test can fail)…
    for (const password of generated) {
      const change = engine.loggedChange(password);
      if (typeof change === 'string') expect(log).toContain(change);
      else expect(log).toMatch(change);
    }
    // …and none of them carries a password.
    for (const password of generated) expect(log).not.toContain(password);
  });

  it.each(engine.oddNames)('rotates a user name with %s', async (_kind, name) => {
    const initial = setupPassword();
    await rig.createUser(name, initial);
    const arn = await rig.createSecret('odd-name', rig.secretFor(name, initial));
    const handler = rig.handler(engine.target());
    for (let rotation = 0; rotation < 2; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const current = await rig.value(arn);
      expect(current.username).toBe(name);
      expect(await rig.canLogin(current)).toBe(true);
    }
    expect(await rig.canLogin({ username: name, password: initial })).toBe(false);
    await rig.expectAccountKept(name);
  });

  it('logs in with the previous password when pending and current no longer work', async () => {
    const initial = setupPassword();
    await rig.createUser('app_restored', initial);
    const arn = await rig.createSecret('restored', rig.secretFor('app_restored', initial));
    const handler = rig.handler(engine.target());
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

    const result = await rig.rotate(arn, rig.handler(engine.target()));
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('authentication failure');
    for (const message of engine.lostMessages) expect(result.error).toContain(message);
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

    const result = await rig.rotate(arn, rig.handler(engine.target()), true);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain(engine.mismatchMessage);
    expect(await rig.canLogin({ username: 'app_mismatch', password: initial })).toBe(true);
    expect((await rig.value(arn, AWSPENDING)).username).toBe('someone_else');
  });

  it('converges when the function dies right after the password change and the rotation is re-run', async () => {
    const initial = setupPassword();
    await rig.createUser('app_fault', initial);
    const arn = await rig.createSecret('fault', rig.secretFor('app_fault', initial));
    const inner = engine.target();
    let failures = 0;
    const dying: typeof inner = {
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

  it('testSecret runs the test query and reports a missing privilege as a permission failure', async () => {
    const initial = setupPassword();
    await rig.createUser('app_probe', initial);
    const probe = await rig.probe('app_probe');
    const arn = await rig.createSecret('probe', rig.secretFor('app_probe', initial));
    const handler = rig.handler(engine.target(), probe.env);

    const refused = await rig.rotate(arn, handler);
    expect(refused.ok).toBe(false);
    expect(refused.failedStep).toBe('testSecret');
    expect(refused.error).toContain('permission failure');
    expect(refused.error).toContain(engine.probeVariable);
    expect(refused.error).toContain(engine.probeErrno);

    await probe.grant();
    const resumed = await rig.rotate(arn, handler, true);
    expect(resumed.error).toBeUndefined();
    expect(await rig.canLogin(await rig.value(arn))).toBe(true);
  });
});
