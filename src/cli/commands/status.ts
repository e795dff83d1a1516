// `secrets-rotator status <secret>`: versions and labels, rotation settings and the verdict with its fixes.
import type { Command } from 'commander';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode } from '../exit.ts';
import { readSecretFacts, type VersionInfo } from '../facts.ts';
import { relativeDate, renderTable, shortDate } from '../format.ts';
import type { Printer } from '../io.ts';
import { verdictOptions } from '../options.ts';
import { type Assessment, assessSecret, type SecretFacts } from '../verdict.ts';

interface StatusOptions {
  readonly maxAge?: number;
  readonly stuckAfter: number;
}

export function registerStatus(program: Command, context: CommandContext): void {
  const command = program
    .command('status')
    .summary("show a secret's versions, labels, rotation settings and verdict")
    .description(
      'Shows the versions and their labels, the rotation configuration, the last and next rotation, and a verdict: ' +
        'healthy, rotating, stuck, rotation-disabled, overdue, never-rotated or too-old (with --max-age). ' +
        'Exits 1 when the verdict fails the policy.',
    )
    .argument('<secret>', 'secret name or ARN');
  for (const option of verdictOptions()) command.addOption(option);
  command.addHelpText(
    'after',
    '\nExamples:\n  secrets-rotator status prod/app/db\n  secrets-rotator status prod/app/db --max-age 90 --output json',
  );
  command.action(context.action(runStatus));
}

async function runStatus(
  context: CommandContext,
  secretId: string,
  options: StatusOptions,
  command: Command,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table', 'json'], 'status');
  const now = context.now();
  const { facts, versions } = await readSecretFacts(context.client(flags), secretId, flags);
  const assessment = assessSecret(facts, {
    now,
    maxAgeDays: options.maxAge,
    stuckAfterMinutes: options.stuckAfter,
  });
  const shown = { facts, versions, assessment };
  if (flags.output === 'json') printJson(context.out, shown);
  else printTable(context.out, shown, now);
  return assessment.passes ? EXIT.OK : EXIT.POLICY_FAILURE;
}

interface Shown {
  readonly facts: SecretFacts;
  readonly versions: readonly VersionInfo[];
  readonly assessment: Assessment;
}

function printJson(out: Printer, { facts, versions, assessment }: Shown): void {
  out.json({
    name: facts.name,
    arn: facts.arn,
    verdict: assessment.verdict,
    passes: assessment.passes,
    findings: assessment.findings,
    ageDays: assessment.ageDays ?? null,
    rotation: {
      enabled: facts.rotationEnabled === true,
      lambdaArn: facts.rotationLambdaArn ?? null,
      rules: facts.rotationRules ?? null,
      lastRotatedDate: facts.lastRotatedDate ?? null,
      nextRotationDate: assessment.nextRotationDue ?? null,
      lastChangedDate: facts.lastChangedDate ?? null,
    },
    pending: assessment.pendingVersionId
      ? { versionId: assessment.pendingVersionId, since: assessment.pendingSince ?? null }
      : null,
    versions: versions.map((version) => ({
      versionId: version.versionId,
      labels: version.labels,
      createdDate: version.createdDate ?? null,
    })),
  });
}

function rotationState(facts: SecretFacts): string {
  const rules = facts.rotationRules;
  const schedule = rules?.AutomaticallyAfterDays
    ? `every ${rules.AutomaticallyAfterDays} days`
    : (rules?.ScheduleExpression ?? 'no schedule');
  const window = rules?.Duration ? `, window ${rules.Duration}` : '';
  if (facts.rotationEnabled === true) return `enabled, ${schedule}${window}`;
  return facts.rotationLambdaArn ? 'turned off' : 'not configured';
}

function printTable(out: Printer, { facts, versions, assessment }: Shown, now: Date): void {
  const fields: Array<[string, string]> = [
    ['Secret', facts.name],
    ['ARN', facts.arn],
    ['Verdict', assessment.verdict.toUpperCase()],
    ['Rotation', rotationState(facts)],
    ['Function', facts.rotationLambdaArn ?? '-'],
    ['Last rotated', relativeDate(facts.lastRotatedDate, now)],
    ['Next rotation', relativeDate(assessment.nextRotationDue, now, '-')],
    ['Value age', assessment.ageDays === undefined ? '-' : `${assessment.ageDays} days`],
  ];
  const width = Math.max(...fields.map(([label]) => label.length));
  for (const [label, value] of fields) out.line(`${label.padEnd(width)}  ${value}`);
  out.line();
  out.raw(
    renderTable(
      ['VERSION', 'LABELS', 'CREATED'],
      versions.map((version) => [
        version.versionId,
        version.labels.join(', ') || '-',
        shortDate(version.createdDate),
      ]),
    ),
  );
  out.line();
  for (const finding of assessment.findings) {
    out.line(`${finding.verdict}: ${finding.message}`);
    if (finding.fix && finding.verdict !== 'healthy') out.line(`  fix: ${finding.fix}`);
  }
}
