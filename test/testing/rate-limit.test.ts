import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { parseRateLimits, RateLimiter } from '../../src/testing/rate-limit.ts';
import { startLocalSecretsManager } from '../../src/testing/server.ts';
import { cli, startCliEndpoint } from '../cli/run.ts';

describe('local endpoint rate limits', () => {
  it('answers ThrottlingException over the rate, as the service does, and applies nothing', async () => {
    const local = await startLocalSecretsManager({ rateLimits: { PutSecretValue: 5 } });
    try {
      const client = local.client({ maxAttempts: 1 });
      await client.send(new CreateSecretCommand({ Name: 'limited/key', SecretString: 'v0' }));
      const outcomes = await Promise.allSettled(
        Array.from({ length: 12 }, (_, index) =>
          client.send(
            new PutSecretValueCommand({
              SecretId: 'limited/key',
              SecretString: `v${index + 1}`,
              ClientRequestToken: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
            }),
          ),
        ),
      );
      const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
      // A burst of one second's worth passes (5), the rest is throttled.
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(5);
      expect(refused).toHaveLength(7);
      for (const outcome of refused) {
        const error = (outcome as PromiseRejectedResult).reason as Error & {
          $metadata: { httpStatusCode: number };
        };
        expect(error.name).toBe('ThrottlingException');
        expect(error.message).toBe('Rate exceeded');
        expect(error.$metadata.httpStatusCode).toBe(400);
      }
      const versions = await client.send(
        new ListSecretVersionIdsCommand({ SecretId: 'limited/key', IncludeDeprecated: true }),
      );
      // The initial version plus the five accepted ones: a throttled request stored nothing.
      expect(versions.Versions).toHaveLength(6);
      expect(
        local.callsTo('PutSecretValue').filter((call) => call.error === 'ThrottlingException'),
      ).toHaveLength(7);

      // Operations not named are not limited.
      await Promise.all(
        Array.from({ length: 30 }, () => client.send(new GetSecretValueCommand({ SecretId: 'limited/key' }))),
      );

      // The rate refills: after a second the operation is accepted again.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await client.send(new PutSecretValueCommand({ SecretId: 'limited/key', SecretString: 'later' }));
    } finally {
      await local.close();
    }
  });

  it('lets the SDK retry through throttling with its own back-off', async () => {
    const local = await startLocalSecretsManager({ rateLimits: { GetSecretValue: 20 } });
    try {
      const client = local.client({ maxAttempts: 10 });
      await client.send(new CreateSecretCommand({ Name: 'limited/read', SecretString: 'v0' }));
      const answers = await Promise.all(
        Array.from({ length: 40 }, () =>
          client.send(new GetSecretValueCommand({ SecretId: 'limited/read' })),
        ),
      );
      expect(answers.every((answer) => answer.SecretString === 'v0')).toBe(true);
      expect(local.callsTo('GetSecretValue').some((call) => call.error === 'ThrottlingException')).toBe(true);
    } finally {
      await local.close();
    }
  });

  it('refills a bucket at the rate and holds at most one second of requests', () => {
    let now = 0;
    const limiter = new RateLimiter({ RotateSecret: 2 }, () => now);
    expect([
      limiter.take('RotateSecret'),
      limiter.take('RotateSecret'),
      limiter.take('RotateSecret'),
    ]).toEqual([true, true, false]);
    now = 499;
    expect(limiter.take('RotateSecret')).toBe(false);
    now = 500;
    expect(limiter.take('RotateSecret')).toBe(true);
    now = 60_000;
    expect([
      limiter.take('RotateSecret'),
      limiter.take('RotateSecret'),
      limiter.take('RotateSecret'),
    ]).toEqual([true, true, false]);
    expect(limiter.take('GetSecretValue')).toBe(true);
  });

  it('shares one rate between the operations of a combined quota', () => {
    let now = 0;
    const limiter = new RateLimiter(
      { 'PutSecretValue+UpdateSecretVersionStage': 2, RotateSecret: 1 },
      () => now,
    );
    expect([
      limiter.take('PutSecretValue'),
      limiter.take('UpdateSecretVersionStage'),
      limiter.take('PutSecretValue'),
      limiter.take('UpdateSecretVersionStage'),
      limiter.take('RotateSecret'),
    ]).toEqual([true, true, false, false, true]);
    now = 500;
    expect(limiter.take('UpdateSecretVersionStage')).toBe(true);
    expect(limiter.take('PutSecretValue')).toBe(false);
  });

  it('parses --rate-limit and names what is wrong', async () => {
    expect(parseRateLimits('RotateSecret=50, GetSecretValue=100')).toEqual({
      RotateSecret: 50,
      GetSecretValue: 100,
    });
    expect(parseRateLimits('PutSecretValue=0.5')).toEqual({ PutSecretValue: 0.5 });
    expect(() => parseRateLimits('RotateSecret')).toThrow(/"RotateSecret" is not Operation=rate/);
    expect(() => parseRateLimits('RotateSecret=0')).toThrow(/rate of RotateSecret must be above 0/);
    expect(() => parseRateLimits('RotateSecret=1,RotateSecret=2')).toThrow(/names RotateSecret twice/);
    expect(parseRateLimits('PutSecretValue+UpdateSecretVersionStage=50')).toEqual({
      'PutSecretValue+UpdateSecretVersionStage': 50,
    });
    expect(() => parseRateLimits('PutSecretValue+UpdateSecretVersionStage=50,PutSecretValue=5')).toThrow(
      /names PutSecretValue twice/,
    );
    expect(() => parseRateLimits('')).toThrow(/expects Operation=rate/);
    await expect(startLocalSecretsManager({ rateLimits: { RotateSecrets: 5 } })).rejects.toThrow(
      /"RotateSecrets" is not an operation of the local endpoint/,
    );
    await expect(startLocalSecretsManager({ rateLimits: { RotateSecret: -1 } })).rejects.toThrow(
      /rate limit of RotateSecret must be a number/,
    );

    const bad = await cli(['local-endpoint', '--port', '0', '--rate-limit', 'RotateSecret=fast']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"RotateSecret=fast" is not Operation=rate');
    const unknown = await cli(['local-endpoint', '--port', '0', '--rate-limit', 'Rotate=5']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('"Rotate" is not an operation of the local endpoint');
  });

  it('takes --rate-limit on the local-endpoint command', async () => {
    const running = await startCliEndpoint(['--port', '0', '--rate-limit', 'CreateSecret=1']);
    const client = running.client({ maxAttempts: 1 });
    await client.send(new CreateSecretCommand({ Name: 'cli/one', SecretString: 'x' }));
    await expect(
      client.send(new CreateSecretCommand({ Name: 'cli/two', SecretString: 'x' })),
    ).rejects.toThrow('Rate exceeded');
    client.destroy();
    expect((await running.stop()).code).toBe(0);
  });
});
