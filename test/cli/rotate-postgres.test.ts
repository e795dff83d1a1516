import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trackSecrets } from '../support/leak-scan.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { LOCAL_PLAINTEXT_DATABASES } from '../support/rotation-rig.ts';
import { type CliFixture, databasePassword, putJsonSecret, startCliFixture } from './fixtures.ts';
import { cli } from './run.ts';

let fixture: CliFixture;
let pg: PostgresInstance;
const env = { PASSWORD_GENERATOR: 'local', ...LOCAL_PLAINTEXT_DATABASES };

async function createRole(name: string, secret: string): Promise<void> {
  const client = await pg.connect();
  try {
    await client.query(
      `CREATE ROLE ${client.escapeIdentifier(name)} LOGIN PASSWORD ${client.escapeLiteral(secret)}`,
    );
  } finally {
    await client.end();
  }
}

async function read(name: string, stage: string): Promise<{ username: string; password: string }> {
  const answer = await fixture.client.send(
    new GetSecretValueCommand({ SecretId: name, VersionStage: stage }),
  );
  trackSecrets(answer.SecretString);
  const value = JSON.parse(answer.SecretString!) as { username: string; password: string };
  trackSecrets(value.password);
  return value;
}

const rotate = (name: string, ...extra: string[]) =>
  cli(['rotate', name, '--endpoint-url', fixture.local.endpoint, ...extra], { env });

beforeAll(async () => {
  [fixture, pg] = await Promise.all([startCliFixture(), startPostgres({ version: 18 })]);
  trackSecrets(pg.superuser.password);
});
afterAll(async () => {
  await Promise.all([fixture?.close(), pg?.stop()]);
});

describe('rotate --handler against a real PostgreSQL', () => {
  it('postgres-single-user: the old password stops working, the new one logs in', async () => {
    const initial = databasePassword();
    await createRole('solo', initial);
    await putJsonSecret(fixture.client, 'pg/solo', {
      engine: 'postgres',
      host: '127.0.0.1',
      port: pg.port,
      username: 'solo',
      password: initial,
      ssl: false,
    });
    const result = await rotate('pg/solo', '--handler', 'postgres-single-user');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/setSecret\s+ok/);
    const current = await read('pg/solo', 'AWSCURRENT');
    expect(await pg.canLogin('solo', initial)).toBe(false);
    expect(await pg.canLogin('solo', current.password)).toBe(true);
  });

  it('postgres-alternating-users --emergency: the previous user is revoked at once, not one rotation later', async () => {
    const initial = databasePassword();
    await createRole('team', initial);
    const masterArn = await putJsonSecret(fixture.client, 'pg/master', {
      username: pg.superuser.username,
      password: pg.superuser.password,
      host: '127.0.0.1',
      port: pg.port,
    });
    await putJsonSecret(fixture.client, 'pg/team', {
      engine: 'postgres',
      host: '127.0.0.1',
      port: pg.port,
      username: 'team',
      password: initial,
      ssl: false,
      masterarn: masterArn,
    });

    // An ordinary rotation keeps the previous user working (zero downtime)...
    const first = await rotate('pg/team', '--handler', 'postgres-alternating-users');
    expect(first.code).toBe(0);
    const clone = await read('pg/team', 'AWSCURRENT');
    expect(clone.username).toBe('team_clone');
    expect(await pg.canLogin('team', initial)).toBe(true);

    // ...an emergency rotation kills it once AWSCURRENT has moved.
    const emergency = await rotate('pg/team', '--handler', 'postgres-alternating-users', '--emergency');
    expect(emergency.code).toBe(0);
    expect(emergency.stdout).toContain('Emergency: revoked the previous credential');
    const current = await read('pg/team', 'AWSCURRENT');
    const previous = await read('pg/team', 'AWSPREVIOUS');
    expect(current.username).toBe('team');
    expect(previous.username).toBe('team_clone');
    expect(await pg.canLogin('team', current.password)).toBe(true);
    expect(await pg.canLogin('team_clone', previous.password)).toBe(false);
  });
});
