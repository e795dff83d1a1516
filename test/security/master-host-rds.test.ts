/**
 * Issue 12 §1, RDS-managed master secrets, through the built zip as deployed: the master secret
 * holds only `username` and `password` and the `aws:rds:primaryDBInstanceArn` tag; the function
 * finds the master's server by asking RDS (a fake RDS API on loopback) about the tagged instance,
 * never through the rotated secret. The master's "instance" is the tests' own private PostgreSQL.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scramSha256Verifier } from '../../src/adapters/postgres/scram.ts';
import { type LocalSecretsManager, rotateSecret, startLocalSecretsManager } from '../../src/testing/index.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { startAttackerPostgres } from './support/attacker-databases.ts';
import { buildDeployedZips, type DeployedZips } from './support/deployed.ts';
import { type FakeRds, startFakeRds } from './support/fake-rds.ts';
import { credentialsIn, recordAttack } from './support/ledger.ts';
import { secretCreator, trackedPassword } from './support/secrets.ts';

const HANDLER = 'postgres-alternating-users';
const INSTANCE_ARN = 'arn:aws:rds:us-east-1:123456789012:db:orders';

let db: PostgresInstance;
let sm: LocalSecretsManager;
let rds: FakeRds;
let zips: DeployedZips;
let client: SecretsManagerClient;

beforeAll(async () => {
  [db, sm] = await Promise.all([startPostgres(), startLocalSecretsManager()]);
  trackSecrets(db.superuser.password);
  client = sm.client();
  // The instance is the private PostgreSQL; its replica's port is closed (never connected to).
  rds = await startFakeRds([
    { id: 'orders', host: db.host, port: db.port, replicas: ['orders-replica'] },
    { id: 'orders-replica', host: '127.0.0.1', port: 1 },
  ]);
  zips = await buildDeployedZips([HANDLER], sm);
});

afterAll(async () => {
  await zips?.close();
  await Promise.allSettled([db?.stop(), sm?.close(), rds?.close()]);
});

const createSecret = secretCreator(() => client);

/** An RDS-managed master secret: the superuser's credentials and the instance tag, nothing else. */
function rdsManagedMaster(instanceArn = INSTANCE_ARN): Promise<string> {
  return createSecret(
    'rds-managed-master',
    { username: db.superuser.username, password: db.superuser.password },
    { 'aws:rds:primaryDBInstanceArn': instanceArn },
  );
}

async function run(secretId: string) {
  const deployed = await zips.start(HANDLER, {
    ALLOWED_SECRET_IDS: secretId,
    PG_TLS_MODE: 'disable',
    AWS_ENDPOINT_URL_RDS: rds.endpoint,
  });
  const result = await rotateSecret({ client, secretId, handler: deployed.handler });
  return { result, output: deployed.output() };
}

describe('RDS-managed master secret, as deployed', () => {
  it("refuses the attacker's host: RDS reports it as neither the instance nor a replica", async () => {
    const attacker = await startAttackerPostgres({ refuseUsers: ['app_clone'] });
    try {
      const masterarn = await rdsManagedMaster();
      const secretId = await createSecret('rds-attack', {
        engine: 'postgres',
        host: attacker.host,
        port: attacker.port,
        username: 'app',
        password: trackedPassword('Pw'),
        ssl: false,
        masterarn,
      });
      const before = rds.requests.length;
      const { result, output } = await run(secretId);
      const leaked = credentialsIn(attacker.received, [db.superuser.password]).length;
      recordAttack({
        attack: `${HANDLER}: RDS-managed master, rotated secret names the attacker's host`,
        blocked: !result.ok && leaked === 0 && !attacker.logins.includes(db.superuser.username),
        leaked,
      });
      expect(leaked).toBe(0);
      expect(attacker.logins).not.toContain(db.superuser.username);
      expect(result.ok).toBe(false);
      expect(result.error).toContain(
        `RDS reports no replica, reader or cluster member of instance orders at 127.0.0.1:${attacker.port}`,
      );
      expect(rds.requests.slice(before).map((request) => request.DBInstanceIdentifier)).toEqual([
        INSTANCE_ARN,
        'orders-replica',
      ]);
      expect(output).not.toContain(db.superuser.password);
    } finally {
      await attacker.close();
    }
  });

  it('refuses a tag naming an instance RDS does not know', async () => {
    const initial = trackedPassword('Pw');
    await db.query(`CREATE ROLE rds_gone LOGIN PASSWORD '${scramSha256Verifier(initial)}'`);
    const masterarn = await rdsManagedMaster('arn:aws:rds:us-east-1:123456789012:db:gone');
    const secretId = await createSecret('rds-gone', {
      engine: 'postgres',
      host: db.host,
      port: db.port,
      username: 'rds_gone',
      password: initial,
      dbname: 'postgres',
      ssl: false,
      masterarn,
    });
    const { result } = await run(secretId);
    expect(result.ok).toBe(false);
    expect(result.error).toContain('RDS instance "arn:aws:rds:us-east-1:123456789012:db:gone"');
    expect(result.error).toContain('does not exist');
  });

  it('control: rotates on the instance RDS reports for the tag, the master found through RDS only', async () => {
    const initial = trackedPassword('Pw');
    await db.query(`CREATE ROLE rds_app LOGIN PASSWORD '${scramSha256Verifier(initial)}'`);
    const masterarn = await rdsManagedMaster();
    const secretId = await createSecret('rds-control', {
      engine: 'postgres',
      host: db.host,
      port: db.port,
      username: 'rds_app',
      password: initial,
      dbname: 'postgres',
      ssl: false,
      masterarn,
    });
    const { result, output } = await run(secretId);
    expect(result.error ?? 'ok').toBe('ok');
    expect(output).toContain('master credentials used on a server RDS reports as part of the master');
  });
});
