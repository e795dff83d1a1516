import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresAlternatingUsers } from '../../../src/adapters/postgres/index.ts';
import { scramSha256Verifier } from '../../../src/adapters/postgres/scram.ts';
import { quoteIdentifier, quoteLiteral } from '../../../src/adapters/postgres/sql.ts';
import type { RotationHandler } from '../../../src/core/event.ts';
import type { RotationTarget } from '../../../src/core/target.ts';
import { AWSPENDING } from '../../../src/testing/index.ts';
import { capturedOutput, trackSecrets } from '../../support/leak-scan.ts';
import { type PostgresInstance, startPostgres } from '../../support/postgres.ts';
import { directContext, Rig, type StoredSecret, setupPassword, VERSIONS } from './rig.ts';

const q = quoteIdentifier;

describe.each(VERSIONS)('postgres alternating users on PostgreSQL %i', (version) => {
  let rig: Rig;
  const generated: string[] = [];

  beforeAll(async () => {
    rig = await Rig.start({ version, logStatements: true });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  /** The settings a role has, as `database:name=value` strings ('*' for all databases). */
  async function roleSettings(role: string): Promise<string[]> {
    const rows = await rig.db.query<{ database: string | null; config: string[] }>(
      `SELECT d.datname AS database, s.setconfig AS config FROM pg_db_role_setting s
         JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
        WHERE r.rolname = $1`,
      [role],
    );
    return rows.flatMap((row) => row.config.map((entry) => `${row.database ?? '*'}:${entry}`)).sort();
  }

  /** Proves that what `creator` makes, `other` can write and alter, in both directions. */
  async function checkSharedOwnership(a: StoredSecret, b: StoredSecret, round: number): Promise<void> {
    for (const [creator, other, tag] of [
      [a, b, 'a'],
      [b, a, 'b'],
    ] as const) {
      const table = `shared_${round}_${tag}`;
      // Unqualified: the copied search_path must put it in the app's schema.
      await rig.as(creator, async (client) => {
        await client.query(`CREATE TABLE ${table} (id int)`);
        await client.query(`INSERT INTO ${table} VALUES (1)`);
      });
      await rig.as(other, async (client) => {
        await client.query(`INSERT INTO ${table} VALUES (2)`);
        await client.query(`UPDATE ${table} SET id = id + 10`);
        await client.query(`ALTER TABLE ${table} ADD COLUMN note text`);
        await client.query(`CREATE INDEX ON ${table} (id)`);
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${table}`);
        expect(rows[0].n).toBe(2);
      });
      const [owner] = await rig.db.query<{ schema: string; owner: string }>(
        'SELECT schemaname AS schema, tableowner AS owner FROM pg_tables WHERE tablename = $1',
        [table],
      );
      expect(owner).toEqual({ schema: 'app_schema', owner: 'app' });
    }
  }

  it('rotates 20 times: both users log in, they alternate, and each can write and alter what the other made', async () => {
    const initial = setupPassword();
    await rig.createRole('app', initial);
    await rig.db.query('CREATE SCHEMA app_schema AUTHORIZATION app');
    await rig.db.query('ALTER ROLE app SET search_path = app_schema, "$user"');
    await rig.db.query("ALTER ROLE app SET statement_timeout = '5min'");
    await rig.db.query("ALTER ROLE app IN DATABASE postgres SET work_mem = '8MB'");
    // Made before the clone exists, by the original: the clone must be able to alter it too.
    await rig.as({ username: 'app', password: initial }, (client) =>
      client.query('CREATE TABLE legacy (id int)'),
    );
    const arn = await rig.createSecret(
      'alternating',
      rig.secretFor('app', initial, { masterarn: rig.masterArn, owner: 'team-a' }),
    );
    const handler = rig.handler(postgresAlternatingUsers());

    for (let rotation = 1; rotation <= 20; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const current = await rig.value(arn);
      const previous = await rig.value(arn, 'AWSPREVIOUS');
      generated.push(current.password);
      expect(current.username).toBe(rotation % 2 === 1 ? 'app_clone' : 'app');
      expect(previous.username).toBe(rotation % 2 === 1 ? 'app' : 'app_clone');
      expect(current.owner).toBe('team-a');
      expect(current.masterarn).toBe(rig.masterArn);
      expect(await rig.canLogin(current)).toBe(true);
      expect(await rig.canLogin(previous)).toBe(true);
      await checkSharedOwnership(current, previous, rotation);
    }

    const clone = await rig.value(arn, 'AWSPREVIOUS');
    expect(clone.username).toBe('app_clone');
    await rig.as(clone, async (client) => {
      await client.query('ALTER TABLE legacy ADD COLUMN added_by_clone int');
      const { rows } = await client.query('SELECT session_user::text AS s, current_user::text AS c');
      expect(rows[0]).toEqual({ s: 'app_clone', c: 'app' });
      expect((await client.query('SHOW search_path')).rows[0].search_path).toBe('app_schema, "$user"');
      expect((await client.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('5min');
      expect((await client.query('SHOW work_mem')).rows[0].work_mem).toBe('8MB');
      // What docs/adapters/postgres.md promises about session resets: RESET ROLE and DISCARD ALL (poolers) go
      // back to acting as the original; only an explicit SET ROLE NONE acts as the clone itself.
      const actingAs = async () => (await client.query('SELECT current_user::text AS c')).rows[0].c;
      await client.query('RESET ROLE');
      expect(await actingAs()).toBe('app');
      await client.query('DISCARD ALL');
      expect(await actingAs()).toBe('app');
      await client.query('SET ROLE NONE');
      expect(await actingAs()).toBe('app_clone');
    });
    expect(await roleSettings('app_clone')).toEqual([...(await roleSettings('app')), '*:role=app'].sort());
  });

  it('never sends a generated password in SQL text: the log_statement=all log holds only verifiers', async () => {
    const log = await rig.db.readLog();
    expect(log).toMatch(/ALTER ROLE "app_clone" PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(log).toMatch(/ALTER ROLE "app" PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(generated).toHaveLength(20);
    for (const password of generated) expect(log).not.toContain(password);
  });

  it('keeps the clone in step when the original gains or loses settings', async () => {
    const initial = setupPassword();
    await rig.createRole('drift', initial);
    await rig.db.query("ALTER ROLE drift SET lock_timeout = '3s'");
    const arn = await rig.createSecret(
      'drift',
      rig.secretFor('drift', initial, { masterarn: rig.masterArn }),
    );
    const handler = rig.handler(postgresAlternatingUsers());
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    expect(await roleSettings('drift_clone')).toEqual(['*:lock_timeout=3s', '*:role=drift']);

    await rig.db.query('ALTER ROLE drift RESET lock_timeout');
    await rig.db.query("ALTER ROLE drift SET search_path = 'My Schema', public");
    expect((await rig.rotate(arn, handler)).error).toBeUndefined();
    expect(await roleSettings('drift_clone')).toEqual(['*:role=drift', '*:search_path="My Schema", public']);
    expect(await roleSettings('drift_clone')).toEqual(
      [...(await roleSettings('drift')), '*:role=drift'].sort(),
    );
  });

  it.each([
    ['quotes', `o'brien "ops"`],
    ['a semicolon and SQL', 'app; DROP ROLE postgres; --'],
    ['spaces', 'svc user with spaces'],
    ['non-ASCII characters', 'ünïcødé_用户'],
    ['the longest name whose clone fits (57 bytes)', `n57_${'y'.repeat(53)}`],
  ])('alternates a user name with %s', async (_kind, name) => {
    const initial = setupPassword();
    await rig.createRole(name, initial);
    await rig.db.query(`CREATE SCHEMA ${q(`${name} data`)} AUTHORIZATION ${q(name)}`);
    await rig.db.query(`ALTER ROLE ${q(name)} SET search_path = ${q(`${name} data`)}`);
    const arn = await rig.createSecret('odd', rig.secretFor(name, initial, { masterarn: rig.masterArn }));
    const handler = rig.handler(postgresAlternatingUsers());
    for (const expected of [`${name}_clone`, name]) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const current = await rig.value(arn);
      expect(current.username).toBe(expected);
      expect(await rig.canLogin(current)).toBe(true);
      expect(await rig.canLogin(await rig.value(arn, 'AWSPREVIOUS'))).toBe(true);
    }
    const clone = `${name}_clone`;
    expect(await roleSettings(clone)).toEqual([...(await roleSettings(name)), `*:role=${name}`].sort());
  });

  it.each([
    ['58 ASCII characters', `n58_${'z'.repeat(54)}`],
    ['63 characters', `n63_${'z'.repeat(59)}`],
    ['29 two-byte characters (58 bytes)', 'ü'.repeat(29)],
  ])(
    'refuses a name of %s, whose clone would pass 63 bytes, before anything changes',
    async (_kind, name) => {
      const initial = setupPassword();
      await rig.createRole(name, initial);
      const arn = await rig.createSecret(
        'too-long',
        rig.secretFor(name, initial, { masterarn: rig.masterArn }),
      );
      const putsBefore = rig.sm.callsTo('PutSecretValue').length;

      const result = await rig.rotate(arn, rig.handler(postgresAlternatingUsers()));
      expect(result.ok).toBe(false);
      expect(result.failedStep).toBe('createSecret');
      expect(result.error).toContain('cannot alternate');
      expect(result.error).toContain("over PostgreSQL's limit of 63 bytes");
      expect(rig.sm.callsTo('PutSecretValue').length).toBe(putsBefore);
      expect(await rig.db.query('SELECT 1 FROM pg_roles WHERE rolname LIKE $1', [`${name}%_clone`])).toEqual(
        [],
      );
      expect(await rig.canLogin({ username: name, password: initial })).toBe(true);
    },
  );

  it.each([
    ['one warm function runs every step (the master secret is read early, never used)', false],
    ['each step runs in a fresh function (the master secret is not even read)', true],
  ])(
    'does not use the master credentials when the current credentials do not log in: %s',
    async (_, fresh) => {
      const initial = setupPassword();
      const role = fresh ? 'guarded_cold' : 'guarded';
      await rig.createRole(role, initial);
      const arn = await rig.createSecret(role, rig.secretFor(role, initial, { masterarn: rig.masterArn }));
      await rig.setRolePassword(role, setupPassword());
      const readsBefore = rig.sm.callsTo('GetSecretValue').length;

      const warm = rig.handler(postgresAlternatingUsers());
      const handler: RotationHandler = fresh
        ? (event, context) => rig.handler(postgresAlternatingUsers())(event, context)
        : warm;
      const result = await rig.rotate(arn, handler);
      expect(result.ok).toBe(false);
      expect(result.failedStep).toBe('setSecret');
      expect(result.error).toContain('the master credentials were not used');
      expect(
        await rig.db.query(`SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(`${role}_clone`)}`),
      ).toEqual([]);
      const masterReads = rig.sm
        .callsTo('GetSecretValue')
        .slice(readsBefore)
        .filter((call) => JSON.stringify(call.input).includes(rig.masterArn));
      expect(masterReads).toHaveLength(fresh ? 0 : 1);
    },
  );

  it('converges when the function dies right after the password change and the rotation is re-run', async () => {
    const initial = setupPassword();
    await rig.createRole('faulty', initial);
    const arn = await rig.createSecret(
      'faulty',
      rig.secretFor('faulty', initial, { masterarn: rig.masterArn }),
    );
    const inner = postgresAlternatingUsers();
    let failures = 0;
    const dying: RotationTarget<ReturnType<typeof inner.parse>> = {
      ...inner,
      async apply(pending, known, ctx) {
        await inner.apply(pending, known, ctx);
        if (failures++ === 0) throw new Error('injected: the function died right after the password change');
      },
    };
    const handler = rig.handler(dying);
    const first = await rig.rotate(arn, handler);
    expect(first.failedStep).toBe('setSecret');
    const pending = await rig.value(arn, AWSPENDING);
    expect(await rig.canLogin(pending)).toBe(true);

    const rerun = await rig.rotate(arn, handler, true);
    expect(rerun.error).toBeUndefined();
    const current = await rig.value(arn);
    expect(current).toEqual(pending);
    expect(await rig.canLogin(current)).toBe(true);
    expect(await rig.canLogin({ username: 'faulty', password: initial })).toBe(true);
  });

  it('works with a master that is not a superuser but created the users (as on RDS)', async () => {
    const masterPassword = setupPassword();
    await rig.createRole('rds_admin', masterPassword, 'CREATEROLE');
    const masterArn = await rig.createSecret(
      'rds-master',
      rig.masterFor({ username: 'rds_admin', password: masterPassword }),
    );
    const initial = setupPassword();
    await rig.as({ username: 'rds_admin', password: masterPassword }, async (client) => {
      await client.query(`CREATE ROLE managed LOGIN PASSWORD '${scramSha256Verifier(initial)}'`);
      await client.query('ALTER ROLE managed SET search_path = managed_schema');
    });
    // A parameter only a superuser may set: the clone cannot get it from this master.
    await rig.db.query('ALTER ROLE managed SET log_min_duration_statement = 250');
    await rig.db.query('CREATE SCHEMA managed_schema AUTHORIZATION managed');
    const arn = await rig.createSecret(
      'managed',
      rig.secretFor('managed', initial, { masterarn: masterArn }),
    );
    const handler = rig.handler(postgresAlternatingUsers());
    for (let rotation = 0; rotation < 2; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
    }
    const output = capturedOutput();
    expect(output).toContain('could not copy a role setting to the clone');
    expect(output).toContain('"setting":"log_min_duration_statement"');
    expect(output).toMatch(/"RoleSettingNotCopied":1/);
    expect(await roleSettings('managed_clone')).toEqual(['*:role=managed', '*:search_path=managed_schema']);
    const current = await rig.value(arn);
    const previous = await rig.value(arn, 'AWSPREVIOUS');
    await rig.as(previous, (client) => client.query('CREATE TABLE made_by_clone (id int)'));
    await rig.as(current, (client) => client.query('ALTER TABLE made_by_clone ADD COLUMN x int'));
  });

  it('revokes a user: its password stops working and its open sessions end', async () => {
    const initial = setupPassword();
    await rig.createRole('revocable', initial);
    const arn = await rig.createSecret(
      'revocable',
      rig.secretFor('revocable', initial, { masterarn: rig.masterArn }),
    );
    expect((await rig.rotate(arn, rig.handler(postgresAlternatingUsers()))).error).toBeUndefined();
    const current = await rig.value(arn);
    const previous = await rig.value(arn, 'AWSPREVIOUS');
    const open = await rig.db.connect(previous);
    const ended = new Promise((resolve) => open.once('end', resolve));
    const bystander = await rig.db.connect(current);

    const target = postgresAlternatingUsers();
    const ctx = directContext({}, rig.client);
    await target.revoke!(target.parse(JSON.stringify(previous)), ctx);

    expect(await rig.canLogin(previous)).toBe(false);
    expect(await rig.canLogin(current)).toBe(true);
    await ended;
    // Only that user's sessions end.
    expect((await bystander.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await bystander.end();
    expect(ctx.lines.find((line) => line.message === 'revoked the user')?.extra).toMatchObject({
      role: 'revocable',
      sessionsEnded: 1,
    });
  });

  describe('pre-provisioned pair', () => {
    it('alternates the passwords of two existing users without touching anything else', async () => {
      const first = setupPassword();
      const second = setupPassword();
      const adminPassword = setupPassword();
      await rig.createRole('pair', first);
      await rig.createRole('pair_clone', second);
      await rig.createRole('pair_admin', adminPassword, 'SUPERUSER');
      const masterarn = await rig.createSecret(
        'pair-admin',
        rig.masterFor({ username: 'pair_admin', password: adminPassword }),
      );
      const arn = await rig.createSecret('pair', rig.secretFor('pair', first, { masterarn }));
      const handler = rig.handler(postgresAlternatingUsers({ preProvisionedPair: true }));

      // The first rotation needs the master: nothing stored knows pair_clone's password.
      expect((await rig.rotate(arn, handler)).error).toBeUndefined();
      // From then on each user changes its own password, logged in with the previous version: the
      // master is not needed, as a master that can no longer log in shows.
      await rig.db.query('ALTER ROLE pair_admin NOLOGIN');
      for (let rotation = 2; rotation <= 6; rotation += 1) {
        const result = await rig.rotate(arn, handler);
        expect(result.error).toBeUndefined();
        const current = await rig.value(arn);
        const previous = await rig.value(arn, 'AWSPREVIOUS');
        expect(current.username).toBe(rotation % 2 === 1 ? 'pair_clone' : 'pair');
        expect(previous.username).toBe(rotation % 2 === 1 ? 'pair' : 'pair_clone');
        expect(await rig.canLogin(current)).toBe(true);
        expect(await rig.canLogin(previous)).toBe(true);
      }
      expect(await roleSettings('pair_clone')).toEqual([]);
      expect(
        await rig.db.query(
          "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'pair_clone'",
        ),
      ).toEqual([]);
    });

    it('names the fix when the other user does not exist', async () => {
      const initial = setupPassword();
      await rig.createRole('lonely', initial);
      const arn = await rig.createSecret(
        'lonely',
        rig.secretFor('lonely', initial, { masterarn: rig.masterArn }),
      );
      const result = await rig.rotate(
        arn,
        rig.handler(postgresAlternatingUsers(), { PG_PREPROVISIONED_PAIR: 'true' }),
      );
      expect(result.failedStep).toBe('setSecret');
      expect(result.error).toContain('role "lonely_clone" does not exist');
      expect(await rig.db.query("SELECT 1 FROM pg_roles WHERE rolname = 'lonely_clone'")).toEqual([]);
    });
  });
});

describe('postgres alternating users: the current-login guard and the master act on the same server', () => {
  let rig: Rig;
  let other: PostgresInstance;

  beforeAll(async () => {
    // Two servers on one host, told apart by their ports only.
    [rig, other] = await Promise.all([Rig.start({ version: 18 }), startPostgres({ version: 18 })]);
    trackSecrets(other.superuser.password);
  });
  afterAll(async () => {
    await Promise.allSettled([rig?.stop(), other?.stop()]);
  });

  it('refuses a pending version on another port before the master touches anything', async () => {
    // A secret's writer who knows a password of "victim_clone" on this server but nothing on the
    // other one, and points masterarn at the other server's master.
    const clonePassword = setupPassword();
    await rig.createRole('victim_clone', clonePassword);
    const victimPassword = setupPassword();
    await other.query(
      `CREATE ROLE victim LOGIN PASSWORD ${quoteLiteral(scramSha256Verifier(victimPassword))}`,
    );
    const otherMaster = await rig.createSecret('other-master', rig.masterFor(other.superuser, other));
    const current = rig.secretFor('victim_clone', clonePassword, { masterarn: otherMaster });
    const arn = await rig.createSecret('port-switch', current);
    const versionId = crypto.randomUUID();
    await rig.sm.registerPendingVersion(arn, versionId);
    const chosen = setupPassword();
    await rig.sm.fillPendingVersion(
      arn,
      versionId,
      JSON.stringify({ ...current, port: other.port, username: 'victim', password: chosen }),
    );

    const result = await rig.rotate(arn, rig.handler(postgresAlternatingUsers()), true);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('on the same server');
    expect(await other.canLogin('victim', victimPassword)).toBe(true);
    expect(await other.canLogin('victim', chosen)).toBe(false);
    expect(await other.query("SELECT 1 FROM pg_roles WHERE rolname = 'victim_clone'")).toEqual([]);
  });
});
