/**
 * The client under load: a worker queries a real database continuously through a rotating pool
 * while 20 real rotations run (the engine, the adapters and the driver playing Secrets Manager's
 * side against the local endpoint).
 *
 * Every query logs in afresh (pg `maxUses: 1`; a mysql2 connection destroyed after each query), so
 * every rotation is felt by the next login rather than hidden by a long-lived connection.
 *
 * Two pauses make the outcome independent of timing, as in production where rotations are days
 * apart and caches refresh within minutes:
 * - after setSecret, each worker loop completes two queries: in single-user mode the database
 *   then accepts only the pending password, so at least one login per rotation is refused and must
 *   be retried to success;
 * - after each rotation, the worker's cache has seen the new AWSCURRENT before the next one starts,
 *   so with alternating users the version it holds is never two rotations old (the only way an
 *   alternating-users login can be refused).
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { createRotationHandler, type RotationHandler, type RotationTarget } from 'secrets-rotator';
import { mysqlAlternatingUsers, mysqlSingleUser } from 'secrets-rotator/adapters/mysql';
import { postgresAlternatingUsers, postgresSingleUser } from 'secrets-rotator/adapters/postgres';
import { createMysqlPool, createPgPool, type RotatingPoolStats, SecretCache } from 'secrets-rotator/client';
import { rotateSecret } from 'secrets-rotator/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { scramSha256Verifier } from '../../src/adapters/postgres/scram.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { type MariaDbInstance, startMariaDb } from '../support/mariadb.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { newPassword, SecretsRig } from './rig.ts';

const ROTATIONS = 20;
const WORKER_LOOPS = 2;
const LOAD_TEST_TIMEOUT_MS = 180_000;

let rig: SecretsRig;
let postgres: PostgresInstance;
let mariadb: MariaDbInstance;
let postgresMasterArn: string;
let mariadbMasterArn: string;

/** What the worker saw. */
interface WorkerReport {
  readonly queries: number;
  readonly failedQueries: number;
  readonly failureCodes: string[];
  readonly users: Set<string>;
}

/**
 * Runs `query` in {@link WORKER_LOOPS} loops until stopped. A failed query is counted (by error
 * code only: the worker never prints an error object) and the loop goes on.
 */
function startWorker(query: () => Promise<string>) {
  let running = true;
  const completed = new Array<number>(WORKER_LOOPS).fill(0);
  const report = { queries: 0, failedQueries: 0, failureCodes: [] as string[], users: new Set<string>() };
  const loops = completed.map(async (_, loop) => {
    while (running) {
      try {
        report.users.add(await query());
      } catch (error) {
        report.failedQueries += 1;
        report.failureCodes.push(String((error as { code?: unknown }).code ?? (error as Error).name));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      report.queries += 1;
      completed[loop] = (completed[loop] ?? 0) + 1;
    }
  });
  return {
    /** Resolves once every loop has completed two more queries (the second began after this call). */
    async settle(): Promise<void> {
      const target = completed.map((count) => count + 2);
      await vi.waitFor(
        () => {
          if (completed.some((count, loop) => count < (target[loop] ?? 0)))
            throw new Error('worker still busy');
        },
        { timeout: 30_000, interval: 2 },
      );
    },
    async stop(): Promise<WorkerReport> {
      running = false;
      await Promise.all(loops);
      return report;
    },
  };
}

/** The handler, pausing after setSecret until the worker has run into the new password. */
function pausingAfterSetSecret(handler: RotationHandler, pause: () => Promise<void>): RotationHandler {
  return async (event, context) => {
    await handler(event, context);
    if (event.Step === 'setSecret') await pause();
  };
}

interface LoadScenario {
  readonly secretId: string;
  readonly target: RotationTarget<unknown>;
  readonly cache: SecretCache;
  readonly query: () => Promise<string>;
  readonly stats: () => RotatingPoolStats;
  readonly end: () => Promise<void>;
}

/** Runs 20 rotations under load and returns what the worker and the pool saw. */
async function runUnderLoad(
  scenario: LoadScenario,
): Promise<{ report: WorkerReport; stats: RotatingPoolStats }> {
  // The private test servers have no certificate: plaintext, said explicitly.
  const handler = createRotationHandler(scenario.target, {
    client: rig.sdk,
    env: { PG_TLS_MODE: 'disable', MYSQL_TLS_MODE: 'disable' },
  });
  const worker = startWorker(scenario.query);
  const gated = pausingAfterSetSecret(handler, () => worker.settle());
  let failure: unknown;
  try {
    await worker.settle();
    for (let rotation = 1; rotation <= ROTATIONS; rotation += 1) {
      const result = await rotateSecret({ client: rig.sdk, secretId: scenario.secretId, handler: gated });
      expect(result.error, `rotation ${rotation}`).toBeUndefined();
      expect(result.ok).toBe(true);
      await trackVersion(rig.sdk, scenario.secretId);
      await vi.waitFor(
        () => expect(scenario.cache.peek(scenario.secretId)?.versionId).toBe(result.versionId),
        {
          timeout: 30_000,
          interval: 2,
        },
      );
      await worker.settle();
    }
  } catch (error) {
    failure = error;
  }
  const report = await worker.stop();
  const stats = scenario.stats();
  await scenario.end();
  if (failure) throw failure;
  return { report, stats };
}

/** Registers the current version's password and JSON with the leak scan. */
async function trackVersion(sdk: SecretsManagerClient, secretId: string): Promise<void> {
  const answer = await sdk.send(new GetSecretValueCommand({ SecretId: secretId }));
  const value = JSON.parse(answer.SecretString!) as { password: string };
  trackSecrets(answer.SecretString, value.password);
}

function printFigures(label: string, report: WorkerReport, stats: RotatingPoolStats): void {
  console.info(
    `[client load] ${label}: ${ROTATIONS} rotations, ${report.queries} queries, ` +
      `${report.failedQueries} failed queries, ${stats.authRefusals} refused logins, ` +
      `${stats.retriedOperations} queries retried, ${stats.recoveredOperations} retried to success, ` +
      `${stats.poolsCreated} driver pools, users seen: ${[...report.users].sort().join(', ')}`,
  );
}

beforeAll(async () => {
  [rig, postgres, mariadb] = await Promise.all([SecretsRig.start(), startPostgres(), startMariaDb()]);
  trackSecrets(postgres.superuser.password, mariadb.root.password);
  postgresMasterArn = (
    await rig.create('load-pg-master', {
      username: postgres.superuser.username,
      password: postgres.superuser.password,
      host: postgres.host,
      port: postgres.port,
    })
  ).name;
  mariadbMasterArn = (
    await rig.create('load-maria-master', {
      username: mariadb.root.username,
      password: mariadb.root.password,
      host: mariadb.host,
      port: mariadb.port,
    })
  ).name;
  await postgres.query('CREATE TABLE load_items (id int PRIMARY KEY)');
  await postgres.query('INSERT INTO load_items SELECT generate_series(1, 10)');
  await mariadb.query('CREATE DATABASE loaddb');
  await mariadb.query('CREATE TABLE loaddb.items (id INT PRIMARY KEY)');
  await mariadb.query('INSERT INTO loaddb.items VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10)');
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([postgres?.stop(), mariadb?.stop(), rig?.close()]);
});

/** A PostgreSQL role `role` that may read `load_items`, its secret, and a pool on it. */
async function postgresScenario(
  role: string,
  target: RotationTarget<unknown>,
  extra: Record<string, unknown>,
) {
  const password = newPassword('load-pg');
  await postgres.query(
    `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`,
  );
  await postgres.query(`GRANT SELECT ON load_items TO ${pg.escapeIdentifier(role)}`);
  const { name } = await rig.create(`load-${role}`, {
    engine: 'postgres',
    host: postgres.host,
    port: postgres.port,
    username: role,
    password,
    dbname: 'postgres',
    ssl: false,
    ...extra,
  });
  const cache = new SecretCache({ client: rig.sdk, ttlMs: 50 });
  // The private test server has no certificate: plaintext, said explicitly.
  const pool = createPgPool({
    cache,
    secretId: name,
    poolConfig: { max: WORKER_LOOPS, maxUses: 1 },
    tls: { mode: 'disable' },
  });
  return {
    secretId: name,
    target,
    cache,
    query: async () => {
      const { rows } = await pool.query<{ who: string; n: number }>(
        // session_user: who logged in (a clone's sessions act as the original role, docs/protocol.md#shared-ownership-and-exact-grants).
        'SELECT session_user AS who, (SELECT count(*)::int FROM load_items) AS n',
      );
      expect(rows[0]?.n).toBe(10);
      return rows[0]!.who;
    },
    stats: () => pool.stats(),
    end: () => pool.end(),
  } satisfies LoadScenario;
}

/** A MariaDB account `user` that may read `loaddb`, its secret, and a pool on it. */
async function mariadbScenario(
  user: string,
  target: RotationTarget<unknown>,
  extra: Record<string, unknown>,
) {
  const password = newPassword('load-my');
  await mariadb.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
  await mariadb.query("GRANT SELECT ON loaddb.* TO ?@'%'", [user]);
  const { name } = await rig.create(`load-${user}`, {
    engine: 'mariadb',
    host: mariadb.host,
    port: mariadb.port,
    username: user,
    password,
    dbname: 'loaddb',
    ssl: false,
    ...extra,
  });
  const cache = new SecretCache({ client: rig.sdk, ttlMs: 50 });
  const pool = createMysqlPool({
    cache,
    secretId: name,
    poolOptions: { connectionLimit: WORKER_LOOPS },
    tls: { mode: 'disable' },
  });
  return {
    secretId: name,
    target,
    cache,
    query: async () => {
      // A connection per query, closed afterwards: the next query logs in again.
      const connection = await pool.getConnection();
      try {
        const [rows] = await connection.query<RowDataPacket[]>(
          "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS who, (SELECT COUNT(*) FROM items) AS n",
        );
        expect(Number(rows[0]?.n)).toBe(10);
        return String(rows[0]?.who);
      } finally {
        connection.destroy();
      }
    },
    stats: () => pool.stats(),
    end: () => pool.end(),
  } satisfies LoadScenario;
}

/** One database engine under load: how to set up a scenario and which rotation targets it has. */
interface EngineUnderLoad {
  readonly name: string;
  /** The prefix of the login names the two scenarios create. */
  readonly userPrefix: string;
  scenario(
    user: string,
    target: RotationTarget<unknown>,
    extra: Record<string, unknown>,
  ): Promise<LoadScenario>;
  alternatingUsers(): RotationTarget<unknown>;
  singleUser(): RotationTarget<unknown>;
  /** The master secret's name (known once beforeAll has run). */
  masterArn(): string;
}

const ENGINES: EngineUnderLoad[] = [
  {
    name: 'PostgreSQL',
    userPrefix: 'load_pg',
    scenario: postgresScenario,
    alternatingUsers: () => postgresAlternatingUsers() as RotationTarget<unknown>,
    singleUser: () => postgresSingleUser() as RotationTarget<unknown>,
    masterArn: () => postgresMasterArn,
  },
  {
    name: 'MariaDB',
    userPrefix: 'load_my',
    scenario: mariadbScenario,
    alternatingUsers: () => mysqlAlternatingUsers() as RotationTarget<unknown>,
    singleUser: () => mysqlSingleUser() as RotationTarget<unknown>,
    masterArn: () => mariadbMasterArn,
  },
];

describe.each(ENGINES)('client under load on $name', (engine) => {
  it(
    'alternating users: 20 rotations, zero failed queries and no refused login',
    async () => {
      const user = `${engine.userPrefix}_alt`;
      const scenario = await engine.scenario(user, engine.alternatingUsers(), {
        masterarn: engine.masterArn(),
      });
      const { report, stats } = await runUnderLoad(scenario);
      printFigures(`${engine.name} alternating users`, report, stats);

      expect(report.failureCodes).toEqual([]);
      expect(report.failedQueries).toBe(0);
      expect(stats.authRefusals).toBe(0);
      expect(stats.failedOperations).toBe(0);
      expect(report.users).toEqual(new Set([user, `${user}_clone`]));
      expect(report.queries).toBeGreaterThan(ROTATIONS * 2 * WORKER_LOOPS);
    },
    LOAD_TEST_TIMEOUT_MS,
  );

  it(
    'single user: 20 rotations, every refused query retried to success',
    async () => {
      const user = `${engine.userPrefix}_single`;
      const scenario = await engine.scenario(user, engine.singleUser(), {});
      const { report, stats } = await runUnderLoad(scenario);
      printFigures(`${engine.name} single user`, report, stats);

      expect(report.failureCodes).toEqual([]);
      expect(report.failedQueries).toBe(0);
      expect(stats.failedOperations).toBe(0);
      // At least one login per rotation met the window (see the file's comment)…
      expect(stats.retriedOperations).toBeGreaterThanOrEqual(ROTATIONS);
      // …and every query that met it was retried to success.
      expect(stats.recoveredOperations).toBe(stats.retriedOperations);
      expect(report.users).toEqual(new Set([user]));
    },
    LOAD_TEST_TIMEOUT_MS,
  );
});
