/**
 * Concurrency (issue 9): two rotations of one secret started together. One completes; the other
 * is refused or fails cleanly; afterwards the labels are those of one normal rotation, AWSCURRENT
 * authenticates against the real target, every version is still readable, and the next rotation
 * runs normally. Three races per adapter:
 * - two rotations with their own version ids (an operator's "rotate now" during a scheduled run);
 * - the same rotation twice at once (a duplicate invocation: the same version id, steps interleaved);
 * - every step delivered twice at once to two containers (Lambda's at-least-once delivery);
 * - two RotateSecret calls to the endpoint, which runs the function itself.
 */
import { randomUUID } from 'node:crypto';
import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RotationError } from '../../src/core/errors.ts';
import type { RotationHandler } from '../../src/core/event.ts';
import { AWSCURRENT, type RotationResult, rotateSecret } from '../../src/testing/index.ts';
import { leaksFoundSoFar } from '../support/leak-scan.ts';
import type { MariaDbInstance } from '../support/mariadb.ts';
import type { PostgresInstance } from '../support/postgres.ts';
import type { RedisInstance } from '../support/redis.ts';
import type { SshdInstance } from '../support/sshd.ts';
import { CaseRig } from './support/fault-case.ts';
import { ADAPTERS, scenarioFor } from './support/scenarios.ts';
import { startServers, stopServers } from './support/servers.ts';
import { recordSuiteResult } from './support/summary.ts';

const ROUNDS = 3;

let postgres: PostgresInstance;
let mariadb: MariaDbInstance;
let redis: RedisInstance;
let sshd: SshdInstance;
let cases = 0;
/** The steps where one of two duplicate copies failed (cleanly), for the summary. */
const duplicateFailures: string[] = [];
let clean = 0;
/** How the races ended, per race kind: "both completed", "one completed, the other failed at setSecret", … */
const endings = new Map<string, Map<string, number>>();

function tally(race: string, seen: ReadonlyArray<{ completed: boolean; text: string }>): void {
  const completed = seen.filter((run) => run.completed).length;
  const other = seen.find((run) => !run.completed);
  const ending =
    completed === seen.length
      ? 'both completed'
      : `one completed, the other ${other?.text.replace(/:.*$/s, '').replace(/^failed at /, 'failed at ') ?? '?'}`;
  const counts = endings.get(race) ?? new Map<string, number>();
  counts.set(ending, (counts.get(ending) ?? 0) + 1);
  endings.set(race, counts);
}

beforeAll(async () => {
  ({ postgres, mariadb, redis, sshd } = await startServers());
});

afterAll(async () => {
  await stopServers({ postgres, mariadb, redis, sshd });
  const copies = new Map<string, number>();
  for (const failure of duplicateFailures) copies.set(failure, (copies.get(failure) ?? 0) + 1);
  console.info(
    `  every step twice: copies that failed cleanly while the other succeeded: ${[...copies].map(([where, count]) => `${where} ×${count}`).join(', ') || 'none'}`,
  );
  for (const [race, counts] of endings) {
    console.info(`  ${race}: ${[...counts].map(([ending, count]) => `${ending} ×${count}`).join(', ')}`);
  }
  recordSuiteResult('concurrency', { cases, converged: clean, leaks: leaksFoundSoFar() });
});

/** How one of the racing runs ended: completed, or a clean refusal or failure (one of our errors). */
function describeRun(run: PromiseSettledResult<RotationResult>): {
  completed: boolean;
  clean: boolean;
  text: string;
} {
  if (run.status === 'fulfilled') {
    const result = run.value;
    if (result.ok) return { completed: true, clean: true, text: 'completed' };
    const named = result.cause instanceof RotationError || /^[A-Za-z]+Error: /.test(result.error ?? '');
    return { completed: false, clean: named, text: `failed at ${result.failedStep}: ${result.error}` };
  }
  const error = run.reason as Error;
  // Refused before any step: an unfinished rotation, or the service's own refusal.
  const refused = /previous rotation isn't complete|not complete|unfinished/i.test(error.message);
  return { completed: false, clean: refused, text: `refused: ${error.name}: ${error.message}` };
}

/** Counts a race and checks what every race must leave behind. */
async function checkAfterRace(
  race: string,
  rig: CaseRig,
  initial: Awaited<ReturnType<CaseRig['current']>>,
  runs: PromiseSettledResult<RotationResult>[],
  versionOf: (index: number) => string | undefined,
): Promise<void> {
  cases += 1;
  const seen = runs.map(describeRun);
  tally(race, seen);
  const winners = seen.flatMap((run, index) => (run.completed ? [index] : []));
  expect(winners.length, seen.map((run) => run.text).join(' | ')).toBeGreaterThanOrEqual(1);
  expect(
    seen.filter((run) => !run.clean).map((run) => run.text),
    'the other run must be refused or fail cleanly',
  ).toEqual([]);
  const winnerVersion = versionOf(winners[0]!);
  expect(winnerVersion).toBeDefined();
  expect(await rig.checkInvariant('after the race')).toEqual([]);
  expect(await rig.checkConverged(initial, winnerVersion!)).toEqual([]);
  // Nothing lost: every version still has its value.
  const versions = await rig.versions();
  expect(versions.filter((version) => version.value === undefined).map((version) => version.id)).toEqual([]);
  // And the secret is not stuck: the next rotation runs normally.
  const before = await rig.current();
  const next = await rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: rig.handler() });
  expect(next.error).toBeUndefined();
  expect(await rig.checkConverged(before, next.versionId)).toEqual([]);
  clean += 1;
}

describe.each(ADAPTERS)('%s: two rotations started together', (adapter) => {
  it('with their own version ids: one completes, the other is refused, nothing is lost', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
      try {
        const initial = await rig.current();
        const runs = await Promise.allSettled([
          rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: rig.handler() }),
          rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: rig.handler() }),
        ]);
        await checkAfterRace('own version ids', rig, initial, runs, (index) => {
          const run = runs[index];
          return run?.status === 'fulfilled' ? run.value.versionId : undefined;
        });
      } finally {
        await rig.close();
      }
    }
  });

  it('as one rotation invoked twice at once (same version id): one completes, nothing is lost', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
      try {
        const initial = await rig.current();
        const versionId = randomUUID();
        const runs = await Promise.allSettled([
          rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: rig.handler(), versionId }),
          rotateSecret({
            client: rig.direct,
            secretId: rig.secretArn,
            handler: rig.handler(),
            versionId,
            resume: true,
          }),
        ]);
        await checkAfterRace('same version id', rig, initial, runs, () => versionId);
      } finally {
        await rig.close();
      }
    }
  });

  it('with every step delivered twice at once to two containers: the rotation completes, nothing is lost', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
      try {
        const initial = await rig.current();
        const [first, second] = [rig.handler(), rig.handler()];
        const failures: string[] = [];
        const unclean: string[] = [];
        // Lambda may deliver an invocation twice: both copies run; the step counts as done if one succeeded.
        const twice: RotationHandler = async (event, context) => {
          const copies = await Promise.allSettled([first(event, context), second(event, context)]);
          const failed = copies.filter((copy) => copy.status === 'rejected');
          for (const copy of failed) {
            const reason = copy.reason as Error;
            // Cleanly: one of the library's named errors, never a driver's raw error or a crash.
            if (!(reason instanceof RotationError)) unclean.push(`${event.Step}: ${reason.name}`);
            failures.push(`${event.Step}: ${reason.message}`);
          }
          if (failed.length === copies.length) throw (failed[0] as PromiseRejectedResult).reason;
        };
        const run = await rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: twice });
        expect(unclean).toEqual([]);
        await checkAfterRace(
          'every step twice',
          rig,
          initial,
          [{ status: 'fulfilled', value: run }],
          () => run.versionId,
        );
        duplicateFailures.push(...failures.map((failure) => `${adapter} ${failure.replace(/:.*$/s, '')}`));
      } finally {
        await rig.close();
      }
    }
  });

  it('through RotateSecret twice at once: the endpoint refuses the second, the first completes', async () => {
    const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
    try {
      const initial = await rig.current();
      rig.sm.registerRotationFunction('fault-suite-rotator', rig.handler());
      const request = () =>
        rig.direct.send(
          new RotateSecretCommand({
            SecretId: rig.secretArn,
            RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:fault-suite-rotator',
          }),
        );
      const answers = await Promise.allSettled([request(), request()]);
      await rig.sm.idle();
      const rotations = rig.sm.rotations;
      const runs: PromiseSettledResult<RotationResult>[] = answers.map((answer) =>
        answer.status === 'rejected'
          ? answer
          : {
              status: 'fulfilled',
              value: rotations.find((run) => run.versionId === answer.value.VersionId) as RotationResult,
            },
      );
      await checkAfterRace('RotateSecret twice', rig, initial, runs, (index) => {
        const answer = answers[index];
        return answer?.status === 'fulfilled' ? answer.value.VersionId : undefined;
      });
      const current = (await rig.versions()).find((version) => version.stages.includes(AWSCURRENT));
      expect(current).toBeDefined();
    } finally {
      await rig.close();
    }
  });
});
