/**
 * The fleet scenario shared by test/cli/rotate-all-scale.test.ts and bench/fleet.bench.mjs: many
 * random-secret secrets on the local endpoint, attached to one rotation function, with injected
 * latency and Secrets Manager's documented rate limits; `rotate --all` run as a real process (so
 * that it can be killed with SIGKILL); and the check that every secret was rotated exactly once.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CreateSecretCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { randomSecret } from '../../src/adapters/random-secret/index.ts';
import { cliLogger, cliMetrics } from '../../src/cli/runtime.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import type { RateLimits } from '../../src/testing/rate-limit.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../src/testing/server.ts';

export const FLEET_ROTATOR = 'arn:aws:lambda:us-east-1:123456789012:function:fleet-rotator';

/**
 * Secrets Manager's documented per-Region quotas for the operations a rotation uses: RotateSecret 50
 * per second; PutSecretValue, UpdateSecret and UpdateSecretVersionStage 50 per second combined;
 * GetSecretValue and DescribeSecret 10,000 per second combined; ListSecrets 100 per second.
 */
export const DOCUMENTED_RATE_LIMITS: RateLimits = {
  RotateSecret: 50,
  'PutSecretValue+UpdateSecretVersionStage+UpdateSecret': 50,
  'GetSecretValue+DescribeSecret': 10_000,
  ListSecrets: 100,
};

const REPO_ROOT = join(import.meta.dirname, '..', '..');

export interface Fleet {
  readonly local: LocalSecretsManager;
  /** name → ARN */
  readonly secrets: ReadonlyMap<string, string>;
  /** ARN → the version id each secret started with. */
  readonly initialVersions: ReadonlyMap<string, string>;
  /** The initial values, for the leak scan. */
  readonly initialValues: readonly string[];
  close(): Promise<void>;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/**
 * Starts the endpoint and creates `count` secrets named `<prefix>00000…`, each attached (by its
 * schedule, no rotation yet) to one shared rotation function.
 */
export async function startFleet(options: {
  readonly count: number;
  readonly prefix?: string;
  readonly latencyMs?: number;
  readonly rateLimits?: RateLimits;
  readonly local?: LocalSecretsManager;
}): Promise<Fleet> {
  const local =
    options.local ??
    (await startLocalSecretsManager({
      latencyMs: options.latencyMs ?? 15,
      rateLimits: options.rateLimits ?? DOCUMENTED_RATE_LIMITS,
    }));
  if (!options.local) {
    local.registerRotationFunction(
      FLEET_ROTATOR,
      createRotationHandler(randomSecret(), {
        client: local.client({ maxAttempts: 5 }),
        // A shared function under a fleet rotation meets the write quota: more attempts per call.
        env: { PASSWORD_GENERATOR: 'local', SECRETS_MANAGER_MAX_ATTEMPTS: '10' },
        logger: cliLogger(() => {}, false),
        metrics: cliMetrics(),
      }),
    );
  }
  const client = local.client();
  const prefix = options.prefix ?? 'fleet/';
  const names = Array.from({ length: options.count }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);
  const secrets = new Map<string, string>();
  const initialVersions = new Map<string, string>();
  const initialValues: string[] = [];
  await eachLimited(names, 50, async (name) => {
    const value = `initial-${randomBytes(12).toString('hex')}`;
    initialValues.push(value);
    const answer = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    secrets.set(name, answer.ARN!);
    initialVersions.set(answer.ARN!, answer.VersionId!);
    local.attachRotationFunction(answer.ARN!, FLEET_ROTATOR, { AutomaticallyAfterDays: 30 });
  });
  return { local, secrets, initialVersions, initialValues, close: () => local.close() };
}

/**
 * Every secret of the fleet rotated exactly once: two versions (the initial one, now AWSPREVIOUS,
 * and one new AWSCURRENT), no AWSPENDING left, and one successful rotation recorded by the
 * endpoint. Returns the problems found (empty when all is well).
 */
export async function rotatedExactlyOnce(fleet: Fleet): Promise<string[]> {
  const problems: string[] = [];
  const client = fleet.local.client();
  const arns = [...fleet.secrets.values()];
  const runs = new Map<string, number>();
  for (const run of fleet.local.rotations) {
    if (run.ok) runs.set(run.secretArn, (runs.get(run.secretArn) ?? 0) + 1);
    else problems.push(`${run.secretArn}: a failed rotation (${run.failedStep}: ${run.error})`);
  }
  await eachLimited(arns, 50, async (arn) => {
    const answer = await client.send(
      new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true }),
    );
    const versions = answer.Versions ?? [];
    const initial = fleet.initialVersions.get(arn)!;
    const current = versions.filter((version) => version.VersionStages?.includes('AWSCURRENT'));
    const previous = versions.find((version) => version.VersionId === initial);
    if (versions.length !== 2) problems.push(`${arn}: ${versions.length} versions, expected 2`);
    if (current.length !== 1 || current[0]?.VersionId === initial)
      problems.push(`${arn}: AWSCURRENT did not move once`);
    if (!previous?.VersionStages?.includes('AWSPREVIOUS'))
      problems.push(`${arn}: the initial version is not AWSPREVIOUS`);
    if (versions.some((version) => version.VersionStages?.includes('AWSPENDING')))
      problems.push(`${arn}: AWSPENDING left behind`);
    if ((runs.get(arn) ?? 0) !== 1)
      problems.push(`${arn}: ${runs.get(arn) ?? 0} rotations recorded, expected 1`);
  });
  return problems;
}

export interface ProcessRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `secrets-rotator` as a child process. `onLine` sees each stderr and stdout line as it
 * arrives and may return true to kill the process with SIGKILL at that point.
 */
export function runCliProcess(
  args: readonly string[],
  env: Record<string, string>,
  onLine?: (line: string) => boolean | undefined,
): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'secrets-rotator.mjs'), ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const pending = { stdout: '', stderr: '' };
    const feed = (stream: 'stdout' | 'stderr', chunk: string) => {
      if (stream === 'stdout') stdout += chunk;
      else stderr += chunk;
      pending[stream] += chunk;
      const lines = pending[stream].split('\n');
      pending[stream] = lines.pop() ?? '';
      for (const line of lines) if (onLine?.(line) && child.exitCode === null) child.kill('SIGKILL');
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => feed('stdout', chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => feed('stderr', chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
