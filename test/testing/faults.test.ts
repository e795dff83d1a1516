/**
 * Fault injection on the local endpoint, as the SDK sees it: service errors, throttling (retried
 * by the SDK by default), dropped connections and lost answers; and the driver converging through
 * them.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type LocalSecretsManager,
  retryUntilConverged,
  startLocalSecretsManager,
} from '../../src/testing/index.ts';
import { fakeRotator, rejection } from './fake-rotator.ts';

let local: LocalSecretsManager;
let client: SecretsManagerClient;
let once: SecretsManagerClient;
let counter = 0;

beforeAll(async () => {
  local = await startLocalSecretsManager();
  client = local.client();
  // No SDK retries: every injected fault reaches the caller.
  once = local.client({ maxAttempts: 1 });
});
afterEach(() => {
  local.clearFaults();
});
afterAll(async () => {
  await local?.close();
});

async function create() {
  const answer = await client.send(
    new CreateSecretCommand({ Name: `faults/secret-${++counter}`, SecretString: `fault-initial-${counter}` }),
  );
  return { arn: answer.ARN!, versionId: answer.VersionId! };
}

describe('injected errors', () => {
  it('surfaces ThrottlingException through the SDK and records the call as injected', async () => {
    const { arn } = await create();
    local.inject({
      operation: 'PutSecretValue',
      error: { type: 'ThrottlingException', message: 'Rate exceeded' },
      times: 1,
    });
    const error = await rejection(
      once.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'throttled-value' })),
    );
    expect(error.name).toBe('ThrottlingException');
    expect(error.message).toBe('Rate exceeded');
    expect(local.callsTo('PutSecretValue').at(-1)).toMatchObject({
      error: 'ThrottlingException',
      injected: true,
      status: 400,
    });
    // times: 1 — the next call goes through.
    await once.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'throttled-value' }));
  });

  it('lets the default SDK client retry throttling: two calls recorded, the second one succeeds', async () => {
    const { arn } = await create();
    local.inject({
      operation: 'PutSecretValue',
      error: { type: 'ThrottlingException', message: 'Rate exceeded' },
      times: 1,
    });
    const before = local.calls.length;
    const answer = await client.send(
      new PutSecretValueCommand({ SecretId: arn, SecretString: 'retried-value' }),
    );
    expect(answer.$metadata.attempts).toBe(2);
    expect(local.calls.slice(before).map((call) => [call.operation, call.error ?? 'ok'])).toEqual([
      ['PutSecretValue', 'ThrottlingException'],
      ['PutSecretValue', 'ok'],
    ]);
  });

  it('answers InternalServiceError with HTTP 500', async () => {
    const { arn } = await create();
    local.inject({
      operation: 'GetSecretValue',
      error: { type: 'InternalServiceError', message: 'An error occurred on the server side.', status: 500 },
    });
    const error = await rejection(once.send(new GetSecretValueCommand({ SecretId: arn })));
    expect(error.name).toBe('InternalServiceError');
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(500);
  });

  it('applies a fault only to requests its `when` accepts, and every operation with "*"', async () => {
    const { arn } = await create();
    local.inject({
      operation: 'GetSecretValue',
      error: { type: 'ResourceNotFoundException', message: 'hidden' },
      when: (input) => input.VersionStage === 'AWSPREVIOUS',
    });
    await once.send(new GetSecretValueCommand({ SecretId: arn }));
    expect(
      (await rejection(once.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS' }))))
        .message,
    ).toBe('hidden');
    local.clearFaults();
    local.inject({ operation: '*', error: { type: 'AccessDeniedException', message: 'no' }, times: 2 });
    expect((await rejection(once.send(new DescribeSecretCommand({ SecretId: arn })))).name).toBe(
      'AccessDeniedException',
    );
    expect((await rejection(once.send(new GetSecretValueCommand({ SecretId: arn })))).name).toBe(
      'AccessDeniedException',
    );
    await once.send(new DescribeSecretCommand({ SecretId: arn }));
  });

  it('clearFaults removes every fault', async () => {
    const { arn } = await create();
    local.inject({ operation: 'DescribeSecret', error: { type: 'ThrottlingException', message: 'x' } });
    expect(await rejection(once.send(new DescribeSecretCommand({ SecretId: arn })))).toBeDefined();
    local.clearFaults();
    expect((await once.send(new DescribeSecretCommand({ SecretId: arn }))).ARN).toBe(arn);
  });

  it('refuses a fault that does nothing or two outcomes at once', () => {
    expect(() => local.inject({ operation: 'PutSecretValue' })).toThrow(/needs error, dropConnection/);
    expect(() =>
      local.inject({ operation: 'PutSecretValue', dropConnection: true, error: { type: 'X', message: 'y' } }),
    ).toThrow(/choose one/);
  });
});

describe('network faults', () => {
  it('drops the connection without applying the request', async () => {
    const { arn, versionId } = await create();
    local.inject({ operation: 'PutSecretValue', dropConnection: true, times: 1 });
    const error = await rejection(
      once.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'never-stored' })),
    );
    // A network error: no HTTP status reached the SDK.
    expect((error.$metadata as { httpStatusCode?: number }).httpStatusCode).toBeUndefined();
    expect(error.message).toContain('socket hang up');
    expect(local.callsTo('PutSecretValue').at(-1)).toMatchObject({
      error: 'ConnectionDropped',
      injected: true,
    });
    expect((await client.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages).toEqual({
      [versionId]: ['AWSCURRENT'],
    });
  });

  it('with dropConnectionAfterApply applies the request but loses the answer', async () => {
    const { arn, versionId } = await create();
    const next = 'lost-answer-version-0001';
    await client.send(
      new PutSecretValueCommand({
        SecretId: arn,
        ClientRequestToken: next,
        SecretString: 'next-v',
        VersionStages: ['AWSPENDING'],
      }),
    );
    local.inject({ operation: 'UpdateSecretVersionStage', dropConnectionAfterApply: true, times: 1 });
    const error = await rejection(
      once.send(
        new UpdateSecretVersionStageCommand({
          SecretId: arn,
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: next,
          RemoveFromVersionId: versionId,
        }),
      ),
    );
    expect(error.message).toContain('socket hang up');
    expect(local.callsTo('UpdateSecretVersionStage').at(-1)).toMatchObject({
      error: 'ConnectionDropped',
      injected: true,
    });
    expect((await client.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages).toEqual({
      [versionId]: ['AWSPREVIOUS'],
      [next]: ['AWSPENDING', 'AWSCURRENT'],
    });
  });

  it('a delay alone still answers the request normally', async () => {
    const { arn } = await create();
    local.inject({ operation: 'GetSecretValue', delayMs: 50, times: 1 });
    expect((await once.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe(
      `fault-initial-${counter}`,
    );
  });
});

describe('the driver through faults', () => {
  it('converges by resuming when the service throttles the promotion and drops a step answer', async () => {
    const { arn, versionId: old } = await create();
    local.inject({
      operation: 'UpdateSecretVersionStage',
      error: { type: 'ThrottlingException', message: 'Rate exceeded' },
      times: 1,
    });
    local.inject({ operation: 'PutSecretValue', dropConnection: true, times: 1 });
    const outcome = await retryUntilConverged({
      client: once,
      secretId: arn,
      handler: fakeRotator(once),
      attempts: 5,
    });
    expect(outcome.ok).toBe(true);
    expect(outcome.results.map((result) => result.failedStep)).toEqual([
      'createSecret',
      'finishSecret',
      undefined,
    ]);
    expect((await client.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages).toEqual({
      [old]: ['AWSPREVIOUS'],
      [outcome.last.versionId]: ['AWSCURRENT'],
    });
  });

  it('counts a failure of the driver’s own calls as an attempt and carries on', async () => {
    const { arn } = await create();
    local.inject({
      operation: 'LocalRegisterPendingVersion',
      error: { type: 'InternalServiceError', message: 'x', status: 500 },
      times: 1,
    });
    const outcome = await retryUntilConverged({
      client: once,
      secretId: arn,
      handler: fakeRotator(once),
      attempts: 3,
    });
    expect(outcome.ok).toBe(true);
    expect(outcome.attempts).toBe(2);
    expect(outcome.results[0]?.error).toContain('InternalServiceError');
    expect(outcome.results[0]?.steps).toEqual([]);
  });
});
