/**
 * The `"engine": "redshift"` path of the PostgreSQL handlers against a real PostgreSQL 15 set up
 * like Redshift's password handling: MD5 password storage and `md5` logins over TCP (with TLS, as
 * the handlers never answer an MD5 request without it). No Redshift server is available here.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresAlternatingUsers, postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import { redshiftMd5Hash } from '../../../src/adapters/postgres/redshift.ts';
import { quoteIdentifier, quoteLiteral } from '../../../src/adapters/postgres/sql.ts';
import { createPgPool, SecretCache } from '../../../src/client/index.ts';
import { makeTestCertificates } from '../../support/tls.ts';
import { Rig, type StoredSecret, setupPassword } from './rig.ts';

describe('redshift engine (md5 hashes) on PostgreSQL 15 with md5 authentication', () => {
  let rig: Rig;
  let dir: string;
  let env: Record<string, string>;
  let caPath: string;
  const generated: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pg-redshift-'));
    const certs = await makeTestCertificates(dir);
    rig = await Rig.start({
      version: 15,
      passwordAuth: 'md5',
      logStatements: true,
      tls: { cert: certs.certPath, key: certs.keyPath },
    });
    caPath = certs.caPath;
    env = { PG_TLS_MODE: 'verify-full', PG_CA_BUNDLE: caPath };
  });
  afterAll(async () => {
    await rig?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A Redshift-style user: its password stored as the md5 hash, set without the password in SQL. */
  async function createMd5User(name: string, password: string): Promise<void> {
    await rig.db.query(
      `CREATE ROLE ${quoteIdentifier(name)} LOGIN PASSWORD ${quoteLiteral(redshiftMd5Hash(password, name))}`,
    );
  }

  async function storedHash(name: string): Promise<string> {
    const [row] = await rig.db.query<{ hash: string }>(
      'SELECT rolpassword AS hash FROM pg_authid WHERE rolname = $1',
      [name],
    );
    return row!.hash;
  }

  function redshiftSecret(
    username: string,
    password: string,
    extra: Record<string, unknown> = {},
  ): StoredSecret {
    return rig.secretFor(username, password, { engine: 'redshift', ...extra });
  }

  it('our md5 form is the one PostgreSQL computes itself', async () => {
    const [row] = await rig.db.query<{ hash: string }>("SELECT 'md5' || md5('Abcdefg1' || 'bar') AS hash");
    expect(redshiftMd5Hash('Abcdefg1', 'bar')).toBe(row!.hash);
  });

  it('single user: rotates 20 times in a row; each new password logs in (md5), the one before is refused', async () => {
    const initial = setupPassword();
    await createMd5User('rs_single', initial);
    const arn = await rig.createSecret('rs-single', redshiftSecret('rs_single', initial, { team: 'bi' }));
    const handler = rig.handler(postgresSingleUser(), env);

    let before = await rig.value(arn);
    for (let rotation = 1; rotation <= 20; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      const after = await rig.value(arn);
      generated.push(after.password);
      expect(after.engine).toBe('redshift');
      expect(after.team).toBe('bi');
      expect(after.password).not.toBe(before.password);
      // Stored as the md5 hash of the new password: the server saw only the hash.
      expect(await storedHash('rs_single')).toBe(redshiftMd5Hash(after.password, 'rs_single'));
      expect(await rig.canLogin(after)).toBe(true);
      expect(await rig.canLogin(before)).toBe(false);
      before = after;
    }
    expect(new Set(generated).size).toBe(20);
  });

  it("alternating users (pre-provisioned pair): 20 rotations; new password logs in, the same user's older one is refused", async () => {
    const [first, second] = [setupPassword(), setupPassword()];
    await createMd5User('rs_alt', first);
    await createMd5User('rs_alt_clone', second);
    const arn = await rig.createSecret(
      'rs-alt',
      redshiftSecret('rs_alt', first, { masterarn: rig.masterArn }),
    );
    const handler = rig.handler(postgresAlternatingUsers(), { ...env, PG_PREPROVISIONED_PAIR: 'true' });

    // currents[k]: the AWSCURRENT value after k rotations.
    const currents: StoredSecret[] = [await rig.value(arn)];
    const cloneSetup: StoredSecret = { username: 'rs_alt_clone', password: second };
    for (let rotation = 1; rotation <= 20; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const after = await rig.value(arn);
      generated.push(after.password);
      expect(after.username).toBe(rotation % 2 === 1 ? 'rs_alt_clone' : 'rs_alt');
      expect(await storedHash(after.username)).toBe(redshiftMd5Hash(after.password, after.username));
      expect(await rig.canLogin(after)).toBe(true);
      // The user that was current before keeps working (that is the point of alternating users)…
      expect(await rig.canLogin(currents[rotation - 1]!)).toBe(true);
      // …and the new user's own older password no longer does.
      const replaced = rotation === 1 ? cloneSetup : currents[rotation - 2]!;
      expect(replaced.username).toBe(after.username);
      expect(await rig.canLogin(replaced)).toBe(false);
      currents.push(after);
    }
  });

  it('the client pool (createPgPool) reads an "engine": "redshift" secret and logs in with the rotated password', async () => {
    const initial = setupPassword();
    await createMd5User('rs_client', initial);
    const arn = await rig.createSecret('rs-client', redshiftSecret('rs_client', initial));
    expect((await rig.rotate(arn, rig.handler(postgresSingleUser(), env))).ok).toBe(true);
    const pool = createPgPool({
      cache: new SecretCache({ client: rig.client }),
      secretId: arn,
      tls: { mode: 'verify-full', ca: await readFile(caPath, 'utf8') },
    });
    try {
      const { rows } = await pool.query<{ who: string }>('SELECT current_user AS who');
      expect(rows[0]?.who).toBe('rs_client');
    } finally {
      await pool.end();
    }
  });

  it('alternating users refuses the clone mode on Redshift, naming PG_PREPROVISIONED_PAIR, and changes nothing', async () => {
    const initial = setupPassword();
    await createMd5User('rs_noclone', initial);
    const arn = await rig.createSecret(
      'rs-noclone',
      redshiftSecret('rs_noclone', initial, { masterarn: rig.masterArn }),
    );
    const result = await rig.rotate(arn, rig.handler(postgresAlternatingUsers(), env));
    expect(result.ok).toBe(false);
    expect(result.error).toContain('PG_PREPROVISIONED_PAIR');
    expect(await rig.db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', ['rs_noclone_clone'])).toEqual([]);
    expect(await rig.canLogin({ username: 'rs_noclone', password: initial })).toBe(true);
  });

  it('a password policy Redshift would refuse is refused before anything changes', async () => {
    const initial = setupPassword();
    await createMd5User('rs_rules', initial);
    const arn = await rig.createSecret('rs-rules', redshiftSecret('rs_rules', initial));
    const hashBefore = await storedHash('rs_rules');
    const result = await rig.rotate(
      arn,
      rig.handler(postgresSingleUser(), { ...env, PASSWORD_LENGTH: '80' }),
    );
    expect(result.ok).toBe(false);
    expect(result.error).toContain("Redshift's password rules");
    expect(result.error).toContain('80 characters long');
    expect(await storedHash('rs_rules')).toBe(hashBefore);
    expect(await rig.canLogin({ username: 'rs_rules', password: initial })).toBe(true);
  });

  it('never sends a password in SQL text: the log_statement=all log holds only md5 hashes', async () => {
    const log = await rig.db.readLog();
    // The statements were logged (so this test can fail)…
    expect(log).toMatch(/ALTER USER "rs_single" PASSWORD 'md5[0-9a-f]{32}'/);
    expect(log).toMatch(/ALTER USER "rs_alt_clone" PASSWORD 'md5[0-9a-f]{32}'/);
    expect(generated.length).toBe(40);
    for (const password of generated) expect(log).not.toContain(password);
  });
});
