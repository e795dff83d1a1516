// The local endpoint's secrets and the semantics of each operation, after the service's API
// reference. server.ts parses requests and orchestrates RotateSecret; this holds the state.
import { randomInt, randomUUID } from 'node:crypto';
import { ConfigurationError } from '../core/errors.ts';
import { DEFAULT_PASSWORD_POLICY, generatePassword, type PasswordPolicy } from '../core/password.ts';
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from '../core/stages.ts';
import type { SecretVersionsState } from './driver.ts';
import {
  alreadyExists,
  checkChoice,
  invalidParameter,
  invalidRequest,
  missing,
  notFound,
  optionalBoolean,
  optionalInteger,
  optionalObject,
  optionalObjectList,
  optionalString,
  optionalStringList,
  requireString,
  ServiceError,
  type WireInput,
} from './service-error.ts';

// Versions kept before unlabelled ones are pruned, as the service does.
const MAX_VERSIONS = 100;
const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

const NAME_RULE = {
  min: 1,
  max: 512,
  pattern: /^[A-Za-z0-9/_+=.@-]+$/,
  patternText: 'letters, digits and /_+=.@-',
};
const SECRET_ID_RULE = { min: 1, max: 2048 };
// The API says 32 to 64 characters; the lower bound is relaxed so tests can use ids like 'token-1'.
const TOKEN_RULE = { min: 1, max: 64 };
const STAGE_RULE = { min: 1, max: 256 };
const VALUE_MAX = 65_536;

interface RotationRules {
  AutomaticallyAfterDays?: number;
  ScheduleExpression?: string;
  Duration?: string;
}

interface StoredVersion extends SecretValue {
  readonly versionId: string;
  stages: string[];
  readonly createdDate: Date;
  lastAccessedDate?: Date;
  readonly sequence: number;
}

interface StoredSecret {
  readonly arn: string;
  readonly name: string;
  description?: string;
  kmsKeyId?: string;
  tags: { Key: string; Value: string }[];
  readonly versions: Map<string, StoredVersion>;
  readonly createdDate: Date;
  lastChangedDate: Date;
  lastAccessedDate?: Date;
  lastRotatedDate?: Date;
  rotationEnabled?: boolean;
  rotationLambdaArn?: string;
  rotationRules?: RotationRules;
  /** When rotation was last configured: the base of NextRotationDate before a first rotation. */
  rotationConfiguredDate?: Date;
  readonly sequence: number;
}

interface RotateSecretRequest {
  readonly arn: string;
  readonly name: string;
  readonly clientRequestToken: string | undefined;
  readonly rotationLambdaArn: string;
  readonly rotationRules: RotationRules | undefined;
  readonly rotateImmediately: boolean;
}

interface InMemorySecretsManagerOptions {
  readonly region: string;
  readonly accountId: string;
  readonly clock: () => Date;
}

/** Every method either succeeds completely or throws a {@link ServiceError} having changed nothing. */
export class InMemorySecretsManager {
  readonly #secrets = new Map<string, StoredSecret>();
  readonly #options: InMemorySecretsManagerOptions;
  #sequence = 0;
  readonly #operations: Record<string, (input: WireInput) => WireInput> = {
    CreateSecret: (input) => this.#createSecret(input),
    DescribeSecret: (input) => this.#describeSecret(input),
    GetSecretValue: (input) => this.#getSecretValue(input),
    PutSecretValue: (input) => this.#putSecretValue(input),
    UpdateSecret: (input) => this.#updateSecret(input),
    UpdateSecretVersionStage: (input) => this.#updateSecretVersionStage(input),
    ListSecretVersionIds: (input) => this.#listSecretVersionIds(input),
    ListSecrets: (input) => this.#listSecrets(input),
    GetRandomPassword: (input) => this.#getRandomPassword(input),
    LocalRegisterPendingVersion: (input) => this.#localRegisterPendingVersion(input),
    LocalCompleteRotation: (input) => this.#localCompleteRotation(input),
  };

  constructor(options: InMemorySecretsManagerOptions) {
    this.#options = options;
  }

  supports(operation: string): boolean {
    return Object.hasOwn(this.#operations, operation);
  }

  /** Runs one operation on parsed JSON input and returns the response body (dates as `Date`). */
  handle(operation: string, input: WireInput): WireInput {
    const run = this.#operations[operation];
    if (!run) {
      throw new ServiceError(
        'UnknownOperationException',
        `The local Secrets Manager endpoint does not implement the operation ${operation}; docs/testing.md lists those it does`,
      );
    }
    return run(input);
  }

  parseRotateSecret(input: WireInput): RotateSecretRequest {
    const secret = this.#find(requireString(input, 'SecretId', SECRET_ID_RULE));
    const clientRequestToken = optionalString(input, 'ClientRequestToken', TOKEN_RULE);
    const rotationLambdaArn =
      optionalString(input, 'RotationLambdaARN', { min: 0, max: 2048 }) || secret.rotationLambdaArn;
    const rulesInput = optionalObject(input, 'RotationRules');
    const rotationRules = rulesInput ? parseRotationRules(rulesInput) : undefined;
    const rotateImmediately = optionalBoolean(input, 'RotateImmediately') ?? true;
    if (!rotationLambdaArn) {
      throw invalidRequest(
        'No Lambda rotation function ARN is associated with this secret: pass RotationLambdaARN.',
      );
    }
    return {
      arn: secret.arn,
      name: secret.name,
      clientRequestToken,
      rotationLambdaArn,
      rotationRules,
      rotateImmediately,
    };
  }

  configureRotation(request: RotateSecretRequest): void {
    const secret = this.#find(request.arn);
    const now = this.#now();
    secret.rotationEnabled = true;
    secret.rotationLambdaArn = request.rotationLambdaArn;
    if (request.rotationRules) secret.rotationRules = request.rotationRules;
    secret.rotationConfiguredDate = now;
    secret.lastChangedDate = now;
  }

  rotationState(secretId: string): SecretVersionsState {
    const secret = this.#find(secretId);
    return { arn: secret.arn, name: secret.name, versionIdsToStages: labelledVersions(secret) };
  }

  /** The valueless AWSPENDING version RotateSecret registers; with `copyCurrentValue`, RotateImmediately=false's test copy. */
  registerPending(secretId: string, versionId: string, copyCurrentValue = false): SecretVersionsState {
    const secret = this.#find(secretId);
    const existing = secret.versions.get(versionId);
    if (existing) {
      if (existing.stages.includes(AWSPENDING)) return this.rotationState(secret.arn);
      throw alreadyExists(
        `Version ${versionId} of the secret already exists; a rotation needs a new version id.`,
      );
    }
    const holder = findStage(secret, AWSPENDING);
    if (holder && !holder.stages.includes(AWSCURRENT)) {
      throw invalidRequest(INCOMPLETE_ROTATION_MESSAGE);
    }
    // testSecret reads the pending value; the current one tests the configuration without rotating.
    const current = copyCurrentValue ? findStage(secret, AWSCURRENT) : undefined;
    if (copyCurrentValue && !(current && hasValue(current))) {
      throw invalidRequest(
        `The secret ${secret.name} has no AWSCURRENT value to test the rotation configuration with; store a value first.`,
      );
    }
    if (holder) holder.stages = holder.stages.filter((stage) => stage !== AWSPENDING);
    const value = current && { secretString: current.secretString, secretBinary: current.secretBinary };
    this.#addVersion(secret, versionId, value, [AWSPENDING]);
    secret.lastChangedDate = this.#now();
    return this.rotationState(secret.arn);
  }

  /** `rotated`: clears AWSPENDING from the new AWSCURRENT; `tested`: removes the test version. */
  completeRotation(secretId: string, versionId: string, outcome: 'rotated' | 'tested'): void {
    const secret = this.#find(secretId);
    const version = secret.versions.get(versionId);
    if (!version) {
      throw notFound(`Secrets Manager can't find version ${versionId}.`);
    }
    if (outcome === 'rotated' && !version.stages.includes(AWSCURRENT)) {
      throw invalidRequest(
        `Version ${versionId} does not hold AWSCURRENT: finishSecret must move AWSCURRENT to it before the rotation can complete.`,
      );
    }
    const now = this.#now();
    version.stages = version.stages.filter((stage) => stage !== AWSPENDING);
    if (outcome === 'rotated') secret.lastRotatedDate = now;
    else if (version.stages.length === 0) secret.versions.delete(versionId);
    secret.lastChangedDate = now;
  }

  setRotationEnabled(secretId: string, enabled: boolean): void {
    const secret = this.#find(secretId);
    secret.rotationEnabled = enabled;
    secret.lastChangedDate = this.#now();
  }

  /** Test set-up: gives the valueless AWSPENDING placeholder a value, e.g. an unusable one. */
  fillVersion(secretId: string, versionId: string, secretString: string): void {
    const secret = this.#find(secretId);
    const version = this.#version(secret, versionId, 'versionId');
    if (hasValue(version)) {
      throw invalidRequest(
        `Version ${versionId} already has a value; only a version without one (the AWSPENDING placeholder) can be filled.`,
      );
    }
    version.secretString = secretString;
    secret.lastChangedDate = this.#now();
  }

  #createSecret(input: WireInput): WireInput {
    const name = requireString(input, 'Name', NAME_RULE);
    const token = optionalString(input, 'ClientRequestToken', TOKEN_RULE);
    const description = optionalString(input, 'Description', { max: 2048 });
    const kmsKeyId = optionalString(input, 'KmsKeyId', { max: 2048 });
    const value = readValue(input, false);
    const tags = (optionalObjectList(input, 'Tags', 50) ?? []).map((tag) => ({
      Key: requireString(tag, 'Key', { min: 1, max: 128 }),
      Value: optionalString(tag, 'Value', { max: 256 }) ?? '',
    }));
    optionalBoolean(input, 'ForceOverwriteReplicaSecret');

    const existing = [...this.#secrets.values()].find((secret) => secret.name === name);
    if (existing) {
      const version = token ? existing.versions.get(token) : undefined;
      if (version && value && sameValue(version, value)) {
        // A retried CreateSecret with the same token and value is answered as the first one was.
        return { ARN: existing.arn, Name: existing.name, VersionId: version.versionId };
      }
      throw alreadyExists(`The operation failed because the secret ${name} already exists.`);
    }

    const now = this.#now();
    const secret: StoredSecret = {
      arn: this.#newArn(name),
      name,
      description,
      kmsKeyId,
      tags,
      versions: new Map(),
      createdDate: now,
      lastChangedDate: now,
      sequence: this.#sequence++,
    };
    const version = value && this.#addVersion(secret, token ?? randomUUID(), value, [AWSCURRENT]);
    this.#secrets.set(secret.arn, secret);
    return { ARN: secret.arn, Name: secret.name, VersionId: version?.versionId };
  }

  #describeSecret(input: WireInput): WireInput {
    const secret = this.#find(requireString(input, 'SecretId', SECRET_ID_RULE));
    return summary(secret, 'VersionIdsToStages');
  }

  #getSecretValue(input: WireInput): WireInput {
    const secret = this.#find(requireString(input, 'SecretId', SECRET_ID_RULE));
    const versionId = optionalString(input, 'VersionId', TOKEN_RULE);
    const stage = optionalString(input, 'VersionStage', STAGE_RULE);
    const label = stage ?? AWSCURRENT;
    const version = versionId === undefined ? findStage(secret, label) : secret.versions.get(versionId);
    const wanted = versionId === undefined ? `staging label: ${label}` : `VersionId: ${versionId}`;
    if (!version) throw notFound(`Secrets Manager can't find the specified secret value for ${wanted}`);
    if (versionId !== undefined && stage !== undefined && !version.stages.includes(stage)) {
      throw notFound(
        `Secrets Manager can't find the specified secret value for VersionId: ${versionId} and staging label: ${stage}; the version does not hold that label`,
      );
    }
    if (!hasValue(version)) {
      throw notFound(
        `Secrets Manager can't find the specified secret value for VersionId: ${version.versionId}; the version has no value yet`,
      );
    }
    // The service records access to the day, not the second.
    const today = startOfDay(this.#now());
    secret.lastAccessedDate = today;
    version.lastAccessedDate = today;
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      SecretString: version.secretString,
      SecretBinary: version.secretBinary,
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  }

  #putSecretValue(input: WireInput): WireInput {
    const secret = this.#find(requireString(input, 'SecretId', SECRET_ID_RULE));
    const token = optionalString(input, 'ClientRequestToken', TOKEN_RULE) ?? randomUUID();
    const value = readValue(input, true)!;
    const stages = optionalStringList(input, 'VersionStages', {
      minItems: 1,
      maxItems: 20,
      item: STAGE_RULE,
    }) ?? [AWSCURRENT];
    // Only checked for shape (docs/protocol.md#rotationtoken).
    optionalString(input, 'RotationToken', { min: 1, max: 256 });
    const version = this.#writeValue(secret, token, value, stages);
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      VersionStages: [...version.stages],
    };
  }

  #updateSecret(input: WireInput): WireInput {
    const secret = this.#find(requireString(input, 'SecretId', SECRET_ID_RULE));
    const token = optionalString(input, 'ClientRequestToken', TOKEN_RULE);
    const description = optionalString(input, 'Description', { max: 2048 });
    const kmsKeyId = optionalString(input, 'KmsKeyId', { max: 2048 });
    const value = readValue(input, false);
    const version = value && this.#writeValue(secret, token ?? randomUUID(), value, [AWSCURRENT]);
    if (description !== undefined) secret.description = description;
    if (kmsKeyId !== undefined) secret.kmsKeyId = kmsKeyId;
    secret.lastChangedDate = this.#now();
    return { ARN: secret.arn, Name: secret.name, VersionId: version?.versionId };
  }

  #updateSecretVersionStage(input: WireInput): WireInput {
    const secret = this.#find(requireString(input, 'SecretId', SECRET_ID_RULE));
    const stage = requireString(input, 'VersionStage', STAGE_RULE);
    const moveTo = optionalString(input, 'MoveToVersionId', TOKEN_RULE);
    const removeFrom = optionalString(input, 'RemoveFromVersionId', TOKEN_RULE);
    if (moveTo === undefined && removeFrom === undefined) {
      throw invalidParameter(
        `Specify MoveToVersionId to attach the staging label ${stage}, RemoveFromVersionId to detach it, or both to move it.`,
      );
    }
    const target = moveTo === undefined ? undefined : this.#version(secret, moveTo, 'MoveToVersionId');
    const source =
      removeFrom === undefined ? undefined : this.#version(secret, removeFrom, 'RemoveFromVersionId');
    if (source && !source.stages.includes(stage)) {
      throw invalidParameter(
        `The staging label ${stage} is not attached to version ${removeFrom}, so it can't be removed from it; check RemoveFromVersionId against DescribeSecret's VersionIdsToStages.`,
      );
    }
    const holder = findStage(secret, stage);
    if (target && holder && holder !== target && holder !== source) {
      throw invalidParameter(
        `The staging label ${stage} is currently attached to version ${holder.versionId}: to move it to ${moveTo}, pass RemoveFromVersionId=${holder.versionId}.`,
      );
    }
    if (!target && stage === AWSCURRENT) {
      throw invalidParameter(
        'The staging label AWSCURRENT must stay attached to exactly one version: move it with MoveToVersionId instead of only removing it.',
      );
    }
    if (target && !target.stages.includes(stage) && target.stages.length >= 20) {
      throw new ServiceError('LimitExceededException', `Version ${moveTo} already has 20 staging labels.`);
    }

    this.#moveStage(secret, stage, source, target);
    secret.lastChangedDate = this.#now();
    this.#prune(secret);
    return { ARN: secret.arn, Name: secret.name };
  }

  #listSecretVersionIds(input: WireInput): WireInput {
    const secret = this.#find(requireString(input, 'SecretId', SECRET_ID_RULE));
    const maxResults = optionalInteger(input, 'MaxResults', 1, 100) ?? 100;
    const nextToken = optionalString(input, 'NextToken', { min: 1, max: 4096 });
    const includeDeprecated = optionalBoolean(input, 'IncludeDeprecated') ?? false;
    const versions = [...secret.versions.values()]
      .filter((version) => includeDeprecated || version.stages.length > 0)
      .sort((a, b) => b.sequence - a.sequence);
    const { page, next } = paginate(versions, maxResults, nextToken);
    return {
      ARN: secret.arn,
      Name: secret.name,
      NextToken: next,
      Versions: page.map((version) => ({
        VersionId: version.versionId,
        VersionStages: [...version.stages],
        CreatedDate: version.createdDate,
        LastAccessedDate: version.lastAccessedDate,
      })),
    };
  }

  #listSecrets(input: WireInput): WireInput {
    const maxResults = optionalInteger(input, 'MaxResults', 1, 100) ?? 100;
    const nextToken = optionalString(input, 'NextToken', { min: 1, max: 4096 });
    const filters = (optionalObjectList(input, 'Filters', 10) ?? []).map(parseFilter);
    const sortOrder = checkChoice('SortOrder', optionalString(input, 'SortOrder') ?? 'desc', ['asc', 'desc']);
    const sortBy = optionalString(input, 'SortBy') ?? 'created-date';
    const sortKey = SORT_KEYS[checkChoice('SortBy', sortBy, Object.keys(SORT_KEYS))]!;
    const direction = sortOrder === 'asc' ? 1 : -1;
    const secrets = [...this.#secrets.values()]
      .filter((secret) => filters.every((filter) => filter(secret)))
      .sort((a, b) => direction * (sortKey(a, b) || a.sequence - b.sequence));
    const { page, next } = paginate(secrets, maxResults, nextToken);
    return {
      NextToken: next,
      SecretList: page.map((secret) => summary(secret, 'SecretVersionsToStages')),
    };
  }

  #getRandomPassword(input: WireInput): WireInput {
    const flag = (field: string, fallback = false) => optionalBoolean(input, field) ?? fallback;
    const policy: Omit<PasswordPolicy, 'length'> = {
      excludeCharacters: optionalString(input, 'ExcludeCharacters', { max: 4096 }) ?? '',
      excludeNumbers: flag('ExcludeNumbers'),
      excludePunctuation: flag('ExcludePunctuation'),
      excludeUppercase: flag('ExcludeUppercase'),
      excludeLowercase: flag('ExcludeLowercase'),
      includeSpace: flag('IncludeSpace'),
      requireEachIncludedType: flag('RequireEachIncludedType', true),
    };
    const length = input.PasswordLength ?? DEFAULT_PASSWORD_POLICY.length;
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 1 || length > 4096) {
      throw invalidParameter(
        `PasswordLength must be a whole number from 1 to 4096, got ${typeof length === 'number' ? length : typeof length}.`,
      );
    }
    try {
      return { RandomPassword: generatePassword({ ...policy, length }) };
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      throw invalidParameter(error.message);
    }
  }

  #localRegisterPendingVersion(input: WireInput): WireInput {
    const secretId = requireString(input, 'SecretId', SECRET_ID_RULE);
    const versionId = requireString(input, 'ClientRequestToken', TOKEN_RULE);
    const copyCurrentValue = optionalBoolean(input, 'CopyCurrentValue') ?? false;
    const state = this.registerPending(secretId, versionId, copyCurrentValue);
    return { ARN: state.arn, Name: state.name, VersionId: versionId };
  }

  #localCompleteRotation(input: WireInput): WireInput {
    const secretId = requireString(input, 'SecretId', SECRET_ID_RULE);
    const versionId = requireString(input, 'ClientRequestToken', TOKEN_RULE);
    const outcome = checkChoice('Outcome', optionalString(input, 'Outcome') ?? 'rotated', [
      'rotated',
      'tested',
    ]);
    this.completeRotation(secretId, versionId, outcome);
    const secret = this.#find(secretId);
    return { ARN: secret.arn, Name: secret.name, VersionId: versionId };
  }

  #now(): Date {
    return new Date(this.#options.clock().getTime());
  }

  #newArn(name: string): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let suffix = '';
    for (let i = 0; i < 6; i++) suffix += alphabet[randomInt(alphabet.length)];
    const { region, accountId } = this.#options;
    return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${suffix}`;
  }

  /** A secret by full ARN, partial ARN (without the random suffix) or name. */
  #find(secretId: string): StoredSecret {
    const byArn = this.#secrets.get(secretId);
    if (byArn) return byArn;
    for (const secret of this.#secrets.values()) {
      if (secret.name === secretId || (secretId.startsWith('arn:') && secret.arn.slice(0, -7) === secretId)) {
        return secret;
      }
    }
    throw notFound("Secrets Manager can't find the specified secret.");
  }

  #version(secret: StoredSecret, versionId: string, field: string): StoredVersion {
    const version = secret.versions.get(versionId);
    if (!version) {
      throw notFound(
        `Secrets Manager can't find version ${versionId} (${field}) of the secret ${secret.name}.`,
      );
    }
    return version;
  }

  /** PutSecretValue's and UpdateSecret's write: idempotent per token, labels moved as the service does. */
  #writeValue(secret: StoredSecret, versionId: string, value: SecretValue, stages: string[]): StoredVersion {
    const existing = secret.versions.get(versionId);
    if (existing && hasValue(existing)) {
      if (sameValue(existing, value)) return existing;
      throw alreadyExists(
        `You can't use ClientRequestToken ${versionId} because that value is already in use for a version of the secret ${secret.name} with a different value; use a new token.`,
      );
    }
    // An existing version is the valueless AWSPENDING placeholder RotateSecret registered: createSecret fills it.
    const version = existing
      ? Object.assign(existing, value)
      : this.#addVersion(secret, versionId, value, []);
    for (const stage of stages) {
      if (!version.stages.includes(stage)) this.#moveStage(secret, stage, findStage(secret, stage), version);
    }
    secret.lastChangedDate = this.#now();
    this.#prune(secret);
    return version;
  }

  #addVersion(
    secret: StoredSecret,
    versionId: string,
    value: SecretValue | undefined,
    stages: string[],
  ): StoredVersion {
    const version = {
      versionId,
      ...value,
      stages: [...stages],
      createdDate: this.#now(),
      sequence: this.#sequence++,
    };
    secret.versions.set(versionId, version);
    this.#prune(secret);
    return version;
  }

  /** Detaches `stage` from `from`, attaches it to `to`; AWSPREVIOUS follows a moved AWSCURRENT. */
  #moveStage(secret: StoredSecret, stage: string, from?: StoredVersion, to?: StoredVersion): void {
    if (from && from !== to) from.stages = from.stages.filter((label) => label !== stage);
    if (!to || to.stages.includes(stage)) return;
    to.stages.push(stage);
    if (stage === AWSCURRENT && from && from !== to) this.#markPrevious(secret, from);
  }

  /** The service moves AWSPREVIOUS onto the version that just lost AWSCURRENT. */
  #markPrevious(secret: StoredSecret, lostCurrent: StoredVersion): void {
    const holder = findStage(secret, AWSPREVIOUS);
    if (holder === lostCurrent) return;
    if (holder) holder.stages = holder.stages.filter((label) => label !== AWSPREVIOUS);
    lostCurrent.stages.push(AWSPREVIOUS);
  }

  #prune(secret: StoredSecret): void {
    if (secret.versions.size <= MAX_VERSIONS) return;
    const deprecated = [...secret.versions.values()]
      .filter((version) => version.stages.length === 0)
      .sort((a, b) => a.sequence - b.sequence);
    for (const version of deprecated) {
      if (secret.versions.size <= MAX_VERSIONS) break;
      secret.versions.delete(version.versionId);
    }
  }
}

/** The service's answer to RotateSecret while an earlier rotation is unfinished. */
export const INCOMPLETE_ROTATION_MESSAGE =
  "A previous rotation isn't complete. That rotation will be reattempted.";

interface SecretValue {
  secretString?: string;
  /** Base64, as on the wire; compared as text for idempotency. */
  secretBinary?: string;
}

function readValue(input: WireInput, required: boolean): SecretValue | undefined {
  const secretString = optionalString(input, 'SecretString', { max: VALUE_MAX });
  const secretBinary = optionalString(input, 'SecretBinary', { max: Math.ceil((VALUE_MAX * 4) / 3) + 4 });
  if (secretString !== undefined && secretBinary !== undefined) {
    throw invalidParameter(
      "You can't specify both a binary secret value and a string secret value in the same secret: pass SecretString or SecretBinary.",
    );
  }
  if (secretString !== undefined) return { secretString };
  if (secretBinary !== undefined) return { secretBinary };
  if (required) throw invalidParameter('You must provide either SecretString or SecretBinary.');
  return undefined;
}

/** DescribeSecret's answer, and a ListSecrets entry: the two name the labelled versions differently. */
function summary(
  secret: StoredSecret,
  versionsKey: 'VersionIdsToStages' | 'SecretVersionsToStages',
): WireInput {
  return {
    ARN: secret.arn,
    Name: secret.name,
    Description: secret.description,
    KmsKeyId: secret.kmsKeyId,
    RotationEnabled: secret.rotationEnabled,
    RotationLambdaARN: secret.rotationLambdaArn,
    RotationRules: secret.rotationRules,
    LastRotatedDate: secret.lastRotatedDate,
    LastChangedDate: secret.lastChangedDate,
    LastAccessedDate: secret.lastAccessedDate,
    NextRotationDate: nextRotationDate(secret),
    Tags: secret.tags.length ? secret.tags.map((tag) => ({ ...tag })) : undefined,
    CreatedDate: secret.createdDate,
    [versionsKey]: labelledVersions(secret),
  };
}

function hasValue(version: StoredVersion): boolean {
  return version.secretString !== undefined || version.secretBinary !== undefined;
}

function sameValue(version: StoredVersion, value: SecretValue): boolean {
  return version.secretString === value.secretString && version.secretBinary === value.secretBinary;
}

function findStage(secret: StoredSecret, stage: string): StoredVersion | undefined {
  for (const version of secret.versions.values()) if (version.stages.includes(stage)) return version;
  return undefined;
}

function labelledVersions(secret: StoredSecret): Record<string, string[]> {
  const labelled = [...secret.versions.values()].filter((version) => version.stages.length > 0);
  return Object.fromEntries(labelled.map((version) => [version.versionId, [...version.stages]]));
}

function startOfDay(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
}

function parseRotationRules(input: WireInput): RotationRules {
  const days = optionalInteger(input, 'AutomaticallyAfterDays', 1, 1000);
  const schedule = optionalString(input, 'ScheduleExpression', { min: 1, max: 256 });
  const duration = optionalString(input, 'Duration', { min: 2, max: 3 });
  if (days !== undefined && schedule !== undefined) {
    throw invalidParameter(
      "You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules: choose one.",
    );
  }
  if (schedule !== undefined && !/^(rate\(\d+ (hours?|days?)\)|cron\(.+\))$/.test(schedule)) {
    throw invalidParameter(
      `RotationRules.ScheduleExpression must be rate(N hours), rate(N days) or cron(...), got ${schedule}.`,
    );
  }
  const hours = duration === undefined ? undefined : Number(/^(\d{1,2})h$/.exec(duration)?.[1]);
  if (hours !== undefined && !(hours >= 1 && hours <= 24)) {
    throw invalidParameter(
      `RotationRules.Duration must be a number of hours from 1h to 24h, got ${duration}.`,
    );
  }
  // Absent members stay undefined: the wire encoding drops them.
  return { AutomaticallyAfterDays: days, ScheduleExpression: schedule, Duration: duration };
}

// Cron schedules are not evaluated locally: they leave NextRotationDate unset.
function nextRotationDate(secret: StoredSecret): Date | undefined {
  const rules = secret.rotationEnabled ? secret.rotationRules : undefined;
  const base = secret.lastRotatedDate ?? secret.rotationConfiguredDate;
  if (!rules || !base) return undefined;
  const days = rules.AutomaticallyAfterDays;
  if (days !== undefined) return new Date(base.getTime() + days * DAY_MS);
  const rate = /^rate\((\d+) (hours?|days?)\)$/.exec(rules.ScheduleExpression ?? '');
  if (!rate) return undefined;
  return new Date(base.getTime() + Number(rate[1]) * (rate[2]!.startsWith('hour') ? HOUR_MS : DAY_MS));
}

const SORT_KEYS: Record<string, (a: StoredSecret, b: StoredSecret) => number> = {
  'created-date': (a, b) => a.createdDate.getTime() - b.createdDate.getTime(),
  'last-changed-date': (a, b) => a.lastChangedDate.getTime() - b.lastChangedDate.getTime(),
  'last-accessed-date': (a, b) => (a.lastAccessedDate?.getTime() ?? 0) - (b.lastAccessedDate?.getTime() ?? 0),
  name: (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
};

// Prefix matches (name and tags case-sensitive); `!` negates; a filter's values are alternatives.
const FILTERS: Record<string, (secret: StoredSecret, value: string) => boolean> = {
  description: (secret, value) => (secret.description ?? '').toLowerCase().startsWith(value.toLowerCase()),
  name: (secret, value) => secret.name.startsWith(value),
  'tag-key': (secret, value) => secret.tags.some((tag) => tag.Key.startsWith(value)),
  'tag-value': (secret, value) => secret.tags.some((tag) => tag.Value.startsWith(value)),
  // Local secrets are not replicated nor owned by another service.
  'primary-region': () => false,
  'owning-service': () => false,
  all: (secret, value) => {
    const haystack = [
      secret.name,
      secret.description ?? '',
      ...secret.tags.flatMap((tag) => [tag.Key, tag.Value]),
    ]
      .flatMap(words)
      .map((word) => word.toLowerCase());
    return words(value).some((word) =>
      haystack.some((candidate) => candidate.startsWith(word.toLowerCase())),
    );
  },
};

function parseFilter(input: WireInput, index: number): (secret: StoredSecret) => boolean {
  const key = requireString(input, 'Key', { min: 1 });
  const matches = FILTERS[checkChoice(`Filters[${index}].Key`, key, Object.keys(FILTERS))]!;
  const values =
    optionalStringList(input, 'Values', {
      minItems: 1,
      maxItems: 10,
      item: { max: 512, pattern: /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/, patternText: '^!?[a-zA-Z0-9 :_@/+=.-!]*$' },
    }) ?? missing(`Filters[${index}].Values`);
  const positive = values.filter((value) => !value.startsWith('!'));
  const negative = values.filter((value) => value.startsWith('!')).map((value) => value.slice(1));
  return (secret) =>
    (positive.length === 0 || positive.some((value) => matches(secret, value))) &&
    !negative.some((value) => matches(secret, value));
}

/** Splits text into words as the console search does: at punctuation, case changes and letter/digit changes. */
function words(text: string): string[] {
  return text
    .split(/[^A-Za-z0-9]+/)
    .flatMap((part) => part.split(/(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])/))
    .filter((word) => word.length > 0);
}

function paginate<T>(
  items: T[],
  maxResults: number,
  nextToken: string | undefined,
): { page: T[]; next?: string } {
  let offset = 0;
  if (nextToken !== undefined) {
    const decoded = /^offset:(\d+)$/.exec(Buffer.from(nextToken, 'base64url').toString('utf8'));
    if (!decoded) {
      throw new ServiceError(
        'InvalidNextTokenException',
        'The NextToken value is invalid: pass the NextToken of the previous page.',
      );
    }
    offset = Number(decoded[1]);
  }
  const page = items.slice(offset, offset + maxResults);
  const end = offset + page.length;
  return {
    page,
    next: end < items.length ? Buffer.from(`offset:${end}`, 'utf8').toString('base64url') : undefined,
  };
}
