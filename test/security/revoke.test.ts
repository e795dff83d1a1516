/**
 * Issue 12 §1: the CLI's emergency revocation runs with the master's wider rights. Someone who may
 * write the rotated secret makes the version to revoke name another user of the same server (or
 * another server), hoping the master locks that user out. The credentials being revoked must log
 * in first, on a server the master rule allows, before the master touches anything. Run against
 * the tests' own private PostgreSQL and MariaDB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlAlternatingUsers } from '../../src/adapters/mysql/index.ts';
import { postgresAlternatingUsers } from '../../src/adapters/postgres/index.ts';
import { Rig as MariaDbRig } from '../adapters/mysql/rig.ts';
import { Rig as PostgresRig } from '../adapters/postgres/rig.ts';
import { directContext, setupPassword } from '../support/rotation-rig.ts';
import { recordAttack } from './support/ledger.ts';

const PLAINTEXT = { PG_TLS_MODE: 'disable', MYSQL_TLS_MODE: 'disable' };

describe('PostgreSQL: revoking a user whose password the secret does not hold', () => {
  let rig: PostgresRig;
  beforeAll(async () => {
    rig = await PostgresRig.start({ version: 18 });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('leaves the user alone: the revoked credentials do not log in, so the master is never used', async () => {
    const victimPassword = setupPassword();
    await rig.createRole('payments', victimPassword);
    const target = postgresAlternatingUsers();
    const forged = target.parse(
      JSON.stringify(rig.secretFor('payments', setupPassword(), { masterarn: rig.masterArn })),
    );
    const ctx = directContext(PLAINTEXT, rig.client);
    await target.revoke!(forged, ctx);
    const stillWorks = await rig.canLogin({ username: 'payments', password: victimPassword });
    recordAttack({
      attack: 'postgres-alternating-users revoke: version names another user, password unknown',
      blocked: stillWorks,
      leaked: 0,
    });
    expect(stillWorks).toBe(true);
    expect(ctx.lines.some((line) => line.message.includes('nothing to do'))).toBe(true);
    expect(ctx.lines.some((line) => line.extra?.credentials === 'master')).toBe(false);
  });
});

describe('MariaDB: revoking a user whose password the secret does not hold', () => {
  let rig: MariaDbRig;
  beforeAll(async () => {
    rig = await MariaDbRig.start();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('leaves the user alone', async () => {
    const victimPassword = setupPassword();
    await rig.createUser('payments', victimPassword);
    const target = mysqlAlternatingUsers();
    const forged = target.parse(
      JSON.stringify(rig.secretFor('payments', setupPassword(), { masterarn: rig.masterArn })),
    );
    await target.revoke!(forged, directContext(PLAINTEXT, rig.client));
    const stillWorks = await rig.canLogin({ username: 'payments', password: victimPassword });
    recordAttack({
      attack: 'mysql-alternating-users revoke: version names another user, password unknown',
      blocked: stillWorks,
      leaked: 0,
    });
    expect(stillWorks).toBe(true);
  });
});
