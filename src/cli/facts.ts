// Reads what a verdict needs: DescribeSecret, ListSecrets entries, and version dates where they matter.
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  type SecretListEntry,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { redactor } from '../core/observability.ts';
import { AWSPENDING } from '../core/stages.ts';
import { callLocalExtension } from '../testing/driver.ts';
import { awsErrorCode, awsFailure, type GlobalFlags, isLocalSecretsManager } from './aws.ts';
import { unfinishedPending } from './labels.ts';
import type { FailedRotation, SecretFacts } from './verdict.ts';

export interface VersionInfo {
  readonly versionId: string;
  readonly labels: readonly string[];
  readonly createdDate: Date | undefined;
}

/** Every labelled version of a secret with its creation date, newest first (all pages). */
export async function listVersions(client: SecretsManagerClient, secretId: string): Promise<VersionInfo[]> {
  const versions: VersionInfo[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListSecretVersionIdsCommand({ SecretId: secretId, MaxResults: 100, NextToken: nextToken }),
    );
    for (const version of page.Versions ?? []) {
      if (!version.VersionId) continue;
      versions.push({
        versionId: version.VersionId,
        labels: version.VersionStages ?? [],
        createdDate: version.CreatedDate,
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return versions.sort((a, b) => (b.createdDate?.getTime() ?? 0) - (a.createdDate?.getTime() ?? 0));
}

export async function describeFacts(
  client: SecretsManagerClient,
  secretId: string,
): Promise<{ facts: SecretFacts; versions: VersionInfo[] }> {
  const description = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  const arn = description.ARN ?? secretId;
  // Without secretsmanager:ListSecretVersionIds the labels still come from DescribeSecret, undated.
  const undated = (): VersionInfo[] =>
    Object.entries(description.VersionIdsToStages ?? {}).map(([versionId, labels]) => ({
      versionId,
      labels,
      createdDate: undefined,
    }));
  const versions = await listVersions(client, arn).catch(undated);
  const facts: SecretFacts = {
    name: description.Name ?? secretId,
    arn,
    rotationEnabled: description.RotationEnabled,
    rotationLambdaArn: description.RotationLambdaARN,
    rotationRules: description.RotationRules,
    createdDate: description.CreatedDate,
    lastRotatedDate: description.LastRotatedDate,
    lastChangedDate: description.LastChangedDate,
    nextRotationDate: description.NextRotationDate,
    versions: description.VersionIdsToStages ?? {},
    versionCreated: Object.fromEntries(versions.map((version) => [version.versionId, version.createdDate])),
  };
  return { facts, versions };
}

/** No version dates: the audit fetches them only where a verdict needs them. */
export function factsFromListEntry(entry: SecretListEntry): SecretFacts {
  return {
    name: entry.Name ?? entry.ARN ?? '(unnamed)',
    arn: entry.ARN ?? entry.Name ?? '(unknown)',
    rotationEnabled: entry.RotationEnabled,
    rotationLambdaArn: entry.RotationLambdaARN,
    rotationRules: entry.RotationRules,
    createdDate: entry.CreatedDate,
    lastRotatedDate: entry.LastRotatedDate,
    lastChangedDate: entry.LastChangedDate,
    nextRotationDate: entry.NextRotationDate,
    versions: entry.SecretVersionsToStages ?? {},
  };
}

/** The local endpoint's `LocalDescribeRotation` report, when the rotation of `versionId` failed. */
export async function localRotationFailure(
  client: SecretsManagerClient,
  arn: string,
  versionId: string,
): Promise<FailedRotation | undefined> {
  const answer = (await callLocalExtension(client, 'LocalDescribeRotation', { SecretId: arn })) as {
    Running?: unknown;
    Last?: { VersionId?: string; Ok?: boolean; FailedStep?: string | null; Error?: string | null } | null;
  };
  const last = answer.Last;
  if (answer.Running || !last || last.VersionId !== versionId || last.Ok) return undefined;
  return { versionId, failedStep: last.FailedStep ?? null, error: last.Error ?? null };
}

/**
 * {@link describeFacts} for `status` and `repair`, failures as CliErrors, plus what only the local
 * endpoint can tell: whether the unfinished rotation already failed.
 */
export async function readSecretFacts(
  client: SecretsManagerClient,
  secretId: string,
  flags: GlobalFlags,
): Promise<{ facts: SecretFacts; versions: VersionInfo[] }> {
  const read = await describeFacts(client, secretId).catch((error: unknown) => {
    throw awsFailure(error, `reading secret ${secretId}`, flags);
  });
  const pending = unfinishedPending(read.facts.versions);
  if (!pending || !flags.endpointUrl || !(await isLocalSecretsManager(flags.endpointUrl))) return read;
  try {
    const failedRotation = await localRotationFailure(client, read.facts.arn, pending);
    return failedRotation ? { ...read, facts: { ...read.facts, failedRotation } } : read;
  } catch {
    // The report is extra knowledge; without it the verdict falls back to the pending version's age.
    return read;
  }
}

/** Whether the pending version holds a value: true, false, or undefined when it cannot be read. */
export async function pendingHasValue(
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
