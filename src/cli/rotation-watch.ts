// Following a rotation the service runs by its staging labels: `rotate --via-service` and `rotate --all`.
import { sleep } from '../core/sleep.ts';
import { AWSCURRENT, AWSPENDING } from '../core/stages.ts';
import { awsErrorCode } from './aws.ts';
import { labelChanges, type VersionLabels } from './labels.ts';
import type { FailedRotation } from './verdict.ts';

type WatchOutcome = 'rotated' | 'abandoned' | 'failed' | 'timeout' | 'interrupted';

/** `rotated` once `versionId` holds AWSCURRENT alone, `abandoned` once it holds neither; `undefined` meanwhile. */
export function labelOutcome(labels: VersionLabels, versionId: string): 'rotated' | 'abandoned' | undefined {
  const stages = (Object.hasOwn(labels, versionId) ? labels[versionId] : undefined) ?? [];
  if (stages.includes(AWSCURRENT) && !stages.includes(AWSPENDING)) return 'rotated';
  if (!stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT)) return 'abandoned';
  return undefined;
}

interface Watch {
  readonly versionId: string;
  /** The labels before the rotation started, so that every change is reported. */
  readonly labels: VersionLabels;
  readonly read: () => Promise<VersionLabels>;
  readonly timeoutMs: number;
  /** The wait before each reading, from the previous wait (`undefined` at first) and the time followed. */
  readonly nextWait: (previous: number | undefined, elapsedMs: number) => number;
  readonly signal?: AbortSignal | undefined;
  /** Only the local endpoint reports a failed rotation (on AWS only the timeout tells); asked at most every `reportEveryMs`. */
  readonly reportedFailure?: (() => Promise<FailedRotation | undefined>) | undefined;
  readonly reportEveryMs?: number;
  readonly onChange?: (atMs: number, changes: string[]) => void;
}

export interface Watched {
  readonly outcome: WatchOutcome;
  readonly labels: VersionLabels;
  readonly totalMs: number;
  readonly reported?: FailedRotation;
}

/** Reads the labels until they show an outcome, a failure is reported, the timeout passes or `signal` aborts. */
export async function watchRotation(watch: Watch): Promise<Watched> {
  const { reportedFailure, reportEveryMs = 0 } = watch;
  const started = performance.now();
  let { labels } = watch;
  let wait: number | undefined;
  let lastReport = started;
  const result = (outcome: WatchOutcome, reported?: FailedRotation): Watched => ({
    outcome,
    labels,
    totalMs: performance.now() - started,
    ...(reported ? { reported } : {}),
  });
  for (;;) {
    wait = watch.nextWait(wait, performance.now() - started);
    await sleep(wait, watch.signal);
    if (watch.signal?.aborted) return result('interrupted');
    const next = await watch.read();
    const changes = labelChanges(labels, next);
    if (changes.length > 0) watch.onChange?.(performance.now() - started, changes);
    labels = next;
    const outcome = labelOutcome(labels, watch.versionId);
    if (outcome) return result(outcome);
    if (reportedFailure && performance.now() - lastReport >= reportEveryMs) {
      lastReport = performance.now();
      const reported = await reportedFailure();
      if (reported) return result('failed', reported);
    }
    if (performance.now() - started >= watch.timeoutMs) return result('timeout');
  }
}

/** RotateSecret's refusal while an earlier rotation of the secret still holds AWSPENDING. */
export function isUnfinishedRotationRefusal(error: unknown): boolean {
  return (
    awsErrorCode(error) === 'InvalidRequestException' &&
    /previous rotation isn.t complete/i.test(error instanceof Error ? error.message : String(error))
  );
}

/** The function's name in a Lambda ARN (the ARN itself when it names none). */
export function functionName(lambdaArn: string): string {
  return /function:([^:]+)/.exec(lambdaArn)?.[1] ?? lambdaArn;
}

/** Where the rotation function says why it failed. */
export function functionLogs(lambdaArn: string | undefined): string {
  const name = lambdaArn ? /function:([^:]+)/.exec(lambdaArn)?.[1] : undefined;
  return name ? `aws logs tail /aws/lambda/${name} --since 30m` : "the rotation function's logs";
}
