/**
 * `secrets-rotator audit`: every secret of the account (or a filtered part of it) with its verdict,
 * as a table, JSON or CSV, and a non-zero exit when any secret fails the policy, for CI pipelines.
 *
 * ListSecrets already carries what a verdict needs (labels, rotation settings and dates), so the
 * audit costs one call per 100 secrets; only secrets with an unfinished rotation need one more call
 * (ListSecretVersionIds, to tell "rotating" from "stuck since …"), made with bounded concurrency.
 */
import {
  type Filter,
  ListSecretsCommand,
  type ListSecretsCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { awsFailure } from '../aws.ts';
import { limiter } from '../concurrency.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode } from '../exit.ts';
import { factsFromListEntry, listVersions } from '../facts.ts';
import { formatDuration, renderCsv, renderTable, shortDate } from '../format.ts';
import { allowVerdict, verdictOptions, wholeNumber } from '../options.ts';
import {
  type Assessment,
  assessSecret,
  passesPolicy,
  type SecretFacts,
  VERDICTS,
  type Verdict,
} from '../verdict.ts';

interface AuditOptions {
  readonly maxAge?: number;
  readonly stuckAfter: number;
  readonly allow: Verdict[];
  readonly filter: Filter[];
  readonly concurrency: number;
  readonly progress: boolean;
  readonly failingOnly?: boolean;
}

/** One audited secret. */
interface AuditRow {
  readonly facts: SecretFacts;
  readonly assessment: Assessment;
  readonly passes: boolean;
  /** Why details could not be read, if they could not. */
  readonly note?: string;
}

const FILTER_KEYS = [
  'name',
  'description',
  'tag-key',
  'tag-value',
  'primary-region',
  'owning-service',
  'all',
];

function parseFilter(value: string, previous: Filter[] = []): Filter[] {
  const match = /^([a-z-]+)=(.+)$/.exec(value);
  if (!match || !FILTER_KEYS.includes(match[1]!)) {
    throw new InvalidArgumentError(
      `Expected KEY=VALUE with KEY one of ${FILTER_KEYS.join(', ')} (e.g. name=prod/).`,
    );
  }
  const key = match[1] as Filter['Key'];
  const existing = previous.find((filter) => filter.Key === key);
  if (existing) {
    return previous.map((filter) =>
      filter === existing ? { Key: key, Values: [...(filter.Values ?? []), match[2]!] } : filter,
    );
  }
  return [...previous, { Key: key, Values: [match[2]!] }];
}

/**
 * Adds `audit` to the program.
 *
 * @example
 * ```ts
 * registerAudit(program, context);
 * ```
 */
export function registerAudit(program: Command, context: CommandContext): void {
  const command = program
    .command('audit')
    .summary('assess every secret in the account; exit 1 when any fails the policy')
    .description(
      'Lists every secret (all pages) and gives each the verdict of `status`. A secret fails the policy when it is ' +
        'stuck, rotation-disabled, overdue, never-rotated, or older than --max-age; --allow exempts a verdict. ' +
        'Exits 1 when any secret fails: put it in a CI pipeline.',
    );
  for (const option of verdictOptions()) command.addOption(option);
  command
    .option(
      '--allow <verdict>',
      'do not fail on this verdict (repeatable), e.g. --allow rotation-disabled',
      allowVerdict,
      [],
    )
    .option(
      '--filter <key=value>',
      `ListSecrets filter (repeatable); keys: ${FILTER_KEYS.join(', ')}`,
      parseFilter,
      [],
    )
    .addOption(
      new Option('--concurrency <n>', 'at most this many detail calls in flight')
        .argParser(wholeNumber(1, 64))
        .default(8),
    )
    .option('--failing-only', 'table and csv: list only the secrets that fail the policy')
    .option('--no-progress', 'no progress bar (it is shown only on a terminal anyway)')
    .addHelpText(
      'after',
      '\nExamples:\n  secrets-rotator audit --max-age 90\n  secrets-rotator audit --filter name=prod/ --allow rotation-disabled --output csv > audit.csv',
    )
    .action(async (options: AuditOptions, self: Command) => {
      context.exitCode = await runAudit(context, self, options);
    });
}

async function runAudit(context: CommandContext, command: Command, options: AuditOptions): Promise<ExitCode> {
  const flags = context.flags(command);
  const client = context.client(flags);
  const now = context.now();
  const started = performance.now();
  const policy = { now, maxAgeDays: options.maxAge, stuckAfterMinutes: options.stuckAfter };
  const detail = limiter(options.concurrency);
  const stderr = context.io.stderr;
  const bar =
    options.progress && stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            stream: stderr as unknown as NodeJS.WritableStream,
            format: 'audit |{bar}| {value}/{total} secrets',
            clearOnComplete: true,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let listed = 0;
  let assessed = 0;
  bar?.start(0, 0);
  const tick = () => {
    assessed += 1;
    bar?.update(assessed);
  };

  const pending: Array<Promise<AuditRow>> = [];
  let rows: AuditRow[];
  try {
    let nextToken: string | undefined;
    do {
      let page: ListSecretsCommandOutput;
      try {
        page = await client.send(
          new ListSecretsCommand({
            MaxResults: 100,
            NextToken: nextToken,
            ...(options.filter.length ? { Filters: options.filter } : {}),
          }),
        );
      } catch (error) {
        throw awsFailure(error, 'listing secrets', flags);
      }
      for (const entry of page.SecretList ?? []) {
        listed += 1;
        const facts = factsFromListEntry(entry);
        const first = assessSecret(facts, policy);
        if (!first.pendingVersionId) {
          pending.push(Promise.resolve(row(facts, first, options.allow)));
          tick();
          continue;
        }
        // Only an unfinished rotation needs the versions' dates: "rotating" or "stuck since …".
        pending.push(
          detail(async () => {
            try {
              const versions = await listVersions(client, facts.arn);
              const detailed = {
                ...facts,
                versionCreated: Object.fromEntries(versions.map((v) => [v.versionId, v.createdDate])),
              };
              return row(detailed, assessSecret(detailed, policy), options.allow);
            } catch (error) {
              const failure = awsFailure(error, `reading the versions of ${facts.name}`, flags);
              return { ...row(facts, first, options.allow), note: failure.message };
            } finally {
              tick();
            }
          }),
        );
      }
      bar?.setTotal(listed);
      nextToken = page.NextToken;
    } while (nextToken);
    rows = await Promise.all(pending);
  } finally {
    bar?.stop();
  }
  rows.sort((a, b) => (a.facts.name < b.facts.name ? -1 : a.facts.name > b.facts.name ? 1 : 0));
  const elapsedMs = performance.now() - started;
  const failing = rows.filter((r) => !r.passes);
  const byVerdict = Object.fromEntries(
    VERDICTS.map((verdict) => [verdict, rows.filter((r) => r.assessment.verdict === verdict).length]),
  );
  const summaryLine =
    `${rows.length} secrets: ` +
    VERDICTS.filter((verdict) => byVerdict[verdict])
      .map((verdict) => `${byVerdict[verdict]} ${verdict}`)
      .join(', ') +
    ` — ${failing.length} fail the policy (audited in ${formatDuration(elapsedMs)})`;

  const out = context.out;
  const shown = options.failingOnly ? failing : rows;
  if (flags.output === 'json') {
    out.json({
      summary: {
        total: rows.length,
        passing: rows.length - failing.length,
        failing: failing.length,
        byVerdict,
        maxAgeDays: options.maxAge ?? null,
        allowed: options.allow,
        durationMs: Math.round(elapsedMs),
      },
      secrets: rows.map((r) => ({
        name: r.facts.name,
        arn: r.facts.arn,
        verdict: r.assessment.verdict,
        passes: r.passes,
        findings: r.assessment.findings,
        rotationEnabled: r.facts.rotationEnabled === true,
        lastRotatedDate: r.facts.lastRotatedDate ?? null,
        nextRotationDate: r.assessment.nextRotationDue ?? null,
        ageDays: r.assessment.ageDays ?? null,
        pendingVersionId: r.assessment.pendingVersionId ?? null,
        pendingSince: r.assessment.pendingSince ?? null,
        ...(r.note ? { note: r.note } : {}),
      })),
    });
  } else if (flags.output === 'csv') {
    out.raw(
      renderCsv(
        [
          'name',
          'arn',
          'verdict',
          'passes',
          'rotation_enabled',
          'last_rotated',
          'next_rotation',
          'age_days',
          'pending_version',
          'pending_since',
          'findings',
        ],
        shown.map((r) => [
          r.facts.name,
          r.facts.arn,
          r.assessment.verdict,
          String(r.passes),
          String(r.facts.rotationEnabled === true),
          r.facts.lastRotatedDate?.toISOString() ?? '',
          r.assessment.nextRotationDue?.toISOString() ?? '',
          r.assessment.ageDays === undefined ? '' : String(r.assessment.ageDays),
          r.assessment.pendingVersionId ?? '',
          r.assessment.pendingSince?.toISOString() ?? '',
          r.assessment.findings.map((f) => `${f.verdict}: ${f.message}`).join(' | '),
        ]),
      ),
    );
    out.note(summaryLine);
  } else {
    if (shown.length > 0) {
      out.raw(
        renderTable(
          ['NAME', 'VERDICT', 'POLICY', 'LAST ROTATED', 'NEXT ROTATION', 'AGE', 'DETAIL'],
          shown.map((r) => [
            r.facts.name,
            r.assessment.verdict,
            r.passes ? 'pass' : 'FAIL',
            shortDate(r.facts.lastRotatedDate),
            shortDate(r.assessment.nextRotationDue),
            r.assessment.ageDays === undefined ? '-' : `${r.assessment.ageDays}d`,
            r.note ?? (r.assessment.verdict === 'healthy' ? '' : r.assessment.findings[0]!.message),
          ]),
        ),
      );
      out.line();
    }
    out.line(summaryLine);
    if (failing.length > 0) {
      out.line(`Details and fixes: secrets-rotator status <name>; exempt a verdict with --allow <verdict>.`);
    }
  }
  return failing.length > 0 ? EXIT.POLICY_FAILURE : EXIT.OK;
}

function row(facts: SecretFacts, assessment: Assessment, allow: readonly Verdict[]): AuditRow {
  return { facts, assessment, passes: passesPolicy(assessment, allow) };
}
