// `rotate --all --filter …`: every matching secret, listed and confirmed first, with adaptive
// concurrency; a secret already rotating is never started; a journal makes a re-run resume.
import { randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { createRotationHandler } from '../../core/engine.ts';
import type { RotationHandler } from '../../core/event.ts';
import type { RotationTarget } from '../../core/target.ts';
import { RotationIncompleteError, rotateSecret } from '../../testing/driver.ts';
import { fixFor } from '../advice.ts';
import {
  awsErrorCode,
  awsFailure,
  type GlobalFlags,
  isLocalSecretsManager,
  secretsManagerClient,
} from '../aws.ts';
import type { revokePrevious } from '../commands/rotate.ts';
import type { CommandContext } from '../context.ts';
import { CliError, EXIT, type ExitCode, UsageError } from '../exit.ts';
import { localRotationFailure } from '../facts.ts';
import { formatDuration, renderTable } from '../format.ts';
import { findHandler, loadTarget } from '../handlers.ts';
import { shortId, unfinishedPending, type VersionLabels } from '../labels.ts';
import { checkEmergencyFlags } from '../options.ts';
import { confirm } from '../prompt.ts';
import {
  functionLogs,
  functionName,
  isUnfinishedRotationRefusal,
  labelOutcome,
  type Watched,
  watchRotation,
} from '../rotation-watch.ts';
import { cliLogger, cliMetrics } from '../runtime.ts';
import { defaultJournalPath, Journal } from './journal.ts';
import { listSelected, type SecretFilter, type SelectedSecret } from './select.ts';
import { AdaptiveThrottle, isThrottling, StillThrottledError } from './throttle.ts';

/**
 * Rotations in flight by default. Secrets Manager allows 50 write requests per second per Region
 * (PutSecretValue, UpdateSecretVersionStage and UpdateSecret combined) and 50 RotateSecret per
 * second; a rotation writes twice and takes well over a second, so 25 in flight stays under both.
 */
export const DEFAULT_FLEET_CONCURRENCY = 25;

export interface RotateAllOptions {
  readonly viaService?: boolean;
  readonly handler?: string;
  readonly emergency?: boolean;
  readonly filter?: SecretFilter[];
  readonly dryRun?: boolean;
  readonly yes?: boolean;
  readonly concurrency?: number;
  readonly journal?: string;
  readonly timeout: number;
  readonly pollInterval: number;
}

/** What came of one secret's rotation; the run adds the secret's name and ARN. */
type Result =
  | {
      readonly kind: 'rotated';
      readonly versionId: string;
      readonly ms: number;
      /** Finished by an earlier, interrupted run of the same command. */
      readonly earlier: boolean;
      readonly resumed: boolean;
      readonly revokedPrevious?: string;
    }
  | { readonly kind: 'already-rotating'; readonly pendingVersionId: string }
  | {
      readonly kind: 'failed';
      readonly versionId: string | null;
      readonly step: string | null;
      readonly error: string;
      readonly fix: string;
      /** Nothing was reached (network, credentials, permissions): counts toward exit code 3. */
      readonly unreachable?: boolean;
    }
  | { readonly kind: 'interrupted'; readonly versionId: string };

type Outcome = Result & { readonly name: string; readonly arn: string };

interface Run {
  readonly context: CommandContext;
  readonly flags: GlobalFlags;
  readonly options: RotateAllOptions;
  readonly client: SecretsManagerClient;
  readonly throttle: AdaptiveThrottle;
  readonly journal: Journal;
  readonly signal: AbortSignal;
  readonly local: boolean;
  readonly target: RotationTarget<unknown> | undefined;
  readonly handler: RotationHandler | undefined;
  readonly handlerClient: SecretsManagerClient | undefined;
  readonly commandLine: string;
  /** How long a rotation typically takes from RotateSecret to AWSCURRENT moving, in this run (ms). */
  typicalMs: number;
}

function checkCombination(options: RotateAllOptions, secretId: string | undefined): void {
  if (secretId !== undefined) {
    throw new UsageError(
      `rotate --all selects secrets with --filter; it takes no secret name (got "${secretId}")`,
      `drop "${secretId}", or drop --all to rotate that one secret`,
    );
  }
  if (!options.viaService && !options.handler) {
    throw new UsageError(
      'rotate --all needs --via-service or --handler <name>',
      '--via-service asks Secrets Manager to run each secret’s rotation function; --handler <name> runs the steps on this machine (local endpoint)',
    );
  }
  checkEmergencyFlags(options);
}

export async function runRotateAll(
  context: CommandContext,
  command: Command,
  secretId: string | undefined,
  options: RotateAllOptions,
  revoke: RevokePrevious,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table', 'json'], 'rotate --all');
  checkCombination(options, secretId);
  const json = flags.output === 'json';
  const { target, local } = await chooseTarget(context, flags, options);
  const interrupt = interruptOnSignal(context);
  const concurrency = options.concurrency ?? DEFAULT_FLEET_CONCURRENCY;
  const throttle = new AdaptiveThrottle(concurrency, interrupt);
  // maxAttempts 1: throttling is answered by the shared adaptive window, not by each call alone.
  const client = secretsManagerClient(flags, context.io.env, { maxAttempts: 1 });
  context.cleanups.push(() => client.destroy());
  const filters = (options.filter ?? []).map((filter) => filter.text);
  const selected = await selectSecrets(context, flags, options, client, throttle, filters);
  if (typeof selected === 'number') return selected;
  const { journal, commandLine } = openJournal(context, flags, options, filters, selected);
  const handlerClient =
    !options.viaService && target
      ? secretsManagerClient(flags, context.io.env, { maxAttempts: 8 })
      : undefined;
  if (handlerClient) context.cleanups.push(() => handlerClient.destroy());
  const handler =
    handlerClient && target
      ? createRotationHandler(target, {
          client: handlerClient,
          env: context.io.env,
          logger: cliLogger((line) => context.out.note(line), flags.verbose === true),
          metrics: cliMetrics(),
        })
      : undefined;
  const run: Run = {
    context,
    flags,
    options,
    client,
    throttle,
    journal,
    signal: interrupt,
    local,
    target,
    handler,
    handlerClient,
    commandLine,
    typicalMs: 100,
  };
  const started = performance.now();
  const progress = showProgress(context, json, selected.length, throttle);
  const outcomes = await Promise.all(
    selected.map((secret) =>
      throttle.slot(async () => {
        const result: Result = interrupt.aborted
          ? { kind: 'interrupted', versionId: '' }
          : await rotateOne(run, secret, revoke);
        const outcome: Outcome = { name: secret.name, arn: secret.arn, ...result };
        progress.done(outcome);
        return outcome;
      }),
    ),
  );
  progress.stop();
  return finish(run, outcomes, performance.now() - started, selected.length);
}

async function chooseTarget(context: CommandContext, flags: GlobalFlags, options: RotateAllOptions) {
  const entry = options.handler ? findHandler(options.handler, context.io.handlers) : undefined;
  const target = entry ? await loadTarget(entry, options.emergency === true) : undefined;
  const local = flags.endpointUrl !== undefined && (await isLocalSecretsManager(flags.endpointUrl));
  if (!options.viaService && !local) {
    throw new UsageError(
      `rotate --all --handler runs the rotations on this machine, which only the local endpoint allows${flags.endpointUrl ? ` (${flags.endpointUrl} is not one)` : ''}`,
      'against AWS use --via-service (the service runs each secret’s rotation function)',
    );
  }
  return { target, local };
}

function interruptOnSignal(context: CommandContext): AbortSignal {
  const interrupt = new AbortController();
  const stopOnSignal = () => interrupt.abort();
  if (context.io.signal) context.io.signal.addEventListener('abort', stopOnSignal, { once: true });
  else process.once('SIGINT', stopOnSignal);
  context.cleanups.push(() => void process.off('SIGINT', stopOnSignal));
  return interrupt.signal;
}

/** The secrets to rotate, listed and confirmed; an exit code when the run stops here. */
async function selectSecrets(
  context: CommandContext,
  flags: GlobalFlags,
  options: RotateAllOptions,
  client: SecretsManagerClient,
  throttle: AdaptiveThrottle,
  filters: string[],
): Promise<SelectedSecret[] | ExitCode> {
  const out = context.out;
  const json = flags.output === 'json';
  let selected: SelectedSecret[];
  try {
    selected = await listSelected(client, options.filter ?? [], throttle);
  } catch (error) {
    throw awsFailure(error, 'listing the secrets to rotate (ListSecrets)', flags);
  }
  const described = filters.length > 0 ? filters.join(' and ') : 'no filter: every secret';
  if (selected.length === 0) {
    if (json) out.json({ selected: [], rotated: [], alreadyRotating: [], failed: [], interrupted: [] });
    else {
      out.error(
        `no secret matches (${described})`,
        'check --filter (name=<prefix>, tag:<key>=<value>) and --region / --endpoint-url',
      );
    }
    return EXIT.POLICY_FAILURE;
  }
  printSelection(context, json, selected, described, options.dryRun === true);
  if (options.dryRun) return EXIT.OK;
  if (options.yes) return selected;
  if (!context.io.stdin?.isTTY) {
    throw new UsageError(
      `rotate --all would rotate ${selected.length} secret(s) and there is no terminal to confirm on`,
      'pass --yes to confirm, or --dry-run to only list them',
    );
  }
  if (await confirm(context.io, `Rotate these ${selected.length} secret(s) now?`)) return selected;
  out.line('Not confirmed: nothing changed.');
  return EXIT.OK;
}

/** The journal of this command (same flags, same journal), so that running it again resumes. */
function openJournal(
  context: CommandContext,
  flags: GlobalFlags,
  options: RotateAllOptions,
  filters: string[],
  selected: SelectedSecret[],
): { journal: Journal; commandLine: string } {
  const journalKey = JSON.stringify({
    endpoint: flags.endpointUrl ?? 'aws',
    region: flags.region ?? null,
    profile: flags.profile ?? null,
    filters: [...filters].sort(),
    mode: options.viaService ? 'service' : 'handler',
    handler: options.handler ?? null,
    emergency: options.emergency === true,
  });
  const journalPath = options.journal ?? defaultJournalPath(context.io.env, journalKey);
  const commandLine = [
    'secrets-rotator rotate --all',
    ...filters.map((filter) => `--filter ${filter}`),
    options.viaService ? '--via-service' : '',
    options.handler ? `--handler ${options.handler}` : '',
    options.emergency ? '--emergency' : '',
    flags.endpointUrl ? `--endpoint-url ${flags.endpointUrl}` : '',
  ]
    .filter(Boolean)
    .join(' ')
    .replace(/\s+/g, ' ');
  let journal: Journal;
  try {
    journal = new Journal(journalPath, commandLine);
  } catch (error) {
    throw new UsageError(
      `cannot write the journal ${journalPath}: ${(error as Error).message}`,
      'pass --journal <file> in a writable folder',
    );
  }
  context.cleanups.push(() => journal.close());
  const note = (text: string) => (flags.output === 'json' ? context.out.note(text) : context.out.line(text));
  if (journal.earlierRuns > 0) {
    const done = selected.filter((secret) => journal.earlier.get(secret.arn)?.kind === 'rotated').length;
    note(
      `Resuming from the journal ${journalPath}: ${done} secret(s) finished by an earlier run are not rotated again.`,
    );
  } else {
    note(`Journal: ${journalPath} (run the same command again to resume after an interruption)`);
  }
  return { journal, commandLine };
}

/** The `--emergency` revocation of rotate.ts, handed in (only its type is imported) to avoid an import cycle. */
type RevokePrevious = typeof revokePrevious;

function printSelection(
  context: CommandContext,
  json: boolean,
  selected: readonly SelectedSecret[],
  described: string,
  dryRun: boolean,
): void {
  const out = context.out;
  if (json) {
    if (dryRun) {
      out.json({
        dryRun: true,
        selected: selected.map((secret) => ({
          name: secret.name,
          arn: secret.arn,
          rotationLambdaArn: secret.rotationLambdaArn ?? null,
          alreadyRotating: unfinishedPending(secret.labels) ?? null,
        })),
      });
    } else {
      out.note(`${selected.length} secret(s) match (${described})`);
    }
    return;
  }
  out.line(`${selected.length} secret(s) match (${described}):`);
  const rows = selected.map((secret) => {
    const pending = unfinishedPending(secret.labels);
    return [
      secret.name,
      secret.rotationLambdaArn ? functionName(secret.rotationLambdaArn) : '(none)',
      secret.lastRotatedDate ? secret.lastRotatedDate.toISOString().slice(0, 10) : 'never',
      pending ? `already rotating (version ${shortId(pending)})` : '',
    ];
  });
  out.raw(renderTable(['secret', 'rotation function', 'last rotated', 'note'], rows));
  if (dryRun) out.line('Dry run: nothing rotated.');
}

async function describeLabels(run: Run, arn: string) {
  const answer = await run.throttle.call('DescribeSecret', () =>
    run.client.send(new DescribeSecretCommand({ SecretId: arn })),
  );
  return { labels: (answer.VersionIdsToStages ?? {}) as VersionLabels, lambdaArn: answer.RotationLambdaARN };
}

async function versionExists(run: Run, arn: string, versionId: string): Promise<boolean> {
  let nextToken: string | undefined;
  do {
    const page = await run.throttle.call('ListSecretVersionIds', () =>
      run.client.send(
        new ListSecretVersionIdsCommand({
          SecretId: arn,
          IncludeDeprecated: true,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      ),
    );
    if ((page.Versions ?? []).some((version) => version.VersionId === versionId)) return true;
    nextToken = page.NextToken;
  } while (nextToken);
  return false;
}

const UNREACHABLE_CODES = new Set([
  'CredentialsProviderError',
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'ECONNRESET',
  'TimeoutError',
]);

function failedCall(run: Run, versionId: string | null, step: string, doing: string, error: unknown): Result {
  const explained = awsFailure(error, doing, run.flags);
  const nested = (error as { code?: unknown; cause?: { code?: unknown } } | null) ?? {};
  const codes = [awsErrorCode(error), nested.code, nested.cause?.code];
  return {
    kind: 'failed',
    versionId,
    step,
    error:
      error instanceof StillThrottledError
        ? `${error.message}; the run slowed down but the service kept refusing`
        : explained.message,
    fix:
      error instanceof StillThrottledError
        ? `lower --concurrency, then run the same command again: ${run.commandLine}`
        : (explained.fix ?? `run the same command again to retry it: ${run.commandLine}`),
    unreachable: codes.some((code) => typeof code === 'string' && UNREACHABLE_CODES.has(code)),
  };
}

async function rotateOne(run: Run, secret: SelectedSecret, revoke: RevokePrevious): Promise<Result> {
  const { journal } = run;
  const record = journal.earlier.get(secret.arn);
  if (record?.kind === 'rotated') {
    return { kind: 'rotated', versionId: record.versionId, ms: 0, earlier: true, resumed: false };
  }
  let labels: VersionLabels;
  let lambdaArn: string | undefined;
  try {
    ({ labels, lambdaArn } = await describeLabels(run, secret.arn));
  } catch (error) {
    return failedCall(run, null, 'DescribeSecret', `reading secret ${secret.name}`, error);
  }

  // A rotation this command started earlier keeps its version id: resumed, never replaced.
  const earlier = record?.kind === 'started' || record?.kind === 'failed' ? record : undefined;
  const resumed = earlier ? await fromJournal(run, secret, earlier.versionId, labels) : undefined;
  if (resumed && 'kind' in resumed) return resumed;
  let versionId = resumed?.versionId;
  const resume = resumed?.resume === true;
  const pending = unfinishedPending(labels);
  if (pending && pending !== versionId) {
    const at = new Date().toISOString();
    journal.record({ kind: 'already-rotating', at, arn: secret.arn, pendingVersionId: pending });
    return { kind: 'already-rotating', pendingVersionId: pending };
  }
  versionId ??= randomUUID();
  // On the disk before the request leaves: a re-run after kill -9 reuses this id.
  const at = new Date().toISOString();
  journal.record({ kind: 'started', at, arn: secret.arn, name: secret.name, versionId }, true);

  const started = performance.now();
  const attempt = run.options.viaService
    ? await rotateViaService(run, secret, versionId, labels, lambdaArn)
    : await rotateWithHandler(run, secret, versionId, resume);
  const result = journaled(journal, secret.arn, versionId, attempt);
  if (result.kind !== 'rotated') return result;
  const revokedPrevious = await revokeAfter(run, secret, versionId, revoke);
  if (typeof revokedPrevious === 'object') return revokedPrevious;
  return {
    ...result,
    ms: performance.now() - started,
    resumed: resume,
    ...(revokedPrevious ? { revokedPrevious } : {}),
  };
}

/** `--emergency`: the previous version's id once revoked, or the failure. */
async function revokeAfter(
  run: Run,
  secret: SelectedSecret,
  versionId: string,
  revoke: RevokePrevious,
): Promise<string | Result | undefined> {
  if (!run.options.emergency || !run.target) return undefined;
  try {
    return await revoke(run.context, run.flags, run.client, run.target, secret.arn, versionId, true);
  } catch (error) {
    return {
      kind: 'failed',
      versionId,
      step: 'revoke previous',
      error: error instanceof Error ? error.message : String(error),
      fix: error instanceof CliError && error.fix ? error.fix : 'revoke the previous credential by hand',
    };
  }
}

/** Where a rotation an earlier run started stands: done, to resume, to start again with its id, or lost. */
async function fromJournal(
  run: Run,
  secret: SelectedSecret,
  versionId: string,
  labels: VersionLabels,
): Promise<Result | { versionId: string; resume: boolean }> {
  const seen = labelOutcome(labels, versionId);
  if (seen === 'rotated') {
    run.journal.record({ kind: 'rotated', at: new Date().toISOString(), arn: secret.arn, versionId });
    return { kind: 'rotated', versionId, ms: 0, earlier: true, resumed: false };
  }
  if (seen === undefined) return { versionId, resume: true };
  let exists: boolean;
  try {
    exists = await versionExists(run, secret.arn, versionId);
  } catch (error) {
    const doing = `reading the versions of ${secret.name}`;
    return failedCall(run, versionId, 'ListSecretVersionIds', doing, error);
  }
  // The earlier run was stopped before the service saw the request: start it with the same id.
  if (!exists) return { versionId, resume: false };
  const again = run.options.viaService ? '--via-service' : `--handler ${run.options.handler}`;
  return {
    kind: 'failed',
    versionId,
    step: null,
    error: `the rotation an earlier run started (version ${shortId(versionId)}) was abandoned since: the version lost AWSPENDING before it became AWSCURRENT`,
    fix: `check why (secrets-rotator status ${secret.name}); rotate it on its own: secrets-rotator rotate ${secret.name} ${again}`,
  };
}

/** Journals what a rotation came to; an interrupted one is not journaled, so the next run resumes it. */
function journaled(journal: Journal, arn: string, versionId: string, result: Result): Result {
  const at = new Date().toISOString();
  if (result.kind === 'rotated') journal.record({ kind: 'rotated', at, arn, versionId });
  else if (result.kind === 'failed') {
    journal.record({ kind: 'failed', at, arn, versionId, step: result.step, error: result.error });
  } else if (result.kind === 'already-rotating') {
    journal.record({ kind: 'already-rotating', at, arn, pendingVersionId: result.pendingVersionId });
  }
  return result;
}

async function rotateViaService(
  run: Run,
  secret: SelectedSecret,
  versionId: string,
  labels: VersionLabels,
  lambdaArn: string | undefined,
): Promise<Result> {
  if (!lambdaArn) {
    return {
      kind: 'failed',
      versionId,
      step: 'RotateSecret',
      error: `${secret.name} has no rotation function configured`,
      fix: `attach one (deploy/sam/attach-secret.yaml or the Terraform attach-secret module), or rotate it alone: secrets-rotator rotate ${secret.name} --via-service --rotation-lambda-arn <ARN>`,
    };
  }
  const refused = await requestRotation(run, secret, versionId);
  if (refused) return refused;
  const { pollInterval } = run.options;
  let watched: Watched;
  try {
    watched = await watchRotation({
      versionId,
      labels,
      read: async () => (await describeLabels(run, secret.arn)).labels,
      timeoutMs: run.options.timeout * 1000,
      // First look when rotations have typically finished so far in this run; then close polling while
      // the rotation is young (DescribeSecret's quota is 10,000 per second), then slower.
      nextWait: (previous, elapsedMs) =>
        Math.min(
          previous === undefined
            ? Math.max(100, run.typicalMs * 0.9)
            : elapsedMs < 5_000
              ? 200
              : previous * 2,
          pollInterval,
        ),
      signal: run.signal,
      reportedFailure: run.local
        ? () => localRotationFailure(run.client, secret.arn, versionId).catch(() => undefined)
        : undefined,
      reportEveryMs: 1_000,
    });
  } catch (error) {
    return failedCall(run, versionId, 'DescribeSecret', `following the rotation of ${secret.name}`, error);
  }
  return serviceResult(run, secret, versionId, lambdaArn, watched);
}

function serviceResult(
  run: Run,
  secret: SelectedSecret,
  versionId: string,
  lambdaArn: string,
  { outcome, reported, totalMs }: Watched,
): Result {
  const failed = (step: string | null, error: string, fix: string): Result => ({
    kind: 'failed',
    versionId,
    step,
    error,
    fix,
  });
  switch (outcome) {
    case 'rotated':
      // A moving average of how long rotations take, for the first look at the next ones.
      run.typicalMs = run.typicalMs * 0.8 + totalMs * 0.2;
      return { kind: 'rotated', versionId, ms: 0, earlier: false, resumed: false };
    case 'interrupted':
      return { kind: 'interrupted', versionId };
    case 'abandoned':
      return failed(
        null,
        `the rotation was abandoned: AWSPENDING left version ${shortId(versionId)} before AWSCURRENT moved to it`,
        `someone removed the label; rotate it again: secrets-rotator rotate ${secret.name} --via-service`,
      );
    case 'failed':
      return failed(
        reported?.failedStep ?? null,
        reported?.error ?? 'no reason reported',
        `fix the cause, then run the same command again: it resumes version ${shortId(versionId)} (${run.commandLine}); or abandon it: secrets-rotator repair ${secret.name}`,
      );
    case 'timeout':
      return failed(
        null,
        `not finished after ${run.options.timeout} s: AWSPENDING is still on version ${shortId(versionId)}; the rotation function failed or is still running`,
        `read why in ${functionLogs(lambdaArn)}; fix it and run the same command again (it resumes this version), or abandon it: secrets-rotator repair ${secret.name}`,
      );
  }
}

/** Sends RotateSecret; a refusal as the secret's result, `undefined` once accepted. */
async function requestRotation(
  run: Run,
  secret: SelectedSecret,
  versionId: string,
): Promise<Result | undefined> {
  try {
    await run.throttle.call('RotateSecret', () =>
      run.client.send(
        new RotateSecretCommand({
          SecretId: secret.arn,
          ClientRequestToken: versionId,
          RotateImmediately: true,
        }),
      ),
    );
    return undefined;
  } catch (error) {
    if (!isUnfinishedRotationRefusal(error)) {
      const doing = `starting the rotation of ${secret.name} (RotateSecret)`;
      return failedCall(run, versionId, 'RotateSecret', doing, error);
    }
    let pending = 'unknown';
    try {
      pending = unfinishedPending((await describeLabels(run, secret.arn)).labels) ?? pending;
    } catch {
      // The refusal says enough.
    }
    return { kind: 'already-rotating', pendingVersionId: pending };
  }
}

async function rotateWithHandler(
  run: Run,
  secret: SelectedSecret,
  versionId: string,
  resume: boolean,
): Promise<Result> {
  try {
    const result = await rotateSecret({
      client: run.handlerClient!,
      secretId: secret.arn,
      handler: run.handler!,
      versionId,
      ...(resume ? { resume: true } : {}),
    });
    if (result.ok) return { kind: 'rotated', versionId, ms: 0, earlier: false, resumed: result.resumed };
    return {
      kind: 'failed',
      versionId,
      step: result.failedStep ?? 'completing the rotation',
      error: result.error ?? 'no reason reported',
      fix: fixFor(result.cause, run.commandLine),
    };
  } catch (error) {
    if (error instanceof RotationIncompleteError) {
      return { kind: 'already-rotating', pendingVersionId: error.pendingVersionId };
    }
    if (isThrottling(error)) run.throttle.throttled += 1;
    return failedCall(run, versionId, 'start', `starting the rotation of ${secret.name}`, error);
  }
}

/** One line per finished secret, or a progress bar when stderr is a terminal. */
function showProgress(context: CommandContext, json: boolean, total: number, throttle: AdaptiveThrottle) {
  const stderr = context.io.stderr;
  const tally = { rotated: 0, rotating: 0, failed: 0 };
  const payload = () => ({ ...tally, window: throttle.window, throttled: throttle.throttled });
  const bar = stderr.isTTY
    ? new SingleBar({
        stream: stderr as unknown as NodeJS.WritableStream,
        format:
          'rotating |{bar}| {value}/{total} · {rotated} rotated · {rotating} already rotating · {failed} failed · {window} in flight max · throttled {throttled}×',
        hideCursor: true,
        clearOnComplete: true,
        barsize: 30,
      })
    : undefined;
  bar?.start(total, 0, payload());
  let count = 0;
  return {
    done(outcome: Outcome): void {
      count += 1;
      if (outcome.kind === 'rotated') tally.rotated += 1;
      else if (outcome.kind === 'already-rotating') tally.rotating += 1;
      else if (outcome.kind === 'failed') tally.failed += 1;
      if (bar) {
        bar.update(count, payload());
        return;
      }
      const line = `[${String(count).padStart(String(total).length)}/${total}] ${describe(outcome)}`;
      if (json) context.out.note(line);
      else context.out.line(line);
    },
    stop: () => bar?.stop(),
  };
}

function describe(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'rotated':
      return outcome.earlier
        ? `rotated ${outcome.name} (version ${shortId(outcome.versionId)}, by an earlier run)`
        : `rotated ${outcome.name} (version ${shortId(outcome.versionId)}${outcome.resumed ? ', resumed' : ''}, ${formatDuration(outcome.ms)})`;
    case 'already-rotating':
      return `already rotating ${outcome.name} (AWSPENDING on version ${shortId(outcome.pendingVersionId)}): not started`;
    case 'failed':
      return `FAILED ${outcome.name}${outcome.step ? ` at ${outcome.step}` : ''}: ${outcome.error}`;
    case 'interrupted':
      return `interrupted ${outcome.name}`;
  }
}

type Of<K extends Outcome['kind']> = Extract<Outcome, { kind: K }>;

function tallyOf(outcomes: readonly Outcome[], totalMs: number, selectedCount: number) {
  const of = <K extends Outcome['kind']>(kind: K) => outcomes.filter((o): o is Of<K> => o.kind === kind);
  const rotated = of('rotated');
  const rotatedNow = rotated.filter((o) => !o.earlier).length;
  return {
    rotated,
    rotating: of('already-rotating'),
    failed: of('failed'),
    interrupted: of('interrupted'),
    rotatedNow,
    perSecond: totalMs > 0 ? rotatedNow / (totalMs / 1000) : 0,
    totalMs,
    selectedCount,
    complete: rotated.length === selectedCount,
  };
}

type Tally = ReturnType<typeof tallyOf>;

function finish(run: Run, outcomes: readonly Outcome[], totalMs: number, selectedCount: number): ExitCode {
  const { journal } = run;
  const tally = tallyOf(outcomes, totalMs, selectedCount);
  let journalNote: string;
  if (tally.complete) {
    journalNote = `every secret is rotated; the journal is closed (${journal.retire()})`;
  } else {
    journal.close();
    journalNote = `run the same command again to resume (journal ${journal.path})`;
  }
  const { failed } = tally;
  const unreachable =
    failed.length > 0 && failed.length === outcomes.length && failed.every((o) => o.unreachable);
  const code: ExitCode = tally.complete ? EXIT.OK : unreachable ? EXIT.AWS : EXIT.POLICY_FAILURE;
  if (run.flags.output === 'json') printJson(run, tally, code);
  else printTable(run, tally, journalNote);
  return code;
}

function printJson(run: Run, tally: Tally, code: ExitCode): void {
  const { throttle, journal } = run;
  run.context.out.json({
    selected: tally.selectedCount,
    rotated: tally.rotated.map((o) => ({
      name: o.name,
      arn: o.arn,
      versionId: o.versionId,
      earlierRun: o.earlier,
      resumed: o.resumed,
      ms: Math.round(o.ms),
      revokedPrevious: o.revokedPrevious ?? null,
    })),
    alreadyRotating: tally.rotating.map((o) => ({
      name: o.name,
      arn: o.arn,
      pendingVersionId: o.pendingVersionId,
    })),
    failed: tally.failed.map((o) => ({
      name: o.name,
      arn: o.arn,
      versionId: o.versionId,
      step: o.step,
      error: o.error,
      fix: o.fix,
    })),
    interrupted: tally.interrupted.map((o) => ({ name: o.name, arn: o.arn, versionId: o.versionId || null })),
    throttled: throttle.throttled,
    lowestConcurrency: throttle.lowestWindow,
    totalMs: Math.round(tally.totalMs),
    secretsPerSecond: Number(tally.perSecond.toFixed(2)),
    journal: tally.complete ? null : journal.path,
    exitCode: code,
  });
}

function printTable(run: Run, tally: Tally, journalNote: string): void {
  const { rotated, rotating, failed, interrupted, rotatedNow } = tally;
  const out = run.context.out;
  const version = (id: string | null) => (id ? shortId(id) : '');
  const rows: string[][] = [
    ...rotating.map((o) => [
      o.name,
      'already rotating',
      shortId(o.pendingVersionId),
      '',
      'not started: AWSPENDING is on another version',
    ]),
    ...failed.map((o) => [o.name, 'FAILED', version(o.versionId), o.step ?? '', o.error]),
    ...interrupted.map((o) => [o.name, 'interrupted', version(o.versionId), '', 'resumed by the next run']),
    ...(rotated.length <= 20 ? rotated : []).map((o) => [
      o.name,
      'rotated',
      shortId(o.versionId),
      '',
      o.earlier ? 'by an earlier run' : formatDuration(o.ms),
    ]),
  ];
  out.line('');
  if (rows.length > 0) out.raw(renderTable(['secret', 'outcome', 'version', 'step', 'detail'], rows));
  for (const o of failed) out.line(`fix for ${o.name}: ${o.fix}`);
  for (const o of rotating) {
    out.line(
      `fix for ${o.name}: let the running rotation finish (secrets-rotator status ${o.name}), or abandon it (secrets-rotator repair ${o.name}) and run the same command again`,
    );
  }
  const { throttle } = run;
  const earlier = rotated.length > rotatedNow ? ` (${rotated.length - rotatedNow} by an earlier run)` : '';
  const stopped = interrupted.length ? `, ${interrupted.length} interrupted` : '';
  out.line(
    `${rotated.length} rotated${earlier}, ${rotating.length} already rotating, ${failed.length} failed${stopped} of ${tally.selectedCount} in ${formatDuration(tally.totalMs)} (${tally.perSecond.toFixed(1)} secrets/s); throttled ${throttle.throttled} time(s), concurrency ${throttle.lowestWindow}–${throttle.maxConcurrency}`,
  );
  out.line(journalNote);
}
