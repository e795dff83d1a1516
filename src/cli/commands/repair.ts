// `secrets-rotator repair <secret>`: abandons a stuck rotation by removing AWSPENDING from the version
// that holds it without being AWSCURRENT, after showing what it will do. Every value stays.
import { UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { AWSCURRENT, AWSPENDING } from '../../core/stages.ts';
import { awsFailure, type GlobalFlags } from '../aws.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode, UsageError } from '../exit.ts';
import { describeFacts, pendingHasValue, readSecretFacts } from '../facts.ts';
import { relativeDate } from '../format.ts';
import type { Printer } from '../io.ts';
import { holderOf, labelChanges, shortId, type VersionLabels } from '../labels.ts';
import { wholeNumber } from '../options.ts';
import { confirm } from '../prompt.ts';
import { assessSecret } from '../verdict.ts';

interface RepairOptions {
  readonly dryRun?: boolean;
  readonly yes?: boolean;
  readonly force?: boolean;
  readonly stuckAfter: number;
}

export function registerRepair(program: Command, context: CommandContext): void {
  program
    .command('repair')
    .summary('remove a stuck AWSPENDING label (abandon an unfinished rotation)')
    .description(
      'Removes AWSPENDING from the version that holds it without being AWSCURRENT, so that the next rotation can ' +
        'start. Shows what it will do first; asks for confirmation on a terminal, or needs --yes. ' +
        'AWSCURRENT and the values of all versions are left alone.',
    )
    .argument('<secret>', 'secret name or ARN')
    .option('--dry-run', 'show what would change, change nothing')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--force', 'repair even a rotation that started recently and may still be running')
    .option(
      '--stuck-after <minutes>',
      'a rotation younger than this counts as running (refused without --force)',
      wholeNumber(0, 100_000),
      30,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  secrets-rotator repair prod/app/db --dry-run\n  secrets-rotator repair prod/app/db --yes && secrets-rotator rotate prod/app/db --via-service',
    )
    .action(context.action(runRepair));
}

interface RepairPlan {
  readonly name: string;
  readonly arn: string;
  readonly versions: VersionLabels;
  readonly pendingId: string;
  readonly hasValue: boolean | undefined;
  readonly since: string;
  readonly action: string;
  readonly warnings: string[];
  /** A young rotation may still be running, whatever more urgent verdict applies. */
  readonly mayBeRunning: boolean;
}

async function runRepair(
  context: CommandContext,
  secretId: string,
  options: RepairOptions,
  command: Command,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table', 'json'], 'repair');
  const out = context.out;
  const json = flags.output === 'json';
  const plan = await planRepair(context, flags, secretId, options);
  if (!('action' in plan)) {
    if (json) out.json({ name: plan.name, arn: plan.arn, changed: false, reason: 'no unfinished rotation' });
    else out.line(`Nothing to repair: no version of ${plan.name} holds AWSPENDING apart from AWSCURRENT.`);
    return EXIT.OK;
  }
  if (!json) printPlan(out, plan);
  refuseIfRunning(plan, options);
  const report = {
    name: plan.name,
    arn: plan.arn,
    pendingVersionId: plan.pendingId,
    pendingHasValue: plan.hasValue ?? null,
    action: plan.action,
    warnings: plan.warnings,
  };
  if (options.dryRun) {
    if (json) out.json({ ...report, dryRun: true, changed: false });
    else out.line('Dry run: nothing changed.');
    return EXIT.OK;
  }
  if (!(await confirmed(context, options, plan))) {
    out.line('Not confirmed: nothing changed.');
    return EXIT.OK;
  }
  const after = await removePending(context, flags, plan);
  if (json) {
    out.json({ ...report, dryRun: false, changed: true, labels: after });
  } else {
    const changes = labelChanges(plan.versions, after);
    out.line(`Repaired: ${changes.join(', ') || `AWSPENDING removed from ${shortId(plan.pendingId)}`}.`);
    out.line(`Next: secrets-rotator rotate ${plan.name} --via-service`);
  }
  return EXIT.OK;
}

/** The repair to make, or only the secret's name and ARN when there is nothing to repair. */
async function planRepair(
  context: CommandContext,
  flags: GlobalFlags,
  secretId: string,
  options: RepairOptions,
): Promise<RepairPlan | { readonly name: string; readonly arn: string }> {
  const client = context.client(flags);
  const now = context.now();
  const { facts } = await readSecretFacts(client, secretId, flags);
  const assessment = assessSecret(facts, { now, stuckAfterMinutes: options.stuckAfter });
  const pendingId = assessment.pendingVersionId;
  if (!pendingId) return { name: facts.name, arn: facts.arn };
  const hasValue = await pendingHasValue(client, facts.arn, pendingId);
  const warnings: string[] = [];
  if (hasValue === true) {
    warnings.push(
      `version ${shortId(pendingId)} already has a value (createSecret ran). If setSecret ran too, the target may accept only ` +
        `that value now: finishing the rotation (rotate --via-service, or rotate --handler <name> --resume) is safer than ` +
        `abandoning it. After the repair the value stays readable for a while: aws secretsmanager get-secret-value --secret-id ${facts.arn} --version-id ${pendingId}`,
    );
  }
  return {
    name: facts.name,
    arn: facts.arn,
    versions: facts.versions,
    pendingId,
    hasValue,
    since: assessment.pendingSince ? ` since ${relativeDate(assessment.pendingSince, now)}` : '',
    action: `aws secretsmanager update-secret-version-stage --secret-id ${facts.arn} --version-stage AWSPENDING --remove-from-version-id ${pendingId}`,
    warnings,
    mayBeRunning: assessment.findings.some((finding) => finding.verdict === 'rotating'),
  };
}

function refuseIfRunning(plan: RepairPlan, options: RepairOptions): void {
  if (!plan.mayBeRunning || options.force) return;
  throw new UsageError(
    `the rotation of ${plan.name} started${plan.since} and may still be running`,
    `wait until it is older than ${options.stuckAfter} minutes (then it counts as stuck), or pass --force`,
  );
}

function printPlan(out: Printer, plan: RepairPlan): void {
  const stored =
    plan.hasValue === undefined
      ? 'unknown (cannot read it)'
      : plan.hasValue
        ? 'yes'
        : 'no (placeholder only)';
  out.line(`Secret ${plan.name}: AWSPENDING is on version ${plan.pendingId}${plan.since},`);
  out.line(
    `which is not AWSCURRENT (${holderOf(plan.versions, AWSCURRENT) ?? 'none'}): an unfinished rotation.`,
  );
  out.line(`Pending value stored: ${stored}`);
  out.line('Will remove the AWSPENDING label from that version, and change nothing else:');
  out.line(`  ${plan.action}`);
  for (const warning of plan.warnings) out.line(`warning: ${warning}`);
}

async function confirmed(
  context: CommandContext,
  options: RepairOptions,
  plan: RepairPlan,
): Promise<boolean> {
  if (options.yes) return true;
  if (!context.io.stdin?.isTTY) {
    throw new UsageError(
      'repair changes the secret and there is no terminal to confirm on',
      'pass --yes to confirm, or --dry-run to only look',
    );
  }
  return confirm(context.io, `Remove AWSPENDING from version ${shortId(plan.pendingId)} of ${plan.name}?`);
}

/** Removes the label; the labels after it (empty when they cannot be read: the change is made). */
async function removePending(
  context: CommandContext,
  flags: GlobalFlags,
  plan: RepairPlan,
): Promise<VersionLabels> {
  const client = context.client(flags);
  try {
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: plan.arn,
        VersionStage: AWSPENDING,
        RemoveFromVersionId: plan.pendingId,
      }),
    );
  } catch (error) {
    throw awsFailure(error, `removing AWSPENDING from version ${plan.pendingId} of ${plan.name}`, flags);
  }
  try {
    return (await describeFacts(client, plan.arn)).facts.versions;
  } catch {
    return {};
  }
}
