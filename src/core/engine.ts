import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { readSecretAllowlist, type SecretAllowlist } from './allowed-secrets.ts';
import { type Env, processEnv, secretsManagerEndpoint } from './config.ts';
import { createStepContext } from './context.ts';
import { ApplyReadsMemory, EarlyReadingGateway } from './early-reads.ts';
import { EventError, ProtocolStateError, RotationError, SecretShapeError } from './errors.ts';
import {
  type ParsedRotationEvent,
  parseRotationEvent,
  type RotationEvent,
  type RotationHandler,
} from './event.ts';
import { createLogger, createMetrics, redactor, withRedactionScope } from './observability.ts';
import {
  generatePassword,
  type PasswordPolicy,
  type PasswordSource,
  passwordPolicyFromEnv,
  passwordSourceFromEnv,
} from './password.ts';
import {
  maxAttemptsFromEnv,
  type SecretsManagerGateway,
  type StoredValue,
  sharedClientTimeouts,
  sharedSecretsManagerClient,
} from './secrets-manager.ts';
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, requireCurrent, stagesOfVersion } from './stages.ts';
import {
  type KnownVersions,
  type NextContext,
  ROTATION_STEPS,
  type RotationStep,
  type RotationTarget,
  type StepContext,
} from './target.ts';

/**
 * Options of {@link createRotationHandler}; a deployed handler needs none. To quiet local runs, set
 * `POWERTOOLS_LOG_LEVEL=silent` and `POWERTOOLS_METRICS_DISABLED=true`, or pass your own logger and metrics.
 *
 * @example
 * ```ts
 * import { Logger } from '@aws-lambda-powertools/logger';
 * import { Metrics } from '@aws-lambda-powertools/metrics';
 * import { createRotationHandler } from 'secrets-rotator';
 * import { randomSecret } from 'secrets-rotator/adapters/random-secret';
 *
 * const handler = createRotationHandler(randomSecret(), {
 *   client: local.client(),                    // the local endpoint of secrets-rotator/testing
 *   env: { PASSWORD_GENERATOR: 'local', RANDOM_SECRET_FIELD: 'token' },
 *   allowedSecretIds: ['app/*'],               // refuse any other secret, as ALLOWED_SECRET_IDS would
 *   logger: new Logger({ logLevel: 'ERROR' }), // only failures
 *   metrics: new Metrics({ namespace: 'MyRotatorTests' }),
 * });
 * ```
 */
export interface RotationHandlerOptions {
  /** Default: one per container, endpoint from `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `SECRETS_MANAGER_ENDPOINT`. */
  readonly client?: SecretsManagerClient;
  /** The environment to read settings from. Default: `process.env`. */
  readonly env?: Env;
  /** Names, ARNs or prefixes (`prod/*`) this function may rotate. Default: `ALLOWED_SECRET_IDS`, else any. */
  readonly allowedSecretIds?: readonly string[];
  /** Default: a redacting JSON logger on stdout, level from `POWERTOOLS_LOG_LEVEL`. */
  readonly logger?: Logger;
  /** Default: EMF on stdout, namespace `SecretsRotator` (`POWERTOOLS_METRICS_NAMESPACE`). */
  readonly metrics?: Metrics;
}

interface EngineSettings {
  readonly policy: PasswordPolicy;
  readonly passwordSource: PasswordSource;
  readonly allowed: SecretAllowlist;
  readonly maxAttempts: number;
}

function readSettings<V>(
  target: RotationTarget<V>,
  options: RotationHandlerOptions,
  env: Env,
): EngineSettings {
  const settings: EngineSettings = {
    policy: passwordPolicyFromEnv(env, target.defaultExcludeCharacters ?? ''),
    passwordSource: passwordSourceFromEnv(env),
    allowed: readSecretAllowlist(env, options.allowedSecretIds),
    maxAttempts: maxAttemptsFromEnv(env),
  };
  // Checked now so a bad endpoint or timeout fails at start, although the client is created on first use.
  if (!options.client) {
    secretsManagerEndpoint(env);
    sharedClientTimeouts(env);
  }
  target.init?.(env);
  return settings;
}

/**
 * Builds the Lambda handler Secrets Manager invokes for each step; settings are checked here, so a bad
 * environment fails at start-up. The engine owns the protocol (docs/protocol.md); the target only builds values.
 *
 * @example
 * ```ts
 * // handlers/random-secret.ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { randomSecret } from 'secrets-rotator/adapters/random-secret';
 * export const handler = createRotationHandler(randomSecret());
 * ```
 */
export function createRotationHandler<Value>(
  target: RotationTarget<Value>,
  options: RotationHandlerOptions = {},
): RotationHandler {
  const env = options.env ?? processEnv();
  const settings = readSettings(target, options, env);
  // Made by the first invocation: Powertools costs cold-start time (createLogger).
  let observers: Promise<[Logger, Metrics]> | undefined;
  let client = options.client;
  const applyReads = new ApplyReadsMemory();

  // Each invocation redacts the credentials it read, and forgets them when it ends.
  return function rotationHandler(event: RotationEvent, context?: Partial<Context>): Promise<void> {
    return withRedactionScope(() => invoke(event, context));
  };

  async function invoke(event: RotationEvent, context?: Partial<Context>): Promise<void> {
    const started = performance.now();
    observers ??= Promise.all([options.logger ?? createLogger(env), options.metrics ?? createMetrics(env)]);
    const [logger, metrics] = await observers;
    const remainingTimeMs = () => context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    let parsed: ParsedRotationEvent | undefined;
    let stepDimension = 'invalid';
    try {
      parsed = parseRotationEvent(event);
      stepDimension = ROTATION_STEPS.includes(parsed.step as RotationStep) ? parsed.step : 'invalid';
      logger.appendKeys({
        secret_arn: parsed.secretId,
        step: parsed.step,
        version_id: parsed.token,
        adapter: target.name,
      });
      client ??= await sharedSecretsManagerClient(env);
      const gateway = new EarlyReadingGateway(client, {
        maxAttempts: settings.maxAttempts,
        remainingTimeMs,
        onRetry: (operation, code, attempt, delayMs) =>
          logger.warn('retrying Secrets Manager call', { operation, code, attempt, delayMs }),
      });
      const outcome = await runStep(target, parsed, gateway, settings, {
        logger,
        metrics,
        env,
        remainingTimeMs,
        applyReads,
      });
      metrics.addDimensions({ adapter: target.name, step: stepDimension });
      metrics.addMetric('RotationStepSucceeded', 'Count', 1);
      logger.info('step succeeded', { outcome, durationMs: Math.round(performance.now() - started) });
    } catch (error) {
      redactor.scrubError(error);
      metrics.addDimensions({ adapter: target.name, step: stepDimension });
      metrics.addMetric('RotationStepFailed', 'Count', 1);
      logger.error('step failed', {
        error: error as Error,
        errorKind: error instanceof RotationError ? error.kind : 'unexpected',
        durationMs: Math.round(performance.now() - started),
      });
      throw error;
    } finally {
      metrics.addMetric('RotationStepDuration', 'Milliseconds', performance.now() - started);
      metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  }
}

interface Services {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly env: Env;
  readonly remainingTimeMs: () => number;
  readonly applyReads: ApplyReadsMemory;
}

type StepOutcome =
  | 'already-current'
  | 'pending-exists'
  | 'pending-created'
  | 'applied'
  | 'verified'
  | 'promoted'
  | 'after-promotion-rerun';

function startEarlyReads<V>(
  target: RotationTarget<V>,
  event: ParsedRotationEvent,
  gateway: EarlyReadingGateway,
  settings: EngineSettings,
  applyReads: ApplyReadsMemory,
): void {
  const { secretId, token } = event;
  // A secret the allowlists may refuse is described first, and read only once they allowed it.
  if (!settings.allowed.allowsBeforeDescribe(secretId)) return;
  switch (event.step) {
    case 'createSecret':
      gateway.startReadPending(secretId, token);
      gateway.startReadStage(secretId, AWSCURRENT);
      if (target.generatesPassword && settings.passwordSource === 'service') {
        gateway.startRandomPassword(settings.policy);
      }
      return;
    case 'setSecret':
      gateway.startReadPending(secretId, token);
      if (target.appliesFromCurrent) gateway.startReadStage(secretId, AWSCURRENT);
      if (target.appliesFromPrevious) gateway.startReadStage(secretId, AWSPREVIOUS);
      for (const other of applyReads.recall(secretId, token)) gateway.startReadStage(other, AWSCURRENT);
      return;
    case 'testSecret':
      gateway.startReadPending(secretId, token);
      return;
    case 'finishSecret':
      if (target.afterPromotion) {
        gateway.startReadPending(secretId, token);
        gateway.startReadStage(secretId, AWSCURRENT);
      }
      return;
  }
}

async function runStep<V>(
  target: RotationTarget<V>,
  event: ParsedRotationEvent,
  gateway: EarlyReadingGateway,
  settings: EngineSettings,
  services: Services,
): Promise<StepOutcome> {
  // The step's reads go out with DescribeSecret; a refused step never looks at them.
  startEarlyReads(target, event, gateway, settings, services.applyReads);
  // Loads while DescribeSecret is in flight; a refused step never waits for it.
  const prepared = target.prepare?.();
  prepared?.catch(() => undefined);
  // docs/protocol.md#checks-before-every-step, in this order.
  const description = await gateway.describe(event.secretId);
  gateway.sameSecret(event.secretId, description.ARN);
  // The tag and name rules read this answer: a shared function pays no extra call for them.
  settings.allowed.check(event.secretId, description);
  const arn = description.ARN ?? event.secretId;
  const token = event.token;
  if (description.RotationEnabled === false) {
    throw new ProtocolStateError(`Secret ${arn} is not enabled for rotation`);
  }
  const tokenStages = stagesOfVersion(description, token);
  if (!tokenStages) {
    throw new ProtocolStateError(`Secret version ${token} has no stage for rotation of secret ${arn}`);
  }
  const ctx = createStepContext({
    secretsManager: gateway,
    secretArn: arn,
    versionId: token,
    step: event.step as RotationStep,
    env: services.env,
    logger: services.logger,
    count: (name, value) => services.metrics.addMetric(name, 'Count', value),
    remainingTimeMs: services.remainingTimeMs,
  });
  await prepared;
  if (tokenStages.includes(AWSCURRENT)) {
    if (event.step === 'finishSecret' && target.afterPromotion) {
      // The promotion went through but the adapter's hook may not have: run it again (it is idempotent).
      const promoted = await readRequired(target, gateway, arn, token, AWSCURRENT);
      const previous = await readOptional(target, gateway, arn, AWSPREVIOUS);
      await target.afterPromotion(promoted, previous, ctx);
      return 'after-promotion-rerun';
    }
    return 'already-current';
  }
  if (!tokenStages.includes(AWSPENDING)) {
    throw new ProtocolStateError(
      `Secret version ${token} not set as AWSPENDING for rotation of secret ${arn}`,
    );
  }
  switch (event.step) {
    case 'createSecret':
      return createSecret(target, gateway, arn, event, settings, ctx, services.applyReads);
    case 'setSecret': {
      const pending = await readPendingRequired(target, gateway, arn, token);
      // For a retry of this step in the same warm function.
      services.applyReads.remember(event.secretId, token, target.readsInApply?.(pending));
      await target.apply(pending, knownVersions(target, gateway, arn), ctx);
      return 'applied';
    }
    case 'testSecret': {
      const pending = await readPendingRequired(target, gateway, arn, token);
      await target.verify(pending, ctx);
      return 'verified';
    }
    case 'finishSecret': {
      const currentId = requireCurrent(description);
      // Read before the labels move, and only when the adapter has a hook to give them to.
      const values = target.afterPromotion
        ? {
            promoted: await readPendingRequired(target, gateway, arn, token),
            previous: await readOptional(target, gateway, arn, AWSCURRENT),
          }
        : undefined;
      await gateway.promote(arn, token, currentId);
      ctx.logger.info('moved AWSCURRENT', { from: currentId, to: token });
      if (values && target.afterPromotion) await target.afterPromotion(values.promoted, values.previous, ctx);
      return 'promoted';
    }
    default:
      throw new EventError(
        'Step',
        `is an invalid step "${event.step}": expected createSecret, setSecret, testSecret or finishSecret`,
      );
  }
}

async function createSecret<V>(
  target: RotationTarget<V>,
  gateway: SecretsManagerGateway,
  arn: string,
  event: ParsedRotationEvent,
  settings: EngineSettings,
  ctx: StepContext,
  applyReads: ApplyReadsMemory,
): Promise<StepOutcome> {
  const remember = (pending: V) =>
    applyReads.remember(event.secretId, event.token, target.readsInApply?.(pending));
  const existing = await gateway.readPending(arn, event.token);
  if (existing !== undefined) {
    // Validate it: an unusable pending value must stop the rotation, never be regenerated silently.
    remember(parseStored(target, existing, `the AWSPENDING version ${event.token}`, pendingFix(arn)));
    return 'pending-exists';
  }
  const current = await gateway.readStage(arn, AWSCURRENT);
  if (!current) throw new ProtocolStateError(`Secret ${arn} has no AWSCURRENT value to rotate from`);
  const currentValue = parseStored(target, current.value, `the AWSCURRENT version ${current.versionId}`);
  const nextCtx: NextContext = {
    ...ctx,
    newPassword: async (overrides) => {
      const policy = { ...settings.policy, ...overrides };
      const password =
        settings.passwordSource === 'local' ? generatePassword(policy) : await gateway.randomPassword(policy);
      redactor.add(password);
      return password;
    },
  };
  const next = await target.next(currentValue, nextCtx);
  const serialized = target.serialize(next);
  redactor.add(...textForms(serialized), ...target.secrets(next));
  checkValueSize(current.value, serialized);
  await gateway.putPending(arn, event.token, serialized, event.rotationToken);
  remember(next);
  return 'pending-created';
}

const SECRET_VALUE_MAX_BYTES = 65_536;

/** Refuses a value the service would refuse, naming the field that grew most so the operator knows what to shorten. */
function checkValueSize(currentRaw: StoredValue, nextRaw: StoredValue): void {
  const bytes = (raw: StoredValue) => (typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.length);
  const size = bytes(nextRaw);
  if (size <= SECRET_VALUE_MAX_BYTES) return;
  throw new SecretShapeError(
    (typeof currentRaw === 'string' && typeof nextRaw === 'string' && grownField(currentRaw, nextRaw)) ||
      '(value)',
    `would make the new version ${size} bytes long (the current one is ${bytes(currentRaw)}), over Secrets Manager's limit of ${SECRET_VALUE_MAX_BYTES} bytes`,
    'make the secret smaller (shorten its other fields, or the generated value) so the new version fits, then rotate again',
  );
}

function jsonFields(raw: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function grownField(currentRaw: string, nextRaw: string): string | undefined {
  const before = jsonFields(currentRaw);
  const after = jsonFields(nextRaw);
  if (!before || !after) return undefined;
  const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  let found: { field: string; growth: number } | undefined;
  for (const [field, value] of Object.entries(after)) {
    const growth = bytes(value) - (Object.hasOwn(before, field) ? bytes(before[field]) : 0);
    if (growth > 0 && (!found || growth > found.growth)) found = { field, growth };
  }
  return found?.field;
}

function pendingFix(arn: string): string {
  return `remove the AWSPENDING label from that version (secrets-rotator repair ${arn}) and rotate again`;
}

/** Parses a stored value; any failure becomes a SecretShapeError that names the version, never the value. */
function parseStored<V>(target: RotationTarget<V>, raw: StoredValue, where: string, fix?: string): V {
  redactor.add(...textForms(raw));
  if (typeof raw !== 'string' && !target.parseBinary) {
    throw new SecretShapeError(
      '(value)',
      `of ${where} is binary (SecretBinary)`,
      'this rotator handles SecretString values only; store the secret as a string',
    );
  }
  let value: V;
  try {
    value = typeof raw === 'string' ? target.parse(raw) : target.parseBinary!(raw);
  } catch (error) {
    if (error instanceof SecretShapeError) {
      throw new SecretShapeError(error.field, `${error.problem} (in ${where})`, fix ?? error.fix);
    }
    // Parser messages (JSON.parse among them) can quote the input: never pass them on.
    throw new SecretShapeError('(value)', `is not a valid ${target.name} value (in ${where})`, fix);
  }
  redactor.add(...target.secrets(value));
  return value;
}

/** A binary value can reach a log as UTF-8 text or as the base64 of the wire format. */
function textForms(raw: StoredValue): string[] {
  return typeof raw === 'string'
    ? [raw]
    : [Buffer.from(raw).toString('utf8'), Buffer.from(raw).toString('base64')];
}

async function readPendingRequired<V>(
  target: RotationTarget<V>,
  gateway: SecretsManagerGateway,
  arn: string,
  token: string,
) {
  const raw = await gateway.readPending(arn, token);
  if (raw === undefined) {
    throw new ProtocolStateError(
      `Secret version ${token} of secret ${arn} has no AWSPENDING value yet; createSecret must run first`,
    );
  }
  return parseStored(target, raw, `the AWSPENDING version ${token}`, pendingFix(arn));
}

async function readRequired<V>(
  target: RotationTarget<V>,
  gateway: SecretsManagerGateway,
  arn: string,
  id: string,
  stage: string,
) {
  const version = await gateway.readVersion(arn, id, stage);
  if (!version) throw new ProtocolStateError(`Secret version ${id} of secret ${arn} has no ${stage} value`);
  return parseStored(target, version.value, `the ${stage} version ${id}`);
}

async function readOptional<V>(
  target: RotationTarget<V>,
  gateway: SecretsManagerGateway,
  arn: string,
  stage: string,
) {
  const version = await gateway.readStage(arn, stage);
  return version
    ? parseStored(target, version.value, `the ${stage} version ${version.versionId}`)
    : undefined;
}

function knownVersions<V>(
  target: RotationTarget<V>,
  gateway: SecretsManagerGateway,
  arn: string,
): KnownVersions<V> {
  let current: Promise<V> | undefined;
  let previous: Promise<V | undefined> | undefined;
  return {
    current: () => {
      current ??= gateway.readStage(arn, AWSCURRENT).then((version) => {
        if (!version) throw new ProtocolStateError(`Secret ${arn} has no AWSCURRENT value`);
        return parseStored(target, version.value, `the AWSCURRENT version ${version.versionId}`);
      });
      return current;
    },
    previous: () => {
      previous ??= readOptional(target, gateway, arn, AWSPREVIOUS);
      return previous;
    },
  };
}
