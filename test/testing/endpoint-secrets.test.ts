/**
 * The local endpoint's secret and version operations (docs/protocol.md#the-local-endpoint), each through the real SDK client.
 */
import {
  CancelRotateSecretCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  type SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
  type UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../src/testing/index.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { manualClock, rejection } from './fake-rotator.ts';

const clock = manualClock();
const logLines: string[] = [];
let local: LocalSecretsManager;
let client: SecretsManagerClient;
let counter = 0;

beforeAll(async () => {
  local = await startLocalSecretsManager({ clock: clock.now, log: (line) => logLines.push(line) });
  client = local.client();
});
afterAll(async () => {
  await local?.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function create(value = `value-${counter}-abcdef`, extra: Record<string, unknown> = {}) {
  const name = `ops/secret-${++counter}`;
  trackSecrets(value);
  const answer = await client.send(new CreateSecretCommand({ Name: name, SecretString: value, ...extra }));
  return { name, arn: answer.ARN!, versionId: answer.VersionId!, value };
}

async function stagesOf(secretId: string): Promise<Record<string, string[]>> {
  return (await client.send(new DescribeSecretCommand({ SecretId: secretId }))).VersionIdsToStages ?? {};
}

describe('CreateSecret', () => {
  it('creates a secret with an ARN in the service format and an AWSCURRENT version', async () => {
    const { name, arn, versionId, value } = await create();
    expect(arn).toMatch(
      new RegExp(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-[A-Za-z0-9]{6}$`),
    );
    expect(versionId).toMatch(UUID);
    expect(await stagesOf(arn)).toEqual({ [versionId]: ['AWSCURRENT'] });
    const read = await client.send(new GetSecretValueCommand({ SecretId: name }));
    expect(read).toMatchObject({
      ARN: arn,
      Name: name,
      VersionId: versionId,
      SecretString: value,
      VersionStages: ['AWSCURRENT'],
    });
  });

  it('refuses an existing name, but answers a retry with the same token and value as the first call', async () => {
    const token = 'c0ffee00-0000-4000-8000-000000000001';
    const first = await client.send(
      new CreateSecretCommand({
        Name: 'ops/idempotent',
        SecretString: 'same-value',
        ClientRequestToken: token,
      }),
    );
    const retry = await client.send(
      new CreateSecretCommand({
        Name: 'ops/idempotent',
        SecretString: 'same-value',
        ClientRequestToken: token,
      }),
    );
    expect(retry.ARN).toBe(first.ARN);
    expect(retry.VersionId).toBe(token);
    const error = await rejection(
      client.send(new CreateSecretCommand({ Name: 'ops/idempotent', SecretString: 'other-value' })),
    );
    expect(error).toBeInstanceOf(ResourceExistsException);
    expect(error.message).toContain('ops/idempotent already exists');
  });

  it('stores a binary value, creates no version without a value, and refuses both kinds at once', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const binary = await client.send(new CreateSecretCommand({ Name: 'ops/binary', SecretBinary: bytes }));
    const read = await client.send(new GetSecretValueCommand({ SecretId: binary.ARN }));
    expect(read.SecretString).toBeUndefined();
    expect([...(read.SecretBinary ?? [])]).toEqual([...bytes]);

    const empty = await client.send(
      new CreateSecretCommand({ Name: 'ops/empty', Description: 'no value yet' }),
    );
    expect(empty.VersionId).toBeUndefined();
    expect(await stagesOf('ops/empty')).toEqual({});
    expect(await rejection(client.send(new GetSecretValueCommand({ SecretId: 'ops/empty' })))).toBeInstanceOf(
      ResourceNotFoundException,
    );

    const both = await rejection(
      client.send(new CreateSecretCommand({ Name: 'ops/both', SecretString: 'x', SecretBinary: bytes })),
    );
    expect(both).toBeInstanceOf(InvalidParameterException);
    expect(await rejection(client.send(new DescribeSecretCommand({ SecretId: 'ops/both' })))).toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it('refuses a name with characters the service does not accept, naming the field', async () => {
    const error = await rejection(
      client.send(new CreateSecretCommand({ Name: 'bad name!', SecretString: 'x' })),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain('Name');
  });
});

describe('DescribeSecret', () => {
  it('answers by name, full ARN or partial ARN, with description, tags and dates', async () => {
    clock.set('2030-02-01T08:30:00.000Z');
    const { name, arn } = await create(undefined, {
      Description: 'database credentials',
      KmsKeyId: 'alias/app',
      Tags: [{ Key: 'team', Value: 'payments' }],
    });
    for (const id of [name, arn, arn.slice(0, -7)]) {
      const described = await client.send(new DescribeSecretCommand({ SecretId: id }));
      expect(described).toMatchObject({
        ARN: arn,
        Name: name,
        Description: 'database credentials',
        KmsKeyId: 'alias/app',
        Tags: [{ Key: 'team', Value: 'payments' }],
        CreatedDate: new Date('2030-02-01T08:30:00.000Z'),
        LastChangedDate: new Date('2030-02-01T08:30:00.000Z'),
      });
      // Never configured for rotation: the field is absent, not false (docs/protocol.md#checks-before-every-step relies on the difference).
      expect(described.RotationEnabled).toBeUndefined();
      expect(described.NextRotationDate).toBeUndefined();
    }
  });

  it('reports LastChangedDate when the value changes and LastAccessedDate, to the day, when it is read', async () => {
    clock.set('2030-03-01T09:00:00.000Z');
    const { arn } = await create();
    clock.set('2030-03-02T17:45:00.000Z');
    await client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'changed-value-1' }));
    clock.set('2030-03-04T23:59:00.000Z');
    await client.send(new GetSecretValueCommand({ SecretId: arn }));
    const described = await client.send(new DescribeSecretCommand({ SecretId: arn }));
    expect(described.LastChangedDate).toEqual(new Date('2030-03-02T17:45:00.000Z'));
    expect(described.LastAccessedDate).toEqual(new Date('2030-03-04T00:00:00.000Z'));
  });
});

describe('GetSecretValue', () => {
  it('reads AWSCURRENT by default, a version by id or by label, and both when they agree', async () => {
    const { arn, versionId, value } = await create();
    const next = await client.send(
      new PutSecretValueCommand({ SecretId: arn, SecretString: 'next-value-xyz' }),
    );
    expect((await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe(
      'next-value-xyz',
    );
    expect(
      (await client.send(new GetSecretValueCommand({ SecretId: arn, VersionId: versionId }))).SecretString,
    ).toBe(value);
    expect(
      (await client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS' })))
        .SecretString,
    ).toBe(value);
    const both = await client.send(
      new GetSecretValueCommand({ SecretId: arn, VersionId: next.VersionId, VersionStage: 'AWSCURRENT' }),
    );
    expect(both.VersionId).toBe(next.VersionId);
  });

  it('fails with ResourceNotFoundException when VersionId and VersionStage disagree', async () => {
    const { arn, versionId } = await create();
    const error = await rejection(
      client.send(
        new GetSecretValueCommand({ SecretId: arn, VersionId: versionId, VersionStage: 'AWSPENDING' }),
      ),
    );
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error.message).toContain(versionId);
    expect(error.message).toContain('AWSPENDING');
  });

  it('fails with ResourceNotFoundException for an unknown label, an unknown version and a version with no value', async () => {
    const { arn } = await create();
    for (const input of [
      { VersionStage: 'AWSPENDING' },
      { VersionId: '00000000-0000-4000-8000-00000000dead' },
    ]) {
      expect(
        await rejection(client.send(new GetSecretValueCommand({ SecretId: arn, ...input }))),
      ).toBeInstanceOf(ResourceNotFoundException);
    }
    await local.registerPendingVersion(arn, 'placeholder-version-0001');
    const placeholder = await rejection(
      client.send(
        new GetSecretValueCommand({
          SecretId: arn,
          VersionId: 'placeholder-version-0001',
          VersionStage: 'AWSPENDING',
        }),
      ),
    );
    expect(placeholder).toBeInstanceOf(ResourceNotFoundException);
    expect(placeholder.message).toContain('no value yet');
  });
});

describe('PutSecretValue', () => {
  it('moves AWSCURRENT to the new version by default and AWSPREVIOUS to the one that lost it', async () => {
    const { arn, versionId: v1 } = await create();
    const v2 = (
      await client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'second-value-1' }))
    ).VersionId!;
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSPREVIOUS'], [v2]: ['AWSCURRENT'] });
    const v3 = (
      await client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'third-value-12' }))
    ).VersionId!;
    // v1 lost its last label: deprecated, hidden from VersionIdsToStages but still listed on request.
    expect(await stagesOf(arn)).toEqual({ [v2]: ['AWSPREVIOUS'], [v3]: ['AWSCURRENT'] });
    const all = await client.send(
      new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true }),
    );
    expect(all.Versions?.find((version) => version.VersionId === v1)?.VersionStages).toEqual([]);
  });

  it('is idempotent for the same token and value, and refuses the same token with another value', async () => {
    const { arn, versionId: v1 } = await create();
    const token = 'aaaaaaaa-0000-4000-8000-000000000002';
    const put = {
      SecretId: arn,
      ClientRequestToken: token,
      SecretString: 'pending-value-1',
      VersionStages: ['AWSPENDING'],
    };
    const first = await client.send(new PutSecretValueCommand(put));
    const again = await client.send(new PutSecretValueCommand(put));
    expect(again).toMatchObject({ VersionId: first.VersionId, VersionStages: ['AWSPENDING'] });
    trackSecrets('a-different-value-2');
    const error = await rejection(
      client.send(new PutSecretValueCommand({ ...put, SecretString: 'a-different-value-2' })),
    );
    expect(error).toBeInstanceOf(ResourceExistsException);
    expect(error.message).toContain(token);
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
    const stored = await client.send(new GetSecretValueCommand({ SecretId: arn, VersionId: token }));
    expect(stored.SecretString).toBe('pending-value-1');
  });

  it('fills in the AWSPENDING placeholder and records the RotationToken it was given', async () => {
    const { arn, versionId: v1 } = await create();
    await local.registerPendingVersion(arn, 'rotation-version-0003');
    const before = local.calls.length;
    await client.send(
      new PutSecretValueCommand({
        SecretId: arn,
        ClientRequestToken: 'rotation-version-0003',
        SecretString: 'filled-pending-value',
        VersionStages: ['AWSPENDING'],
        RotationToken: 'opaque-rotation-token',
      }),
    );
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSCURRENT'], 'rotation-version-0003': ['AWSPENDING'] });
    const read = await client.send(
      new GetSecretValueCommand({
        SecretId: arn,
        VersionId: 'rotation-version-0003',
        VersionStage: 'AWSPENDING',
      }),
    );
    expect(read.SecretString).toBe('filled-pending-value');
    const put = local.calls.slice(before).find((call) => call.operation === 'PutSecretValue');
    expect(put?.input.RotationToken).toBe('opaque-rotation-token');
  });

  it('refuses a call with no value', async () => {
    const { arn } = await create();
    expect(await rejection(client.send(new PutSecretValueCommand({ SecretId: arn })))).toBeInstanceOf(
      InvalidParameterException,
    );
  });
});

/** A secret whose first version (`current`) is AWSCURRENT, with a version `pending` holding `value` as AWSPENDING. */
async function createWithPending(pending: string, value: string): Promise<{ arn: string; current: string }> {
  const { arn, versionId } = await create();
  await client.send(
    new PutSecretValueCommand({
      SecretId: arn,
      ClientRequestToken: pending,
      SecretString: value,
      VersionStages: ['AWSPENDING'],
    }),
  );
  return { arn, current: versionId };
}

/** Sends UpdateSecretVersionStage for the secret `arn`. */
function updateStage(arn: string, input: Omit<UpdateSecretVersionStageCommandInput, 'SecretId'>) {
  return client.send(new UpdateSecretVersionStageCommand({ SecretId: arn, ...input }));
}

describe('UpdateSecretVersionStage', () => {
  it('moves AWSCURRENT with RemoveFromVersionId and sets AWSPREVIOUS on the version that lost it', async () => {
    const pending = 'bbbbbbbb-0000-4000-8000-000000000004';
    const { arn, current: v1 } = await createWithPending(pending, 'new-one-1');
    await updateStage(arn, { VersionStage: 'AWSCURRENT', MoveToVersionId: pending, RemoveFromVersionId: v1 });
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSPREVIOUS'], [pending]: ['AWSPENDING', 'AWSCURRENT'] });
  });

  it('requires RemoveFromVersionId when the label is attached to another version, and changes nothing', async () => {
    const v2 = 'cccccccc-0000-4000-8000-000000000005';
    const { arn, current: v1 } = await createWithPending(v2, 'other-1');
    const error = await rejection(updateStage(arn, { VersionStage: 'AWSCURRENT', MoveToVersionId: v2 }));
    expect(error).toBeInstanceOf(InvalidParameterException);
    expect(error.message).toContain(`RemoveFromVersionId=${v1}`);
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSCURRENT'], [v2]: ['AWSPENDING'] });
  });

  it('refuses a RemoveFromVersionId that does not hold the label', async () => {
    const v2 = 'dddddddd-0000-4000-8000-000000000006';
    const { arn, current: v1 } = await createWithPending(v2, 'other-2');
    const error = await rejection(
      updateStage(arn, { VersionStage: 'AWSCURRENT', MoveToVersionId: v1, RemoveFromVersionId: v2 }),
    );
    expect(error).toBeInstanceOf(InvalidParameterException);
    expect(error.message).toContain(`not attached to version ${v2}`);
  });

  it('detaches a label, attaches a free custom label, and never leaves the secret without AWSCURRENT', async () => {
    const v2 = 'eeeeeeee-0000-4000-8000-000000000007';
    const { arn, current: v1 } = await createWithPending(v2, 'other-3');
    await updateStage(arn, { VersionStage: 'AWSPENDING', RemoveFromVersionId: v2 });
    await updateStage(arn, { VersionStage: 'BLUE', MoveToVersionId: v1 });
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSCURRENT', 'BLUE'] });
    const error = await rejection(updateStage(arn, { VersionStage: 'AWSCURRENT', RemoveFromVersionId: v1 }));
    expect(error).toBeInstanceOf(InvalidParameterException);
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSCURRENT', 'BLUE'] });
  });
});

describe('ListSecretVersionIds', () => {
  it('lists labelled versions, deprecated ones on request, page by page', async () => {
    const { arn } = await create();
    for (let i = 0; i < 4; i++) {
      await client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: `version-value-${i}` }));
    }
    const labelled = await client.send(new ListSecretVersionIdsCommand({ SecretId: arn }));
    expect(labelled.Versions?.map((version) => version.VersionStages)).toEqual([
      ['AWSCURRENT'],
      ['AWSPREVIOUS'],
    ]);
    const seen: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListSecretVersionIdsCommand({
          SecretId: arn,
          IncludeDeprecated: true,
          MaxResults: 2,
          NextToken: nextToken,
        }),
      );
      expect(page.Versions!.length).toBeLessThanOrEqual(2);
      seen.push(...page.Versions!.map((version) => version.VersionId!));
      nextToken = page.NextToken;
    } while (nextToken);
    expect(new Set(seen).size).toBe(5);
  });
});

describe('version limit', () => {
  it('keeps at most 100 versions, pruning the oldest unlabelled ones and never a labelled one', async () => {
    const { arn, versionId: first } = await create();
    await client.send(
      new UpdateSecretVersionStageCommand({ SecretId: arn, VersionStage: 'KEEP', MoveToVersionId: first }),
    );
    for (let i = 0; i < 105; i++) {
      await client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: `bulk-value-${i}` }));
    }
    const versions: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true, NextToken: nextToken }),
      );
      versions.push(...page.Versions!.map((version) => version.VersionId!));
      nextToken = page.NextToken;
    } while (nextToken);
    expect(versions).toHaveLength(100);
    expect(versions).toContain(first);
    expect(Object.keys(await stagesOf(arn))).toHaveLength(3);
  });
});

describe('UpdateSecret', () => {
  it('creates a new AWSCURRENT version for a new value, and only updates metadata otherwise', async () => {
    const { arn, versionId: v1 } = await create();
    const metadataOnly = await client.send(
      new UpdateSecretCommand({ SecretId: arn, Description: 'new description' }),
    );
    expect(metadataOnly.VersionId).toBeUndefined();
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSCURRENT'] });
    const updated = await client.send(
      new UpdateSecretCommand({ SecretId: arn, SecretString: 'updated-value-1' }),
    );
    expect(await stagesOf(arn)).toEqual({ [v1]: ['AWSPREVIOUS'], [updated.VersionId!]: ['AWSCURRENT'] });
    const described = await client.send(new DescribeSecretCommand({ SecretId: arn }));
    expect(described.Description).toBe('new description');
  });
});

describe('operations the endpoint does not implement (docs/testing.md lists the ones it does)', () => {
  it.each([
    [
      'DeleteSecret',
      (SecretId: string) => new DeleteSecretCommand({ SecretId, ForceDeleteWithoutRecovery: true }),
    ],
    ['RestoreSecret', (SecretId: string) => new RestoreSecretCommand({ SecretId })],
    [
      'TagResource',
      (SecretId: string) => new TagResourceCommand({ SecretId, Tags: [{ Key: 'env', Value: 'prod' }] }),
    ],
    ['UntagResource', (SecretId: string) => new UntagResourceCommand({ SecretId, TagKeys: ['env'] })],
    ['CancelRotateSecret', (SecretId: string) => new CancelRotateSecretCommand({ SecretId })],
  ] as const)(
    'answers %s with UnknownOperationException naming it, and changes nothing',
    async (operation, command) => {
      const { arn, value } = await create(undefined, { Tags: [{ Key: 'env', Value: 'dev' }] });
      const before = await client.send(new DescribeSecretCommand({ SecretId: arn }));
      const error = await rejection(client.send(command(arn) as DeleteSecretCommand));
      expect(error.name).toBe('UnknownOperationException');
      expect(error.message).toContain(`does not implement the operation ${operation}`);
      const after = await client.send(new DescribeSecretCommand({ SecretId: arn }));
      expect({ ...after, $metadata: undefined }).toEqual({ ...before, $metadata: undefined });
      expect((await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe(value);
    },
  );
});

describe("errors in the service's shape", () => {
  it('answers HTTP 400 with __type, message and x-amzn-errortype, which the SDK maps to its exception class', async () => {
    const error = await rejection(client.send(new DescribeSecretCommand({ SecretId: 'ops/does-not-exist' })));
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error.message).toBe("Secrets Manager can't find the specified secret.");
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(400);

    const raw = await fetch(local.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'secretsmanager.DescribeSecret',
      },
      body: JSON.stringify({ SecretId: 'ops/does-not-exist' }),
    });
    expect(raw.status).toBe(400);
    expect(raw.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
    expect(raw.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await raw.json()).toEqual({
      __type: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
    });
  });

  it('answers an unknown operation with UnknownOperationException and a malformed body with SerializationException', async () => {
    const post = (target: string, body: string) =>
      fetch(local.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
        body,
      });
    const unknown = await post('secretsmanager.FlyToTheMoon', '{}');
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { __type: string }).__type).toBe('UnknownOperationException');
    const malformed = await post('secretsmanager.DescribeSecret', '{not json');
    expect(((await malformed.json()) as { __type: string }).__type).toBe('SerializationException');
    expect(local.calls.at(-1)).toMatchObject({
      operation: 'DescribeSecret',
      error: 'SerializationException',
      status: 400,
    });
  });

  it('never puts a secret value in its log lines or its error messages', async () => {
    const secretValue = 'leak-canary-value-9f8e7d';
    trackSecrets(secretValue);
    const { arn } = await create(secretValue);
    await client.send(new GetSecretValueCommand({ SecretId: arn }));
    const conflict = await rejection(
      client
        .send(
          new CreateSecretCommand({
            Name: 'ops/canary',
            SecretString: secretValue,
            ClientRequestToken: 'x'.repeat(32),
          }),
        )
        .then(() =>
          client.send(
            new PutSecretValueCommand({
              SecretId: 'ops/canary',
              ClientRequestToken: 'x'.repeat(32),
              SecretString: `${secretValue}-2`,
            }),
          ),
        ),
    );
    expect(conflict).toBeInstanceOf(ResourceExistsException);
    expect(conflict.message).not.toContain(secretValue);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.some((line) => line.startsWith('GetSecretValue 200'))).toBe(true);
    expect(logLines.join('\n')).not.toContain(secretValue);
  });
});
