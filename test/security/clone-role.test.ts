/**
 * Issue 12 §5: someone who may create roles (but not read the app's secret) creates "<user>_clone"
 * first, with powers the original lacks. The rotator used to take it as it was and set the pending
 * password on it, handing those powers to every reader of the secret. Run through the built zip
 * as deployed against the tests' own private PostgreSQL: an existing clone with more powers than
 * the original is refused, and its password is never set.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scramSha256Verifier } from '../../src/adapters/postgres/scram.ts';
import { quoteIdentifier } from '../../src/adapters/postgres/sql.ts';
import { AWSPENDING } from '../../src/core/stages.ts';
import { type LocalSecretsManager, rotateSecret, startLocalSecretsManager } from '../../src/testing/index.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { buildDeployedZips, type DeployedZips } from './support/deployed.ts';
import { recordAttack } from './support/ledger.ts';
import { secretCreator, trackedPassword } from './support/secrets.ts';

const HANDLER = 'postgres-alternating-users';

let db: PostgresInstance;
let sm: LocalSecretsManager;
let zips: DeployedZips;
let client: SecretsManagerClient;
let masterarn: string;

beforeAll(async () => {
  [db, sm] = await Promise.all([startPostgres(), startLocalSecretsManager()]);
  trackSecrets(db.superuser.password);
  client = sm.client();
  zips = await buildDeployedZips([HANDLER], sm);
  masterarn = await createSecret('clone-master', {
    username: db.superuser.username,
    password: db.superuser.password,
    host: db.host,
    port: db.port,
  });
  await db.query('CREATE ROLE payroll_reader NOLOGIN');
});

afterAll(async () => {
  await zips?.close();
  await Promise.allSettled([db?.stop(), sm?.close()]);
});

const createSecret = secretCreator(() => client);

async function createRole(name: string, secret: string, extra = ''): Promise<void> {
  const verifier = scramSha256Verifier(secret);
  await db.query(`CREATE ROLE ${quoteIdentifier(name)} LOGIN PASSWORD '${verifier}' ${extra}`);
}

/**
 * Rotates `original` (a login role with `originalPowers`) once through the deployed zip, its clone
 * made beforehand by `prepare`.
 */
async function rotateWithClone(
  original: string,
  prepare: (clone: string) => Promise<void>,
  originalPowers = '',
) {
  const initial = trackedPassword('Pw');
  await createRole(original, initial, originalPowers);
  await prepare(`${original}_clone`);
  const secretId = await createSecret(original, {
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: original,
    password: initial,
    dbname: 'postgres',
    ssl: false,
    masterarn,
  });
  const deployed = await zips.start(HANDLER, { ALLOWED_SECRET_IDS: secretId, PG_TLS_MODE: 'disable' });
  const result = await rotateSecret({ client, secretId, handler: deployed.handler });
  return { result, output: deployed.output() };
}

const POWERS = ['SUPERUSER', 'CREATEROLE', 'CREATEDB', 'REPLICATION', 'BYPASSRLS'].map((name) => ({ name }));

describe('an existing clone with more powers than the original, as deployed', () => {
  it.each(POWERS)('refuses a clone with $name and never sets its password', async ({ name }) => {
    const original = `cl_${name.toLowerCase()}`;
    const attackerPassword = trackedPassword('Pw');
    const { result, output } = await rotateWithClone(original, (clone) =>
      createRole(clone, attackerPassword, name),
    );
    const pending = await client.send(
      new GetSecretValueCommand({ SecretId: result.secretArn, VersionStage: AWSPENDING }),
    );
    const pendingPassword = (JSON.parse(pending.SecretString!) as { password: string }).password;
    trackSecrets(pendingPassword);
    // The "leak": the clone, with its extra power, now opens with a password the secret hands out.
    const handedOut = await db.canLogin(`${original}_clone`, pendingPassword);
    recordAttack({
      attack: `${HANDLER}: pre-created ${original}_clone with ${name}`,
      blocked: !result.ok && !handedOut,
      leaked: handedOut ? 1 : 0,
    });
    expect(handedOut).toBe(false);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain(`role "${original}_clone" already exists with ${name}`);
    expect(result.error).toContain(`NO${name}`);
    expect(await db.canLogin(`${original}_clone`, attackerPassword)).toBe(true);
    expect(output).not.toContain(pendingPassword);
  });

  it('refuses a clone that is a member of a role the original is not, and names the REVOKE', async () => {
    const original = 'cl_member';
    const { result } = await rotateWithClone(original, async (clone) => {
      await createRole(clone, trackedPassword('Pw'));
      await db.query(`GRANT payroll_reader TO ${quoteIdentifier(clone)}`);
    });
    recordAttack({
      attack: `${HANDLER}: pre-created ${original}_clone with a membership the original lacks`,
      blocked: !result.ok,
      leaked: 0,
    });
    expect(result.ok).toBe(false);
    expect(result.error).toContain('membership in "payroll_reader"');
    expect(result.error).toContain(`REVOKE "payroll_reader" FROM "${original}_clone"`);
  });

  it('control: a clone with only what the original has is taken and rotated to', async () => {
    const original = 'cl_same';
    const { result } = await rotateWithClone(
      original,
      async (clone) => {
        await db.query(`GRANT payroll_reader TO ${quoteIdentifier(original)}`);
        await createRole(clone, trackedPassword('Pw'), 'CREATEDB');
        await db.query(`GRANT payroll_reader TO ${quoteIdentifier(clone)}`);
      },
      'CREATEDB',
    );
    expect(result.error ?? 'ok').toBe('ok');
  });
});
