import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eachLimited } from '../support/fleet-scenario.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { type CliFixture, databasePassword, putJsonSecret, startCliFixture } from './fixtures.ts';
import { cli } from './run.ts';

const COUNT = 50;
let fixture: CliFixture;
let pg: PostgresInstance;
let stateDir: string;

beforeAll(async () => {
  [fixture, pg] = await Promise.all([startCliFixture(), startPostgres({ version: 18 })]);
  trackSecrets(pg.superuser.password);
  stateDir = await mkdtemp(join(tmpdir(), 'rotate-all-pg-'));
}, 120_000);
afterAll(async () => {
  await Promise.all([
    fixture?.close(),
    pg?.stop(),
    stateDir ? rm(stateDir, { recursive: true, force: true }) : undefined,
  ]);
});

describe('rotate --all against a real PostgreSQL', () => {
  it(`rotates ${COUNT} alternating-users secrets in one command; every AWSCURRENT logs in`, async () => {
    const masterArn = await putJsonSecret(fixture.client, 'pg-fleet-master', {
      engine: 'postgres',
      host: '127.0.0.1',
      port: pg.port,
      username: pg.superuser.username,
      password: pg.superuser.password,
    });
    const users = Array.from({ length: COUNT }, (_, i) => `fleet_${String(i).padStart(2, '0')}`);
    const admin = await pg.connect();
    try {
      for (const user of users) {
        const initial = databasePassword();
        await admin.query(
          `CREATE ROLE ${admin.escapeIdentifier(user)} LOGIN PASSWORD ${admin.escapeLiteral(initial)}`,
        );
        await putJsonSecret(fixture.client, `pg-fleet/${user}`, {
          engine: 'postgres',
          host: '127.0.0.1',
          port: pg.port,
          username: user,
          password: initial,
          ssl: false,
          masterarn: masterArn,
        });
      }
    } finally {
      await admin.end();
    }

    // The same fleet rotation twice (the second time with --emergency); plaintext on loopback is
    // what this test database offers, and the deployer's settings say so.
    const rotateFleet = (extraArgs: readonly string[]) =>
      cli(
        [
          'rotate',
          '--all',
          '--filter',
          'name=pg-fleet/',
          '--handler',
          'postgres-alternating-users',
          ...extraArgs,
          '--yes',
          '--concurrency',
          '10',
          '--output',
          'json',
          '--endpoint-url',
          fixture.local.endpoint,
        ],
        {
          env: {
            PASSWORD_GENERATOR: 'local',
            PG_TLS_MODE: 'disable',
            DATABASE_ALLOWED_HOSTS: '127.0.0.1',
            XDG_STATE_HOME: stateDir,
          },
        },
      );
    const result = await rotateFleet([]);
    const report = result.json<{
      rotated: Array<{ name: string }>;
      failed: unknown[];
      alreadyRotating: unknown[];
    }>();
    expect(report.failed).toEqual([]);
    expect(report.alreadyRotating).toEqual([]);
    expect(result.code).toBe(0);
    expect(report.rotated.map((entry) => entry.name).sort()).toEqual(users.map((user) => `pg-fleet/${user}`));

    const logins: string[] = [];
    await eachLimited(users, 5, async (user) => {
      const answer = await fixture.client.send(new GetSecretValueCommand({ SecretId: `pg-fleet/${user}` }));
      trackSecrets(answer.SecretString);
      const current = JSON.parse(answer.SecretString!) as { username: string; password: string };
      trackSecrets(current.password);
      // Alternating users: the first rotation moves each secret to its clone.
      expect(current.username).toBe(`${user}_clone`);
      if (await pg.canLogin(current.username, current.password)) logins.push(user);
    });
    expect(logins.sort()).toEqual(users);

    // After a leak: the same secrets again with --emergency; each previous credential dies at once.
    const emergency = await rotateFleet(['--emergency']);
    const revoked = emergency.json<{
      rotated: Array<{ name: string; revokedPrevious: string | null }>;
      failed: unknown[];
    }>();
    expect(revoked.failed).toEqual([]);
    expect(emergency.code).toBe(0);
    expect(revoked.rotated.every((entry) => entry.revokedPrevious !== null)).toBe(true);
    const outcomes: string[] = [];
    await eachLimited(users, 5, async (user) => {
      const read = async (stage: string) => {
        const answer = await fixture.client.send(
          new GetSecretValueCommand({ SecretId: `pg-fleet/${user}`, VersionStage: stage }),
        );
        trackSecrets(answer.SecretString);
        const value = JSON.parse(answer.SecretString!) as { username: string; password: string };
        trackSecrets(value.password);
        return value;
      };
      const [current, previous] = [await read('AWSCURRENT'), await read('AWSPREVIOUS')];
      const currentWorks = await pg.canLogin(current.username, current.password);
      const previousWorks = await pg.canLogin(previous.username, previous.password);
      if (
        current.username === user &&
        previous.username === `${user}_clone` &&
        currentWorks &&
        !previousWorks
      )
        outcomes.push(user);
    });
    expect(outcomes.sort()).toEqual(users);
  }, 300_000);
});
