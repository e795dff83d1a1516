/**
 * The fault matrix (issue 9): for every adapter, every step, every I/O point of the step (each
 * Secrets Manager call, each database statement or login exchange, each HTTP request), a failure
 * as an error, a timeout and a process crash; then the service's retries with the same version id.
 * Every case must converge, and after the failure some stored version must authenticate against
 * the real target (for alternating users, AWSCURRENT must).
 *
 * The I/O points come from a clean probe rotation per adapter, counted by fault proxies (see
 * test/support/fault-proxy.ts); each case checks that its fault hit the point the probe saw there.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresSingleUser } from '../../src/adapters/postgres/index.ts';
import { scramSha256Verifier } from '../../src/adapters/postgres/scram.ts';
import type { PostgresSecret } from '../../src/adapters/postgres/secret.ts';
import { quoteIdentifier } from '../../src/adapters/postgres/sql.ts';
import { ROTATION_STEPS, type RotationStep, type RotationTarget } from '../../src/core/target.ts';
import { capturedOutput, leaksFoundSoFar } from '../support/leak-scan.ts';
import type { MariaDbInstance } from '../support/mariadb.ts';
import type { PostgresInstance } from '../support/postgres.ts';
import type { RedisInstance } from '../support/redis.ts';
import type { SshdInstance } from '../support/sshd.ts';
import { ContainerPool } from './support/containers.ts';
import {
  type CaseOutcome,
  caseName,
  casesForStep,
  FAULT_KINDS,
  type FaultCase,
  type FaultKind,
  inPool,
  probePoints,
  runFaultCase,
} from './support/fault-case.ts';
import {
  ADAPTERS,
  type AdapterName,
  afterRotations,
  postgresScenario,
  type Scenario,
  scenarioFor,
} from './support/scenarios.ts';
import { startServers, stopServers } from './support/servers.ts';
import { recordSuiteResult } from './support/summary.ts';

/**
 * Cases in flight at once. A timeout case spends seconds waiting for a client's timer and almost
 * no CPU, so those run in a wider pool beside the others.
 */
const CONCURRENCY = 4;
const TIMEOUT_CONCURRENCY = 10;

/** Runs cases in two pools (timeouts, the rest), answering outcomes in the cases' order. */
async function runCases(scenario: Scenario, cases: readonly FaultCase[]): Promise<CaseOutcome[]> {
  const run = (fault: FaultCase) => runFaultCase(scenario, fault, containers);
  const waiting = cases.filter((fault) => fault.kind === 'timeout');
  const busy = cases.filter((fault) => fault.kind !== 'timeout');
  const atOnce = scenario.casesAtOnce ?? { busy: CONCURRENCY, stalled: TIMEOUT_CONCURRENCY };
  const [slow, fast] = await Promise.all([
    inPool(waiting, atOnce.stalled, run),
    inPool(busy, atOnce.busy, run),
  ]);
  const byCase = new Map<FaultCase, CaseOutcome>();
  for (const outcome of [...slow, ...fast]) byCase.set(outcome.fault, outcome);
  return cases.map((fault) => byCase.get(fault)!);
}

let postgres: PostgresInstance;
let mariadb: MariaDbInstance;
let redis: RedisInstance;
let sshd: SshdInstance;
let containers: ContainerPool;
const suiteStarted = performance.now();
const results = new Map<string, { outcomes: CaseOutcome[]; durationMs: number }>();

/**
 * The matrix's rows: every adapter's first rotation with all three kinds, and the second rotation
 * of the alternating strategies (the clone exists; the original user's password changes) with
 * errors and crashes (their timeouts would repeat the first rotation's, at the cost of the slowest
 * cases).
 */
const ROWS: ReadonlyArray<{
  label: string;
  adapter: AdapterName;
  warmup: number;
  kinds: readonly FaultKind[];
}> = [
  ...ADAPTERS.map((adapter) => ({ label: adapter, adapter, warmup: 0, kinds: FAULT_KINDS })),
  ...(['postgres-alternating-users', 'mysql-alternating-users'] as const).map((adapter) => ({
    label: `${adapter}, 2nd rotation`,
    adapter,
    warmup: 1,
    kinds: ['error', 'crash'] as const,
  })),
];

beforeAll(async () => {
  ({ postgres, mariadb, redis, sshd } = await startServers());
  containers = new ContainerPool((text) => process.stdout.write(text));
});

afterAll(async () => {
  await containers?.close();
  await stopServers({ postgres, mariadb, redis, sshd });
  const all = [...results.values()].flatMap((entry) => entry.outcomes);
  const converged = all.filter((outcome) => outcome.converged).length;
  const leaks = leaksFoundSoFar();
  const lines = [`fault matrix by adapter (${((performance.now() - suiteStarted) / 1000).toFixed(0)} s):`];
  for (const [label, { outcomes, durationMs }] of results)
    lines.push(`  ${breakdown(label, outcomes, durationMs)}`);
  lines.push(
    '  kinds: error = connection reset / lost answer, timeout = stalled connection (the client times out), crash = the container process is SIGKILLed',
    '  positions: every I/O point before its request reaches the server and after the server acted (answer lost); a crash after an answer equals a crash before the next point, so only the last point of a step gets one',
  );
  console.info(lines.join('\n'));
  recordSuiteResult('fault matrix', { cases: all.length, converged, leaks });
});

function breakdown(adapter: string, outcomes: readonly CaseOutcome[], durationMs: number): string {
  const count = (predicate: (outcome: CaseOutcome) => boolean) => outcomes.filter(predicate).length;
  const steps = ROTATION_STEPS.map((step) => `${step} ${count((outcome) => outcome.fault.step === step)}`);
  const kinds = (['error', 'timeout', 'crash'] as FaultKind[]).map(
    (kind) => `${kind} ${count((outcome) => outcome.fault.kind === kind)}`,
  );
  const points = new Set(outcomes.map((outcome) => `${outcome.fault.step}#${outcome.fault.point.index}`))
    .size;
  const survived = count((outcome) => outcome.firstOk);
  const reruns = outcomes.reduce((sum, outcome) => sum + outcome.reruns, 0);
  const rerunText = reruns ? `, ${reruns} reruns of cases whose step failed before the fault point` : '';
  const slowest = [...outcomes].sort((a, b) => b.durationMs - a.durationMs)[0];
  const slowestText = slowest
    ? `, slowest ${(slowest.durationMs / 1000).toFixed(1)} s (${caseName(slowest.fault)})`
    : '';
  return `${adapter}: ${outcomes.length} cases over ${points} I/O points (${steps.join(', ')}; ${kinds.join(', ')}), ${count((outcome) => outcome.converged)} converged, ${survived} completed despite the fault, ${(durationMs / 1000).toFixed(1)} s${slowestText}${rerunText}`;
}

describe('fault matrix', () => {
  it.each(ROWS.map((row) => [row.label, row] as const))(
    '%s: a failure of each kind at every I/O point of every step converges',
    async (label, row) => {
      const started = performance.now();
      const scenario = afterRotations(
        scenarioFor(row.adapter, { postgres, mariadb, redis, sshd }),
        row.warmup,
      );
      // Crash cases run the faulted step in a new container, the others in the warm handler.
      const warm = await probePoints(scenario);
      const cold = row.kinds.includes('crash') ? await probePoints(scenario, { handlerPerStep: true }) : warm;
      const cases = ROTATION_STEPS.flatMap((step: RotationStep) => [
        ...casesForStep(step, warm[step] ?? []).filter(
          (fault) => fault.kind !== 'crash' && row.kinds.includes(fault.kind),
        ),
        ...casesForStep(step, cold[step] ?? []).filter(
          (fault) => fault.kind === 'crash' && row.kinds.includes(fault.kind),
        ),
      ]);
      expect(cases.length).toBeGreaterThan(0);
      const outcomes = await runCases(scenario, cases);
      results.set(label, { outcomes, durationMs: performance.now() - started });
      const failures = outcomes
        .filter((outcome) => !outcome.converged)
        .map((outcome) => `${caseName(outcome.fault)}: ${outcome.violations.join('; ')}`);
      expect(failures).toEqual([]);
    },
    600_000,
  );
});

/**
 * A single-user PostgreSQL target that breaks docs/protocol.md#setsecret the way AWS's templates once did: setSecret
 * logs in with the current password and changes it, without first trying the pending one. A
 * retried setSecret after a lost answer then finds the current password gone.
 */
function notRetrySafeSingleUser(): RotationTarget<PostgresSecret> {
  const real = postgresSingleUser();
  return {
    ...real,
    async apply(pending, known) {
      const current = await known.current();
      const client = new pg.Client({
        host: current.host,
        port: current.port,
        user: current.username,
        password: current.password,
        database: current.dbname,
        connectionTimeoutMillis: 1_000,
        query_timeout: 2_000,
      });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query(
          `ALTER ROLE ${quoteIdentifier(pending.username)} PASSWORD '${scramSha256Verifier(pending.password)}'`,
        );
      } finally {
        await client.end().catch(() => {});
      }
    },
  };
}

describe('the matrix itself', () => {
  it('hands every line a killed container printed to the leak scan, which would fail on a tracked value', async () => {
    const scenario = postgresScenario(postgres, false);
    const probed = await probePoints(scenario);
    const points = probed.setSecret ?? [];
    const last = points.filter((point) => point.answered).at(-1)!;
    const outcome = await runFaultCase(
      scenario,
      { step: 'setSecret', point: last, position: 'answer', kind: 'crash' },
      containers,
    );
    expect(outcome.violations).toEqual([]);
    expect(outcome.hit).toBe(last.description);
    // Lines the container wrote before it was killed mid-step reached the captured output.
    const lines = capturedOutput()
      .split('\n')
      .filter((line) => line.includes('"service":"lambda-container"'));
    expect(lines.some((line) => line.includes('connected to PostgreSQL'))).toBe(true);
    expect(lines.some((line) => line.includes('step failed') || line.includes('step succeeded'))).toBe(false);
  });

  it('fails a setSecret that is not safe to retry: a lost answer to its ALTER ROLE never converges', async () => {
    const scenario: Scenario = {
      ...postgresScenario(postgres, false),
      target: notRetrySafeSingleUser as () => RotationTarget<unknown>,
    };
    const probed = await probePoints(scenario);
    const cases = casesForStep('setSecret', probed.setSecret ?? []).filter((fault) => fault.kind === 'error');
    const outcomes = await runCases(scenario, cases);
    const failed = outcomes.filter((outcome) => !outcome.converged).map((outcome) => caseName(outcome.fault));
    expect(failed).toContain(
      `setSecret #${probed.setSecret!.findIndex((point) => point.description === 'pg:query ALTER ROLE') + 1} pg:query ALTER ROLE error@answer`,
    );
    const lostAnswer = outcomes.find((outcome) =>
      caseName(outcome.fault).endsWith('ALTER ROLE error@answer'),
    );
    // The invariant still held (the pending password works); convergence is what broke.
    expect(lostAnswer?.violations.join('; ')).toMatch(/did not converge/);
    expect(lostAnswer?.violations.join('; ')).not.toMatch(/no stored version authenticates/);
  });
});
