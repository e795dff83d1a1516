/**
 * The attacks run through the built zips as deployed: each handler is built once per test file,
 * unpacked into a folder of its own and run in a fresh Node process configured only by
 * environment variables (see test/packaging/support/deployed-lambda.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BuildResult, buildLambdas } from '../../../scripts/build-lambdas.ts';
import type { LocalSecretsManager } from '../../../src/testing/index.ts';
import {
  type DeployedLambda,
  lambdaEnvironment,
  startDeployedLambda,
  unpackLambda,
} from '../../packaging/support/deployed-lambda.ts';

/** Built zips and a place to unpack them. */
export interface DeployedZips {
  /** Starts `name`'s zip with `settings` as its environment (beyond what Lambda itself sets). */
  start(name: string, settings: Readonly<Record<string, string>>): Promise<DeployedLambda>;
  close(): Promise<void>;
}

/**
 * Builds the zips of `handlers` and returns a starter for them.
 *
 * @example
 * ```ts
 * const zips = await buildDeployedZips(['postgres-alternating-users'], sm);
 * const fn = await zips.start('postgres-alternating-users', { ALLOWED_SECRET_IDS: arn });
 * ```
 */
export async function buildDeployedZips(
  handlers: readonly string[],
  sm: LocalSecretsManager,
): Promise<DeployedZips> {
  const workDir = await mkdtemp(join(tmpdir(), 'security-zips-'));
  const build: BuildResult = await buildLambdas({
    outDir: join(workDir, 'dist'),
    only: handlers,
    enforceBudgets: false,
  });
  let runs = 0;
  const started: DeployedLambda[] = [];
  return {
    async start(name, settings) {
      const lambda = build.lambdas.find((entry) => entry.name === name);
      if (!lambda) throw new Error(`no zip built for ${name}`);
      runs += 1;
      const dir = await unpackLambda(lambda.zipPath, join(workDir, `${name}-${runs}`));
      const deployed = await startDeployedLambda({
        dir,
        env: lambdaEnvironment({
          endpoint: sm.endpoint,
          functionName: `${name}-rotator`,
          taskRoot: dir,
          settings,
        }),
      });
      started.push(deployed);
      return deployed;
    },
    async close() {
      await Promise.allSettled(started.map((deployed) => deployed.close()));
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
