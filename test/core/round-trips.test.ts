/**
 * Sequential Secrets Manager round trips per step, counted at the endpoint (never timed): reads a
 * step needs go out together with its DescribeSecret, values a step has are not fetched again, and
 * the calls stay as few as before.
 */
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomSecret } from '../../src/adapters/random-secret/index.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import type { RotationHandler } from '../../src/core/event.ts';
import type { RotationTarget } from '../../src/core/target.ts';
import { type LocalSecretsManager, rotateSecret, startLocalSecretsManager } from '../../src/testing/index.ts';
import { sequentialRounds } from '../../src/testing/rounds.ts';
import { trackSecrets } from '../support/leak-scan.ts';

// Long enough that calls sent together certainly overlap at the endpoint, whatever the load.
const LATENCY_MS = 25;

let sm: LocalSecretsManager;
let client: SecretsManagerClient;
let counter = 0;

beforeAll(async () => {
  sm = await startLocalSecretsManager({ latencyMs: LATENCY_MS });
  client = sm.client();
});
afterAll(async () => {
  await sm?.close();
});

async function createSecret(value: string): Promise<string> {
  trackSecrets(value);
  counter += 1;
  const created = await client.send(
    new CreateSecretCommand({ Name: `rounds-${counter}`, SecretString: value }),
  );
  return created.ARN!;
}

interface MasteredValue {
  readonly password: string;
  readonly masterarn: string;
}

/** A target whose apply() reads the master secret its value names, as alternating users do. */
function masterReadingTarget(): RotationTarget<MasteredValue> {
  return {
    name: 'master-reading',
    generatesPassword: true,
    readsInApply: (pending) => [pending.masterarn],
    parse: (raw) => JSON.parse(raw) as MasteredValue,
    serialize: (value) => JSON.stringify(value),
    secrets: (value) => [value.password],
    next: async (current, ctx) => ({ ...current, password: await ctx.newPassword() }),
    apply: async (pending, _known, ctx) => {
      JSON.parse(await ctx.readSecret(pending.masterarn));
    },
    verify: async () => {},
  };
}

/**
 * Runs one rotation, recording per step the function's calls (sorted) and round trips; with
 * `handlerPerStep`, each step runs in a fresh handler, as in a new container.
 */
async function rotateCounting(
  handler: RotationHandler,
  secretId: string,
  handlerPerStep?: () => RotationHandler,
) {
  const perStep: Record<string, { calls: string[]; rounds: number }> = {};
  const counted: RotationHandler = async (event, context) => {
    const before = sm.calls.length;
    try {
      await (handlerPerStep?.() ?? handler)(event, context);
    } finally {
      const own = sm.calls.slice(before);
      perStep[event.Step] = {
        calls: own.map((call) => call.operation).sort(),
        rounds: sequentialRounds(own),
      };
    }
  };
  const result = await rotateSecret({ client, secretId, handler: counted });
  expect(result.ok).toBe(true);
  return perStep;
}

describe('round trips per rotation', () => {
  it('random-secret with the service generator: 6 round trips, 11 calls', async () => {
    const arn = await createSecret('rounds-initial-value');
    const handler = createRotationHandler(randomSecret(), { client, env: { PASSWORD_GENERATOR: 'service' } });
    const perStep = await rotateCounting(handler, arn);
    expect(perStep).toEqual({
      // DescribeSecret, both reads and the password together; then the write.
      createSecret: {
        calls: ['DescribeSecret', 'GetRandomPassword', 'GetSecretValue', 'GetSecretValue', 'PutSecretValue'],
        rounds: 2,
      },
      setSecret: { calls: ['DescribeSecret', 'GetSecretValue'], rounds: 1 },
      testSecret: { calls: ['DescribeSecret', 'GetSecretValue'], rounds: 1 },
      finishSecret: { calls: ['DescribeSecret', 'UpdateSecretVersionStage'], rounds: 2 },
    });
  });

  it('a refused step keeps its exact message; the reads made alongside are dropped', async () => {
    const arn = await createSecret('rounds-refused-value');
    const handler = createRotationHandler(randomSecret(), { client, env: { PASSWORD_GENERATOR: 'service' } });
    const before = sm.calls.length;
    await expect(
      handler({
        Step: 'setSecret',
        SecretId: arn,
        ClientRequestToken: 'rounds-unknown-token-000000000000000',
      }),
    ).rejects.toThrow(
      `Secret version rounds-unknown-token-000000000000000 has no stage for rotation of secret ${arn}`,
    );
    const own = sm.calls.slice(before);
    expect(sequentialRounds(own)).toBe(1);
    expect(own.map((call) => call.operation).filter((op) => op !== 'GetSecretValue')).toEqual([
      'DescribeSecret',
    ]);
  });

  describe('a master secret that apply() reads', () => {
    const setUp = async () => {
      const master = await createSecret(JSON.stringify({ username: 'admin', password: 'rounds-master-pw' }));
      const rotated = await createSecret(JSON.stringify({ password: 'rounds-app-pw', masterarn: master }));
      const newHandler = () =>
        createRotationHandler(masterReadingTarget(), { client, env: { PASSWORD_GENERATOR: 'local' } });
      return { rotated, newHandler };
    };

    it("is read with setSecret's own reads when the same warm function ran createSecret", async () => {
      const { rotated, newHandler } = await setUp();
      const perStep = await rotateCounting(newHandler(), rotated);
      expect(perStep.setSecret).toEqual({
        calls: ['DescribeSecret', 'GetSecretValue', 'GetSecretValue'],
        rounds: 1,
      });
    });

    it('is read after the pending value in a function that did not run createSecret: one more round, same calls', async () => {
      const { rotated, newHandler } = await setUp();
      const perStep = await rotateCounting(newHandler(), rotated, newHandler);
      expect(perStep.setSecret).toEqual({
        calls: ['DescribeSecret', 'GetSecretValue', 'GetSecretValue'],
        rounds: 2,
      });
    });
  });
});
