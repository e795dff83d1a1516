// `secrets-rotator audit`: every secret (or a filtered part) with its verdict; exit 1 when any fails
// the policy. ListSecrets carries what a verdict needs, so the audit costs one call per 100 secrets.
import { type Filter, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { awsFailure, type GlobalFlags } from '../aws.ts';
import { limiter } from '../concurrency.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode } from '../exit.ts';
import { factsFromListEntry, listVersions } from '../facts.ts';
import { formatDuration, renderCsv, renderTable, shortDate } from '../format.ts';
import type { Printer } from '../io.ts';
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

interface AuditRow {
  readonly facts: SecretFacts;
  readonly assessment: Assessment;
  readonly passes: boolean;
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
    .action(context.action(runAudit));
}

async function runAudit(context: CommandContext, options: AuditOptions, command: Command): Promise<ExitCode> {
  const flags = context.flags(command);
  const started = performance.now();
  const rows = await auditRows(context, flags, options);
  rows.sort((a, b) => (a.facts.name < b.facts.name ? -1 : a.facts.name > b.facts.name ? 1 : 0));
  const summary = summarize(rows, performance.now() - started);
  const shown = options.failingOnly ? summary.failing : rows;
  if (flags.output === 'json') printJson(context.out, rows, summary, options);
  else if (flags.output === 'csv') printCsv(context.out, shown, summary);
  else printTable(context.out, shown, summary);
  return summary.failing.length > 0 ? EXIT.POLICY_FAILURE : EXIT.OK;
}

function progressBar(context: CommandContext, options: AuditOptions): cliProgress.SingleBar | undefined {
  const stderr = context.io.stderr;
  if (!options.progress || !stderr.isTTY) return undefined;
  return new cliProgress.SingleBar(
    {
      stream: stderr as unknown as NodeJS.WritableStream,
      format: 'audit |{bar}| {value}/{total} secrets',
      clearOnComplete: true,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** Every listed secret assessed; only an unfinished rotation costs a detail call (its versions' dates). */
async function auditRows(
  context: CommandContext,
  flags: GlobalFlags,
  options: AuditOptions,
): Promise<AuditRow[]> {
  const client = context.client(flags);
  const policy = { now: context.now(), maxAgeDays: options.maxAge, stuckAfterMinutes: options.stuckAfter };
  const detail = limiter(options.concurrency);
  const bar = progressBar(context, options);
  let assessed = 0;
  const tick = () => bar?.update(++assessed);
  const assess = async (facts: SecretFacts): Promise<AuditRow> => {
    const first = assessSecret(facts, policy);
    if (!first.pendingVersionId) {
      tick();
      return row(facts, first, options.allow);
    }
    return detail(async () => {
      try {
        const versions = await listVersions(client, facts.arn);
        const versionCreated = Object.fromEntries(versions.map((v) => [v.versionId, v.createdDate]));
        const detailed = { ...facts, versionCreated };
        return row(detailed, assessSecret(detailed, policy), options.allow);
      } catch (error) {
        const failure = awsFailure(error, `reading the versions of ${facts.name}`, flags);
        return { ...row(facts, first, options.allow), note: failure.message };
      } finally {
        tick();
      }
    });
  };
  const pending: Array<Promise<AuditRow>> = [];
  bar?.start(0, 0);
  try {
    let nextToken: string | undefined;
    do {
      const filters = options.filter.length ? { Filters: options.filter } : {};
      const page = await client
        .send(new ListSecretsCommand({ MaxResults: 100, NextToken: nextToken, ...filters }))
        .catch((error: unknown) => {
          throw awsFailure(error, 'listing secrets', flags);
        });
      for (const entry of page.SecretList ?? []) pending.push(assess(factsFromListEntry(entry)));
      bar?.setTotal(pending.length);
      nextToken = page.NextToken;
    } while (nextToken);
    return await Promise.all(pending);
  } finally {
    bar?.stop();
  }
}

type AuditSummary = ReturnType<typeof summarize>;

function summarize(rows: AuditRow[], elapsedMs: number) {
  const failing = rows.filter((r) => !r.passes);
  const byVerdict = Object.fromEntries(
    VERDICTS.map((verdict) => [verdict, rows.filter((r) => r.assessment.verdict === verdict).length]),
  );
  const counts = VERDICTS.filter((verdict) => byVerdict[verdict])
    .map((verdict) => `${byVerdict[verdict]} ${verdict}`)
    .join(', ');
  const line = `${rows.length} secrets: ${counts} — ${failing.length} fail the policy (audited in ${formatDuration(elapsedMs)})`;
  return { failing, byVerdict, elapsedMs, line };
}

function printJson(out: Printer, rows: AuditRow[], summary: AuditSummary, options: AuditOptions): void {
  out.json({
    summary: {
      total: rows.length,
      passing: rows.length - summary.failing.length,
      failing: summary.failing.length,
      byVerdict: summary.byVerdict,
      maxAgeDays: options.maxAge ?? null,
      allowed: options.allow,
      durationMs: Math.round(summary.elapsedMs),
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
}

const CSV_COLUMNS: ReadonlyArray<readonly [string, (row: AuditRow) => string | undefined]> = [
  ['name', (r) => r.facts.name],
  ['arn', (r) => r.facts.arn],
  ['verdict', (r) => r.assessment.verdict],
  ['passes', (r) => String(r.passes)],
  ['rotation_enabled', (r) => String(r.facts.rotationEnabled === true)],
  ['last_rotated', (r) => r.facts.lastRotatedDate?.toISOString()],
  ['next_rotation', (r) => r.assessment.nextRotationDue?.toISOString()],
  ['age_days', (r) => r.assessment.ageDays?.toString()],
  ['pending_version', (r) => r.assessment.pendingVersionId],
  ['pending_since', (r) => r.assessment.pendingSince?.toISOString()],
  ['findings', (r) => r.assessment.findings.map((f) => `${f.verdict}: ${f.message}`).join(' | ')],
];

function printCsv(out: Printer, shown: AuditRow[], summary: AuditSummary): void {
  const header = CSV_COLUMNS.map(([title]) => title);
  const rows = shown.map((r) => CSV_COLUMNS.map(([, cell]) => cell(r) ?? ''));
  out.raw(renderCsv(header, rows));
  out.note(summary.line);
}

function printTable(out: Printer, shown: AuditRow[], summary: AuditSummary): void {
  if (shown.length > 0) {
    const cells = ({ facts, assessment, passes, note }: AuditRow) => [
      facts.name,
      assessment.verdict,
      passes ? 'pass' : 'FAIL',
      shortDate(facts.lastRotatedDate),
      shortDate(assessment.nextRotationDue),
      assessment.ageDays === undefined ? '-' : `${assessment.ageDays}d`,
      note ?? (assessment.verdict === 'healthy' ? '' : assessment.findings[0]!.message),
    ];
    const columns = ['NAME', 'VERDICT', 'POLICY', 'LAST ROTATED', 'NEXT ROTATION', 'AGE', 'DETAIL'];
    out.raw(renderTable(columns, shown.map(cells)));
    out.line();
  }
  out.line(summary.line);
  if (summary.failing.length > 0) {
    out.line(`Details and fixes: secrets-rotator status <name>; exempt a verdict with --allow <verdict>.`);
  }
}

function row(facts: SecretFacts, assessment: Assessment, allow: readonly Verdict[]): AuditRow {
  return { facts, assessment, passes: passesPolicy(assessment, allow) };
}
