// `secrets-rotator check <secret> --handler <name>`: a preflight that reads and connects but changes
// nothing. Every finding comes with its fix.
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { redactor } from '../../core/observability.ts';
import type { PreflightFinding, RotationTarget } from '../../core/target.ts';
import type { DatabaseSecretValue } from '../../database/secret.ts';
import { awsFailure, type GlobalFlags } from '../aws.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode } from '../exit.ts';
import { findHandler } from '../handlers.ts';
import type { Printer } from '../io.ts';
import { shortId, unfinishedPending } from '../labels.ts';
import { cliLogger, cliStepContext } from '../runtime.ts';

export function registerCheck(program: Command, context: CommandContext): void {
  program
    .command('check')
    .summary('preflight a secret for a handler; changes nothing')
    .description(
      'Checks, without changing anything, that a rotation with this handler can work: the secret is readable and ' +
        'valid for the handler, its rotation settings, and for databases: reachable, the TLS mode, the current login, ' +
        'the master secret (alternating users) and the privilege the rotation needs. Exits 1 when any check fails.',
    )
    .argument('<secret>', 'secret name or ARN')
    .requiredOption('--handler <name>', 'the handler that will rotate it, e.g. postgres-single-user')
    .addHelpText(
      'after',
      '\nExamples:\n  secrets-rotator check prod/app/db --handler postgres-alternating-users\n  secrets-rotator check prod/app/db --handler mysql-single-user --output json',
    )
    .action(context.action(runCheck));
}

/** What the checks share; `add` records a finding (and prints it at once in table output). */
interface CheckRun {
  readonly context: CommandContext;
  readonly flags: GlobalFlags;
  readonly secretId: string;
  readonly handler: ReturnType<typeof findHandler>;
  readonly add: (finding: PreflightFinding) => void;
}

async function runCheck(
  context: CommandContext,
  secretId: string,
  options: { readonly handler: string },
  command: Command,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table', 'json'], 'check');
  const handler = findHandler(options.handler, context.io.handlers);
  const json = flags.output === 'json';
  const out = context.out;
  if (!json)
    out.line(`Preflight of ${secretId} for ${handler.name} (reads and connects only; changes nothing)`);
  const findings: PreflightFinding[] = [];
  const add = (finding: PreflightFinding) => {
    findings.push(finding);
    if (!json) printFinding(out, finding);
  };
  await runChecks({ context, flags, secretId, handler, add });

  const failures = findings.filter((f) => f.status === 'fail').length;
  const warnings = findings.filter((f) => f.status === 'warn').length;
  if (json) {
    out.json({ secret: secretId, handler: handler.name, ok: failures === 0, failures, warnings, findings });
  } else {
    const verdict = failures > 0 ? 'not ready: fix the failures above' : 'ready to rotate';
    out.line(`${plural(failures, 'failure')}, ${plural(warnings, 'warning')}: ${verdict}`);
  }
  return failures > 0 ? EXIT.POLICY_FAILURE : EXIT.OK;
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

function printFinding(out: Printer, finding: PreflightFinding): void {
  out.line(`  ${finding.status.padEnd(4)}  ${finding.check.padEnd(20)} ${finding.detail}`);
  if (finding.fix && finding.status !== 'ok')
    out.line(`  ${''.padEnd(4)}  ${''.padEnd(20)} fix: ${finding.fix}`);
}

/** Each stage stops the run when it fails: the later ones need what it gives. */
async function runChecks(run: CheckRun): Promise<void> {
  const current = await readCurrent(run);
  if (!current) return;
  const target = await loadTarget(run);
  if (!target) return;
  let value: unknown;
  try {
    await target.prepare?.();
    value = target.parse(current.raw);
    redactor.add(...target.secrets(value));
    run.add({ check: 'secret valid', status: 'ok', detail: describeValue(value, run.handler.name) });
  } catch (error) {
    const fix = `fix the AWSCURRENT value (aws secretsmanager put-secret-value --secret-id ${run.secretId} …) as the message says`;
    run.add(errorFinding('secret valid', error, fix, 'not valid for this handler'));
    return;
  }
  await rotationSettings(run, current.arn);
  await targetFindings(run, target, value, current.arn);
}

async function readCurrent(run: CheckRun): Promise<{ arn: string; raw: string } | undefined> {
  const check = 'secret readable';
  try {
    const answer = await run.context
      .client(run.flags)
      .send(new GetSecretValueCommand({ SecretId: run.secretId, VersionStage: 'AWSCURRENT' }));
    const raw = answer.SecretString;
    redactor.add(raw);
    if (raw === undefined) {
      run.add({
        check,
        status: 'fail',
        detail: 'the AWSCURRENT version holds a binary value; rotation functions rotate SecretString values',
        fix: 'store the value as SecretString',
      });
      return undefined;
    }
    run.add({ check, status: 'ok', detail: `AWSCURRENT version ${shortId(answer.VersionId ?? '?')}` });
    return { arn: answer.ARN ?? run.secretId, raw };
  } catch (error) {
    const problem = awsFailure(error, `reading ${run.secretId}`, run.flags);
    run.add({
      check,
      status: 'fail',
      detail: problem.message,
      fix: problem.fix ?? 'check the name and permissions',
    });
    return undefined;
  }
}

async function loadTarget(run: CheckRun): Promise<RotationTarget<unknown> | undefined> {
  try {
    const target = await run.handler.load();
    target.init?.(run.context.io.env);
    run.add({
      check: 'handler settings',
      status: 'ok',
      detail: `${run.handler.name}: environment settings valid`,
    });
    return target;
  } catch (error) {
    const fix = 'fix the variable named (the rotation function reads the same ones at start-up)';
    run.add(errorFinding('handler settings', error, fix));
    return undefined;
  }
}

async function rotationSettings(run: CheckRun, arn: string): Promise<void> {
  const { secretId } = run;
  try {
    const description = await run.context
      .client(run.flags)
      .send(new DescribeSecretCommand({ SecretId: arn }));
    run.add(
      description.RotationEnabled
        ? {
            check: 'rotation settings',
            status: 'ok',
            detail: `enabled, function ${description.RotationLambdaARN ?? '?'}`,
          }
        : {
            check: 'rotation settings',
            status: 'warn',
            detail: 'rotation is not enabled on this secret',
            fix: `aws secretsmanager rotate-secret --secret-id ${secretId} --rotation-lambda-arn <function ARN> --rotation-rules AutomaticallyAfterDays=30`,
          },
    );
    const pending = unfinishedPending(description.VersionIdsToStages ?? {});
    if (pending) {
      run.add({
        check: 'unfinished rotation',
        status: 'warn',
        detail: `version ${shortId(pending)} holds AWSPENDING: the next rotation resumes it (or is refused)`,
        fix: `secrets-rotator status ${secretId} for details; secrets-rotator repair ${secretId} to abandon it`,
      });
    }
  } catch (error) {
    const problem = awsFailure(error, `describing ${secretId}`, run.flags);
    run.add({
      check: 'rotation settings',
      status: 'warn',
      detail: problem.message,
      fix: problem.fix ?? 'grant secretsmanager:DescribeSecret',
    });
  }
}

/** The adapter's preflight; for a target without one, its testSecret run on the current value. */
async function targetFindings(
  run: CheckRun,
  target: RotationTarget<unknown>,
  value: unknown,
  arn: string,
): Promise<void> {
  const ctx = cliStepContext({
    client: run.context.client(run.flags),
    secretArn: arn,
    versionId: 'preflight',
    step: 'testSecret',
    env: run.context.io.env,
    logger: cliLogger((line) => run.context.out.note(line), run.flags.verbose === true),
  });
  if (target.preflight) {
    try {
      for (const finding of await target.preflight(value, ctx)) run.add(finding);
    } catch (error) {
      run.add(errorFinding('target', error, "run again with --verbose for the adapter's log lines"));
    }
    return;
  }
  try {
    await target.verify(value, ctx);
    run.add({
      check: 'current value works',
      status: 'ok',
      detail: `${run.handler.name}'s testSecret accepts the AWSCURRENT value`,
    });
  } catch (error) {
    const fix = 'the current value does not work against its target: fix it before rotating';
    run.add(errorFinding('current value works', error, fix));
  }
}

function errorFinding(check: string, error: unknown, fix: string, fallback?: string): PreflightFinding {
  redactor.scrubError(error);
  const detail = error instanceof Error ? error.message : (fallback ?? String(error));
  return { check, status: 'fail', detail, fix };
}

/** What the parsed value says about its target, without any secret field. */
function describeValue(value: unknown, handler: string): string {
  if (!(value && typeof value === 'object' && 'host' in value && 'username' in value)) {
    return `valid for ${handler}`;
  }
  const v = value as { host: string; username: string } & Partial<DatabaseSecretValue<string>>;
  // The secret's ssl can only tighten the deployer's TLS mode (PG_TLS_MODE / MYSQL_TLS_MODE).
  const ssl =
    v.ssl === undefined
      ? 'ssl absent (the TLS mode decides)'
      : v.ssl
        ? 'ssl true (TLS required)'
        : 'ssl false (ignored: it cannot loosen the TLS mode)';
  return `engine ${v.engine ?? '?'}, ${v.host}:${v.port ?? '?'}, user "${v.username}"${v.dbname ? `, dbname "${v.dbname}"` : ''}, ${ssl}`;
}
