/**
 * Database logins per rotation in the common path, counted by the servers themselves (PostgreSQL's
 * connection log, MariaDB's status counters): single user 2 with none refused (the current version
 * changes the password, the pending one proves it), alternating users 3 with none refused (the
 * current-login guard, the master, the pending proof).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlAlternatingUsers, mysqlSingleUser } from '../../../src/adapters/mysql/index.ts';
import { postgresAlternatingUsers, postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import { createRotationHandler } from '../../../src/core/engine.ts';
import type { RotationTarget } from '../../../src/core/target.ts';
import {
  type LocalSecretsManager,
  rotateSecret,
  startLocalSecretsManager,
} from '../../../src/testing/index.ts';
import { DEPLOYED_FIXTURES, type FixtureTarget } from '../../packaging/support/fixtures.ts';
import { trackSecrets } from '../../support/leak-scan.ts';

let sm: LocalSecretsManager;

beforeAll(async () => {
  sm = await startLocalSecretsManager();
});
afterAll(async () => {
  await sm?.close();
});

/** PostgreSQL writes its log through a pipe: give the last lines a moment to land before counting. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 400));

const cases: Array<[string, () => RotationTarget<never>, { ok: number }]> = [
  ['postgres-single-user', () => postgresSingleUser() as RotationTarget<never>, { ok: 2 }],
  ['postgres-alternating-users', () => postgresAlternatingUsers() as RotationTarget<never>, { ok: 3 }],
  ['mysql-single-user', () => mysqlSingleUser() as RotationTarget<never>, { ok: 2 }],
  ['mysql-alternating-users', () => mysqlAlternatingUsers() as RotationTarget<never>, { ok: 3 }],
];

describe.each(cases)('%s', (name, makeTarget, expected) => {
  let target: FixtureTarget;

  beforeAll(async () => {
    target = await DEPLOYED_FIXTURES[name]!.start();
  });
  afterAll(async () => {
    await target?.stop();
  });

  it(`logs in ${expected.ok} times per rotation, none refused, over consecutive rotations`, async () => {
    const client = sm.client();
    const { secretId, secrets } = await target.createSecret(client, `logins/${name}`);
    trackSecrets(...secrets);
    const handler = createRotationHandler(makeTarget(), {
      client,
      env: { PASSWORD_GENERATOR: 'local', ...target.settings },
    });
    // Alternating users: the first rotation creates the clone, the next ones swap back and forth.
    for (let rotation = 1; rotation <= 3; rotation++) {
      await settle();
      const before = await target.logins!();
      const result = await rotateSecret({ client, secretId, handler });
      expect(result.error).toBeUndefined();
      await settle();
      const after = await target.logins!();
      expect({ rotation, ok: after.ok - before.ok, refused: after.failed - before.failed }).toEqual({
        rotation,
        ok: expected.ok,
        refused: 0,
      });
    }
  });
});
