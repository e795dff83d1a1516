/**
 * `secrets-rotator check <secret> --handler <name>`: a preflight that changes nothing. It reads the
 * secret and validates it for the handler, reads the rotation configuration, and for databases
 * connects as the current user (and the master, for alternating users) to report reachability, the
 * TLS mode, the login and the privilege the rotation needs. Every finding comes with its fix.
 */
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { redactor } from '../../core/observability.ts';
import { awsFailure } from '../aws.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode } from '../exit.ts';
import { findHandler, type HandlerEntry } from '../handlers.ts';
import { shortId, unfinishedPending } from '../labels.ts';
import type { Preflight, PreflightFinding } from '../preflight/types.ts';
import { cliLogger, cliStepContext } from '../runtime.ts';

interface CheckOptions {
  readonly handler: string;
}

/**
 * Adds `check` to the program.
 *
 * @example
 * ```ts
 * registerCheck(program, context);
 * ```
 */
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
    .action(async (secret: string, options: CheckOptions, self: Command) => {
      context.exitCode = await runCheck(context, self, secret, options);
    });
}

async function loadPreflight(entry: HandlerEntry): Promise<Preflight | undefined> {
  switch (entry.family) {
    case 'postgres':
      return (await import('../preflight/postgres.ts')).postgresPreflight;
    case 'mysql':
      return (await import('../preflight/mysql.ts')).mysqlPreflight;
    default:
      return undefined;
  }
}

async function runCheck(
  context: CommandContext,
  command: Command,
  secretId: string,
  options: CheckOptions,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table', 'json'], 'check');
  const entry = findHandler(options.handler, context.io.handlers);
  const client = context.client(flags);
  const out = context.out;
  const env = context.io.env;
  const findings: PreflightFinding[] = [];
  const json = flags.output === 'json';
  if (!json)
    out.line(`Preflight of ${secretId} for ${entry.name} (reads and connects only; changes nothing)`);
  const report = (finding: PreflightFinding) => {
    findings.push(finding);
    if (json) return;
    out.line(`  ${finding.status.padEnd(4)}  ${finding.check.padEnd(20)} ${finding.detail}`);
    if (finding.fix && finding.status !== 'ok')
      out.line(`  ${''.padEnd(4)}  ${''.padEnd(20)} fix: ${finding.fix}`);
  };

  await runChecks(report);

  const failed = findings.filter((f) => f.status === 'fail').length;
  const warned = findings.filter((f) => f.status === 'warn').length;
  const verdict = failed > 0 ? 'not ready: fix the failures above' : 'ready to rotate';
  if (json) {
    out.json({
      secret: secretId,
      handler: entry.name,
      ok: failed === 0,
      failures: failed,
      warnings: warned,
      findings,
    });
  } else {
    out.line(
      `${failed} failure${failed === 1 ? '' : 's'}, ${warned} warning${warned === 1 ? '' : 's'}: ${verdict}`,
    );
  }
  return failed > 0 ? EXIT.POLICY_FAILURE : EXIT.OK;

  async function runChecks(add: (finding: PreflightFinding) => void): Promise<void> {
    let arn = secretId;
    let raw: string | undefined;
    try {
      const answer = await client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
      );
      raw = answer.SecretString;
      arn = answer.ARN ?? secretId;
      redactor.add(raw);
      if (raw === undefined) {
        add({
          check: 'secret readable',
          status: 'fail',
          detail:
            'the AWSCURRENT version holds a binary value; rotation functions rotate SecretString values',
          fix: 'store the value as SecretString',
        });
        return;
      }
      add({
        check: 'secret readable',
        status: 'ok',
        detail: `AWSCURRENT version ${shortId(answer.VersionId ?? '?')}`,
      });
    } catch (error) {
      const problem = awsFailure(error, `reading ${secretId}`, flags);
      add({
        check: 'secret readable',
        status: 'fail',
        detail: problem.message,
        fix: problem.fix ?? 'check the name and permissions',
      });
      return;
    }

    let target: Awaited<ReturnType<HandlerEntry['load']>>;
    try {
      target = await entry.load();
      target.init?.(env);
      add({ check: 'handler settings', status: 'ok', detail: `${entry.name}: environment settings valid` });
    } catch (error) {
      redactor.scrubError(error);
      add({
        check: 'handler settings',
        status: 'fail',
        detail: error instanceof Error ? error.message : String(error),
        fix: 'fix the variable named (the rotation function reads the same ones at start-up)',
      });
      return;
    }

    let value: unknown;
    try {
      value = target.parse(raw);
      redactor.add(...target.secrets(value));
      add({ check: 'secret valid', status: 'ok', detail: describeValue(value, entry.name) });
    } catch (error) {
      redactor.scrubError(error);
      add({
        check: 'secret valid',
        status: 'fail',
        detail: error instanceof Error ? error.message : 'not valid for this handler',
        fix: `fix the AWSCURRENT value (aws secretsmanager put-secret-value --secret-id ${secretId} …) as the message says`,
      });
      return;
    }

    await rotationSettings(arn, add);

    const logger = cliLogger((line) => out.note(line), flags.verbose === true);
    const ctx = cliStepContext({
      client,
      secretArn: arn,
      versionId: 'preflight',
      step: 'testSecret',
      env,
      logger,
    });
    const preflight = await loadPreflight(entry);
    if (preflight) {
      try {
        for (const finding of await preflight(value, { env, ctx, strategy: entry.strategy })) add(finding);
      } catch (error) {
        redactor.scrubError(error);
        add({
          check: 'target',
          status: 'fail',
          detail: error instanceof Error ? error.message : String(error),
          fix: "run again with --verbose for the adapter's log lines",
        });
      }
      return;
    }
    // Other targets: the handler's own testSecret, run on the current value, proves it still works.
    try {
      await target.verify(value, ctx);
      add({
        check: 'current value works',
        status: 'ok',
        detail: `${entry.name}'s testSecret accepts the AWSCURRENT value`,
      });
    } catch (error) {
      redactor.scrubError(error);
      add({
        check: 'current value works',
        status: 'fail',
        detail: error instanceof Error ? error.message : String(error),
        fix: 'the current value does not work against its target: fix it before rotating',
      });
    }
  }

  async function rotationSettings(arn: string, add: (finding: PreflightFinding) => void): Promise<void> {
    try {
      const description = await client.send(new DescribeSecretCommand({ SecretId: arn }));
      if (description.RotationEnabled) {
        add({
          check: 'rotation settings',
          status: 'ok',
          detail: `enabled, function ${description.RotationLambdaARN ?? '?'}`,
        });
      } else {
        add({
          check: 'rotation settings',
          status: 'warn',
          detail: 'rotation is not enabled on this secret',
          fix: `aws secretsmanager rotate-secret --secret-id ${secretId} --rotation-lambda-arn <function ARN> --rotation-rules AutomaticallyAfterDays=30`,
        });
      }
      const pending = unfinishedPending(description.VersionIdsToStages ?? {});
      if (pending) {
        add({
          check: 'unfinished rotation',
          status: 'warn',
          detail: `version ${shortId(pending)} holds AWSPENDING: the next rotation resumes it (or is refused)`,
          fix: `secrets-rotator status ${secretId} for details; secrets-rotator repair ${secretId} to abandon it`,
        });
      }
    } catch (error) {
      const problem = awsFailure(error, `describing ${secretId}`, flags);
      add({
        check: 'rotation settings',
        status: 'warn',
        detail: problem.message,
        fix: problem.fix ?? 'grant secretsmanager:DescribeSecret',
      });
    }
  }
}

/** What the parsed value says about its target, without any secret field. */
function describeValue(value: unknown, handler: string): string {
  if (value && typeof value === 'object' && 'host' in value && 'username' in value) {
    const v = value as {
      engine?: string;
      host: string;
      port?: number;
      username: string;
      dbname?: string;
      ssl?: boolean;
    };
    // The secret's ssl can only tighten the deployer's TLS mode (PG_TLS_MODE / MYSQL_TLS_MODE).
    const ssl =
      v.ssl === undefined
        ? 'ssl absent (the TLS mode decides)'
        : v.ssl
          ? 'ssl true (TLS required)'
          : 'ssl false (ignored: it cannot loosen the TLS mode)';
    return `engine ${v.engine ?? '?'}, ${v.host}:${v.port ?? '?'}, user "${v.username}"${v.dbname ? `, dbname "${v.dbname}"` : ''}, ${ssl}`;
  }
  return `valid for ${handler}`;
}
