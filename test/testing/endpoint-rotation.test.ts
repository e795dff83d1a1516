/**
 * RotateSecret and CancelRotateSecret on the local endpoint (docs/protocol.md#rotatesecret and docs/protocol.md#the-local-endpoint): the placeholder first,
 * the four steps against a function registered in-process, refusal of a second rotation while one
 * is unfinished, RotateImmediately=false, and the rotation dates.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  InvalidRequestException,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INCOMPLETE_ROTATION_MESSAGE } from '../../src/testing/in-memory-secrets-manager.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../src/testing/index.ts';
import { DAY_MS, FAKE_ROTATOR_ARN, fakeRotator, manualClock, rejection } from './fake-rotator.ts';

const clock = manualClock('2030-06-01T12:00:00.000Z');
let inline: LocalSecretsManager;
let client: SecretsManagerClient;
let counter = 0;

beforeAll(async () => {
  inline = await startLocalSecretsManager({ rotation: 'inline', clock: clock.now });
  client = inline.client();
});
afterAll(async () => {
  await inline?.close();
});

async function create(sm: SecretsManagerClient = client) {
  const answer = await sm.send(
    new CreateSecretCommand({ Name: `rotation/secret-${++counter}`, SecretString: `initial-${counter}` }),
  );
  return { arn: answer.ARN!, versionId: answer.VersionId! };
}

async function describe_(arn: string, sm: SecretsManagerClient = client) {
  return sm.send(new DescribeSecretCommand({ SecretId: arn }));
}

/** A function name unique to the test, so each test registers its own handler. */
function lambdaArn(name: string): string {
  return `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
}

describe('RotateSecret', () => {
  it('runs the four steps with one version id and RotationToken, then clears AWSPENDING and records the dates', async () => {
    clock.set('2030-06-01T12:00:00.000Z');
    const { arn, versionId: old } = await create();
    const rotator = fakeRotator(client);
    inline.registerRotationFunction(lambdaArn('full'), rotator);
    const answer = await client.send(
      new RotateSecretCommand({
        SecretId: arn,
        RotationLambdaARN: lambdaArn('full'),
        RotationRules: { AutomaticallyAfterDays: 30 },
      }),
    );
    const newId = answer.VersionId!;
    expect(rotator.events.map((event) => event.Step)).toEqual([
      'createSecret',
      'setSecret',
      'testSecret',
      'finishSecret',
    ]);
    expect(new Set(rotator.events.map((event) => event.ClientRequestToken))).toEqual(new Set([newId]));
    expect(new Set(rotator.events.map((event) => event.SecretId))).toEqual(new Set([arn]));
    const tokens = new Set(rotator.events.map((event) => event.RotationToken));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).toEqual(expect.any(String));

    const described = await describe_(arn);
    expect(described.VersionIdsToStages).toEqual({ [old]: ['AWSPREVIOUS'], [newId]: ['AWSCURRENT'] });
    expect(described).toMatchObject({
      RotationEnabled: true,
      RotationLambdaARN: lambdaArn('full'),
      RotationRules: { AutomaticallyAfterDays: 30 },
      LastRotatedDate: new Date('2030-06-01T12:00:00.000Z'),
      NextRotationDate: new Date(new Date('2030-06-01T12:00:00.000Z').getTime() + 30 * DAY_MS),
    });
    expect((await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe(
      `initial-${counter}+rotated`,
    );
    expect(inline.rotations.at(-1)).toMatchObject({ secretArn: arn, versionId: newId, ok: true });
    expect(inline.rotations.at(-1)?.steps.map((step) => step.step)).toEqual([
      'createSecret',
      'setSecret',
      'testSecret',
      'finishSecret',
    ]);
  });

  it('registers the AWSPENDING placeholder, with no value, before the first step runs', async () => {
    const { arn, versionId: old } = await create();
    const seen: Array<{ step: string; stages: string[]; value: string }> = [];
    const rotator = fakeRotator(client, {
      observe: (event, stages) => {
        seen.push({ step: event.Step, stages: [...stages], value: '' });
      },
    });
    let placeholderReadable: boolean | undefined;
    inline.registerRotationFunction(lambdaArn('placeholder'), async (event, context) => {
      if (event.Step === 'createSecret') {
        const stages = (await describe_(arn)).VersionIdsToStages;
        expect(stages).toEqual({ [old]: ['AWSCURRENT'], [event.ClientRequestToken]: ['AWSPENDING'] });
        placeholderReadable = await client
          .send(
            new GetSecretValueCommand({
              SecretId: arn,
              VersionId: event.ClientRequestToken,
              VersionStage: 'AWSPENDING',
            }),
          )
          .then(
            () => true,
            () => false,
          );
      }
      await rotator(event, context);
    });
    await client.send(
      new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: lambdaArn('placeholder') }),
    );
    expect(placeholderReadable).toBe(false);
    expect(seen[0]?.stages).toEqual(['AWSPENDING']);
    expect(inline.rotations.at(-1)?.ok).toBe(true);
  });

  it('refuses a new rotation while an earlier one is unfinished, and re-runs it when asked with its version id', async () => {
    const { arn, versionId: old } = await create();
    const rotator = fakeRotator(client, { failAt: 'setSecret', failTimes: 1 });
    inline.registerRotationFunction('stuck', rotator);
    const first = await client.send(
      new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: lambdaArn('stuck') }),
    );
    expect(inline.rotations.at(-1)).toMatchObject({ ok: false, failedStep: 'setSecret' });
    expect(inline.rotations.at(-1)?.error).toContain('injected failure at setSecret');
    expect((await describe_(arn)).VersionIdsToStages).toEqual({
      [old]: ['AWSCURRENT'],
      [first.VersionId!]: ['AWSPENDING'],
    });

    const refused = await rejection(client.send(new RotateSecretCommand({ SecretId: arn })));
    expect(refused).toBeInstanceOf(InvalidRequestException);
    expect(refused.message).toBe(INCOMPLETE_ROTATION_MESSAGE);
    expect(refused.message).toBe("A previous rotation isn't complete. That rotation will be reattempted.");
    expect((await describe_(arn)).VersionIdsToStages).toEqual({
      [old]: ['AWSCURRENT'],
      [first.VersionId!]: ['AWSPENDING'],
    });

    const eventsBefore = rotator.events.length;
    const resumed = await client.send(
      new RotateSecretCommand({ SecretId: arn, ClientRequestToken: first.VersionId }),
    );
    expect(resumed.VersionId).toBe(first.VersionId);
    expect(rotator.events.slice(eventsBefore).map((event) => event.ClientRequestToken)).toEqual(
      Array(4).fill(first.VersionId),
    );
    expect(inline.rotations.at(-1)).toMatchObject({ ok: true, resumed: true });
    expect((await describe_(arn)).VersionIdsToStages).toEqual({
      [old]: ['AWSPREVIOUS'],
      [first.VersionId!]: ['AWSCURRENT'],
    });
  });

  it('with RotateImmediately=false runs only testSecret on a temporary AWSPENDING copy of AWSCURRENT, then removes it', async () => {
    clock.set('2030-07-01T00:00:00.000Z');
    const { arn, versionId: old } = await create();
    const stagesDuringTest: string[][] = [];
    let valueDuringTest: string | undefined;
    const rotator = fakeRotator(client, { observe: (_event, stages) => stagesDuringTest.push([...stages]) });
    inline.registerRotationFunction(lambdaArn('config-test'), async (event) => {
      const pending = await client.send(
        new GetSecretValueCommand({
          SecretId: arn,
          VersionId: event.ClientRequestToken,
          VersionStage: 'AWSPENDING',
        }),
      );
      valueDuringTest = pending.SecretString;
      await rotator(event);
    });
    await client.send(
      new RotateSecretCommand({
        SecretId: arn,
        RotationLambdaARN: lambdaArn('config-test'),
        RotationRules: { ScheduleExpression: 'rate(10 hours)', Duration: '2h' },
        RotateImmediately: false,
      }),
    );
    expect(rotator.events.map((event) => event.Step)).toEqual(['testSecret']);
    expect(stagesDuringTest).toEqual([['AWSPENDING']]);
    expect(valueDuringTest).toBe(`initial-${counter}`);
    const described = await describe_(arn);
    expect(described.VersionIdsToStages).toEqual({ [old]: ['AWSCURRENT'] });
    expect(described.RotationEnabled).toBe(true);
    expect(described.LastRotatedDate).toBeUndefined();
    expect(described.RotationRules).toEqual({ ScheduleExpression: 'rate(10 hours)', Duration: '2h' });
    expect(described.NextRotationDate).toEqual(new Date('2030-07-01T10:00:00.000Z'));
    expect(inline.rotations.at(-1)).toMatchObject({ ok: true, rotateImmediately: false });
  });

  it('refuses without a rotation function, or one not registered here, changing nothing', async () => {
    const { arn } = await create();
    const noArn = await rejection(client.send(new RotateSecretCommand({ SecretId: arn })));
    expect(noArn).toBeInstanceOf(InvalidRequestException);
    expect(noArn.message).toContain('RotationLambdaARN');
    const unknown = await rejection(
      client.send(
        new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: lambdaArn('never-registered') }),
      ),
    );
    expect(unknown).toBeInstanceOf(InvalidRequestException);
    expect(unknown.message).toContain('registerRotationFunction');
    const described = await describe_(arn);
    expect(described.RotationEnabled).toBeUndefined();
    expect(Object.keys(described.VersionIdsToStages ?? {})).toHaveLength(1);
  });

  it('validates rotation rules with InvalidParameterException', async () => {
    const { arn } = await create();
    inline.registerRotationFunction(lambdaArn('rules'), fakeRotator(client));
    const invalid = [
      { AutomaticallyAfterDays: 7, ScheduleExpression: 'rate(7 days)' },
      { ScheduleExpression: 'every tuesday' },
      { AutomaticallyAfterDays: 7, Duration: '30h' },
    ];
    for (const rules of invalid) {
      const error = await rejection(
        client.send(
          new RotateSecretCommand({
            SecretId: arn,
            RotationLambdaARN: lambdaArn('rules'),
            RotationRules: rules,
          }),
        ),
      );
      expect(error).toBeInstanceOf(InvalidParameterException);
    }
    expect((await describe_(arn)).RotationEnabled).toBeUndefined();
  });

  it('marks a rotation failed, keeping AWSPENDING, when finishSecret does not move AWSCURRENT', async () => {
    const { arn, versionId: old } = await create();
    inline.registerRotationFunction(lambdaArn('lazy'), fakeRotator(client, { skipPromotion: true }));
    const answer = await client.send(
      new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: lambdaArn('lazy') }),
    );
    expect(inline.rotations.at(-1)).toMatchObject({ ok: false, failedStep: 'finishSecret' });
    expect(inline.rotations.at(-1)?.error).toContain('without moving AWSCURRENT');
    const described = await describe_(arn);
    expect(described.VersionIdsToStages).toEqual({
      [old]: ['AWSCURRENT'],
      [answer.VersionId!]: ['AWSPENDING'],
    });
    expect(described.LastRotatedDate).toBeUndefined();
  });

  it('passes its RotationToken on to the function, which PutSecretValue receives', async () => {
    const { arn } = await create();
    const rotator = fakeRotator(client);
    inline.registerRotationFunction(lambdaArn('token'), rotator);
    await client.send(new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: lambdaArn('token') }));
    const token = rotator.events[0]?.RotationToken;
    expect(token).toEqual(expect.any(String));
    const put = inline.callsTo('PutSecretValue').find((call) => call.input.SecretId === arn);
    expect(put?.input.RotationToken).toBe(token);
    expect(inline.rotations.at(-1)?.rotationToken).toBe(token);
  });
});

describe('RotateSecret in the background (the default, like the service)', () => {
  it('answers once the placeholder is registered and runs the steps afterwards; idle() waits for them', async () => {
    const background = await startLocalSecretsManager();
    try {
      const sm = background.client();
      const { arn, versionId: old } = await create(sm);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const rotator = fakeRotator(sm, { gate: () => gate });
      background.registerRotationFunction(lambdaArn('slow'), rotator);
      const answer = await sm.send(
        new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: lambdaArn('slow') }),
      );
      // Answered while the function is held at its first step.
      expect(rotator.events.map((event) => event.Step)).toEqual(['createSecret']);
      expect((await describe_(arn, sm)).VersionIdsToStages).toEqual({
        [old]: ['AWSCURRENT'],
        [answer.VersionId!]: ['AWSPENDING'],
      });
      // A second request during the run is refused like an unfinished rotation.
      expect(await rejection(sm.send(new RotateSecretCommand({ SecretId: arn })))).toBeInstanceOf(
        InvalidRequestException,
      );
      expect(background.rotations).toEqual([]);
      release();
      await background.idle();
      expect(background.rotations.map((run) => run.ok)).toEqual([true]);
      expect((await describe_(arn, sm)).VersionIdsToStages).toEqual({
        [old]: ['AWSPREVIOUS'],
        [answer.VersionId!]: ['AWSCURRENT'],
      });
    } finally {
      await background.close();
    }
  });
});

it('uses FAKE_ROTATOR_ARN-style ARNs and plain function names interchangeably', async () => {
  const { arn } = await create();
  inline.registerRotationFunction(FAKE_ROTATOR_ARN, fakeRotator(client));
  await client.send(new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: 'fake-rotator' }));
  expect(inline.rotations.at(-1)).toMatchObject({ secretArn: arn, ok: true });
});

describe('RotateSecret retried with the same ClientRequestToken (as the SDK does after a lost answer)', () => {
  it('answers a retry during the run and after it with the same version, running the steps once', async () => {
    const background = await startLocalSecretsManager();
    try {
      const sm = background.client();
      const { arn } = await create(sm);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const rotator = fakeRotator(sm, { gate: () => gate });
      background.registerRotationFunction(lambdaArn('retried'), rotator);
      const request = {
        SecretId: arn,
        RotationLambdaARN: lambdaArn('retried'),
        ClientRequestToken: 'retried-rotation-0001',
      };
      const first = await sm.send(new RotateSecretCommand(request));
      const duringRun = await sm.send(new RotateSecretCommand(request));
      release();
      await background.idle();
      const afterRun = await sm.send(new RotateSecretCommand(request));
      await background.idle();
      expect([first.VersionId, duringRun.VersionId, afterRun.VersionId]).toEqual(
        Array(3).fill('retried-rotation-0001'),
      );
      expect(background.rotations).toHaveLength(1);
      expect(rotator.events.map((event) => event.Step)).toEqual([
        'createSecret',
        'setSecret',
        'testSecret',
        'finishSecret',
      ]);
    } finally {
      await background.close();
    }
  });
});
