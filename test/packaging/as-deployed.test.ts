/**
 * Tested as deployed: each built zip is unzipped into a folder of its own and run by a fresh Node 22
 * process configured only through environment variables, through full rotations against the local
 * Secrets Manager endpoint and the real system the handler rotates (a database, the key API).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, buildLambdas, listHandlers } from '../../scripts/build-lambdas.ts';
import { type LocalSecretsManager, rotateSecret, startLocalSecretsManager } from '../../src/testing/index.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { samDefaultSettings } from './support/code-facts.ts';
import {
  DeployedInitError,
  lambdaEnvironment,
  startDeployedLambda,
  unpackLambda,
} from './support/deployed-lambda.ts';
import { DEPLOYED_FIXTURES } from './support/fixtures.ts';

const handlers = await listHandlers();
const ROTATIONS = 3;

let workDir: string;
let build: BuildResult;
let sm: LocalSecretsManager;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'as-deployed-'));
  build = await buildLambdas({ outDir: join(workDir, 'dist'), enforceBudgets: false });
  sm = await startLocalSecretsManager();
});

afterAll(async () => {
  await sm?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function zipOf(name: string): string {
  const lambda = build.lambdas.find((entry) => entry.name === name);
  if (!lambda) throw new Error(`the build made no zip for ${name}`);
  return lambda.zipPath;
}

async function currentValue(client: SecretsManagerClient, secretId: string): Promise<string> {
  const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  trackSecrets(answer.SecretString);
  return answer.SecretString!;
}

describe.each(handlers)('%s, as deployed', (name) => {
  it('fails its init phase when a setting is bad, naming the variable', async () => {
    const dir = await unpackLambda(zipOf(name), join(workDir, `${name}-bad-env`));
    const env = lambdaEnvironment({
      endpoint: sm.endpoint,
      functionName: `${name}-bad-env`,
      taskRoot: dir,
      settings: { PASSWORD_LENGTH: 'forty' },
    });
    const started = startDeployedLambda({ dir, env });
    await expect(started).rejects.toBeInstanceOf(DeployedInitError);
    // The error's class name as Lambda reports it (errorType), kept through minification.
    await expect(started).rejects.toThrow(
      /^init failed: ConfigurationError: PASSWORD_LENGTH must be a whole number/,
    );
  });

  const fixture = DEPLOYED_FIXTURES[name];
  if (!fixture) {
    it.skip(`rotates as deployed — NOT RUN: no fixture for "${name}" in test/packaging/support/fixtures.ts`, () => {});
    return;
  }

  it(`rotates ${ROTATIONS} times in a fresh process configured by environment only, as the SAM template sets it (${fixture.target})`, async () => {
    const dir = await unpackLambda(zipOf(name), join(workDir, name));
    const target = await fixture.start();
    const client = sm.client();
    let deployed: Awaited<ReturnType<typeof startDeployedLambda>> | undefined;
    const seen: string[] = [];
    try {
      const { secretId, secrets } = await target.createSecret(client, `as-deployed/${name}`);
      trackSecrets(...secrets);
      seen.push(...secrets);
      deployed = await startDeployedLambda({
        dir,
        env: lambdaEnvironment({
          endpoint: sm.endpoint,
          functionName: `${name}-rotator`,
          taskRoot: dir,
          // Every variable the template sets, at its default (empty = the code's default), then this test's own.
          settings: { ...(await samDefaultSettings(name)), ...target.settings, ALLOWED_SECRET_IDS: secretId },
        }),
      });

      // RotateImmediately=false, as when rotation is first configured: testSecret only.
      const tested = await rotateSecret({
        client,
        secretId,
        handler: deployed.handler,
        rotateImmediately: false,
      });
      expect(tested.error ?? 'ok').toBe('ok');

      for (let rotation = 1; rotation <= ROTATIONS; rotation++) {
        const before = await currentValue(client, secretId);
        const result = await rotateSecret({ client, secretId, handler: deployed.handler });
        expect(result.error ?? 'ok', `rotation ${rotation}`).toBe('ok');
        expect(result.steps.map((step) => step.step)).toEqual([
          'createSecret',
          'setSecret',
          'testSecret',
          'finishSecret',
        ]);
        const after = await currentValue(client, secretId);
        const secretsNow = target.secretsIn(after);
        trackSecrets(...secretsNow);
        seen.push(...target.secretsIn(before), ...secretsNow);
        expect(after).not.toBe(before);
        await target.checkRotated(before, after);
      }

      // The function's own output: JSON log lines for every step, and no secret value in any of them.
      const output = deployed.output();
      for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) {
        expect(output).toContain(`"step":"${step}"`);
      }
      const leaked = seen.filter((value) => output.includes(value));
      expect(leaked.length, 'secret values printed by the function').toBe(0);
    } finally {
      await deployed?.close();
      await target.stop();
    }
  });

  if (name.endsWith('-single-user')) {
    it('reports a refused login as TargetRefusedError, the name operators search for', async () => {
      const dir = await unpackLambda(zipOf(name), join(workDir, `${name}-refused`));
      const target = await fixture.start();
      const client = sm.client();
      let deployed: Awaited<ReturnType<typeof startDeployedLambda>> | undefined;
      try {
        const { secretId, secrets } = await target.createSecret(client, `as-deployed-refused/${name}`);
        trackSecrets(...secrets);
        // Neither the current nor the previous version holds the database's password, so every
        // login the single-user strategy tries is refused.
        const stored = JSON.parse(await currentValue(client, secretId)) as Record<string, unknown>;
        for (const attempt of ['wrong-previous', 'wrong-current']) {
          const wrong = `${attempt}-${String(stored.password)}`;
          trackSecrets(wrong);
          await client.send(
            new PutSecretValueCommand({
              SecretId: secretId,
              SecretString: JSON.stringify({ ...stored, password: wrong }),
            }),
          );
        }
        deployed = await startDeployedLambda({
          dir,
          env: lambdaEnvironment({
            endpoint: sm.endpoint,
            functionName: `${name}-refused`,
            taskRoot: dir,
            settings: { ...target.settings, ALLOWED_SECRET_IDS: secretId },
          }),
        });
        const result = await rotateSecret({ client, secretId, handler: deployed.handler });
        expect(result.ok).toBe(false);
        expect(result.failedStep).toBe('setSecret');
        expect((result.cause as Error).name).toBe('TargetRefusedError');
        expect(result.error).toMatch(/^TargetRefusedError: authentication failure/);
      } finally {
        await deployed?.close();
        await target.stop();
      }
    });
  }

  it('refuses a secret that ALLOWED_SECRET_IDS does not list, changing nothing', async () => {
    const dir = await unpackLambda(zipOf(name), join(workDir, `${name}-allow-list`));
    const target = await fixture.start();
    const client = sm.client();
    let deployed: Awaited<ReturnType<typeof startDeployedLambda>> | undefined;
    try {
      const { secretId, secrets } = await target.createSecret(client, `as-deployed-allow/${name}`);
      trackSecrets(...secrets);
      deployed = await startDeployedLambda({
        dir,
        env: lambdaEnvironment({
          endpoint: sm.endpoint,
          functionName: `${name}-other`,
          taskRoot: dir,
          settings: {
            ...target.settings,
            ALLOWED_SECRET_IDS: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:other',
          },
        }),
      });
      const before = await currentValue(client, secretId);
      const result = await rotateSecret({ client, secretId, handler: deployed.handler });
      expect(result.ok).toBe(false);
      expect(result.failedStep).toBe('createSecret');
      expect(result.error).toMatch(/^ConfigurationError: ALLOWED_SECRET_IDS/);
      expect((result.cause as Error).name).toBe('ConfigurationError');
      expect(await currentValue(client, secretId)).toBe(before);
    } finally {
      await deployed?.close();
      await target.stop();
    }
  });
});
