// What the bench files share: a handler's zip unpacked, its target started from the test fixtures,
// a local Secrets Manager endpoint holding the secret, and the environment Lambda would give it; and
// a warm function of that zip read at marks as it rotates on.
import { join } from 'node:path';
import { startLocalSecretsManager } from '../src/testing/index.ts';
import { samDefaultSettings } from '../test/packaging/support/code-facts.ts';
import {
  LAMBDA_128MB_EXEC_ARGV,
  lambdaEnvironment,
  startDeployedLambda,
  unpackLambda,
} from '../test/packaging/support/deployed-lambda.ts';
import { DEPLOYED_FIXTURES } from '../test/packaging/support/fixtures.ts';

/** Undefined when test/packaging/support/fixtures.ts has no fixture for the handler. */
export async function setUpDeployed(lambda, workDir, purpose) {
  const fixture = DEPLOYED_FIXTURES[lambda.name];
  if (!fixture) return undefined;
  const dir = await unpackLambda(lambda.zipPath, join(workDir, lambda.name));
  const target = await fixture.start();
  const sm = await startLocalSecretsManager();
  const close = async () => {
    await sm.close();
    await target.stop();
  };
  try {
    const client = sm.client();
    const { secretId } = await target.createSecret(client, `${purpose}/${lambda.name}`);
    const env = lambdaEnvironment({
      endpoint: sm.endpoint,
      functionName: `${lambda.name}-${purpose}`,
      taskRoot: dir,
      settings: {
        ...(await samDefaultSettings(lambda.name)),
        ...target.settings,
        ALLOWED_SECRET_IDS: secretId,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
      },
    });
    return { dir, target, sm, client, secretId, env, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * A fresh function process of the unpacked zip at Lambda's 128 MB flags, with gc() exposed: for each
 * mark in turn, `rotate(deployed, count)` brings it to that many rotations and `read(deployed, mark)`
 * measures it. Resolves to what `read` gave, by mark.
 */
export async function readAtMarks({ dir, env, marks, rotate, read }) {
  const deployed = await startDeployedLambda({
    dir,
    env,
    execArgv: [...LAMBDA_128MB_EXEC_ARGV, '--expose-gc'],
  });
  try {
    const byMark = {};
    let done = 0;
    for (const mark of marks) {
      await rotate(deployed, mark - done);
      done = mark;
      byMark[mark] = await read(deployed, mark);
    }
    return byMark;
  } finally {
    await deployed.close();
  }
}
