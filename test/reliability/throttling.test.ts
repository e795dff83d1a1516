/**
 * Throttling and transient errors from Secrets Manager (issue 9): the engine retries them with
 * back-off within the invocation's remaining time (SECRETS_MANAGER_MAX_ATTEMPTS, default 5); a step
 * that cannot finish fails cleanly, with a named error and nothing half-applied, and the service's
 * retry then converges.
 *
 * Faults come from the local endpoint's fault mode (throttling, 5xx, dropped connections, lost
 * answers), armed only while a step runs so the driver's own calls pass, and from
 * aws-sdk-client-mock for what an endpoint cannot produce (Node network error codes, the SDK's
 * TimeoutError, `$retryable` flags, statuses without an error code).
 */
import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerCallError } from '../../src/core/errors.ts';
import type { RotationEvent, RotationHandler } from '../../src/core/event.ts';
import type { RotationStep } from '../../src/core/target.ts';
import { type Fault, retryUntilConverged, rotateSecret } from '../../src/testing/index.ts';
import { capturedOutput } from '../support/leak-scan.ts';
import type { MariaDbInstance } from '../support/mariadb.ts';
import type { PostgresInstance } from '../support/postgres.ts';
import type { RedisInstance } from '../support/redis.ts';
import type { SshdInstance } from '../support/sshd.ts';
import { CaseRig, probePoints } from './support/fault-case.ts';
import {
  ADAPTERS,
  type AdapterName,
  randomSecretScenario,
  type Scenario,
  scenarioFor,
} from './support/scenarios.ts';
import { CaseTally, startServers, stopServers } from './support/servers.ts';

/** The engine's own retries: the production default. */
const RETRYING = { SECRETS_MANAGER_MAX_ATTEMPTS: '5' };
const OPERATIONS = [
  'DescribeSecret',
  'GetSecretValue',
  'PutSecretValue',
  'UpdateSecretVersionStage',
  'GetRandomPassword',
] as const;

let postgres: PostgresInstance;
let mariadb: MariaDbInstance;
let redis: RedisInstance;
let sshd: SshdInstance;
const tally = new CaseTally('throttling');

beforeAll(async () => {
  ({ postgres, mariadb, redis, sshd } = await startServers());
});

afterAll(async () => {
  await stopServers({ postgres, mariadb, redis, sshd });
  tally.record();
});

/** Counts a case; `check` throws on failure (the case stays unclean). */
const countCase = <T>(check: () => Promise<T>): Promise<T> => tally.count(check);

/** Runs the cases of every adapter at once, and reports every adapter's failure, not just the first. */
async function forEveryAdapter(work: (adapter: AdapterName) => Promise<void>): Promise<void> {
  const settled = await Promise.allSettled(ADAPTERS.map((adapter) => work(adapter)));
  const failures = settled.flatMap((outcome, index) =>
    outcome.status === 'rejected' ? [`${ADAPTERS[index]}: ${(outcome.reason as Error).message}`] : [],
  );
  expect(failures).toEqual([]);
}

/**
 * Wraps a handler so that endpoint faults apply only while one of its steps runs: `step()` is the
 * step running now, or undefined between steps (the driver's own calls).
 */
function stepAware(
  handler: RotationHandler,
  around?: (event: RotationEvent, run: () => Promise<void>) => Promise<void>,
) {
  let step: RotationStep | undefined;
  const wrapped: RotationHandler = async (event, context) => {
    step = event.Step as RotationStep;
    try {
      const run = () => handler(event, context);
      await (around ? around(event, run) : run());
    } finally {
      step = undefined;
    }
  };
  return { handler: wrapped, step: () => step };
}

/** What one injected failure answers. */
type Outcome = Pick<Fault, 'error' | 'dropConnection' | 'dropConnectionAfterApply'>;

const THROTTLED: Outcome = { error: { type: 'ThrottlingException', message: 'Rate exceeded', status: 400 } };
const INTERNAL: Outcome = {
  error: { type: 'InternalServiceError', message: 'An error occurred on the server side.', status: 500 },
};

/**
 * Fails each distinct request of a step (operation and input) with `outcomes[0]`, its first retry
 * with `outcomes[1]`, and so on; the retry after the last outcome goes through.
 */
function failEachRequest(
  rig: CaseRig,
  step: () => RotationStep | undefined,
  outcomesFor: (operation: string) => Outcome[],
): void {
  const seen = new Map<string, number>();
  for (const operation of OPERATIONS) {
    outcomesFor(operation).forEach((outcome, index) => {
      rig.sm.inject({
        operation,
        ...outcome,
        when: (input) => {
          const current = step();
          if (!current) return false;
          const key = `${current} ${operation} ${JSON.stringify(input)}`;
          // The first fault of an operation counts the attempts; the later ones read the count.
          if (index === 0) seen.set(key, (seen.get(key) ?? 0) + 1);
          return seen.get(key) === index + 1;
        },
      });
    });
  }
}

describe('retried within the step', () => {
  it('every Secrets Manager call of every step throttled, then a 500, then a dropped connection or a lost answer: each rotation completes in one run', async () => {
    await forEveryAdapter((adapter) =>
      countCase(async () => {
        const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
        try {
          const initial = await rig.current();
          const wrapped = stepAware(rig.handler({ env: RETRYING }));
          failEachRequest(rig, wrapped.step, (operation) => [
            THROTTLED,
            INTERNAL,
            // Writes lose their answer after taking effect; reads lose the connection.
            operation === 'PutSecretValue' || operation === 'UpdateSecretVersionStage'
              ? { dropConnectionAfterApply: true }
              : { dropConnection: true },
          ]);
          const result = await rotateSecret({
            client: rig.direct,
            secretId: rig.secretArn,
            handler: wrapped.handler,
          });
          expect(result.error).toBeUndefined();
          expect(await rig.checkConverged(initial, result.versionId)).toEqual([]);
          // Every operation the handler made met all three failures.
          const injected = rig.sm.calls.filter((call) => call.injected);
          for (const operation of new Set(injected.map((call) => call.operation))) {
            const errors = new Set(
              injected.filter((call) => call.operation === operation).map((call) => call.error),
            );
            expect([...errors].sort(), operation).toEqual(
              ['ConnectionDropped', 'InternalServiceError', 'ThrottlingException'].sort(),
            );
          }
        } finally {
          await rig.close();
        }
      }),
    );
    expect(capturedOutput()).toContain('retrying Secrets Manager call');
  }, 120_000);
});

/** The number of Secrets Manager calls each step makes, from a clean probe rotation. */
async function secretsManagerCallsPerStep(scenario: Scenario): Promise<Record<RotationStep, number>> {
  const probed = await probePoints(scenario);
  const counts = {} as Record<RotationStep, number>;
  for (const [step, points] of Object.entries(probed)) {
    counts[step as RotationStep] = points.filter((point) => point.description.startsWith('sm:')).length;
  }
  return counts;
}

/**
 * Runs a rotation whose `step` has its `callIndex`-th distinct Secrets Manager request refused with
 * throttling on every attempt. Checks that the step fails with a SecretsManagerCallError, that the
 * secret and the target are exactly as before the step, and that the service's retry converges.
 * Answers the failed step's error and the attempts made at the throttled request.
 */
async function throttledStep(
  scenario: Scenario,
  step: RotationStep,
  callIndex: number,
  context?: (attemptsSoFar: () => number) => Partial<Context>,
): Promise<{ error: unknown; attempts: number }> {
  const rig = await CaseRig.open(scenario);
  try {
    const initial = await rig.current();
    let stepError: unknown;
    let before: Awaited<ReturnType<CaseRig['state']>> | undefined;
    let after: Awaited<ReturnType<CaseRig['state']>> | undefined;
    let throttledKey: string | undefined;
    let attempts = 0;
    const order: string[] = [];
    let armed = false;
    // Only the handler's own requests count, not the test's reads of the state around the step.
    let running = false;
    const wrapped = stepAware(rig.handler({ env: RETRYING }), async (event, run) => {
      if (event.Step !== step || armed) return run();
      armed = true;
      before = await rig.state(event.ClientRequestToken);
      running = true;
      try {
        await run();
      } catch (error) {
        stepError = error;
      } finally {
        running = false;
      }
      after = await rig.state(event.ClientRequestToken);
      if (stepError) throw stepError;
    });
    rig.sm.inject({
      operation: '*',
      ...THROTTLED,
      when: (input) => {
        if (!running) return false;
        const key = JSON.stringify(input);
        if (!order.includes(key)) order.push(key);
        if (order.indexOf(key) + 1 !== callIndex) return false;
        throttledKey = key;
        attempts += 1;
        return true;
      },
    });
    const first = await rotateSecret({
      client: rig.direct,
      secretId: rig.secretArn,
      handler: wrapped.handler,
      ...(context ? { context: context(() => attempts) } : {}),
    });
    expect(throttledKey, 'the throttled request was never made').toBeDefined();
    expect(first.ok).toBe(false);
    expect(first.failedStep).toBe(step);
    expect(stepError).toBeInstanceOf(SecretsManagerCallError);
    expect(after, 'nothing half-applied: the secret and the target as before the step').toEqual(before);
    expect(await rig.checkInvariant('after the throttled step')).toEqual([]);
    rig.sm.clearFaults();
    const retry = await retryUntilConverged({
      client: rig.direct,
      secretId: rig.secretArn,
      handler: rig.handler({ env: RETRYING }),
      versionId: first.versionId,
      resume: true,
      attempts: 2,
    });
    expect(retry.last.error).toBeUndefined();
    expect(await rig.checkConverged(initial, first.versionId)).toEqual([]);
    return { error: stepError, attempts };
  } finally {
    await rig.close();
  }
}

describe('a step that cannot finish', () => {
  it('fails cleanly after SECRETS_MANAGER_MAX_ATTEMPTS when its last Secrets Manager call stays throttled, with nothing half-applied; the retry converges', async () => {
    await forEveryAdapter(async (adapter) => {
      const calls = await secretsManagerCallsPerStep(
        scenarioFor(adapter, { postgres, mariadb, redis, sshd }),
      );
      for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
        await countCase(async () => {
          const { error, attempts } = await throttledStep(
            scenarioFor(adapter, { postgres, mariadb, redis, sshd }),
            step,
            calls[step],
          );
          expect(attempts).toBe(5);
          expect((error as Error).message).toMatch(
            /failed with ThrottlingException: Rate exceeded \(after 5 attempts\)/,
          );
        });
      }
    });
  }, 180_000);

  it("stops retrying when the back-off would not fit in the invocation's remaining time, and fails before Lambda's deadline", async () => {
    // Remaining time falls by 1.5 s per throttled attempt: 3.5 s after the first, 2 s after the
    // second, 0.5 s after the third, when even the shortest back-off leaves less than the engine's
    // 1.5 s reserve. So exactly 3 of the 5 allowed attempts are made, and the step ends with time left.
    const remaining = (attemptsSoFar: () => number) => ({
      getRemainingTimeInMillis: () => 5_000 - 1_500 * attemptsSoFar(),
    });
    await forEveryAdapter(async (adapter) => {
      const calls = await secretsManagerCallsPerStep(
        scenarioFor(adapter, { postgres, mariadb, redis, sshd }),
      );
      await countCase(async () => {
        const { error, attempts } = await throttledStep(
          scenarioFor(adapter, { postgres, mariadb, redis, sshd }),
          'setSecret',
          calls.setSecret,
          remaining,
        );
        expect(attempts).toBe(3);
        expect((error as Error).message).toMatch(/failed with ThrottlingException: Rate exceeded$/);
      });
    });
  }, 120_000);
});

/** An error as the SDK would raise it, with the fields the engine reads. */
function sdkError(name: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} (injected by aws-sdk-client-mock)`), { name, ...fields });
}

/** Errors the local endpoint cannot produce, as the SDK surfaces them. */
const RETRYABLE_SDK_ERRORS: Array<[string, () => Error]> = [
  [
    'a reset connection (ECONNRESET)',
    () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
  ],
  [
    'a refused connection (ECONNREFUSED)',
    () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
  ],
  [
    'a network timeout (ETIMEDOUT)',
    () => Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }),
  ],
  ['a broken pipe (EPIPE)', () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
  ["the SDK's request timeout (TimeoutError)", () => sdkError('TimeoutError')],
  ['a 503 without an error code', () => sdkError('UnknownError', { $metadata: { httpStatusCode: 503 } })],
  ['an error the SDK marks $retryable', () => sdkError('SlowDown', { $retryable: { throttling: true } })],
  ['RequestLimitExceeded', () => sdkError('RequestLimitExceeded', { $metadata: { httpStatusCode: 400 } })],
];

const FINAL_SDK_ERRORS: Array<[string, () => Error]> = [
  ['AccessDeniedException', () => sdkError('AccessDeniedException', { $metadata: { httpStatusCode: 400 } })],
  ['DecryptionFailure', () => sdkError('DecryptionFailure', { $metadata: { httpStatusCode: 400 } })],
  [
    'InvalidRequestException',
    () => sdkError('InvalidRequestException', { $metadata: { httpStatusCode: 400 } }),
  ],
];

const COMMANDS = {
  DescribeSecret: DescribeSecretCommand,
  GetSecretValue: GetSecretValueCommand,
  PutSecretValue: PutSecretValueCommand,
  UpdateSecretVersionStage: UpdateSecretVersionStageCommand,
  GetRandomPassword: GetRandomPasswordCommand,
} as const;

/**
 * A client for the handler whose commands go to the real endpoint, except that the first
 * `failures` calls of `failing` operations reject with `error()`. Answers the client and a count of
 * the rejections made.
 */
function mockedClient(
  rig: CaseRig,
  failing: readonly (keyof typeof COMMANDS)[],
  error: () => Error,
  failures: number,
): { client: SecretsManagerClient; rejected: () => number } {
  const real = rig.sm.client({ maxAttempts: 1 });
  const client = rig.sm.client({ maxAttempts: 1 });
  const stub = mockClient(client);
  let rejected = 0;
  for (const [operation, Command] of Object.entries(COMMANDS) as Array<
    [keyof typeof COMMANDS, (typeof COMMANDS)[keyof typeof COMMANDS]]
  >) {
    let left = failing.includes(operation) ? failures : 0;
    const forward = Command as unknown as new (input: unknown) => Parameters<SecretsManagerClient['send']>[0];
    stub.on(Command as never).callsFake((input: unknown) => {
      if (left > 0) {
        left -= 1;
        rejected += 1;
        return Promise.reject(error());
      }
      return real.send(new forward(input));
    });
  }
  return { client, rejected: () => rejected };
}

describe('errors only the SDK raises (aws-sdk-client-mock)', () => {
  it.each(RETRYABLE_SDK_ERRORS)(
    '%s on the first call of every operation, twice: retried, the rotation completes in one run',
    async (_name, error) => {
      await countCase(async () => {
        const rig = await CaseRig.open(randomSecretScenario());
        try {
          const initial = await rig.current();
          const mocked = mockedClient(rig, Object.keys(COMMANDS) as (keyof typeof COMMANDS)[], error, 2);
          const handler = rig.handler({ env: RETRYING, client: mocked.client });
          const result = await rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler });
          expect(result.error).toBeUndefined();
          expect(mocked.rejected()).toBe(2 * Object.keys(COMMANDS).length);
          expect(await rig.checkConverged(initial, result.versionId)).toEqual([]);
        } finally {
          await rig.close();
        }
      });
    },
  );

  it.each(
    FINAL_SDK_ERRORS.flatMap(([name, error]) =>
      (['GetSecretValue', 'PutSecretValue', 'UpdateSecretVersionStage'] as const).map(
        (operation) => [name, operation, error] as const,
      ),
    ),
  )(
    '%s on %s is not retried: the step fails at once, naming operation and code, nothing changed; the retry converges',
    async (name, operation, error) => {
      await countCase(async () => {
        const rig = await CaseRig.open(randomSecretScenario());
        try {
          const initial = await rig.current();
          const mocked = mockedClient(rig, [operation], error, 1);
          let before: unknown;
          const handler = rig.handler({ env: RETRYING, client: mocked.client });
          const watched: RotationHandler = async (event, context) => {
            before = await rig.state();
            await handler(event, context);
          };
          const first = await rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: watched });
          expect(first.ok).toBe(false);
          expect(mocked.rejected()).toBe(1);
          expect(first.cause).toBeInstanceOf(SecretsManagerCallError);
          expect(first.error).toContain(`Secrets Manager ${operation} failed with ${name}`);
          expect(await rig.state()).toEqual(before);
          const retry = await retryUntilConverged({
            client: rig.direct,
            secretId: rig.secretArn,
            handler: rig.handler({ env: RETRYING }),
            versionId: first.versionId,
            resume: true,
            attempts: 2,
          });
          expect(retry.last.error).toBeUndefined();
          expect(await rig.checkConverged(initial, first.versionId)).toEqual([]);
        } finally {
          await rig.close();
        }
      });
    },
  );
});
