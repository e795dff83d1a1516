/**
 * The rotation driver (docs/protocol.md#rotatesecret), driving a small SDK-only rotation function through the real SDK
 * client and the local endpoint's extension operations.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planRotation, type RotationProgress } from '../../src/testing/driver.ts';
import {
  type LocalSecretsManager,
  RotationFailedError,
  RotationIncompleteError,
  retryUntilConverged,
  rotateSecret,
  startLocalSecretsManager,
} from '../../src/testing/index.ts';
import { fakeRotator, manualClock, rejection } from './fake-rotator.ts';

const clock = manualClock('2030-08-01T06:00:00.000Z');
let local: LocalSecretsManager;
let client: SecretsManagerClient;
let counter = 0;

beforeAll(async () => {
  local = await startLocalSecretsManager({ clock: clock.now });
  client = local.client();
});
afterAll(async () => {
  await local?.close();
});

async function create() {
  const answer = await client.send(
    new CreateSecretCommand({
      Name: `driver/secret-${++counter}`,
      SecretString: `driver-initial-${counter}`,
    }),
  );
  return { arn: answer.ARN!, name: `driver/secret-${counter}`, versionId: answer.VersionId! };
}

async function stagesOf(arn: string) {
  return (await client.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
}

/** Leaves an unfinished rotation: AWSPENDING on a version with a value, not AWSCURRENT. */
async function stuckRotation(arn: string) {
  const result = await rotateSecret({
    client,
    secretId: arn,
    handler: fakeRotator(client, { failAt: 'testSecret' }),
  });
  expect(result.ok).toBe(false);
  return result.versionId;
}

describe('rotateSecret', () => {
  it('rotates: AWSCURRENT moves, AWSPREVIOUS lands on the old version, AWSPENDING is gone, LastRotatedDate set', async () => {
    const { arn, name, versionId: old } = await create();
    const rotator = fakeRotator(client);
    const result = await rotateSecret({ client, secretId: name, handler: rotator });
    expect(result).toMatchObject({ secretArn: arn, ok: true, resumed: false, rotateImmediately: true });
    expect(result.failedStep).toBeUndefined();
    expect(await stagesOf(arn)).toEqual({ [old]: ['AWSPREVIOUS'], [result.versionId]: ['AWSCURRENT'] });
    expect((await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe(
      `driver-initial-${counter}+rotated`,
    );
    expect((await client.send(new DescribeSecretCommand({ SecretId: arn }))).LastRotatedDate).toEqual(
      new Date('2030-08-01T06:00:00.000Z'),
    );
    // Events carry the ARN (as the service sends), not the name the caller used.
    expect(
      rotator.events.every(
        (event) => event.SecretId === arn && event.ClientRequestToken === result.versionId,
      ),
    ).toBe(true);
  });

  it('reports each step with its duration, and the total', async () => {
    const { arn } = await create();
    const result = await rotateSecret({ client, secretId: arn, handler: fakeRotator(client) });
    expect(result.steps.map((step) => [step.step, step.ok])).toEqual([
      ['createSecret', true],
      ['setSecret', true],
      ['testSecret', true],
      ['finishSecret', true],
    ]);
    for (const step of result.steps) {
      expect(Number.isFinite(step.durationMs)).toBe(true);
      expect(step.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(result.totalMs).toBeGreaterThanOrEqual(
      result.steps.reduce((sum, step) => sum + step.durationMs, 0),
    );
  });

  it('registers the placeholder through the LocalRegisterPendingVersion extension before the first step', async () => {
    const { arn } = await create();
    const before = local.calls.length;
    const result = await rotateSecret({
      client,
      secretId: arn,
      handler: fakeRotator(client),
      versionId: 'chosen-version-id-0001',
    });
    expect(result.versionId).toBe('chosen-version-id-0001');
    const operations = local.calls.slice(before).map((call) => call.operation);
    expect(operations.slice(0, 3)).toEqual([
      'DescribeSecret',
      'LocalRegisterPendingVersion',
      'DescribeSecret',
    ]);
    expect(operations.at(-1)).toBe('LocalCompleteRotation');
    expect(local.calls[before + 1]?.input).toMatchObject({
      SecretId: arn,
      ClientRequestToken: 'chosen-version-id-0001',
    });
  });

  it('refuses while an earlier rotation is unfinished, saying how to resume or repair, and changes nothing', async () => {
    const { arn, versionId: old } = await create();
    const pending = await stuckRotation(arn);
    const before = local.calls.length;
    const error = await rejection(rotateSecret({ client, secretId: arn, handler: fakeRotator(client) }));
    expect(error).toBeInstanceOf(RotationIncompleteError);
    expect(error.message).toContain("A previous rotation isn't complete");
    expect(error.message).toContain(pending);
    expect(error.message).toContain('resume');
    expect(error.message).toContain('--remove-from-version-id');
    expect(local.calls.slice(before).map((call) => call.operation)).toEqual(['DescribeSecret']);
    expect(await stagesOf(arn)).toEqual({ [old]: ['AWSCURRENT'], [pending]: ['AWSPENDING'] });
  });

  it('resumes the unfinished rotation with resume: true, or when versionId names it', async () => {
    for (const how of ['resume', 'versionId'] as const) {
      const { arn, versionId: old } = await create();
      const pending = await stuckRotation(arn);
      const rotator = fakeRotator(client);
      const result = await rotateSecret({
        client,
        secretId: arn,
        handler: rotator,
        ...(how === 'resume' ? { resume: true } : { versionId: pending }),
      });
      expect(result).toMatchObject({ ok: true, resumed: true, versionId: pending });
      expect(rotator.events.map((event) => event.ClientRequestToken)).toEqual(Array(4).fill(pending));
      expect(await stagesOf(arn)).toEqual({ [old]: ['AWSPREVIOUS'], [pending]: ['AWSCURRENT'] });
    }
  });

  it('resumes a rotation whose finishSecret promoted the version and then failed; without resume it starts anew', async () => {
    const { arn, versionId: old } = await create();
    const promoteThenFail = fakeRotator(client);
    const failing = async (event: Parameters<typeof promoteThenFail>[0]) => {
      await promoteThenFail(event);
      if (event.Step === 'finishSecret') throw new Error('post-promotion action failed');
    };
    const first = await rotateSecret({ client, secretId: arn, handler: failing });
    expect(first).toMatchObject({ ok: false, failedStep: 'finishSecret' });
    expect(await stagesOf(arn)).toEqual({
      [old]: ['AWSPREVIOUS'],
      [first.versionId]: ['AWSPENDING', 'AWSCURRENT'],
    });

    const resumed = await rotateSecret({ client, secretId: arn, handler: fakeRotator(client), resume: true });
    expect(resumed).toMatchObject({ ok: true, resumed: true, versionId: first.versionId });
    expect(await stagesOf(arn)).toEqual({ [old]: ['AWSPREVIOUS'], [first.versionId]: ['AWSCURRENT'] });

    const again = await rotateSecret({ client, secretId: arn, handler: failing });
    expect(again.ok).toBe(false);
    const fresh = await rotateSecret({ client, secretId: arn, handler: fakeRotator(client) });
    expect(fresh).toMatchObject({ ok: true, resumed: false });
    expect(fresh.versionId).not.toBe(again.versionId);
    expect(await stagesOf(arn)).toEqual({
      [again.versionId]: ['AWSPREVIOUS'],
      [fresh.versionId]: ['AWSCURRENT'],
    });
  });

  it('with rotateImmediately: false runs testSecret only and leaves the versions as they were', async () => {
    const { arn, versionId: old } = await create();
    const rotator = fakeRotator(client);
    const result = await rotateSecret({ client, secretId: arn, handler: rotator, rotateImmediately: false });
    expect(result).toMatchObject({ ok: true, rotateImmediately: false });
    expect(rotator.events.map((event) => event.Step)).toEqual(['testSecret']);
    expect(result.steps.map((step) => step.step)).toEqual(['testSecret']);
    expect(await stagesOf(arn)).toEqual({ [old]: ['AWSCURRENT'] });
    expect((await client.send(new DescribeSecretCommand({ SecretId: arn }))).LastRotatedDate).toBeUndefined();
  });

  it('stops at the first failing step and returns the failure; throwOnFailure throws it instead', async () => {
    const { arn, versionId: old } = await create();
    const rotator = fakeRotator(client, { failAt: 'setSecret' });
    const result = await rotateSecret({ client, secretId: arn, handler: rotator });
    expect(result).toMatchObject({ ok: false, failedStep: 'setSecret' });
    expect(result.error).toBe('Error: injected failure at setSecret');
    expect(result.cause).toBeInstanceOf(Error);
    expect(rotator.events.map((event) => event.Step)).toEqual(['createSecret', 'setSecret']);
    expect(result.steps.map((step) => [step.step, step.ok])).toEqual([
      ['createSecret', true],
      ['setSecret', false],
    ]);
    expect(await stagesOf(arn)).toEqual({ [old]: ['AWSCURRENT'], [result.versionId]: ['AWSPENDING'] });

    const thrown = await rejection(
      rotateSecret({ client, secretId: arn, handler: rotator, resume: true, throwOnFailure: true }),
    );
    expect(thrown).toBeInstanceOf(RotationFailedError);
    expect((thrown as unknown as RotationFailedError).result.failedStep).toBe('setSecret');
    expect(thrown.message).toContain('failed at setSecret');
  });

  it('passes a random RotationToken in every event, which reaches PutSecretValue; null leaves it out', async () => {
    const first = await create();
    const withToken = fakeRotator(client);
    const result = await rotateSecret({ client, secretId: first.arn, handler: withToken });
    const tokens = new Set(withToken.events.map((event) => event.RotationToken));
    expect(tokens.size).toBe(1);
    expect(result.rotationToken).toEqual([...tokens][0]);
    const put = local.callsTo('PutSecretValue').find((call) => call.input.SecretId === first.arn);
    expect(put?.input.RotationToken).toBe(result.rotationToken);

    const second = await create();
    const without = fakeRotator(client);
    await rotateSecret({ client, secretId: second.arn, handler: without, rotationToken: null });
    expect(without.events.every((event) => !('RotationToken' in event))).toBe(true);
    const put2 = local.callsTo('PutSecretValue').find((call) => call.input.SecretId === second.arn);
    expect(put2?.input).not.toHaveProperty('RotationToken');

    const third = await create();
    const fixed = fakeRotator(client);
    await rotateSecret({
      client,
      secretId: third.arn,
      handler: fixed,
      rotationToken: 'fixed-rotation-token',
    });
    expect(fixed.events.map((event) => event.RotationToken)).toEqual(Array(4).fill('fixed-rotation-token'));
  });

  it('reports progress: each step started and finished, with the labels after it', async () => {
    const { arn, versionId: old } = await create();
    const progress: RotationProgress[] = [];
    const result = await rotateSecret({
      client,
      secretId: arn,
      handler: fakeRotator(client),
      onStep: (p) => progress.push(p),
    });
    expect(
      progress.map((p) =>
        p.kind === 'step-started' || p.kind === 'step-finished' ? `${p.kind}:${p.step}` : p.kind,
      ),
    ).toEqual([
      'rotation-started',
      'step-started:createSecret',
      'step-finished:createSecret',
      'step-started:setSecret',
      'step-finished:setSecret',
      'step-started:testSecret',
      'step-finished:testSecret',
      'step-started:finishSecret',
      'step-finished:finishSecret',
      'rotation-finished',
    ]);
    const afterCreate = progress.find((p) => p.kind === 'step-finished' && p.step === 'createSecret');
    expect(afterCreate?.kind === 'step-finished' && afterCreate.labels).toEqual({
      [old]: ['AWSCURRENT'],
      [result.versionId]: ['AWSPENDING'],
    });
    const afterFinish = progress.find((p) => p.kind === 'step-finished' && p.step === 'finishSecret');
    // Before the driver completes the rotation, AWSPENDING still sits with AWSCURRENT.
    expect(afterFinish?.kind === 'step-finished' && afterFinish.labels?.[result.versionId]).toEqual([
      'AWSPENDING',
      'AWSCURRENT',
    ]);
    const finished = progress.at(-1);
    expect(finished?.kind === 'rotation-finished' && finished.result.ok).toBe(true);
  });

  it('a display that throws does not change the rotation', async () => {
    const { arn } = await create();
    const result = await rotateSecret({
      client,
      secretId: arn,
      handler: fakeRotator(client),
      onStep: () => {
        throw new Error('display broke');
      },
    });
    expect(result.ok).toBe(true);
  });

  it('uses the registerPending and completeRotation options instead of the extensions when given', async () => {
    const { arn } = await create();
    const hooks: string[] = [];
    const result = await rotateSecret({
      client,
      secretId: arn,
      handler: async () => undefined,
      rotateImmediately: false,
      registerPending: async (secretId, versionId, options) => {
        hooks.push(`register ${secretId === arn} ${versionId.length > 0} copy=${options.copyCurrentValue}`);
        await local.registerPendingVersion(secretId, versionId);
      },
      completeRotation: async (_secretId, _versionId, outcome) => {
        hooks.push(`complete ${outcome}`);
      },
    });
    expect(result.ok).toBe(true);
    expect(hooks).toEqual(['register true true copy=true', 'complete tested']);
  });
});

describe('retryUntilConverged', () => {
  it('resumes the same version until the rotation succeeds', async () => {
    const { arn, versionId: old } = await create();
    const rotator = fakeRotator(client, { failAt: 'setSecret', failTimes: 2 });
    const outcome = await retryUntilConverged({ client, secretId: arn, handler: rotator, attempts: 5 });
    expect(outcome.ok).toBe(true);
    expect(outcome.attempts).toBe(3);
    expect(outcome.results.map((result) => result.ok)).toEqual([false, false, true]);
    expect(outcome.results.map((result) => result.resumed)).toEqual([false, true, true]);
    expect(new Set(outcome.results.map((result) => result.versionId)).size).toBe(1);
    expect(await stagesOf(arn)).toEqual({ [old]: ['AWSPREVIOUS'], [outcome.last.versionId]: ['AWSCURRENT'] });
  });

  it('gives up after the given number of attempts', async () => {
    const { arn } = await create();
    const outcome = await retryUntilConverged({
      client,
      secretId: arn,
      handler: fakeRotator(client, { failAt: 'testSecret' }),
      attempts: 2,
    });
    expect(outcome).toMatchObject({ ok: false, attempts: 2 });
    expect(outcome.last.failedStep).toBe('testSecret');
  });
});

describe('planRotation', () => {
  const state = (stages: Record<string, string[]>) => ({
    arn: 'arn:x',
    name: 'x',
    versionIdsToStages: stages,
  });

  it('resumes AWSPENDING left on the AWSCURRENT version only when asked', () => {
    expect(planRotation(state({ a: ['AWSCURRENT', 'AWSPENDING'] }), { resume: true })).toMatchObject({
      versionId: 'a',
      resumed: true,
    });
    expect(planRotation(state({ a: ['AWSCURRENT', 'AWSPENDING'] }), { versionId: 'a' })).toMatchObject({
      resumed: true,
    });
  });

  it('starts a new version when AWSPENDING is absent or sits with AWSCURRENT', () => {
    expect(planRotation(state({ a: ['AWSCURRENT'] }), {})).toMatchObject({ resumed: false });
    expect(planRotation(state({ a: ['AWSCURRENT', 'AWSPENDING'] }), { versionId: 'b' })).toEqual({
      secretArn: 'arn:x',
      secretName: 'x',
      versionId: 'b',
      resumed: false,
    });
  });

  it('refuses a version id that already exists, and a test-only run during an unfinished rotation', () => {
    expect(() => planRotation(state({ a: ['AWSCURRENT'] }), { versionId: 'a' })).toThrow(/already exists/);
    expect(() =>
      planRotation(state({ a: ['AWSCURRENT'], b: ['AWSPENDING'] }), { resume: true, testOnly: true }),
    ).toThrow(RotationIncompleteError);
    expect(() =>
      planRotation(state({ a: ['AWSCURRENT'], b: ['AWSPENDING'] }), { resume: true, versionId: 'c' }),
    ).toThrow(RotationIncompleteError);
  });
});
