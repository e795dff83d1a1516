import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { randomSecret } from '../../src/adapters/random-secret/index.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import { ConfigurationError, ProtocolStateError, SecretShapeError } from '../../src/core/errors.ts';
import type { RotationHandler } from '../../src/core/event.ts';
import type { RotationStep, RotationTarget } from '../../src/core/target.ts';
import { rotateSecret } from '../../src/testing/index.ts';
import { capturedOutput, trackSecrets } from '../support/leak-scan.ts';
import { useLocalSecretsManager } from '../support/local-secrets-manager.ts';

const local = useLocalSecretsManager();
let counter = 0;
beforeEach(() => {
  local.sm.clearFaults();
});

async function createSecret(value: string, name = `engine-${++counter}`): Promise<string> {
  trackSecrets(value);
  const answer = await local.client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return answer.ARN!;
}

async function describeStages(arn: string): Promise<Record<string, string[]>> {
  const answer = await local.client.send(new DescribeSecretCommand({ SecretId: arn }));
  return answer.VersionIdsToStages ?? {};
}

async function registerPending(arn: string, token: string): Promise<void> {
  // What the service does before invoking the function: an AWSPENDING version with no value.
  await local.sm.registerPendingVersion(arn, token);
}

/** Every version's labels and value: the state a repeated step must leave unchanged. */
async function snapshot(arn: string): Promise<Record<string, { stages: string[]; value: string | null }>> {
  const stages = await describeStages(arn);
  const result: Record<string, { stages: string[]; value: string | null }> = {};
  for (const [versionId, labels] of Object.entries(stages)) {
    let value: string | null = null;
    try {
      const answer = await local.client.send(
        new GetSecretValueCommand({ SecretId: arn, VersionId: versionId }),
      );
      value = answer.SecretString ?? null;
    } catch {
      value = null;
    }
    result[versionId] = { stages: [...labels].sort(), value };
  }
  return result;
}

function handlerFor(env: Record<string, string> = {}) {
  return createRotationHandler(randomSecret(), {
    client: local.client,
    env: { PASSWORD_GENERATOR: 'local', ...env },
  });
}

function event(step: string, arn: string, token: string, rotationToken?: string) {
  return {
    Step: step,
    SecretId: arn,
    ClientRequestToken: token,
    ...(rotationToken ? { RotationToken: rotationToken } : {}),
  };
}

describe('the checks before every step (docs/protocol.md#checks-before-every-step), in order, with their exact errors', () => {
  it('fails "not enabled for rotation" when RotationEnabled is present and false', async () => {
    const arn = await createSecret('initial-value-aaaa');
    await registerPending(arn, 'token-disabled');
    await local.sm.setRotationEnabled(arn, false);
    await expect(handlerFor()(event('createSecret', arn, 'token-disabled'))).rejects.toThrow(
      `Secret ${arn} is not enabled for rotation`,
    );
  });

  it('fails "has no stage for rotation" for a token the secret does not know', async () => {
    const arn = await createSecret('initial-value-bbbb');
    await expect(handlerFor()(event('createSecret', arn, 'token-unknown'))).rejects.toThrow(
      `Secret version token-unknown has no stage for rotation of secret ${arn}`,
    );
  });

  it.each(['createSecret', 'setSecret', 'testSecret', 'finishSecret', 'notAStep'])(
    'succeeds at once for %s when the token already holds AWSCURRENT, changing nothing',
    async (step) => {
      const arn = await createSecret('initial-value-cccc');
      const [currentId] = Object.keys(await describeStages(arn));
      const before = await snapshot(arn);
      const callsBefore = local.sm.calls.length;
      await handlerFor()(event(step, arn, currentId!));
      // Only the DescribeSecret of the checks, and the reads started alongside it (discarded).
      expect(
        local.sm.calls
          .slice(callsBefore)
          .map((call) => call.operation)
          .filter((operation) => operation !== 'GetSecretValue'),
      ).toEqual(['DescribeSecret']);
      expect(await snapshot(arn)).toEqual(before);
    },
  );

  it('fails "not set as AWSPENDING" for a version that holds another label', async () => {
    const arn = await createSecret('initial-value-dddd');
    const [firstId] = Object.keys(await describeStages(arn));
    await local.client.send(
      new (await import('@aws-sdk/client-secrets-manager')).PutSecretValueCommand({
        SecretId: arn,
        SecretString: 'second-value-dddd',
        ClientRequestToken: 'token-second',
      }),
    );
    trackSecrets('second-value-dddd');
    // firstId now holds AWSPREVIOUS only.
    await expect(handlerFor()(event('setSecret', arn, firstId!))).rejects.toThrow(
      `Secret version ${firstId} not set as AWSPENDING for rotation of secret ${arn}`,
    );
  });

  it('fails "invalid step" only after the label checks', async () => {
    const arn = await createSecret('initial-value-eeee');
    await registerPending(arn, 'token-step');
    const attempt = handlerFor()(event('dropEverything', arn, 'token-step'));
    await expect(attempt).rejects.toThrow(/invalid step "dropEverything"/);
    expect(await describeStages(arn)).toMatchObject({ 'token-step': ['AWSPENDING'] });
  });

  it('checks the step name after "has no stage" (order 2 before 5)', async () => {
    const arn = await createSecret('initial-value-ffff');
    await expect(handlerFor()(event('dropEverything', arn, 'token-nowhere'))).rejects.toThrow(
      /has no stage for rotation/,
    );
  });

  it('refuses a secret outside ALLOWED_SECRET_IDS before touching any version', async () => {
    const arn = await createSecret('initial-value-gggg', 'not-on-the-list');
    await registerPending(arn, 'token-allow');
    const handler = handlerFor({ ALLOWED_SECRET_IDS: 'some-other-secret' });
    const callsBefore = local.sm.calls.length;
    await expect(handler(event('createSecret', arn, 'token-allow'))).rejects.toThrow(
      /ALLOWED_SECRET_IDS does not list secret/,
    );
    expect(local.sm.calls.slice(callsBefore).map((call) => call.operation)).toEqual(['DescribeSecret']);
    // By name, the same secret is allowed.
    await handlerFor({ ALLOWED_SECRET_IDS: 'not-on-the-list' })(event('createSecret', arn, 'token-allow'));
  });
});

/** A target with an external system (a map) so that setSecret has something to change. */
function recordingTarget(
  system: Map<string, string>,
  calls: string[],
): RotationTarget<{ user: string; password: string }> {
  return {
    name: 'recording',
    parse: (raw) => JSON.parse(raw),
    serialize: (value) => JSON.stringify(value),
    secrets: (value) => [value.password],
    next: async (current, ctx) => {
      calls.push('next');
      return { ...current, password: await ctx.newPassword() };
    },
    apply: async (pending) => {
      calls.push('apply');
      system.set(pending.user, pending.password);
    },
    verify: async (pending) => {
      calls.push('verify');
      if (system.get(pending.user) !== pending.password) throw new Error('pending password refused');
    },
  };
}

describe('idempotency: every step is safe to run again in any later state', () => {
  const steps: RotationStep[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];

  it.each(steps.map((step, index) => [step, index] as const))(
    '%s run twice, then again after each later step, leaves the stored state unchanged',
    async (step, index) => {
      const system = new Map<string, string>();
      const initial = { user: 'app', password: 'initial-password-idem' };
      system.set('app', initial.password);
      const arn = await createSecret(JSON.stringify(initial));
      trackSecrets(initial.password);
      const handler: RotationHandler = createRotationHandler(recordingTarget(system, []), {
        client: local.client,
        env: { PASSWORD_GENERATOR: 'local' },
      });
      const token = `token-idem-${index}`;
      await registerPending(arn, token);
      for (const earlier of steps.slice(0, index)) await handler(event(earlier, arn, token));

      await handler(event(step, arn, token));
      const afterFirst = { store: await snapshot(arn), system: [...system] };
      for (const value of Object.values(afterFirst.store)) trackSecrets(value.value);
      await handler(event(step, arn, token));
      expect({ store: await snapshot(arn), system: [...system] }).toEqual(afterFirst);

      for (const later of steps.slice(index + 1)) {
        await handler(event(later, arn, token));
        const afterLater = { store: await snapshot(arn), system: [...system] };
        await handler(event(step, arn, token));
        expect({ store: await snapshot(arn), system: [...system] }).toEqual(afterLater);
      }
    },
  );

  it('createSecret keeps an existing pending value instead of regenerating it', async () => {
    const calls: string[] = [];
    const system = new Map<string, string>();
    const arn = await createSecret(JSON.stringify({ user: 'u', password: 'initial-password-keep' }));
    const handler = createRotationHandler(recordingTarget(system, calls), {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local' },
    });
    await registerPending(arn, 'token-keep');
    await handler(event('createSecret', arn, 'token-keep'));
    await handler(event('createSecret', arn, 'token-keep'));
    expect(calls).toEqual(['next']);
  });

  it('an unusable pending value stops createSecret with the way to clear it, and is not regenerated', async () => {
    const arn = await createSecret(JSON.stringify({ apiToken: 'initial-token-unusable' }));
    await registerPending(arn, 'token-bad');
    await local.sm.fillPendingVersion(arn, 'token-bad', '{"apiToken": 42}');
    const handler = createRotationHandler(randomSecret({ field: 'apiToken' }), {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local' },
    });
    const before = await snapshot(arn);
    const attempt = handler(event('createSecret', arn, 'token-bad'));
    await expect(attempt).rejects.toThrow(SecretShapeError);
    await expect(handler(event('createSecret', arn, 'token-bad'))).rejects.toThrow(
      /^Secret field "apiToken" must be a string \(in the AWSPENDING version token-bad\): remove the AWSPENDING label .*secrets-rotator repair/,
    );
    expect(await snapshot(arn)).toEqual(before);
  });
});

describe('a full rotation through the driver and the local endpoint', () => {
  it('moves AWSCURRENT, puts AWSPREVIOUS on the old version and clears AWSPENDING', async () => {
    const arn = await createSecret('first-random-value');
    const [oldId] = Object.keys(await describeStages(arn));
    const result = await rotateSecret({ client: local.client, secretId: arn, handler: handlerFor() });
    expect(result.ok).toBe(true);
    expect(result.steps.map((step) => step.step)).toEqual([
      'createSecret',
      'setSecret',
      'testSecret',
      'finishSecret',
    ]);
    expect(await describeStages(arn)).toEqual({
      [oldId!]: ['AWSPREVIOUS'],
      [result.versionId]: ['AWSCURRENT'],
    });
    const current = await local.client.send(new GetSecretValueCommand({ SecretId: arn }));
    trackSecrets(current.SecretString);
    // random-secret has no default exclusions: 32 printable ASCII characters, no space.
    expect(current.SecretString).toMatch(/^[\x21-\x7e]{32}$/);
    expect(current.SecretString).not.toBe('first-random-value');
  });

  it('rotates one field of a JSON secret and carries every other field over', async () => {
    const initial = { apiToken: 'first-token-value', owner: 'team-a', nested: { keep: [1, 2] } };
    const arn = await createSecret(JSON.stringify(initial));
    const handler = createRotationHandler(randomSecret({ field: 'apiToken' }), {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local', PASSWORD_LENGTH: '20', EXCLUDE_PUNCTUATION: 'true' },
    });
    for (let i = 0; i < 3; i++)
      expect((await rotateSecret({ client: local.client, secretId: arn, handler })).ok).toBe(true);
    const current = JSON.parse(
      (await local.client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString!,
    );
    trackSecrets(current.apiToken);
    expect(current).toEqual({ ...initial, apiToken: expect.stringMatching(/^[A-Za-z0-9]{20}$/) });
  });

  it('uses GetRandomPassword by default, with the policy from the environment', async () => {
    const arn = await createSecret('value-before-service');
    const handler = createRotationHandler(randomSecret(), {
      client: local.client,
      env: { PASSWORD_LENGTH: '24', EXCLUDE_CHARACTERS: 'abc' },
    });
    const callsBefore = local.sm.calls.length;
    expect((await rotateSecret({ client: local.client, secretId: arn, handler })).ok).toBe(true);
    const call = local.sm.calls.slice(callsBefore).find((c) => c.operation === 'GetRandomPassword');
    expect(call?.input).toMatchObject({
      PasswordLength: 24,
      ExcludeCharacters: 'abc',
      RequireEachIncludedType: true,
    });
  });

  it('passes the event RotationToken on to PutSecretValue, and omits it when absent', async () => {
    const arn = await createSecret('value-rotation-token');
    await registerPending(arn, 'token-rt');
    const callsBefore = local.sm.calls.length;
    await handlerFor()(event('createSecret', arn, 'token-rt', 'opaque-rotation-token-1'));
    const put = local.sm.calls.slice(callsBefore).find((c) => c.operation === 'PutSecretValue');
    expect(put?.input).toMatchObject({
      ClientRequestToken: 'token-rt',
      VersionStages: ['AWSPENDING'],
      RotationToken: 'opaque-rotation-token-1',
    });

    const arn2 = await createSecret('value-no-rotation-token');
    await registerPending(arn2, 'token-nort');
    const before2 = local.sm.calls.length;
    await handlerFor()(event('createSecret', arn2, 'token-nort'));
    const put2 = local.sm.calls.slice(before2).find((c) => c.operation === 'PutSecretValue');
    expect(put2?.input).not.toHaveProperty('RotationToken');
  });

  it('makes the fewest Secrets Manager calls each step needs', async () => {
    const arn = await createSecret('value-call-count');
    await registerPending(arn, 'token-count');
    const handler = handlerFor();
    const perStep: Record<string, string[]> = {};
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) {
      const before = local.sm.calls.length;
      await handler(event(step, arn, 'token-count'));
      // Reads made together arrive in any order: compare the calls, sorted.
      perStep[step] = local.sm.calls
        .slice(before)
        .map((call) => call.operation)
        .sort();
    }
    expect(perStep).toEqual({
      createSecret: ['DescribeSecret', 'GetSecretValue', 'GetSecretValue', 'PutSecretValue'],
      setSecret: ['DescribeSecret', 'GetSecretValue'],
      testSecret: ['DescribeSecret', 'GetSecretValue'],
      finishSecret: ['DescribeSecret', 'UpdateSecretVersionStage'],
    });
  });

  it('logs JSON lines with ARN, step, version and adapter, emits EMF metrics, and never a secret value', async () => {
    const arn = await createSecret('value-for-logging');
    const result = await rotateSecret({ client: local.client, secretId: arn, handler: handlerFor() });
    const current = (await local.client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString!;
    trackSecrets(current);
    const lines = capturedOutput()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    const stepLines = lines.filter((line) => line.message === 'step succeeded');
    expect(stepLines).toHaveLength(4);
    for (const line of stepLines) {
      expect(line).toMatchObject({ secret_arn: arn, version_id: result.versionId, adapter: 'random-secret' });
    }
    const emf = lines.filter((line) => line._aws?.CloudWatchMetrics);
    expect(emf.length).toBeGreaterThanOrEqual(4);
    expect(emf[0]).toMatchObject({ adapter: 'random-secret', RotationStepSucceeded: 1 });
    expect(emf[0]._aws.CloudWatchMetrics[0].Namespace).toBe('SecretsRotator');
    expect(capturedOutput()).not.toContain(current);
  });
});

describe('configuration is checked when the handler is created', () => {
  it.each([
    ['PASSWORD_LENGTH', 'abc'],
    ['EXCLUDE_NUMBERS', 'maybe'],
    ['PASSWORD_GENERATOR', 'dice'],
    ['SECRETS_MANAGER_MAX_ATTEMPTS', '0'],
    ['SECRETS_MANAGER_ENDPOINT', 'not a url'],
  ])('%s=%s fails at start with a message naming the variable', (name, value) => {
    const create = () => createRotationHandler(randomSecret(), { env: { [name]: value } });
    expect(create).toThrow(ConfigurationError);
    expect(create).toThrow(new RegExp(`^${name} `));
  });

  it('fails the handler module at import, as Lambda init would', async () => {
    const { execFile } = await import('node:child_process');
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          ['--input-type=module', '-e', "await import('./handlers/random-secret.ts')"],
          { env: { ...process.env, AWS_REGION: 'us-east-1', ...env } },
          () => {},
        );
        let stderr = '';
        child.stderr?.on('data', (chunk) => {
          stderr += chunk;
        });
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const bad = await run({ PASSWORD_LENGTH: 'abc' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('PASSWORD_LENGTH must be a whole number from 1 to 4096, got "abc"');
    const good = await run({});
    expect(good.code).toBe(0);
  });
});

describe('Secrets Manager faults', () => {
  it('retries throttling with back-off and succeeds', async () => {
    const arn = await createSecret('value-throttle');
    await registerPending(arn, 'token-throttle');
    local.sm.inject({
      operation: 'PutSecretValue',
      error: { type: 'ThrottlingException', message: 'Rate exceeded' },
      times: 2,
    });
    await handlerFor()(event('createSecret', arn, 'token-throttle'));
    expect(await describeStages(arn)).toMatchObject({ 'token-throttle': ['AWSPENDING'] });
    const puts = local.sm.calls.filter((c) => c.operation === 'PutSecretValue' && c.input.SecretId === arn);
    expect(puts.map((c) => c.error ?? 'ok')).toEqual(['ThrottlingException', 'ThrottlingException', 'ok']);
  });

  it('fails cleanly, with nothing half-applied, when the deadline leaves no room to retry', async () => {
    const arn = await createSecret('value-deadline');
    await registerPending(arn, 'token-deadline');
    local.sm.inject({
      operation: 'PutSecretValue',
      error: { type: 'ThrottlingException', message: 'Rate exceeded' },
      times: 10,
    });
    const before = await snapshot(arn);
    await expect(
      handlerFor()(event('createSecret', arn, 'token-deadline'), { getRemainingTimeInMillis: () => 1_000 }),
    ).rejects.toThrow(/PutSecretValue failed with ThrottlingException/);
    expect(await snapshot(arn)).toEqual(before);
  });

  it('treats a promotion whose answer was lost as done', async () => {
    const arn = await createSecret('value-lost-answer');
    const handler = handlerFor();
    await registerPending(arn, 'token-lost');
    for (const step of ['createSecret', 'setSecret', 'testSecret'])
      await handler(event(step, arn, 'token-lost'));
    // The update goes through, but the caller sees a network error.
    local.sm.inject({ operation: 'UpdateSecretVersionStage', dropConnectionAfterApply: true, times: 1 });
    await handler(event('finishSecret', arn, 'token-lost'));
    expect((await describeStages(arn))['token-lost']).toContain('AWSCURRENT');
  });
});

describe('protocol state errors', () => {
  it('setSecret before createSecret says createSecret must run first', async () => {
    const arn = await createSecret('value-order');
    await registerPending(arn, 'token-order');
    await expect(handlerFor()(event('setSecret', arn, 'token-order'))).rejects.toThrow(
      /has no AWSPENDING value yet; createSecret must run first/,
    );
  });

  it('a manual edit that moved AWSPENDING away mid-rotation is detected, not rotated over', async () => {
    const arn = await createSecret('value-manual-edit');
    const handler = handlerFor();
    await registerPending(arn, 'token-edit');
    await handler(event('createSecret', arn, 'token-edit'));
    await local.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: arn,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: 'token-edit',
      }),
    );
    await expect(handler(event('setSecret', arn, 'token-edit'))).rejects.toThrow(ProtocolStateError);
  });
});

describe('secret values never leave the process', () => {
  it('scrubs a password quoted by a target error from the thrown error and the log line', async () => {
    const system = new Map<string, string>();
    const base = recordingTarget(system, []);
    const leaky: RotationTarget<{ user: string; password: string }> = {
      ...base,
      apply: async (pending) => {
        // What a careless driver does: quote the statement, password included.
        throw new Error(`syntax error near ALTER USER app PASSWORD '${pending.password}'`);
      },
    };
    const arn = await createSecret(JSON.stringify({ user: 'app', password: 'initial-password-leak' }));
    await registerPending(arn, 'token-leak');
    const handler = createRotationHandler(leaky, {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local' },
    });
    await handler(event('createSecret', arn, 'token-leak'));
    const pending = JSON.parse(
      (
        await local.client.send(
          new GetSecretValueCommand({ SecretId: arn, VersionId: 'token-leak', VersionStage: 'AWSPENDING' }),
        )
      ).SecretString!,
    );
    trackSecrets(pending.password);
    const failure = await handler(event('setSecret', arn, 'token-leak')).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe("syntax error near ALTER USER app PASSWORD '[REDACTED]'");
    expect((failure as Error).stack).not.toContain(pending.password);
    expect(capturedOutput()).toContain("PASSWORD '[REDACTED]'");
  });

  it('never quotes a stored value that is not valid JSON', async () => {
    const raw = '{"user": "app", "password": "not-json-secret-value"';
    const arn = await createSecret(raw);
    await registerPending(arn, 'token-notjson');
    const handler = createRotationHandler(recordingTarget(new Map(), []), {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local' },
    });
    const failure = await handler(event('createSecret', arn, 'token-notjson')).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(SecretShapeError);
    expect((failure as Error).message).toMatch(
      /^Secret field "\(value\)" is not a valid recording value \(in the AWSCURRENT version .*\)$/,
    );
    expect((failure as Error).message).not.toContain('not-json-secret-value');
  });

  it('refuses a binary secret with a clear error', async () => {
    const answer = await local.client.send(
      new CreateSecretCommand({
        Name: `engine-binary-${++counter}`,
        SecretBinary: new Uint8Array([1, 2, 3, 4]),
      }),
    );
    await registerPending(answer.ARN!, 'token-binary');
    await expect(handlerFor()(event('createSecret', answer.ARN!, 'token-binary'))).rejects.toThrow(
      /is binary \(SecretBinary\): this rotator handles SecretString values only/,
    );
  });
});

describe('afterPromotion', () => {
  it('runs once after the promotion, and again when finishSecret is retried after it failed', async () => {
    const system = new Map<string, string>();
    const seen: Array<[string, string | undefined]> = [];
    let failNext = true;
    const target: RotationTarget<{ user: string; password: string }> = {
      ...recordingTarget(system, []),
      afterPromotion: async (promoted, previous) => {
        seen.push([promoted.password, previous?.password]);
        if (failNext) {
          failNext = false;
          throw new Error('revocation endpoint unavailable');
        }
      },
    };
    const initial = { user: 'app', password: 'initial-password-after' };
    system.set('app', initial.password);
    const arn = await createSecret(JSON.stringify(initial));
    const handler = createRotationHandler(target, {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local' },
    });
    const first = await rotateSecret({ client: local.client, secretId: arn, handler });
    expect(first.ok).toBe(false);
    expect(first.failedStep).toBe('finishSecret');
    expect((await describeStages(arn))[first.versionId]).toContain('AWSCURRENT');
    // The service retries the same rotation (same version id), not a new one.
    const retry = await rotateSecret({
      client: local.client,
      secretId: arn,
      handler,
      versionId: first.versionId,
      resume: true,
    });
    expect(retry.ok).toBe(true);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[0]![1]).toBe(initial.password);
    expect(seen[0]![0]).toBe(system.get('app'));
    for (const [promoted] of seen) trackSecrets(promoted);
    // The retry found the version current: no step but finishSecret's hook did anything.
    expect(retry.steps.map((step) => step.step)).toEqual([
      'createSecret',
      'setSecret',
      'testSecret',
      'finishSecret',
    ]);
    expect(await describeStages(arn)).toEqual({
      [first.versionId]: ['AWSCURRENT'],
      [Object.keys(await describeStages(arn)).find((id) => id !== first.versionId)!]: ['AWSPREVIOUS'],
    });
  });
});

describe('the shared Secrets Manager client', () => {
  it.each(['SECRETS_MANAGER_ENDPOINT', 'AWS_ENDPOINT_URL_SECRETS_MANAGER'])(
    'reaches the endpoint named by %s when no client is given',
    async (variable) => {
      const arn = await createSecret(`value-endpoint-${variable}`);
      // Region and credentials come from the process environment, as in Lambda.
      vi.stubEnv('AWS_REGION', local.sm.region);
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
      try {
        const handler = createRotationHandler(randomSecret(), {
          env: { [variable]: local.sm.endpoint, PASSWORD_GENERATOR: 'local' },
        });
        const result = await rotateSecret({ client: local.client, secretId: arn, handler });
        expect(result.ok).toBe(true);
        trackSecrets((await local.client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString);
        expect(
          local.sm.calls.some((call) => call.operation === 'PutSecretValue' && call.input.SecretId === arn),
        ).toBe(true);
      } finally {
        vi.unstubAllEnvs();
      }
    },
  );

  it('gives up on a stalled Secrets Manager answer after SECRETS_MANAGER_REQUEST_TIMEOUT_MS and retries', async () => {
    const arn = await createSecret('value-stalled-answer');
    await registerPending(arn, 'token-stalled');
    vi.stubEnv('AWS_REGION', local.sm.region);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
    try {
      const handler = createRotationHandler(randomSecret(), {
        env: {
          AWS_ENDPOINT_URL_SECRETS_MANAGER: local.sm.endpoint,
          PASSWORD_GENERATOR: 'local',
          SECRETS_MANAGER_REQUEST_TIMEOUT_MS: '300',
        },
      });
      local.sm.inject({
        operation: 'DescribeSecret',
        delayMs: 3_000,
        times: 1,
        when: (input) => input.SecretId === arn,
      });
      await handler(event('createSecret', arn, 'token-stalled'));
      expect(
        local.sm.calls.filter((call) => call.operation === 'DescribeSecret' && call.input.SecretId === arn),
      ).toHaveLength(2);
      expect(await describeStages(arn)).toMatchObject({ 'token-stalled': ['AWSPENDING'] });
      const pending = await local.client.send(
        new GetSecretValueCommand({ SecretId: arn, VersionId: 'token-stalled', VersionStage: 'AWSPENDING' }),
      );
      trackSecrets(pending.SecretString);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it.each(['SECRETS_MANAGER_REQUEST_TIMEOUT_MS', 'SECRETS_MANAGER_CONNECT_TIMEOUT_MS'])(
    '%s=soon fails at start naming the variable',
    (name) => {
      expect(() => createRotationHandler(randomSecret(), { env: { [name]: 'soon' } })).toThrow(
        new RegExp(`^${name} `),
      );
    },
  );
});
