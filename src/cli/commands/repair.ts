/**
 * `secrets-rotator repair <secret>`: abandons a stuck rotation by removing the AWSPENDING label from
 * the version that holds it without being AWSCURRENT, after showing exactly what it will do.
 * AWSCURRENT and every value stay as they are.
 */
import {
  GetSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { redactor } from '../../core/observability.ts';
import { AWSCURRENT, AWSPENDING } from '../../core/stages.ts';
import { awsErrorCode, awsFailure } from '../aws.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode, UsageError } from '../exit.ts';
import { describeFacts, withReportedFailure } from '../facts.ts';
import { relativeDate } from '../format.ts';
import { holderOf, labelChanges, shortId } from '../labels.ts';
import { wholeNumber } from '../options.ts';
import { confirm } from '../prompt.ts';
import { assessSecret } from '../verdict.ts';

interface RepairOptions {
  readonly dryRun?: boolean;
  readonly yes?: boolean;
  readonly force?: boolean;
  readonly stuckAfter: number;
}

/** Adds `repair` to the program. */
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
    .action(async (secret: string, options: RepairOptions, self: Command) => {
      context.exitCode = await runRepair(context, self, secret, options);
    });
}

async function runRepair(
  context: CommandContext,
  command: Command,
  secretId: string,
  options: RepairOptions,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table', 'json'], 'repair');
  const client = context.client(flags);
  const out = context.out;
  const json = flags.output === 'json';
  const now = context.now();
  let read: Awaited<ReturnType<typeof describeFacts>>;
  try {
    read = await describeFacts(client, secretId);
  } catch (error) {
    throw awsFailure(error, `reading secret ${secretId}`, flags);
  }
  const facts = await withReportedFailure(client, read.facts, flags.endpointUrl);
  const assessment = assessSecret(facts, { now, stuckAfterMinutes: options.stuckAfter });
  const pendingId = assessment.pendingVersionId;
  if (!pendingId) {
    if (json)
      out.json({ name: facts.name, arn: facts.arn, changed: false, reason: 'no unfinished rotation' });
    else out.line(`Nothing to repair: no version of ${facts.name} holds AWSPENDING apart from AWSCURRENT.`);
    return EXIT.OK;
  }

  const currentId = holderOf(facts.versions, AWSCURRENT);
  const hasValue = await pendingHasValue(client, facts.arn, pendingId);
  const since = assessment.pendingSince ? ` since ${relativeDate(assessment.pendingSince, now)}` : '';
  const action = `aws secretsmanager update-secret-version-stage --secret-id ${facts.arn} --version-stage AWSPENDING --remove-from-version-id ${pendingId}`;
  const warnings: string[] = [];
  if (hasValue === true) {
    warnings.push(
      `version ${shortId(pendingId)} already has a value (createSecret ran). If setSecret ran too, the target may accept only ` +
        `that value now: finishing the rotation (rotate --via-service, or rotate --handler <name> --resume) is safer than ` +
        `abandoning it. After the repair the value stays readable for a while: aws secretsmanager get-secret-value --secret-id ${facts.arn} --version-id ${pendingId}`,
    );
  }
  if (!json) {
    out.line(`Secret ${facts.name}: AWSPENDING is on version ${pendingId}${since},`);
    out.line(`which is not AWSCURRENT (${currentId ?? 'none'}): an unfinished rotation.`);
    out.line(
      `Pending value stored: ${hasValue === undefined ? 'unknown (cannot read it)' : hasValue ? 'yes' : 'no (placeholder only)'}`,
    );
    out.line('Will remove the AWSPENDING label from that version, and change nothing else:');
    out.line(`  ${action}`);
    for (const warning of warnings) out.line(`warning: ${warning}`);
  }

  // Checked on the findings, not the verdict: a more urgent verdict (rotation-disabled, overdue)
  // does not make a young rotation any less likely to be running.
  const mayBeRunning = assessment.findings.some((finding) => finding.verdict === 'rotating');
  if (mayBeRunning && !options.force) {
    throw new UsageError(
      `the rotation of ${facts.name} started${since} and may still be running`,
      `wait until it is older than ${options.stuckAfter} minutes (then it counts as stuck), or pass --force`,
    );
  }
  if (options.dryRun) {
    if (json) {
      out.json({
        name: facts.name,
        arn: facts.arn,
        pendingVersionId: pendingId,
        pendingHasValue: hasValue ?? null,
        action,
        warnings,
        dryRun: true,
        changed: false,
      });
    } else {
      out.line('Dry run: nothing changed.');
    }
    return EXIT.OK;
  }
  if (!options.yes) {
    if (!context.io.stdin?.isTTY) {
      throw new UsageError(
        'repair changes the secret and there is no terminal to confirm on',
        'pass --yes to confirm, or --dry-run to only look',
      );
    }
    if (
      !(await confirm(context.io, `Remove AWSPENDING from version ${shortId(pendingId)} of ${facts.name}?`))
    ) {
      out.line('Not confirmed: nothing changed.');
      return EXIT.OK;
    }
  }

  try {
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: facts.arn,
        VersionStage: AWSPENDING,
        RemoveFromVersionId: pendingId,
      }),
    );
  } catch (error) {
    throw awsFailure(error, `removing AWSPENDING from version ${pendingId} of ${facts.name}`, flags);
  }
  let after: typeof facts.versions = {};
  try {
    after = (await describeFacts(client, facts.arn)).facts.versions;
  } catch {
    // The change is made; the echo of the new labels is a courtesy.
  }
  const changes = labelChanges(facts.versions, after);
  if (json) {
    out.json({
      name: facts.name,
      arn: facts.arn,
      pendingVersionId: pendingId,
      pendingHasValue: hasValue ?? null,
      action,
      warnings,
      dryRun: false,
      changed: true,
      labels: after,
    });
  } else {
    out.line(`Repaired: ${changes.join(', ') || `AWSPENDING removed from ${shortId(pendingId)}`}.`);
    out.line(`Next: secrets-rotator rotate ${facts.name} --via-service`);
  }
  return EXIT.OK;
}

/** Whether the pending version holds a value: true, false, or undefined when it cannot be read. */
async function pendingHasValue(
  client: SecretsManagerClient,
  arn: string,
  versionId: string,
): Promise<boolean | undefined> {
  try {
    const answer = await client.send(
      new GetSecretValueCommand({ SecretId: arn, VersionId: versionId, VersionStage: AWSPENDING }),
    );
    redactor.add(answer.SecretString);
    return answer.SecretString !== undefined || answer.SecretBinary !== undefined;
  } catch (error) {
    return awsErrorCode(error) === 'ResourceNotFoundException' ? false : undefined;
  }
}
