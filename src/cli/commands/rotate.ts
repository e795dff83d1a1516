// `secrets-rotator rotate <secret>`: rotate now and follow the labels. --via-service asks the service
// (which reports no function failure, so a timeout says where the labels stand); --handler runs the
// steps here, local endpoint only (only the service can register the valueless AWSPENDING version).
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { type Command, Option } from 'commander';
import { redactor } from '../../core/observability.ts';
import { AWSCURRENT, AWSPREVIOUS } from '../../core/stages.ts';
import type { RotationTarget } from '../../core/target.ts';
import { isDatabaseSecretValue, refuseRevokingOutsidePair } from '../../database/secret.ts';
import { RotationIncompleteError } from '../../testing/driver.ts';
import { fixFor } from '../advice.ts';
import { awsErrorCode, awsFailure, type GlobalFlags, isLocalSecretsManager } from '../aws.ts';
import type { CommandContext } from '../context.ts';
import { CliError, EXIT, type ExitCode, UsageError } from '../exit.ts';
import { localRotationFailure, pendingHasValue } from '../facts.ts';
import { DEFAULT_FLEET_CONCURRENCY, type RotateAllOptions, runRotateAll } from '../fleet/rotate-all.ts';
import { parseFilter } from '../fleet/select.ts';
import { formatDuration } from '../format.ts';
import { findHandler, type HandlerEntry, loadTarget } from '../handlers.ts';
import type { Printer } from '../io.ts';
import { labelSummary, shortId, unfinishedPending, type VersionLabels } from '../labels.ts';
import { traceLocalRotation } from '../local-rotation.ts';
import { checkEmergencyFlags, wholeNumber } from '../options.ts';
import {
  functionLogs,
  functionName,
  isUnfinishedRotationRefusal,
  type Watched,
  watchRotation,
} from '../rotation-watch.ts';
import { cliLogger, cliStepContext } from '../runtime.ts';

interface RotateOptions extends RotateAllOptions {
  readonly all?: boolean;
  readonly resume?: boolean;
  readonly versionId?: string;
  readonly rotationLambdaArn?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function registerRotate(program: Command, context: CommandContext): void {
  program
    .command('rotate')
    .summary('rotate a secret now and follow every label change')
    .description(
      'Rotates a secret now. --via-service asks Secrets Manager (RotateSecret) to run the configured rotation ' +
        'function and follows the labels until the rotation finishes or fails. --handler runs the four steps on this ' +
        'machine (local endpoint only). --emergency also revokes the previous credential after promotion.',
    )
    .argument('[secret]', 'secret name or ARN (or --all with --filter)')
    .option('--all', 'rotate every secret matching the --filter options (see docs/fleet.md)')
    .option(
      '--filter <filter>',
      '--all: name=<prefix>, tag:<key>=<value> or tag:<key> (repeatable; every filter must match)',
      parseFilter,
    )
    .option('--dry-run', '--all: list the matching secrets and stop')
    .option('-y, --yes', '--all: do not ask for confirmation')
    .addOption(
      new Option(
        '--concurrency <n>',
        `--all: rotations in flight at most (default ${DEFAULT_FLEET_CONCURRENCY}, within the service's documented rate limits; narrowed on throttling)`,
      ).argParser(wholeNumber(1, 500)),
    )
    .option(
      '--journal <file>',
      '--all: the journal to resume from (default: one per command, under ~/.local/state/secrets-rotator)',
    )
    .option('--via-service', "rotate through Secrets Manager's RotateSecret and follow it")
    .option(
      '--handler <name>',
      'run the rotation on this machine with this handler (e.g. postgres-single-user)',
    )
    .option(
      '--emergency',
      'after promotion, revoke the previous credential at once (needs --handler naming the adapter)',
    )
    .option('--resume', '--handler: resume an unfinished rotation (same version) instead of refusing')
    .option('--version-id <uuid>', "the new version's id (ClientRequestToken); default a random UUID")
    .option(
      '--rotation-lambda-arn <arn>',
      '--via-service: the rotation function, when the secret has none configured yet',
    )
    .addOption(
      new Option('--timeout <seconds>', '--via-service: how long to follow the rotation before giving up')
        .argParser(wholeNumber(1, 86_400))
        .default(300),
    )
    .addOption(
      new Option('--poll-interval <ms>', 'how often to read the labels')
        .argParser(wholeNumber(10, 60_000))
        .default(2000)
        .hideHelp(),
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  secrets-rotator rotate prod/app/db --via-service',
        '  secrets-rotator rotate prod/app/db --via-service --emergency --handler postgres-alternating-users',
        '  secrets-rotator rotate app/db --handler postgres-single-user --endpoint-url http://127.0.0.1:4566',
        '  secrets-rotator rotate --all --filter name=prod/ --filter tag:team=payments --via-service --dry-run',
        '  secrets-rotator rotate --all --filter tag:team=payments --via-service --emergency --handler postgres-alternating-users --yes',
        '',
        'rotate --all exit codes: 0 every secret rotated, 1 some failed or were already rotating, 2 usage, 3 nothing could be reached.',
      ].join('\n'),
    )
    .action(async (secret: string | undefined, options: RotateOptions, self: Command) => {
      if (options.all) {
        context.exitCode = await runRotateAll(context, self, secret, options, revokePrevious);
        return;
      }
      if (secret === undefined) {
        throw new UsageError(
          'rotate needs a secret name or ARN, or --all with --filter',
          'e.g. secrets-rotator rotate prod/app/db --via-service, or secrets-rotator rotate --all --filter name=prod/ --via-service',
        );
      }
      const fleetOnly = (['filter', 'dryRun', 'yes', 'concurrency', 'journal'] as const).filter(
        (name) => options[name] !== undefined,
      );
      if (fleetOnly.length > 0) {
        throw new UsageError(
          `${fleetOnly.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} go with --all`,
          'add --all, or drop them',
        );
      }
      context.exitCode = await runRotate(context, self, secret, options);
    });
}

function checkCombination(options: RotateOptions): void {
  if (!options.viaService && !options.handler) {
    throw new UsageError(
      'rotate needs --via-service or --handler <name>',
      '--via-service asks Secrets Manager to run the configured rotation function; --handler <name> runs the steps on this machine (local endpoint)',
    );
  }
  checkEmergencyFlags(options);
  if (options.viaService && options.resume) {
    throw new UsageError(
      '--resume is for --handler',
      'the service resumes an unfinished rotation by itself; drop --resume',
    );
  }
  if (!options.viaService && options.rotationLambdaArn) {
    throw new UsageError('--rotation-lambda-arn is for --via-service', 'drop it, or add --via-service');
  }
  if (options.versionId !== undefined && !UUID.test(options.versionId)) {
    throw new UsageError(
      `--version-id must be a UUID, got "${options.versionId}"`,
      'e.g. --version-id $(uuidgen)',
    );
  }
}

async function runRotate(
  context: CommandContext,
  command: Command,
  secretId: string,
  options: RotateOptions,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table', 'json'], 'rotate');
  checkCombination(options);
  const entry = options.handler ? findHandler(options.handler, context.io.handlers) : undefined;
  const target = entry ? await loadTarget(entry, options.emergency === true) : undefined;
  if (!options.viaService) return rotateLocally(context, flags, secretId, options, entry!, target!);
  const json = flags.output === 'json';
  return rotateViaService({ context, flags, client: context.client(flags), secretId, options, json }, target);
}

async function rotateLocally(
  context: CommandContext,
  flags: GlobalFlags,
  secretId: string,
  options: RotateOptions,
  entry: HandlerEntry & { name: string },
  target: RotationTarget<unknown>,
): Promise<ExitCode> {
  const endpoint = await requireLocalEndpoint(flags);
  const client = context.client(flags);
  const out = context.out;
  const json = flags.output === 'json';
  const resumeCommand = `secrets-rotator rotate ${secretId} --handler ${entry.name} --endpoint-url ${endpoint} --resume`;
  if (!json)
    out.line(`Rotating ${secretId} on this machine with handler ${entry.name} (endpoint ${endpoint})`);
  let traced: Awaited<ReturnType<typeof traceLocalRotation>>;
  try {
    traced = await traceLocalRotation({
      client,
      secretId,
      target,
      env: context.io.env,
      resume: options.resume,
      versionId: options.versionId,
      onLine: json ? undefined : (line) => out.line(line),
      onLog: flags.verbose ? (line) => out.note(line) : undefined,
    });
  } catch (error) {
    if (error instanceof RotationIncompleteError) {
      throw new CliError(
        EXIT.POLICY_FAILURE,
        `an earlier rotation of ${secretId} is unfinished: version ${error.pendingVersionId} still holds AWSPENDING`,
        `resume it: ${resumeCommand}; or abandon it: secrets-rotator repair ${secretId} --endpoint-url ${endpoint}`,
      );
    }
    throw awsFailure(error, `rotating ${secretId}`, flags);
  }
  const { result } = traced;
  const revoked =
    result.ok && options.emergency
      ? await revokePrevious(context, flags, client, target, result.secretArn, result.versionId, json)
      : undefined;
  printLocalResult(out, json, secretId, entry.name, traced, revoked, fixFor(result.cause, resumeCommand));
  return result.ok ? EXIT.OK : EXIT.POLICY_FAILURE;
}

function printLocalResult(
  out: Printer,
  json: boolean,
  secretId: string,
  handler: string,
  traced: Awaited<ReturnType<typeof traceLocalRotation>>,
  revoked: string | undefined,
  failureFix: string | undefined,
): void {
  const { result } = traced;
  const fix = result.ok ? undefined : failureFix;
  if (json) {
    out.json({
      name: secretId,
      arn: result.secretArn,
      mode: 'handler',
      handler,
      versionId: result.versionId,
      ok: result.ok,
      resumed: result.resumed,
      steps: traced.steps,
      completion: traced.completion,
      labels: traced.labelsAfter,
      failedStep: result.failedStep ?? null,
      error: result.error ?? null,
      fix: fix ?? null,
      revokedPrevious: revoked ?? null,
      totalMs: Math.round(result.totalMs),
    });
  } else if (result.ok) {
    out.line(rotatedLine(secretId, result.versionId, result.totalMs, traced.labelsAfter));
  } else {
    const at = result.failedStep ? ` at ${result.failedStep}` : '';
    out.error(`rotation of ${secretId} failed${at}: ${result.error}`, fix);
    out.note(`AWSPENDING stays on version ${result.versionId}; AWSCURRENT is unchanged.`);
  }
}

/** Only the service itself can register the valueless AWSPENDING version that starts a rotation. */
async function requireLocalEndpoint(flags: GlobalFlags): Promise<string> {
  if (flags.endpointUrl && (await isLocalSecretsManager(flags.endpointUrl))) return flags.endpointUrl;
  throw new UsageError(
    `rotate --handler runs the rotation on this machine, which only the local endpoint allows${flags.endpointUrl ? ` (${flags.endpointUrl} is not one)` : ''}: ` +
      'a rotation starts with a valueless AWSPENDING version that only the service itself can register',
    `against AWS use --via-service (the service runs your deployed rotation function); to try a handler locally, start the local endpoint (secrets-rotator local-endpoint) and pass --endpoint-url http://127.0.0.1:4566`,
  );
}

interface ServiceRotation {
  readonly context: CommandContext;
  readonly flags: GlobalFlags;
  readonly client: SecretsManagerClient;
  readonly secretId: string;
  readonly options: RotateOptions;
  readonly json: boolean;
}

async function rotateViaService(
  run: ServiceRotation,
  target: RotationTarget<unknown> | undefined,
): Promise<ExitCode> {
  const { context, flags, client, secretId, options, json } = run;
  const before = await describeBefore(run);
  const lambdaArn = options.rotationLambdaArn ?? before.lambdaArn;
  const versionId = await startRotation(run, before, lambdaArn);
  const local = flags.endpointUrl !== undefined && (await isLocalSecretsManager(flags.endpointUrl));
  const events: Array<{ atMs: number; changes: string[] }> = [];
  const watched = await watchRotation({
    versionId,
    labels: before.labels,
    read: async () => (await describe(run, before.arn, `following the rotation of ${secretId}`)).labels,
    timeoutMs: options.timeout * 1000,
    nextWait: (previous) => (previous === undefined ? 0 : options.pollInterval),
    signal: context.io.signal,
    reportedFailure: local ? () => localRotationFailure(client, before.arn, versionId) : undefined,
    onChange: (atMs, changes) => {
      events.push({ atMs, changes });
      if (!json) context.out.line(`  ${`+${(atMs / 1000).toFixed(1)}`.padStart(6)} s  ${changes.join(', ')}`);
    },
  });
  const { outcome, totalMs } = watched;
  const revoked =
    outcome === 'rotated' && options.emergency && target
      ? await revokePrevious(context, flags, client, target, before.arn, versionId, json)
      : undefined;
  const failure =
    outcome === 'rotated' ? undefined : await explainFailure(run, before.arn, versionId, watched, lambdaArn);
  const out = context.out;
  if (json) {
    out.json({
      name: secretId,
      arn: before.arn,
      mode: 'service',
      versionId,
      ok: outcome === 'rotated',
      outcome,
      events: events.map((event) => ({ atMs: Math.round(event.atMs), changes: event.changes })),
      labels: watched.labels,
      error: failure?.message ?? null,
      fix: failure?.fix ?? null,
      revokedPrevious: revoked ?? null,
      totalMs: Math.round(totalMs),
    });
  } else if (failure) {
    out.error(failure.message, failure.fix);
  } else {
    out.line(rotatedLine(secretId, versionId, totalMs, watched.labels));
  }
  return outcome === 'rotated' ? EXIT.OK : EXIT.POLICY_FAILURE;
}

function rotatedLine(secretId: string, versionId: string, ms: number, labels: VersionLabels): string {
  return `Rotated ${secretId}: AWSCURRENT is version ${shortId(versionId)} (${formatDuration(ms)}); ${labelSummary(labels)}`;
}

async function describe(run: ServiceRotation, secretId: string, doing: string) {
  try {
    const answer = await run.client.send(new DescribeSecretCommand({ SecretId: secretId }));
    return {
      arn: answer.ARN ?? secretId,
      lambdaArn: answer.RotationLambdaARN,
      labels: answer.VersionIdsToStages ?? {},
    };
  } catch (error) {
    throw awsFailure(error, doing, run.flags);
  }
}

async function describeBefore(run: ServiceRotation) {
  const { secretId, options, context } = run;
  const before = await describe(run, secretId, `reading secret ${secretId}`);
  if (run.json) return before;
  const lambdaArn = options.rotationLambdaArn ?? before.lambdaArn;
  context.out.line(
    `Rotating ${secretId} through Secrets Manager (RotateSecret), function ${lambdaArn ?? '(none configured)'}`,
  );
  context.out.line(`before: ${labelSummary(before.labels)}`);
  const stuck = unfinishedPending(before.labels);
  if (stuck) {
    context.out.line(
      `note: version ${shortId(stuck)} still holds AWSPENDING from an earlier rotation; the service resumes it or refuses`,
    );
  }
  return before;
}

async function startRotation(
  run: ServiceRotation,
  before: { arn: string; labels: VersionLabels },
  lambdaArn: string | undefined,
): Promise<string> {
  const { options, secretId } = run;
  let versionId: string;
  try {
    const answer = await run.client.send(
      new RotateSecretCommand({
        SecretId: before.arn,
        ...(options.rotationLambdaArn ? { RotationLambdaARN: options.rotationLambdaArn } : {}),
        ...(options.versionId ? { ClientRequestToken: options.versionId } : {}),
        RotateImmediately: true,
      }),
    );
    versionId = answer.VersionId ?? options.versionId ?? '';
  } catch (error) {
    if (isUnfinishedRotationRefusal(error)) {
      const stuck = unfinishedPending(before.labels);
      throw new CliError(
        EXIT.POLICY_FAILURE,
        `Secrets Manager refused: ${(error as Error).message}${stuck ? ` (AWSPENDING is on version ${stuck})` : ''}`,
        `if that rotation failed, find why in the function's logs and fix it; to abandon it: secrets-rotator repair ${secretId}, then rotate again`,
      );
    }
    // A rotation set-up that cannot run exits 1, as a failed rotation does.
    const refusal = rotationSetupRefusal(error, lambdaArn, run.flags);
    if (refusal) throw refusal;
    throw awsFailure(error, `starting the rotation of ${secretId} (RotateSecret)`, run.flags);
  }
  if (!run.json) run.context.out.line(`RotateSecret accepted: version ${versionId}`);
  return versionId;
}

/** RotateSecret refused because of the secret's rotation configuration, with the fix for each case. */
function rotationSetupRefusal(
  error: unknown,
  lambdaArn: string | undefined,
  flags: GlobalFlags,
): CliError | undefined {
  const code = awsErrorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'InvalidRequestException' && /no rotation function is registered/i.test(message)) {
    const name = lambdaArn ? functionName(lambdaArn) : 'my-rotator';
    return new CliError(
      EXIT.POLICY_FAILURE,
      `the local endpoint at ${flags.endpointUrl ?? '(AWS_ENDPOINT_URL_SECRETS_MANAGER)'} has no rotation function ${name}`,
      `restart it with the function attached: secrets-rotator local-endpoint --rotation-function ${name}=<handler> (e.g. ${name}=random-secret), ` +
        `or pass --rotation-lambda-arn naming a function it serves`,
    );
  }
  if (code === 'InvalidRequestException' && !lambdaArn) {
    return new CliError(
      EXIT.POLICY_FAILURE,
      `Secrets Manager refused: ${message}`,
      'the secret has no rotation function: pass --rotation-lambda-arn <ARN of the function>',
    );
  }
  if (code === 'InvalidRequestException') {
    return new CliError(
      EXIT.POLICY_FAILURE,
      `Secrets Manager refused to rotate: ${message}`,
      'fix what the message names on the secret or its rotation configuration, then rotate again',
    );
  }
  if (code === 'AccessDeniedException' && /lambda/i.test(message) && lambdaArn) {
    return new CliError(
      EXIT.POLICY_FAILURE,
      `Secrets Manager cannot invoke the rotation function ${lambdaArn}: ${message}`,
      `check that the function exists in this account and region, and that its resource policy lets secretsmanager.amazonaws.com invoke it ` +
        `(aws lambda add-permission --function-name ${functionName(lambdaArn)} --statement-id SecretsManagerAccess --action lambda:InvokeFunction --principal secretsmanager.amazonaws.com)`,
    );
  }
  return undefined;
}

async function explainFailure(
  run: ServiceRotation,
  arn: string,
  versionId: string,
  { outcome, reported }: Watched,
  lambdaArn: string | undefined,
): Promise<{ message: string; fix: string }> {
  const { secretId, options } = run;
  if (outcome === 'failed') {
    return {
      message: `the rotation of ${secretId} (version ${shortId(versionId)}) failed${reported?.failedStep ? ` at ${reported.failedStep}` : ''}: ${reported?.error ?? 'no reason reported'}`,
      fix: `fix the cause, then \`secrets-rotator rotate ${secretId} --via-service\` re-runs the same version, or \`secrets-rotator repair ${secretId}\` abandons it`,
    };
  }
  if (outcome === 'abandoned') {
    return {
      message: `the rotation of ${secretId} was abandoned: AWSPENDING left version ${shortId(versionId)} before AWSCURRENT moved to it`,
      fix: `someone removed the label, or the rotation was only a test; rotate again: secrets-rotator rotate ${secretId} --via-service`,
    };
  }
  const stored = await pendingHasValue(run.client, arn, versionId);
  const where =
    stored === false
      ? 'createSecret has not stored the new value'
      : stored
        ? 'createSecret stored the new value, but setSecret, testSecret or finishSecret has not completed'
        : 'AWSCURRENT has not moved';
  const waited = outcome === 'interrupted' ? 'interrupted' : `not finished after ${options.timeout} s`;
  return {
    message: `the rotation of ${secretId} (version ${shortId(versionId)}) is ${waited}: ${where}; the rotation function failed or is still running`,
    fix:
      `read why in ${functionLogs(lambdaArn)}; fix the cause, then \`secrets-rotator rotate ${secretId} --via-service\` re-runs the same version ` +
      `(the service resumes it), or \`secrets-rotator repair ${secretId}\` abandons it; \`secrets-rotator status ${secretId}\` shows where the labels stand`,
  };
}

/** `--emergency`: reads AWSPREVIOUS and has the adapter revoke it; shared with `rotate --all`. */
export async function revokePrevious(
  context: CommandContext,
  flags: GlobalFlags,
  client: SecretsManagerClient,
  target: RotationTarget<unknown>,
  arn: string,
  versionId: string,
  json: boolean,
): Promise<string> {
  const out = context.out;
  // The engine read these values with init already run; the CLI's copy of the target needs it too.
  target.init?.(context.io.env);
  const read = (stage: string, id?: string) => readStage(client, flags, target, arn, stage, id);
  const previous = await read(AWSPREVIOUS);
  if (!previous) {
    throw new CliError(EXIT.POLICY_FAILURE, `--emergency: ${arn} has no AWSPREVIOUS value to revoke`);
  }
  const previousId = previous.versionId;
  if (isDatabaseSecretValue(previous.value)) {
    const current = await read(AWSCURRENT, versionId);
    if (!current) {
      throw new CliError(
        EXIT.POLICY_FAILURE,
        `--emergency: ${arn} has no AWSCURRENT value to check the revocation against`,
      );
    }
    checkSamePair(previous.value, current.value, previousId);
  }
  const logger = cliLogger((line) => out.note(line), flags.verbose === true);
  const ctx = cliStepContext({
    client,
    secretArn: arn,
    versionId,
    step: 'finishSecret',
    env: context.io.env,
    logger,
  });
  try {
    await target.revoke!(previous.value, ctx);
  } catch (error) {
    redactor.scrubError(error);
    throw new CliError(
      EXIT.POLICY_FAILURE,
      `the rotation succeeded, but revoking the previous credential (version ${shortId(previousId)}) failed: ${error instanceof Error ? error.message : String(error)}`,
      `fix the cause and revoke it by hand, or rotate again with --emergency; until then the previous credential still works`,
    );
  }
  if (!json) {
    out.line(
      `Emergency: revoked the previous credential (version ${shortId(previousId)}, now AWSPREVIOUS); it no longer works.`,
    );
  }
  return previousId;
}

/** Alternating users: revoke only the other user of the promoted version's pair, on its server. */
function checkSamePair(
  previous: { readonly username: string; readonly host: string; readonly port: number },
  current: unknown,
  previousId: string,
): void {
  if (!isDatabaseSecretValue(current)) return;
  try {
    refuseRevokingOutsidePair(previous, current);
  } catch (error) {
    throw new CliError(
      EXIT.POLICY_FAILURE,
      `the rotation succeeded, but the previous credential (version ${shortId(previousId)}) was not revoked: ${error instanceof Error ? error.message : String(error)}`,
      'check the versions with `secrets-rotator status`; revoke by hand only a user of the pair',
    );
  }
}

/** The value `stage` (of `versionId`, when given) holds, parsed, its secrets registered for redaction. */
async function readStage(
  client: SecretsManagerClient,
  flags: GlobalFlags,
  target: RotationTarget<unknown>,
  arn: string,
  stage: string,
  versionId?: string,
): Promise<{ value: unknown; versionId: string } | undefined> {
  let answer: GetSecretValueCommandOutput;
  try {
    answer = await client.send(
      new GetSecretValueCommand({
        SecretId: arn,
        VersionStage: stage,
        ...(versionId ? { VersionId: versionId } : {}),
      }),
    );
  } catch (error) {
    const why = stage === AWSPREVIOUS ? 'to revoke it' : 'before revoking';
    throw awsFailure(error, `reading the ${stage} version of ${arn} ${why}`, flags);
  }
  redactor.add(answer.SecretString);
  if (answer.SecretString === undefined || answer.VersionId === undefined) return undefined;
  await target.prepare?.();
  const value = target.parse(answer.SecretString);
  redactor.add(...target.secrets(value));
  return { value, versionId: answer.VersionId };
}
