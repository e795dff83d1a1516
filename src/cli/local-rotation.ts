// A rotation on this machine through the driver, reported step by step (`rotate --handler`, `demo`).
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Env } from '../core/config.ts';
import { createRotationHandler } from '../core/engine.ts';
import type { RotationTarget } from '../core/target.ts';
import { type RotationProgress, type RotationResult, rotateSecret } from '../testing/driver.ts';
import { formatDuration } from './format.ts';
import { labelChanges, type VersionLabels } from './labels.ts';
import { cliLogger, cliMetrics } from './runtime.ts';

interface TracedStep {
  readonly step: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: string;
  /** Label moves since the previous step (or since before the rotation, for the first). */
  readonly changes: readonly string[];
}

interface TracedRotation {
  readonly result: RotationResult;
  readonly steps: readonly TracedStep[];
  /** Label moves when the rotation was completed (AWSPENDING cleared). */
  readonly completion: readonly string[];
  readonly labelsAfter: VersionLabels;
}

interface TraceOptions {
  readonly client: SecretsManagerClient;
  readonly secretId: string;
  readonly target: RotationTarget<unknown>;
  /** The rotation function's environment (password policy, adapter settings). */
  readonly env: Env;
  readonly resume?: boolean | undefined;
  readonly versionId?: string | undefined;
  /** Receives each trace line as it happens (table output); omitted for JSON output. */
  readonly onLine?: ((line: string) => void) | undefined;
  /** Receives the rotation function's log lines (only with --verbose). */
  readonly onLog?: ((line: string) => void) | undefined;
}

async function labelsOf(client: SecretsManagerClient, secretId: string): Promise<VersionLabels> {
  const answer = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  return answer.VersionIdsToStages ?? {};
}

/**
 * Rotates `secretId` once with `target`'s rotation function run in-process, tracing every step.
 * The handler is built here with the CLI's quiet logger and metrics, so stdout stays readable.
 */
export async function traceLocalRotation(options: TraceOptions): Promise<TracedRotation> {
  const { client, secretId } = options;
  const handler = createRotationHandler(options.target, {
    client,
    env: options.env,
    logger: cliLogger((line) => options.onLog?.(line), options.onLog !== undefined),
    metrics: cliMetrics(),
  });
  let last = await labelsOf(client, secretId);
  const steps: TracedStep[] = [];
  const print = options.onLine;
  const onStep = (progress: RotationProgress) => {
    if (progress.kind === 'rotation-started') {
      print?.(`version ${progress.versionId}${progress.resumed ? ' (resumed)' : ' (new)'}`);
      return;
    }
    if (progress.kind !== 'step-finished') return;
    const labels = progress.labels ?? last;
    const changes = labelChanges(last, labels);
    last = labels;
    steps.push({
      step: progress.step,
      ok: progress.ok,
      durationMs: progress.durationMs,
      ...(progress.error ? { error: progress.error } : {}),
      changes,
    });
    print?.(
      `  ${progress.step.padEnd(13)} ${progress.ok ? 'ok    ' : 'FAILED'} ${formatDuration(progress.durationMs).padStart(8)}  ${changes.join(', ') || 'labels unchanged'}`,
    );
    if (progress.error) print?.(`  ${''.padEnd(13)} ${progress.error}`);
  };
  const result = await rotateSecret({
    client,
    secretId,
    handler,
    onStep,
    ...(options.resume ? { resume: true } : {}),
    ...(options.versionId ? { versionId: options.versionId } : {}),
  });
  let labelsAfter = last;
  try {
    labelsAfter = await labelsOf(client, result.secretArn);
  } catch {
    // The rotation's outcome stands; the last labels seen are shown instead.
  }
  const completion = labelChanges(last, labelsAfter);
  if (completion.length > 0) print?.(`  ${'completed'.padEnd(13)} ${''.padEnd(15)} ${completion.join(', ')}`);
  return { result, steps, completion, labelsAfter };
}
