// The verdict of one secret, shared by `status` and `audit` so both agree; pure (facts and a clock).
import type { RotationRulesType } from '@aws-sdk/client-secrets-manager';
import { AWSCURRENT } from '../core/stages.ts';
import { DAY_MS, HOUR_MS, humanSpan, MINUTE_MS, relativeDate, shortDate } from './format.ts';
import { shortId, unfinishedPending, type VersionLabels } from './labels.ts';

/**
 * What a secret's rotation looks like, most urgent first:
 * - `stuck`: AWSPENDING sits on a version that is not AWSCURRENT for longer than the stuck threshold;
 *   the service will refuse or re-run the next rotation until it is finished or repaired.
 * - `rotation-disabled`: rotation is not configured, or was turned off.
 * - `overdue`: the scheduled rotation should have happened (NextRotationDate plus the rotation window).
 * - `never-rotated`: rotation is enabled but has never completed.
 * - `too-old`: the current value is older than `--max-age`.
 * - `rotating`: a rotation started less than the stuck threshold ago (not a failure).
 * - `healthy`: none of the above.
 */
export const VERDICTS = [
  'stuck',
  'rotation-disabled',
  'overdue',
  'never-rotated',
  'too-old',
  'rotating',
  'healthy',
] as const;

export type Verdict = (typeof VERDICTS)[number];

/** Verdicts that fail the policy unless allowed (`audit --allow`). */
export const FAILING_VERDICTS: readonly Verdict[] = VERDICTS.filter(
  (verdict) => verdict !== 'rotating' && verdict !== 'healthy',
);

/** What the service tells about a secret, from DescribeSecret or a ListSecrets entry. */
export interface SecretFacts {
  readonly name: string;
  readonly arn: string;
  readonly rotationEnabled?: boolean | undefined;
  readonly rotationLambdaArn?: string | undefined;
  readonly rotationRules?: RotationRulesType | undefined;
  readonly createdDate?: Date | undefined;
  readonly lastRotatedDate?: Date | undefined;
  readonly lastChangedDate?: Date | undefined;
  readonly nextRotationDate?: Date | undefined;
  readonly versions: VersionLabels;
  /** Creation dates of versions, when known (ListSecretVersionIds). */
  readonly versionCreated?: Readonly<Record<string, Date | undefined>> | undefined;
  /**
   * A rotation the endpoint reports as failed (the local endpoint does; AWS reports a rotation
   * function's failure only in its logs). Makes an unfinished rotation of that version `stuck` at once.
   */
  readonly failedRotation?: FailedRotation | undefined;
}

export interface FailedRotation {
  readonly versionId: string;
  readonly failedStep?: string | null | undefined;
  readonly error?: string | null | undefined;
}

interface VerdictPolicy {
  readonly now: Date;
  /** Current values older than this many days are `too-old`. Unset: no age limit. */
  readonly maxAgeDays?: number | undefined;
  /** An unfinished rotation younger than this is `rotating`, older is `stuck`. Default 30. */
  readonly stuckAfterMinutes?: number | undefined;
}

interface VerdictFinding {
  readonly verdict: Verdict;
  readonly message: string;
  readonly fix?: string;
}

export interface Assessment {
  readonly verdict: Verdict;
  /** Every verdict that applies, most urgent first (`healthy` alone when nothing is wrong). */
  readonly findings: readonly VerdictFinding[];
  /** Whether no failing verdict applies (before any `--allow`). */
  readonly passes: boolean;
  readonly ageDays: number | undefined;
  /** The version holding AWSPENDING while not AWSCURRENT, if any. */
  readonly pendingVersionId: string | undefined;
  readonly pendingSince: Date | undefined;
  /** When the next rotation is due: NextRotationDate, or computed from the last rotation and the interval. */
  readonly nextRotationDue: Date | undefined;
}

// Longer than a rotation's four Lambda invocations take in practice.
const DEFAULT_STUCK_AFTER_MINUTES = 30;

export function assessSecret(facts: SecretFacts, policy: VerdictPolicy): Assessment {
  const now = policy.now;
  const pendingVersionId = unfinishedPending(facts.versions);
  const pendingSince = pendingVersionId ? facts.versionCreated?.[pendingVersionId] : undefined;
  const findings: VerdictFinding[] = [];
  if (pendingVersionId) findings.push(pendingFinding(facts, policy, pendingVersionId, pendingSince));
  const enabled = facts.rotationEnabled === true;
  if (!enabled) findings.push(disabledFinding(facts));
  const nextRotationDue = enabled ? dueDate(facts) : undefined;
  findings.push(...scheduleFindings(facts, now, findings, nextRotationDue));
  const { ageDays, finding: ageFinding } = valueAge(facts, policy);
  if (ageFinding) findings.push(ageFinding);
  if (findings.length === 0) {
    const last = facts.lastRotatedDate ? `last rotated ${relativeDate(facts.lastRotatedDate, now)}` : '';
    const next = nextRotationDue ? `next rotation ${relativeDate(nextRotationDue, now)}` : '';
    findings.push({
      verdict: 'healthy',
      message: [last, next].filter(Boolean).join('; ') || 'rotation is on schedule',
    });
  }
  findings.sort((a, b) => VERDICTS.indexOf(a.verdict) - VERDICTS.indexOf(b.verdict));
  return {
    verdict: findings[0]!.verdict,
    findings,
    passes: !findings.some((finding) => FAILING_VERDICTS.includes(finding.verdict)),
    ageDays,
    pendingVersionId,
    pendingSince,
    nextRotationDue,
  };
}

function pendingFinding(
  facts: SecretFacts,
  policy: VerdictPolicy,
  pendingVersionId: string,
  pendingSince: Date | undefined,
): VerdictFinding {
  const { name } = facts;
  const now = policy.now;
  const stuckAfterMs = (policy.stuckAfterMinutes ?? DEFAULT_STUCK_AFTER_MINUTES) * MINUTE_MS;
  const age = pendingSince ? now.getTime() - pendingSince.getTime() : Number.POSITIVE_INFINITY;
  const since = pendingSince ? ` since ${relativeDate(pendingSince, now)}` : '';
  const failed = facts.failedRotation?.versionId === pendingVersionId ? facts.failedRotation : undefined;
  if (failed) {
    const at = failed.failedStep ? ` at ${failed.failedStep}` : '';
    return {
      verdict: 'stuck',
      message: `the rotation to version ${shortId(pendingVersionId)} failed${at}${failed.error ? `: ${failed.error}` : ''}; AWSPENDING stays on it`,
      fix: `fix the cause, then \`secrets-rotator rotate ${name} --via-service\` re-runs the same version, or \`secrets-rotator repair ${name}\` abandons it`,
    };
  }
  if (age >= stuckAfterMs) {
    return {
      verdict: 'stuck',
      message: `AWSPENDING is on version ${shortId(pendingVersionId)}, which is not AWSCURRENT,${since || ' since an unknown time'}: an earlier rotation did not finish`,
      fix: `find why in the rotation function's logs; once fixed, \`secrets-rotator rotate ${name} --via-service\` resumes it (AWS), or \`secrets-rotator repair ${name}\` abandons it`,
    };
  }
  return {
    verdict: 'rotating',
    message: `a rotation started${since} and has not finished (AWSPENDING on version ${shortId(pendingVersionId)}): still running, or failed`,
    fix: `wait, or read the rotation function's logs for a failure (the service reports it nowhere else); it counts as stuck after ${humanSpan(stuckAfterMs)}`,
  };
}

function disabledFinding({ name, rotationLambdaArn }: SecretFacts): VerdictFinding {
  return rotationLambdaArn
    ? {
        verdict: 'rotation-disabled',
        message: 'rotation was turned off (a rotation function is still set)',
        fix: `turn it back on: aws secretsmanager rotate-secret --secret-id ${name} --rotation-rules AutomaticallyAfterDays=30`,
      }
    : {
        verdict: 'rotation-disabled',
        message: 'rotation is not configured',
        fix: `configure it: aws secretsmanager rotate-secret --secret-id ${name} --rotation-lambda-arn <function ARN> --rotation-rules AutomaticallyAfterDays=30`,
      };
}

/** Overdue and never-rotated; a rotation under way answers both, a stuck one explains the latter. */
function scheduleFindings(
  facts: SecretFacts,
  now: Date,
  earlier: readonly VerdictFinding[],
  nextRotationDue: Date | undefined,
): VerdictFinding[] {
  const { name } = facts;
  const rotating = earlier.some((finding) => finding.verdict === 'rotating');
  const stuck = earlier.some((finding) => finding.verdict === 'stuck');
  const findings: VerdictFinding[] = [];
  const windowMs = windowLength(facts.rotationRules?.Duration);
  if (nextRotationDue && !rotating && now.getTime() > nextRotationDue.getTime() + windowMs) {
    findings.push({
      verdict: 'overdue',
      message: `the scheduled rotation was due ${relativeDate(nextRotationDue, now)} and has not happened`,
      fix: `check the rotation function's logs and permissions, then rotate now: secrets-rotator rotate ${name} --via-service`,
    });
  }
  if (facts.rotationEnabled === true && !facts.lastRotatedDate && !rotating && !stuck) {
    findings.push({
      verdict: 'never-rotated',
      message: 'rotation is enabled but no rotation has completed yet',
      fix: `rotate it once to prove the set-up: secrets-rotator rotate ${name} --via-service`,
    });
  }
  return findings;
}

/** Days since the AWSCURRENT version was created, else the last rotation, else the secret's creation. */
function valueAge(
  facts: SecretFacts,
  policy: VerdictPolicy,
): { ageDays: number | undefined; finding?: VerdictFinding } {
  const currentId = Object.keys(facts.versions).find((id) => facts.versions[id]?.includes(AWSCURRENT));
  const valueSince =
    (currentId ? facts.versionCreated?.[currentId] : undefined) ?? facts.lastRotatedDate ?? facts.createdDate;
  const ageDays = valueSince ? Math.floor((policy.now.getTime() - valueSince.getTime()) / DAY_MS) : undefined;
  if (policy.maxAgeDays === undefined || ageDays === undefined || ageDays <= policy.maxAgeDays)
    return { ageDays };
  return {
    ageDays,
    finding: {
      verdict: 'too-old',
      message: `the current value is ${ageDays} days old (since ${shortDate(valueSince)}), above the limit of ${policy.maxAgeDays} days`,
      fix: `rotate it: secrets-rotator rotate ${facts.name} --via-service`,
    },
  };
}

/** Whether an assessment passes once some verdicts are allowed (`audit --allow rotation-disabled`). */
export function passesPolicy(assessment: Assessment, allowed: readonly Verdict[]): boolean {
  return assessment.findings.every(
    (finding) => !FAILING_VERDICTS.includes(finding.verdict) || allowed.includes(finding.verdict),
  );
}

function dueDate(facts: SecretFacts): Date | undefined {
  if (facts.nextRotationDate) return facts.nextRotationDate;
  const days = facts.rotationRules?.AutomaticallyAfterDays;
  const rate = facts.rotationRules?.ScheduleExpression
    ? /^rate\((\d+) (hours?|days?)\)$/.exec(facts.rotationRules.ScheduleExpression)
    : null;
  const intervalMs =
    days !== undefined
      ? days * DAY_MS
      : rate
        ? Number(rate[1]) * (rate[2]!.startsWith('hour') ? HOUR_MS : DAY_MS)
        : undefined;
  const base = facts.lastRotatedDate;
  return intervalMs !== undefined && base ? new Date(base.getTime() + intervalMs) : undefined;
}

/** The rotation window (`Duration`, e.g. `3h`); the service's default window ends within a day. */
function windowLength(duration: string | undefined): number {
  const match = duration ? /^(\d+)h$/.exec(duration) : null;
  return match ? Number(match[1]) * HOUR_MS : DAY_MS;
}
