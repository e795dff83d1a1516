import type { DescribeSecretCommandOutput } from '@aws-sdk/client-secrets-manager';
import { ProtocolStateError } from './errors.ts';

/** The staging labels of docs/protocol.md#versions-and-labels. */
export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';

export type StagingLabel = typeof AWSCURRENT | typeof AWSPENDING | typeof AWSPREVIOUS;
export const STAGING_LABELS: readonly StagingLabel[] = [AWSCURRENT, AWSPENDING, AWSPREVIOUS];

/** The answer of DescribeSecret, as the engine keeps it for a step. */
export type SecretDescription = DescribeSecretCommandOutput;

/** Through a `Map` of own entries, so an id like `constructor` finds nothing inherited. */
export function stagesOfVersion(
  description: SecretDescription,
  versionId: string,
): readonly string[] | undefined {
  return versionLabels(description).get(versionId);
}

function versionLabels(description: SecretDescription): Map<string, readonly string[]> {
  const labels = new Map<string, readonly string[]>();
  for (const [versionId, stages] of Object.entries(description.VersionIdsToStages ?? {})) {
    if (Array.isArray(stages)) labels.set(versionId, stages);
  }
  return labels;
}

/** The id of the version holding `stage` in a DescribeSecret answer, if any. */
function versionWithStage(description: SecretDescription, stage: string): string | undefined {
  for (const [versionId, stages] of versionLabels(description)) {
    if (stages.includes(stage)) return versionId;
  }
  return undefined;
}

export function requireCurrent(description: SecretDescription): string {
  const current = versionWithStage(description, AWSCURRENT);
  if (current === undefined) {
    throw new ProtocolStateError(
      `Secret ${description.ARN ?? '?'} has no AWSCURRENT version; store a value first`,
    );
  }
  return current;
}
